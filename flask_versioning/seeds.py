"""Seed data per environment: development data, test fixtures, production reference data.

An app declares seed hooks next to its models with ``@versioning.seed("development")``. Each hook
runs once per database: a ledger table of ours (``VERSIONING_SEED_TABLE``) records which seeds
ran, for which environment and when, so restarting the app or running ``flask db seed`` again
never duplicates data. A hook gets a :class:`~sqlalchemy.orm.Session` on a connection whose
transaction belongs to us: the seed's rows and its ledger row are committed together or not at
all, so "the seed ran" and "its data is there" can never disagree.

Everything that writes runs under the same cross-process lock as migrations, so eight workers
starting at once seed exactly once. This module also holds the guards for protected
environments, ``reset`` (drop everything, upgrade, seed) and ``prepare`` (create the database
if missing, upgrade, seed), because all three are about getting a database into a known state.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import itertools
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event

from . import errors, runner
from .runner import AppliedRevision, Database, MigrationResult

if TYPE_CHECKING:
    # Imported where used at run time: sqlalchemy.orm costs a plain-Core app ~60 ms at start.
    from sqlalchemy.orm import Mapper, Session

    from .extension import _AppState
    from .settings import Settings

__all__ = [
    "PrepareResult",
    "ResetResult",
    "SeedHook",
    "SeedRegistry",
    "SeedResult",
    "SeedStatus",
]

#: Environments in which seeds run after an auto-upgrade when ``VERSIONING_AUTO_SEED`` is unset.
AUTO_SEED_ENVIRONMENTS = ("development", "testing")

#: What ``bulk_insert`` sends per ``executemany`` call: large enough that the per-call overhead
#: vanishes, small enough that a generator of millions of rows never sits in memory at once.
DEFAULT_BATCH_SIZE = 10_000

_MAX_NAME = 200
_OVERRIDE_HINT = "pass --allow-protected (allow_protected=True in Python) if you really mean it"

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("flask_versioning")

# The session of the seed running in this thread/task, so that ``bulk_insert`` called inside a
# hook writes in the seed's transaction without the hook having to pass the session along.
_active_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "flask_versioning_seed_session", default=None
)


# -- declaring seeds --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeedHook:
    """One registered seed: a function and the environments it is for."""

    name: str
    environments: tuple[str, ...]
    function: Callable[[Session], Any]
    order: int
    always: bool
    bind: str | None
    #: Registration order, the tie-breaker after ``order``.
    position: int

    def applies_to(self, environment: str) -> bool:
        return environment in self.environments


class SeedRegistry:
    """The seed hooks of one :class:`~flask_versioning.Versioning` object.

    They live on the extension object rather than on an app so that hooks declared at import
    time, before any app exists, serve every app the factory creates.
    """

    def __init__(self) -> None:
        self._hooks: dict[str, SeedHook] = {}
        #: Set once an app has auto-seeded from this registry; a hook registered later missed it.
        self.auto_seeded = False

    def decorator(
        self,
        environments: tuple[Any, ...],
        *,
        name: str | None,
        order: int,
        always: bool,
        bind: str | None,
    ) -> Callable[[F], F]:
        """Check the arguments of ``@versioning.seed(...)`` now, register the function later.

        Checking before the function is known makes a bare ``@versioning.seed`` (no
        environments) fail at the decorator line, with a message saying what to write.
        """
        if environments and callable(environments[0]):
            raise errors.SeedError(
                f"@seed needs the environments the seed is for, e.g. "
                f"@versioning.seed('development', 'testing') above "
                f"{getattr(environments[0], '__name__', 'the function')}()"
            )
        if not environments:
            raise errors.SeedError(
                "@seed needs at least one environment, e.g. @versioning.seed('development')"
            )
        for environment in environments:
            if not isinstance(environment, str) or not environment.strip():
                raise errors.SeedError(
                    f"seed environments must be non-empty strings, not {environment!r}"
                )
        if isinstance(order, bool) or not isinstance(order, int):
            raise errors.SeedError(f"seed order must be an integer, not {order!r}")
        if bind is not None and not isinstance(bind, str):
            raise errors.SeedError(f"seed bind must be a database name or None, not {bind!r}")
        envs = tuple(dict.fromkeys(e.strip() for e in environments))

        def register(function: F) -> F:
            self.add(function, envs, name=name, order=order, always=always, bind=bind)
            return function

        return register

    def add(
        self,
        function: Callable[[Session], Any],
        environments: tuple[str, ...],
        *,
        name: str | None = None,
        order: int = 0,
        always: bool = False,
        bind: str | None = None,
    ) -> SeedHook:
        seed_name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(seed_name, str) or not seed_name or len(seed_name) > _MAX_NAME:
            raise errors.SeedError(
                f"seed name must be a string of 1 to {_MAX_NAME} characters, not {seed_name!r}"
            )
        existing = self._hooks.get(seed_name)
        if existing is not None:
            raise errors.SeedError(
                f"a seed named {seed_name!r} is already registered "
                f"(by {_where(existing.function)}); give one of them another name with "
                "@versioning.seed(..., name='...')"
            )
        hook = SeedHook(
            name=seed_name,
            environments=environments,
            function=function,
            order=order,
            always=bool(always),
            bind=bind,
            position=len(self._hooks),
        )
        self._hooks[seed_name] = hook
        if self.auto_seeded:
            logger.warning(
                "seed %r was registered after the app was created and auto-seeded, so it did not "
                "run at start; register seeds before init_app() (or run 'flask db seed')",
                seed_name,
            )
        return hook

    def __iter__(self) -> Iterator[SeedHook]:
        return iter(sorted(self._hooks.values(), key=lambda h: (h.order, h.position)))

    def __len__(self) -> int:
        return len(self._hooks)

    def get(self, name: str) -> SeedHook | None:
        return self._hooks.get(name)

    def for_environment(self, environment: str) -> list[SeedHook]:
        """The hooks for ``environment``, in the order they run."""
        return [hook for hook in self if hook.applies_to(environment)]


def _where(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "?"
    return f"{module}.{getattr(function, '__qualname__', repr(function))}"


# -- results ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeedResult:
    """What happened to one seed in a run."""

    name: str
    environment: str
    #: ``"applied"``: the hook ran and was committed; ``"skipped"``: it had run before.
    status: Literal["applied", "skipped"]
    #: Rows the seed inserted: the hook's return value when it returns an int, otherwise the
    #: rows counted in its ``INSERT`` statements; ``None`` when nothing could be counted.
    rows: int | None = None
    duration: float = 0.0
    database: str = "default"


@dataclasses.dataclass(frozen=True)
class SeedStatus:
    """One seed as ``flask db seed --list`` shows it."""

    name: str
    environments: tuple[str, ...]
    order: int
    always: bool
    bind: str | None
    #: Whether the seed is declared for the environment that was asked about.
    selected: bool
    #: When it last ran (UTC) and in which environment; ``None`` if it never ran here.
    applied_at: datetime.datetime | None
    applied_environment: str | None
    runs: int
    #: ``False`` for a seed the ledger remembers but no hook declares any more.
    defined: bool = True

    @property
    def pending(self) -> bool:
        """Whether running the environment's seeds now would run this one."""
        return self.defined and self.selected and (self.applied_at is None or self.always)


