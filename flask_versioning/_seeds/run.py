"""Running seeds: once per database, recorded in the ledger in the seed's own transaction.

The seed's rows and its ledger row (with the tables it wrote) commit together or not at all,
on MariaDB too because a seed may send no DDL (:mod:`.watch`). Writers hold the migration lock
and read the ledger after taking it, so eight workers starting at once seed exactly once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._ledgers.history import Run, active_run
from .._ledgers.seeds import LedgerEntry, ensure_ledger, ledger_table, read_ledger, record
from .._locking import database_lock
from .._protection import check_allowed, environment_name, mark_protected, run_for
from .._types import SeedResult, SeedStatus
from .bulk import active_session
from .registry import SeedHook
from .watch import StatementWatch

if TYPE_CHECKING:
    from .._alembic.database import Database
    from .._state import VersioningState


Progress = Callable[[SeedResult], None] | None


class _InsertCounter:
    """``after_execute``: counts the rows of ``INSERT`` statements from their parameter sets,
    because drivers report ``rowcount`` -1 or 0 for ``executemany`` and ``RETURNING``."""

    rows = 0

    def __call__(
        self, connection: Any, clause: Any, multiparams: Any, params: Any, options: Any, result: Any
    ) -> None:
        if not isinstance(clause, sa.Insert):
            return
        if clause.select is not None:  # INSERT ... SELECT: only the driver knows
            self.rows += max(result.rowcount, 0)
        elif isinstance(multiparams, Sequence) and multiparams:
            self.rows += len(multiparams)
        else:
            self.rows += 1


class _RollbackFailed(Exception):
    """A seed failed and so did the rollback: the message must not claim it was rolled back."""

    def __init__(self, cause: BaseException, rollback_error: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.rollback_error = rollback_error


def _groups(state: VersioningState, hooks: Sequence[SeedHook]) -> list[Database]:
    """The databases ``hooks`` write to, in the app's order: locks taken in one order never
    deadlock."""
    wanted = {id(state.database(h.bind)) for h in hooks}
    return [d for d in state.databases() if id(d) in wanted]


def _due(hook: SeedHook, ledger: Mapping[str, LedgerEntry], force: bool) -> bool:
    return force or hook.always or hook.name not in ledger


def _run_one(
    database: Database,
    table: sa.Table,
    hook: SeedHook,
    environment: str,
    previous: LedgerEntry | None,
) -> SeedResult:
    """Run one hook and record it in one transaction of ours, which the session joins in
    ``rollback_only`` mode: a ``session.commit()`` in the hook only flushes."""
    from sqlalchemy.orm import Session

    counter = _InsertCounter()
    watch = StatementWatch()
    started = time.perf_counter()
    with database.engine().connect() as connection:
        event.listen(connection, "after_execute", counter)
        event.listen(connection, "before_cursor_execute", watch)
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="rollback_only")
        token = active_session.set(session)
        try:
            returned = hook.function(session)
            session.flush()
            if watch.refused is not None:  # caught by the hook: still refused
                raise watch.refused
            if not transaction.is_active:
                raise errors.SeedError(
                    f"seed {hook.name!r} ended the seed's transaction itself "
                    "(session.rollback()?); let the extension commit or roll back"
                )
            duration = time.perf_counter() - started
            event.remove(connection, "after_execute", counter)
            event.remove(connection, "before_cursor_execute", watch)
            record(connection, table, hook.name, environment, duration, previous, watch.tables)
            transaction.commit()
        except BaseException as exc:
            if transaction.is_active:
                try:
                    transaction.rollback()
                except Exception as rollback_error:
                    raise _RollbackFailed(exc, rollback_error) from exc
            raise
        finally:
            active_session.reset(token)
            session.close()
    counted = isinstance(returned, int) and not isinstance(returned, bool)
    rows = returned if counted else counter.rows or None
    return SeedResult(hook.name, environment, "applied", rows, duration, database.name)


def _run(
    state: VersioningState, hooks: Sequence[SeedHook], run: Run, *, force: bool, progress: Progress
) -> list[SeedResult]:
    """Run the due ``hooks`` in order, holding every involved database's migration lock and
    reading the ledgers under it. A protected run that seeded marks those databases protected."""
    if not hooks:
        return []
    environment = run.environment
    databases = _groups(state, hooks)
    results: list[SeedResult] = []
    with contextlib.ExitStack() as stack:
        ledgers: dict[int, tuple[sa.Table, dict[str, LedgerEntry]]] = {}
        for database in databases:
            stack.enter_context(database_lock(database))
            table = ledger_table(database.settings)
            with translate_errors(database, "'seed'"):
                ensure_ledger(database.engine(), table)
                ledgers[id(database)] = (table, read_ledger(database.engine(), table))
        for index, hook in enumerate(hooks):
            database = state.database(hook.bind)
            table, ledger = ledgers[id(database)]
            if not _due(hook, ledger, force):
                results.append(
                    SeedResult(hook.name, environment, "skipped", None, 0.0, database.name)
                )
                continue
            try:
                result = _run_one(database, table, hook, environment, ledger.get(hook.name))
            except Exception as exc:
                cause: BaseException = exc
                rollback_error: BaseException | None = None
                if isinstance(exc, _RollbackFailed):
                    cause, rollback_error = exc.cause, exc.rollback_error
                not_run = [
                    h.name
                    for h in hooks[index + 1 :]
                    if _due(h, ledgers[id(state.database(h.bind))][1], force)
                ]
                raise errors.SeedFailed(
                    hook.name,
                    environment,
                    cause,
                    results=results,
                    not_run=not_run,
                    rollback_error=rollback_error,
                ) from cause
            results.append(result)
            if progress is not None:
                progress(result)
        if any(r.status == "applied" for r in results):
            mark_protected(databases, run)
    return results


def run_seeds(
    state: VersioningState,
    names: Sequence[str] | None = None,
    *,
    env: str | None = None,
    force: bool = False,
    allow_protected: bool = False,
    progress: Progress = None,
) -> list[SeedResult]:
    """Run the environment's due seeds (or the named ones); ``force`` re-runs applied ones."""
    run = run_for(state, env)
    registry = state.seeds
    hooks = registry.for_environment(run.environment)
    if names is not None:
        for name in names:
            hook = registry.get(name)
            if hook is None:
                known = ", ".join(h.name for h in registry) or "none are registered"
                raise errors.SeedError(f"unknown seed {name!r} (known: {known})")
            if run.environment not in hook.environments:
                raise errors.SeedError(
                    f"seed {name!r} is not for {run.environment!r} (it is for "
                    f"{', '.join(hook.environments)}); choose the environment with --env"
                )
        hooks = [hook for hook in hooks if hook.name in names]
    if force:
        action = "re-run seeds with --force"
        databases = _groups(state, hooks)
        check_allowed(state, action, databases, env=env, allow_protected=allow_protected)
    return _run(state, hooks, run, force=force, progress=progress)