@dataclasses.dataclass(frozen=True)
class ResetResult:
    """What ``reset`` did: what it dropped, the upgrades that rebuilt the schema, the seeds."""

    #: Database name -> the tables and views dropped there.
    dropped: Mapping[str, tuple[str, ...]]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


@dataclasses.dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` did: the databases it created, the upgrades, the seeds."""

    #: Names of the databases that did not exist and were created.
    created: tuple[str, ...]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


# -- environments -----------------------------------------------------------------------------


def environment_name(state: _AppState, override: str | None = None) -> str:
    """The environment seeds and guards act for.

    ``override`` (``--env``) wins, then ``VERSIONING_ENV``; otherwise ``testing`` when the app
    is in testing mode, ``development`` in debug mode and ``production`` otherwise. The app's
    flags are read now rather than at ``init_app`` because ``flask --debug`` and test fixtures
    set them afterwards.
    """
    if override is not None:
        name = override.strip()
        if not name:
            raise errors.ConfigurationError("the environment name must not be empty")
        return name
    configured = state.settings.env
    if configured:
        return str(configured)
    app = current_app
    if app.testing:
        return "testing"
    if app.debug:
        return "development"
    return "production"


def auto_seed_enabled(settings: Settings, environment: str) -> bool:
    """Whether seeds follow an auto-upgrade: ``VERSIONING_AUTO_SEED``, else dev and testing."""
    if settings.auto_seed is None:
        return environment in AUTO_SEED_ENVIRONMENTS
    return bool(settings.auto_seed)


def ensure_allowed(
    state: _AppState, action: str, environments: Iterable[str], *, allow_protected: bool
) -> None:
    """Refuse ``action`` when any of ``environments`` is protected, before anything changes.

    Callers pass both the app's own environment and any ``--env`` override, so that
    ``flask db reset --env development`` on a production app is refused too.
    """
    if allow_protected:
        return
    protected = set(state.settings.protected_envs)
    for environment in dict.fromkeys(environments):
        if environment in protected:
            raise errors.ProtectedEnvironmentError(
                f"refusing to {action}: {environment!r} is a protected environment "
                f"(VERSIONING_PROTECTED_ENVS) and nothing was changed; {_OVERRIDE_HINT}"
            )


def guard_downgrade(state: _AppState, target: str, *, sql: bool, allow_protected: bool) -> None:
    """Refuse ``downgrade base`` in a protected environment (offline ``--sql`` is harmless)."""
    if sql or allow_protected:
        return
    if target == "base" or target.endswith("@base"):
        ensure_allowed(
            state,
            f"downgrade to {target} (it reverts every migration)",
            [environment_name(state)],
            allow_protected=False,
        )


def guard_stamp(
    state: _AppState,
    database: Database,
    revisions: Sequence[str],
    *,
    sql: bool,
    allow_protected: bool,
) -> None:
    """Refuse a stamp that would rewrite an applied history in a protected environment.

    Stamping an empty version table (adopting an existing database) and stamping exactly what
    is already there stay allowed; anything else rewrites the record of what was applied. A
    target that cannot be resolved counts as a rewrite: refusing is the safe answer.
    """
    if sql or allow_protected:
        return
    environment = environment_name(state)
    if environment not in state.settings.protected_envs:
        return
    now = set(runner.current(database))
    if not now:
        return
    try:
        script = runner.script_directory(database)
        target = {r.revision for r in script.get_revisions(list(revisions)) if r is not None}
    except Exception:
        target = None
    if target != now:
        ensure_allowed(
            state,
            f"stamp {' '.join(revisions)} over the applied history ({', '.join(sorted(now))})",
            [environment],
            allow_protected=False,
        )


# -- the ledger -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _LedgerEntry:
    environment: str
    applied_at: datetime.datetime
    runs: int


def ledger_table(settings: Settings) -> sa.Table:
    """Our table recording which seed ran, in which environment and when.

    ``name`` is the primary key: a seed's data is in a database once, whatever environment put
    it there, and two processes that both try to record the same seed cannot both succeed
    (the loser's transaction, seed rows included, rolls back).
    """
    return sa.Table(
        settings.seed_table,
        sa.MetaData(),
        sa.Column("name", sa.String(_MAX_NAME), primary_key=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("duration", sa.Float(53), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        schema=settings.version_table_schema,
    )


def _has_table(connection: sa.Connection, table: sa.Table) -> bool:
    return sa.inspect(connection).has_table(table.name, schema=table.schema)


def ensure_ledger(engine: sa.Engine, table: sa.Table) -> bool:
    """Create the ledger if it is missing; returns ``True`` if this call created it.

    Normally called under the migration lock, but it must not fail without one either:
    two processes can both see no table and both issue ``CREATE TABLE``, and PostgreSQL can
    report the loser as a duplicate even with ``IF NOT EXISTS``. So a failed create that
    leaves the table in place counts as success.
    """
    with engine.connect() as connection:
        if _has_table(connection, table):
            return False
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
    except sa.exc.DBAPIError:
        with engine.connect() as connection:
            if _has_table(connection, table):
                return False
        raise
    return True


def read_ledger(
    engine: sa.Engine, table: sa.Table, *, check_exists: bool = True
) -> dict[str, _LedgerEntry]:
    """The ledger's rows by seed name; empty when the table does not exist yet.

    ``check_exists=False`` skips the catalog query, for callers that treat any failure
    (no table yet included) as "go and look under the lock".
    """
    with engine.connect() as connection:
        if check_exists and not _has_table(connection, table):
            return {}
        rows = connection.execute(
            sa.select(table.c.name, table.c.environment, table.c.applied_at, table.c.runs)
        )
        return {
            row.name: _LedgerEntry(row.environment, _as_utc(row.applied_at), row.runs)
            for row in rows
        }


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    # Stored naive because MariaDB's DATETIME has no zone; it is always UTC.
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def _record(
    connection: sa.Connection,
    table: sa.Table,
    name: str,
    environment: str,
    duration: float,
    previous: _LedgerEntry | None,
) -> None:
    values = {
        "environment": environment[:64],
        "applied_at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
        "duration": duration,
        "host": socket.gethostname()[:255] or None,
    }
    if previous is None:
        connection.execute(sa.insert(table).values(name=name, runs=1, **values))
    else:
        connection.execute(
            sa.update(table).where(table.c.name == name).values(runs=table.c.runs + 1, **values)
        )


# -- running seeds ----------------------------------------------------------------------------


class _InsertCounter:
    """Counts the rows a seed inserts, from the ``INSERT`` statements its connection runs.

    Counted per statement from its parameter sets rather than the cursor's ``rowcount``,
    which drivers report as -1 or 0 for ``executemany`` and ``RETURNING``.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.active = True

    def __call__(
        self,
        connection: sa.Connection,
        clause: Any,
        multiparams: Any,
        params: Any,
        execution_options: Any,
        result: sa.CursorResult[Any],
    ) -> None:
        if not self.active or not isinstance(clause, sa.Insert):
            return
        if clause.select is not None:  # INSERT ... SELECT: only the driver knows
            if result.rowcount >= 0:
                self.rows += result.rowcount
        elif isinstance(multiparams, Sequence) and multiparams:
            self.rows += len(multiparams)
        else:
            self.rows += 1


def _database_of(state: _AppState, hook: SeedHook) -> Database:
    return state.database(hook.bind)


def _groups(state: _AppState, hooks: Sequence[SeedHook]) -> list[Database]:
    """The databases ``hooks`` write to, in the app's order (the default first).

    Locks are always taken in this order, so two processes never wait for each other in a
    cycle.
    """
    wanted = {id(_database_of(state, h)) for h in hooks}
    return [d for d in state.databases() if id(d) in wanted]


def _due(hook: SeedHook, ledger: Mapping[str, _LedgerEntry], force: bool) -> bool:
    return force or hook.always or hook.name not in ledger


def _run_one(
    database: Database,
    table: sa.Table,
    hook: SeedHook,
    environment: str,
    previous: _LedgerEntry | None,
) -> SeedResult:
    """Run one hook in a transaction of ours and record it in the same transaction.

    The session joins our transaction in ``rollback_only`` mode: a ``session.commit()`` in the
    hook only flushes, so nothing is committed until the hook has returned and its ledger row
    is written.
    """
    from sqlalchemy.orm import Session

    counter = _InsertCounter()
    started = time.perf_counter()
    with database.engine().connect() as connection:
        event.listen(connection, "after_execute", counter)
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="rollback_only")
        token = _active_session.set(session)
        try:
            returned = hook.function(session)
            session.flush()
            if not transaction.is_active:
                raise errors.SeedError(
                    f"seed {hook.name!r} ended the seed's transaction itself "
                    "(session.rollback()?); let the extension commit or roll back"
                )
            duration = time.perf_counter() - started
            counter.active = False
            _record(connection, table, hook.name, environment, duration, previous)
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
        finally:
            _active_session.reset(token)
            session.close()
    if isinstance(returned, int) and not isinstance(returned, bool):
        rows: int | None = returned
    else:
        rows = counter.rows or None
    return SeedResult(hook.name, environment, "applied", rows, duration, database.name)


def _run(
    state: _AppState,
    hooks: Sequence[SeedHook],
    environment: str,
    *,
    force: bool,
    progress: Callable[[SeedResult], None] | None,
) -> list[SeedResult]:
    """Run the due ``hooks`` in order, holding every involved database's migration lock.

    The ledger is read after the locks are taken, so a process that waited for another one
    finds the seeds already recorded and skips them: exactly once, however many start.
    """
    if not hooks:
        return []
    databases = _groups(state, hooks)
    results: list[SeedResult] = []
    with contextlib.ExitStack() as stack:
        ledgers: dict[int, tuple[sa.Table, dict[str, _LedgerEntry]]] = {}
        for database in databases:
            stack.enter_context(runner._lock(database))
            table = ledger_table(database.settings)
            with runner.translate_errors(database, "'seed'"):
                ensure_ledger(database.engine(), table)
                ledgers[id(database)] = (table, read_ledger(database.engine(), table))
        for index, hook in enumerate(hooks):
            database = _database_of(state, hook)
            table, ledger = ledgers[id(database)]
            if not _due(hook, ledger, force):
                results.append(
                    SeedResult(hook.name, environment, "skipped", None, 0.0, database.name)
                )
                continue
            try:
                result = _run_one(database, table, hook, environment, ledger.get(hook.name))
            except Exception as exc:
                not_run = [
                    h.name
                    for h in hooks[index + 1 :]
                    if _due(h, ledgers[id(_database_of(state, h))][1], force)
                ]
                raise errors.SeedFailed(
                    hook.name, environment, exc, results=results, not_run=not_run
                ) from exc
            results.append(result)
            if progress is not None:
                progress(result)
    return results


def _select(state: _AppState, names: Sequence[str] | None, environment: str) -> list[SeedHook]:
    registry = state.extension.seed_registry
    if names is None:
        return registry.for_environment(environment)
    chosen: list[str] = []
    for name in names:
        hook = registry.get(name)
        if hook is None:
            known = ", ".join(h.name for h in registry) or "none are registered"
            raise errors.SeedError(f"unknown seed {name!r} (known: {known})")
        if not hook.applies_to(environment):
            raise errors.SeedError(
                f"seed {name!r} is not for {environment!r} (it is for "
                f"{', '.join(hook.environments)}); choose the environment with --env"
            )
        chosen.append(name)
    wanted = set(chosen)
    return [hook for hook in registry if hook.name in wanted]


def run_seeds(
    state: _AppState,
    names: Sequence[str] | None = None,
    *,
    env: str | None = None,
    force: bool = False,
    allow_protected: bool = False,
    progress: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Run the environment's due seeds (or the named ones); ``force`` re-runs applied ones."""
    environment = environment_name(state, env)
    if force:
        ensure_allowed(
            state,
            "re-run seeds with --force",
            [environment_name(state), environment],
            allow_protected=allow_protected,
        )
    hooks = _select(state, names, environment)
    return _run(state, hooks, environment, force=force, progress=progress)


def _anything_due(state: _AppState, hooks: Sequence[SeedHook]) -> bool:
    """Lock-free look at the ledgers: the common "all seeded" start costs one query, no lock.

    Kept free of Alembic (no ``translate_errors``), like auto-upgrade's fast path: a ledger
    that cannot be read (not created yet, or the server is down) counts as "something is due",
    and the locked path that follows creates it or reports the real problem.
    """
    if any(h.always for h in hooks):
        return True
    for database in _groups(state, hooks):
        try:
            table = ledger_table(database.settings)
            ledger = read_ledger(database.engine(), table, check_exists=False)
        except sa.exc.DBAPIError:
            return True
        if any(h.name not in ledger for h in hooks if _database_of(state, h) is database):
            return True
    return False


def run_pending(
    state: _AppState,
    database: Database | None = None,
    env: str | None = None,
    progress: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Run the seeds of ``env`` that have not run yet (and the ``always`` ones).

    This is what runs after an auto-upgrade and in ``prepare``/``reset``. With ``database``,
    only the seeds that write to that database. It takes the migration lock itself; the lock
    is re-entrant, so calling it while already holding the lock (inside an auto-upgrade) is
    safe. An app without seeds for the environment never touches the database here.
    """
    environment = environment_name(state, env)
    hooks = state.extension.seed_registry.for_environment(environment)
    if database is not None:
        hooks = [h for h in hooks if _database_of(state, h) is database]
    if not hooks or not _anything_due(state, hooks):
        return []
    return _run(state, hooks, environment, force=False, progress=progress)


def auto_seed(state: _AppState, database: Database | None = None) -> list[SeedResult]:
    """The step after an auto-upgrade: run pending seeds if ``VERSIONING_AUTO_SEED`` says so.

    Hooks must be registered before ``init_app`` for this to see them (the app factory pattern
    does that naturally); one registered later is logged as missed.
    """
    environment = environment_name(state)
    if not auto_seed_enabled(state.settings, environment):
        return []
    registry = state.extension.seed_registry
    try:
        return run_pending(state, database, environment)
    finally:
        registry.auto_seeded = True


def status(state: _AppState, env: str | None = None) -> list[SeedStatus]:
    """Every declared seed with its environments and whether it has run in this database.

    Seeds the ledger remembers but no code declares any more (renamed or deleted) come last.
    """
    environment = environment_name(state, env)
    hooks = list(state.extension.seed_registry)
    ledgers: dict[int, dict[str, _LedgerEntry]] = {}
    databases = _groups(state, hooks) if hooks else [state.database()]
    for database in databases:
        with runner.translate_errors(database, "'seed --list'"):
            ledgers[id(database)] = read_ledger(database.engine(), ledger_table(database.settings))
    out: list[SeedStatus] = []
    for hook in hooks:
        entry = ledgers[id(_database_of(state, hook))].get(hook.name)
        out.append(
            SeedStatus(
                name=hook.name,
                environments=hook.environments,
                order=hook.order,
                always=hook.always,
                bind=hook.bind,
                selected=hook.applies_to(environment),
                applied_at=entry.applied_at if entry else None,
                applied_environment=entry.environment if entry else None,
                runs=entry.runs if entry else 0,
            )
        )
    declared = {h.name for h in hooks}
    for database in databases:
        for name, entry in sorted(ledgers[id(database)].items()):
            if name not in declared:
                out.append(
                    SeedStatus(
                        name=name,
                        environments=(),
                        order=0,
                        always=False,
                        bind=None if database is databases[0] else database.name,
                        selected=False,
                        applied_at=entry.applied_at,
                        applied_environment=entry.environment,
                        runs=entry.runs,
                        defined=False,
                    )
                )
    return out


# -- bulk_insert ------------------------------------------------------------------------------


def _insert_target(
    target: Any,
) -> tuple[sa.Table, Mapper[Any] | None, Callable[[Mapping[str, Any]], dict[str, Any]] | None]:
    """The table to insert into, its mapper, and how to turn a row into column keys.

    Rows for a model may use attribute names that differ from the column keys
    (``user_name = mapped_column("name")``) and a single-table-inheritance subclass needs
    its discriminator; only then is each row rewritten, so plain tables pay nothing.
    """
    from sqlalchemy.orm import Mapper

    if isinstance(target, sa.Table):
        return target, None, None
    mapper = sa.inspect(target, raiseerr=False)
    if not isinstance(mapper, Mapper):
        raise errors.SeedError(f"bulk_insert needs a Table or a mapped model class, not {target!r}")
    tables = [t for t in mapper.tables if isinstance(t, sa.Table)]
    if len(mapper.tables) != 1 or len(tables) != 1:
        raise errors.SeedError(
            f"bulk_insert writes one table, but {mapper.class_.__name__} is mapped to "
            f"{len(mapper.tables)} (joined inheritance?): insert into each table instead"
        )
    table = tables[0]
    renames = {
        prop.key: prop.columns[0].key
        for prop in mapper.column_attrs
        if len(prop.columns) == 1
        and isinstance(prop.columns[0], sa.Column)
        and prop.columns[0].table is table
        and prop.key != prop.columns[0].key
    }
    extra: dict[str, Any] = {}
    discriminator = mapper.polymorphic_on
    if (
        isinstance(discriminator, sa.Column)
        and discriminator.table is table
        and mapper.polymorphic_identity is not None
    ):
        extra[discriminator.key] = mapper.polymorphic_identity
    if not renames and not extra:
        return table, mapper, None

    def convert(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(extra)
        out.update((renames.get(key, key), value) for key, value in row.items())
        return out

    return table, mapper, convert


def _execute_batches(
    connection: sa.Connection,
    statement: sa.Insert,
    rows: Iterable[Mapping[str, Any]],
    batch_size: int,
    convert: Callable[[Mapping[str, Any]], dict[str, Any]] | None,
) -> int:
    total = 0
    if isinstance(rows, Sequence):
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            params = [convert(r) for r in batch] if convert else batch
            connection.execute(statement, params)
            total += len(batch)
        return total
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, batch_size)):
        connection.execute(statement, [convert(r) for r in chunk] if convert else chunk)
        total += len(chunk)
    return total


def bulk_insert(
    state: _AppState,
    target: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    session: Session | sa.Connection | None = None,
) -> int:
    """Insert ``rows`` (dicts) into a table or model with Core ``executemany`` batches.

    This skips the ORM unit of work on purpose: no objects, no identity map, no per-row
    events, just ``INSERT`` with many parameter sets, which SQLAlchemy 2 sends as multi-row
    ``VALUES`` pages (psycopg) or the driver's ``executemany``. Column defaults still apply;
    ORM-only behaviour (validators, ``before_insert`` events, dataclass ``default_factory``)
    does not.

    Inside a seed it writes in the seed's transaction; with ``session`` (a Session or a
    Connection) in that one's; otherwise in one transaction of its own on the table's database
    (a Flask-SQLAlchemy bind key, else the default database). Returns the number of rows sent.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise errors.SeedError(f"batch_size must be a positive integer, not {batch_size!r}")
    from sqlalchemy.orm import Session

    table, mapper, convert = _insert_target(target)
    statement = sa.insert(table)
    using = session if session is not None else _active_session.get()
    if isinstance(using, Session):
        # Pending ORM objects first: bulk rows often refer to them by foreign key.
        using.flush()
        arguments: dict[str, Any] = {"clause": statement}
        if mapper is not None:
            arguments["mapper"] = mapper
        connection = using.connection(bind_arguments=arguments)
        return _execute_batches(connection, statement, rows, batch_size, convert)
    if isinstance(using, sa.Connection):
        return _execute_batches(using, statement, rows, batch_size, convert)
    # Flask-SQLAlchemy marks a bind's tables (``__bind_key__``) in their MetaData's info.
    database = state.database(table.metadata.info.get("bind_key"))
    try:
        with database.engine().begin() as connection:
            return _execute_batches(connection, statement, rows, batch_size, convert)
    except sa.exc.DBAPIError as exc:
        # Translated only on failure: translate_errors imports Alembic, which would cost a
        # one-off seed script a tenth of a second for nothing.
        _reraise(database, exc, "'bulk_insert'")


# -- reset: drop everything -------------------------------------------------------------------


def _quote(connection: sa.Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _drop_postgresql(connection: sa.Connection) -> list[str]:
    """Drop the current schema's views, tables, sequences and enum/domain types.

    One transaction (PostgreSQL's DDL is transactional): either all of it is gone or none.
    ``CASCADE`` takes foreign keys, cycles included, with it. Objects that belong to an
    extension (PostGIS's ``spatial_ref_sys``, ...) are left alone: they are not the app's, and
    dropping them fails anyway. Enum types and sequences must go too, or re-running the first
    migration fails on ``CREATE TYPE``/``CREATE SEQUENCE``.
    """
    relations = connection.execute(
        sa.text(
            "SELECT c.relkind, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype = 'e') ORDER BY c.relname"
        )
    ).all()
    types = connection.execute(
        sa.text(
            "SELECT t.typtype, t.typname FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass "
            "AND d.objid = t.oid AND d.deptype = 'e') ORDER BY t.typname"
        )
    ).all()
    by_kind: dict[str, list[str]] = {}
    for kind, name in relations:
        by_kind.setdefault(kind, []).append(name)
    statements = [
        ("MATERIALIZED VIEW", by_kind.get("m", [])),
        ("VIEW", by_kind.get("v", [])),
        ("TABLE", by_kind.get("r", []) + by_kind.get("p", [])),
        ("SEQUENCE", by_kind.get("S", [])),
        ("TYPE", [name for kind, name in types if kind == "e"]),
        ("DOMAIN", [name for kind, name in types if kind == "d"]),
    ]
    dropped: list[str] = []
    for what, names in statements:
        if names:
            quoted = ", ".join(_quote(connection, n) for n in names)
            connection.exec_driver_sql(f"DROP {what} IF EXISTS {quoted} CASCADE")
            if what in ("VIEW", "MATERIALIZED VIEW", "TABLE"):
                dropped.extend(names)
    return dropped


def _drop_in_dependency_order(connection: sa.Connection, schema: str | None = None) -> list[str]:
    """Drop the views, then the tables, children before parents (MariaDB, SQLite, others)."""
    inspector = sa.inspect(connection)
    views = inspector.get_view_names(schema=schema)
    ordered = [t for t, _ in inspector.get_sorted_table_and_fkc_names(schema=schema) if t]
    prefix = f"{_quote(connection, schema)}." if schema else ""
    for view in views:
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {prefix}{_quote(connection, view)}")
    for table in reversed(ordered):
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}{_quote(connection, table)}")
    if connection.dialect.name in ("mysql", "mariadb"):
        with contextlib.suppress(NotImplementedError):
            for sequence in inspector.get_sequence_names(schema=schema):
                connection.exec_driver_sql(
                    f"DROP SEQUENCE IF EXISTS {prefix}{_quote(connection, sequence)}"
                )
    return [*views, *reversed(ordered)]


def drop_everything(database: Database) -> list[str]:
    """Drop every view and table of the database's default schema, ours included.

    Foreign keys decide the order; on MariaDB the checks are switched off for the session as
    well, because a cycle of foreign keys has no valid order there; on SQLite likewise with
    ``PRAGMA foreign_keys``. When the version table lives in another schema
    (``VERSIONING_VERSION_TABLE_SCHEMA``), it and the seed ledger are dropped there too.
    """
    engine = database.engine()
    settings = database.settings
    dialect = engine.dialect.name
    with runner.translate_errors(database, "'reset'"), engine.connect() as connection:
        if dialect == "postgresql":
            with connection.begin():
                dropped = _drop_postgresql(connection)
        elif dialect in ("mysql", "mariadb"):
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            try:
                dropped = _drop_in_dependency_order(connection)
            finally:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
            connection.commit()
        elif dialect == "sqlite":
            before = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            connection.commit()  # the pragma is ignored inside a transaction
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            try:
                dropped = _drop_in_dependency_order(connection)
                connection.commit()
            finally:
                connection.exec_driver_sql(f"PRAGMA foreign_keys = {1 if before else 0}")
                connection.commit()
        else:
            dropped = _drop_in_dependency_order(connection)
            connection.commit()
        schema = settings.version_table_schema
        if schema:
            for name in (settings.version_table, settings.seed_table):
                table = sa.Table(name, sa.MetaData(), schema=schema)
                if sa.inspect(connection).has_table(name, schema=schema):
                    connection.execute(sa.schema.DropTable(table))
                    dropped.append(f"{schema}.{name}")
            connection.commit()
    return dropped


def reset(
    state: _AppState,
    *,
    env: str | None = None,
    allow_protected: bool = False,
    confirm: Callable[[str], None] | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
    seed_progress: Callable[[SeedResult], None] | None = None,
) -> ResetResult:
    """Drop everything in every database of the app, upgrade them to heads, run the seeds.

    The whole sequence holds the migration locks, so no other process migrates or seeds in
    between. A protected environment (the app's or ``env``) refuses before anything is dropped.
    ``confirm`` is called with the environment after that check and before the locks are
    taken (nobody waits on a lock while a person reads a prompt); it raises to stop.
    """
    environment = environment_name(state, env)
    ensure_allowed(
        state,
        "reset the database (drop every table)",
        [environment_name(state), environment],
        allow_protected=allow_protected,
    )
    if confirm is not None:
        confirm(environment)
    databases = state.databases()
    dropped: dict[str, tuple[str, ...]] = {}
    migrations: list[MigrationResult] = []
    with contextlib.ExitStack() as stack:
        for database in databases:
            stack.enter_context(runner._lock(database))
        for database in databases:
            dropped[database.name] = tuple(drop_everything(database))
        for database in databases:
            migrations.append(runner.upgrade(database, "heads", progress=progress))
        seeds = run_pending(state, env=environment, progress=seed_progress)
    return ResetResult(dropped, tuple(migrations), tuple(seeds))


# -- prepare: create if missing, upgrade, seed ------------------------------------------------


def _server_urls(url: sa.URL) -> list[sa.URL]:
    """Where to connect to run ``CREATE DATABASE``: the server's maintenance database."""
    if url.get_backend_name() == "postgresql":
        return [url.set(database="postgres"), url.set(database="template1")]
    # ``URL.set(database=None)`` means "unchanged", so build the URL without a database.
    return [
        sa.URL.create(
            url.drivername,
            username=url.username,
            password=url.password,
            host=url.host,
            port=url.port,
            query=url.query,
        )
    ]


def _server_has_database(connection: sa.Connection, dialect: str, name: str) -> bool:
    if dialect == "postgresql":
        query = sa.text("SELECT 1 FROM pg_database WHERE datname = :n")
    else:
        query = sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n")
    return connection.execute(query.bindparams(n=name)).first() is not None


def _create_if_missing(database: Database, url: sa.URL, original: sa.exc.DBAPIError) -> bool:
    """After connecting to the database failed: create it if the server says it is missing.

    The server is asked (``pg_database``, ``information_schema.schemata``) rather than the
    error message parsed, because drivers do not report the error code on a failed connect and
    the message is translated by the server's locale. If the server cannot be reached either,
    or the database exists (the failure was something else), the original error is raised.
    Several processes may run ``prepare`` at once: losing the race to create it is fine.
    """
    dialect = url.get_backend_name()
    name = url.database or ""
    for server_url in _server_urls(url):
        engine = sa.create_engine(server_url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        try:
            try:
                connection = engine.connect()
            except sa.exc.DBAPIError:
                continue
            with connection:
                if _server_has_database(connection, dialect, name):
                    break
                quoted = _quote(connection, name)
                try:
                    connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
                except sa.exc.DBAPIError as exc:
                    if not _server_has_database(connection, dialect, name):
                        raise _cannot_create(database, name, exc) from exc
                    return False
                return True
        finally:
            engine.dispose()
    _reraise(database, original)


def _cannot_create(database: Database, name: str, exc: Exception) -> errors.DatabaseError:
    orig = getattr(exc, "orig", None) or exc
    detail = " ".join(str(orig).split())
    return errors.DatabaseError(
        f"the database {name!r} does not exist and could not be created at "
        f"{errors.mask_url(database.url)}: {errors.scrub(detail)}; create it yourself or "
        "give the user the right to create databases"
    )


def ensure_database(database: Database) -> bool:
    """Create the database if the backend allows it and it is missing; ``True`` if created.

    SQLite creates the file on first connection (its directory is made here if missing);
    PostgreSQL and MariaDB/MySQL need ``CREATE DATABASE`` on a server-level connection. Other
    backends are only connected to.
    """
    url = database.url
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        from .locking import _sqlite_path

        path = _sqlite_path(url)
        if path is None:
            return False
        existed = Path(path).exists()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with runner.translate_errors(database, "'prepare'"), database.engine().connect():
            pass
        return not existed
    try:
        with database.engine().connect():
            return False
    except sa.exc.DBAPIError as exc:
        if dialect not in ("postgresql", "mysql", "mariadb") or not url.database:
            _reraise(database, exc)
        return _create_if_missing(database, url, exc)


def _reraise(database: Database, exc: Exception, action: str = "'prepare'") -> NoReturn:
    """Raise ``exc`` as the rest of the API would: connection errors as one masked line."""
    with runner.translate_errors(database, action):
        raise exc
    raise AssertionError("unreachable")  # pragma: no cover - the block always raises


def prepare(
    state: _AppState,
    *,
    env: str | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
    seed_progress: Callable[[SeedResult], None] | None = None,
) -> PrepareResult:
    """Create missing databases, upgrade every database to heads and seed; idempotent.

    Each upgrade holds its database's migration lock and the seeds take them again before
    reading the ledger, so a fleet of containers running this at once migrates and seeds
    exactly once.
    """
    environment = environment_name(state, env)
    databases = state.databases()
    created = tuple(d.name for d in databases if ensure_database(d))
    migrations = tuple(runner.upgrade(d, "heads", progress=progress) for d in databases)
    seeds = run_pending(state, env=environment, progress=seed_progress)
    return PrepareResult(created, migrations, tuple(seeds))


# -- autogenerate must not see the ledger -----------------------------------------------------


def hide_ledger(
    settings: Settings, user_hook: Callable[[str | None, str, Mapping[str, Any]], bool] | None
) -> Callable[[str | None, str, Mapping[str, Any]], bool]:
    """An ``include_name`` hook that hides the seed ledger from autogenerate.

    The ledger is ours, like Alembic's version table, and is in no model: without this,
    ``flask db migrate`` would write a revision dropping it and ``flask db check`` would
    report it. The app's own ``include_name`` (from ``VERSIONING_CONTEXT``) still decides
    about every other name.
    """
    ledger = settings.seed_table
    schemas = {None, settings.version_table_schema}

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
        if type_ == "table" and name == ledger and parent_names.get("schema_name") in schemas:
            return False
        return user_hook(name, type_, parent_names) if user_hook is not None else True

    return include_name