def _anything_due(state: VersioningState, hooks: Sequence[SeedHook]) -> bool:
    """Lock-free look at the ledgers, so the common "all seeded" start takes no lock. An
    unreadable ledger counts as due: the locked path creates it or reports the real problem."""
    if any(h.always for h in hooks):
        return True
    for database in _groups(state, hooks):
        try:
            table = ledger_table(database.settings)
            ledger = read_ledger(database.engine(), table, check_exists=False)
        except sa.exc.DBAPIError:
            return True
        if any(h.name not in ledger for h in hooks if state.database(h.bind) is database):
            return True
    return False


def run_pending(
    state: VersioningState, env: str | None = None, progress: Progress = None
) -> list[SeedResult]:
    """Run the seeds of ``env`` that have not run yet (and the ``always`` ones): what runs
    after an upgrade in auto-upgrade, ``prepare`` and ``reset``. The migration locks are
    re-entrant, so a caller may already hold them."""
    run = (active_run() if env is None else None) or run_for(state, env)
    hooks = state.seeds.for_environment(run.environment)
    if not hooks or not _anything_due(state, hooks):
        return []
    return _run(state, hooks, run, force=False, progress=progress)


def auto_seed(state: VersioningState) -> list[SeedResult]:
    """After an auto-upgrade: the pending seeds if ``VERSIONING_AUTO_SEED`` (unset: only in
    development and testing). A hook registered after ``init_app`` is logged as missed."""
    environment = environment_name(state)
    enabled = state.settings.auto_seed
    if not (environment in ("development", "testing") if enabled is None else enabled):
        return []
    try:
        return run_pending(state)
    finally:
        state.seeds.auto_seeded = True


def status(state: VersioningState, env: str | None = None) -> list[SeedStatus]:
    """Every declared seed and whether it has run in its database; seeds the ledger remembers
    but no code declares any more (renamed or deleted) come last."""
    environment = environment_name(state, env)
    hooks = list(state.seeds)
    ledgers: dict[int, dict[str, LedgerEntry]] = {}
    databases = _groups(state, hooks) if hooks else [state.database()]
    for database in databases:
        with translate_errors(database, "'seed --list'"):
            ledgers[id(database)] = read_ledger(database.engine(), ledger_table(database.settings))

    def ran(entry: LedgerEntry | None) -> dict[str, Any]:
        return {
            "applied_at": entry.applied_at if entry else None,
            "applied_environment": entry.environment if entry else None,
            "runs": entry.runs if entry else 0,
        }

    out = [
        SeedStatus(
            hook.name,
            hook.environments,
            hook.order,
            hook.always,
            hook.bind,
            selected=environment in hook.environments,
            **ran(ledgers[id(state.database(hook.bind))].get(hook.name)),
        )
        for hook in hooks
    ]
    declared = {h.name for h in hooks}
    for database in databases:
        bind = None if database is databases[0] else database.name
        for name, entry in sorted(ledgers[id(database)].items()):
            if name not in declared:
                out.append(SeedStatus(name, (), 0, False, bind, False, defined=False, **ran(entry)))
    return out
