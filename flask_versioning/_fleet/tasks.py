"""What runs on one tenant, in this process or in a worker: a :class:`Task` names a function and
its arguments, and :func:`run_task` turns whatever it does into a
:class:`~flask_versioning.TenantResult`.

A task reaches worker processes pickled, so its function is a module-level one (pickled by name)
and its arguments are plain data. Any command can run on tenants through such a function: it
takes the tenant's state and database and returns what the command returns for one database.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors as errors
from .._alembic.database import Database
from .._ledgers.versions import current as current_revisions
from .._operations import executor, queries
from .._protection import allowing
from .._state import VersioningState
from .._types import MigrationResult, SeedResult, Tenant, TenantResult, TenantStatus
from .tenants import TenantState, dispose, ensure_exists, tenant_database

if TYPE_CHECKING:
    from .._reports import DatabasePlan


@dataclasses.dataclass(frozen=True)
class Task:
    """A command to run on each tenant."""

    #: ``(state, database, **arguments) -> value``; the state has the tenant as its only
    #: database.
    function: Callable[..., Any]
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Whether the command writes: only then may ``create`` make a missing schema.
    writes: bool = False
    #: Skip tenants whose version table holds exactly these revisions, read without loading
    #: any revision file or taking the lock; ``None``: never skip.
    skip_at: frozenset[str] | None = None
    #: Whether the command may run in worker processes (one query per tenant is cheaper than
    #: starting them).
    parallel: bool = True


def run_task(
    state: VersioningState, tenant: Tenant, task: Task, *, create: bool = False
) -> TenantResult[Any]:
    """Run ``task`` on ``tenant``; every error becomes a failed result with one line, never an
    exception, so one tenant never stops the others."""
    started = time.perf_counter()
    database: Database | None = None
    exists: Database | None = None  # the database, once its schema is known to exist
    try:
        database = tenant_database(state.database(), tenant)
        ensure_exists(database, tenant, create=create and task.writes)
        exists = database
        only = TenantState(
            extension=state.extension,
            settings=database.settings,
            db=state.db,
            metadata=state.metadata,
            _databases=[database],
        )
        value = task.function(only, database, **task.arguments)
    except Exception as exc:
        if isinstance(exc, errors.MigrationFailed):
            now = exc.current
        else:  # a tenant that could not be reached or has no schema stands nowhere known
            now = where_now(exists) if exists is not None else None
        took = time.perf_counter() - started
        return TenantResult(tenant.name, "failed", error=describe(exc), after=now, duration=took)
    finally:
        if database is not None:
            dispose(database)
    before = after = None
    changed = isinstance(value, tuple) and any(
        isinstance(v, SeedResult) and v.status == "applied" for v in value
    )
    if isinstance(value, MigrationResult):
        before, after = value.before, value.after
        changed = bool(value.steps) or before != after
    status: TenantStatus = "changed" if changed else "ok"
    took = time.perf_counter() - started
    return TenantResult(tenant.name, status, value, before=before, after=after, duration=took)


def describe(exc: BaseException) -> str:
    """An error as the one scrubbed line a result shows: ours as they are, others named."""
    if isinstance(exc, errors.VersioningError):
        return errors.scrub(str(exc))
    return errors.scrub(f"{type(exc).__name__}: {errors.one_line(exc, 300)}")


def interrupted(
    state: VersioningState, tenant: Tenant, duration: float, stopped: BaseException
) -> TenantResult[Any]:
    """A tenant stopped by Ctrl-C in this process: what the migration said (its statement
    cancelled, where it stands), else read back."""
    if isinstance(stopped, errors.MigrationInterrupted):
        error, now = str(stopped), stopped.current
    else:
        error, now = "interrupted (Ctrl-C) while it ran", read_back(state, tenant)
    return TenantResult(tenant.name, "failed", error=error, after=now, duration=duration)


def where_now(database: Database) -> tuple[str, ...] | None:
    """The tenant's revisions, or ``None`` when they cannot be read (the database is down)."""
    try:
        return tuple(current_revisions(database))
    except Exception:
        return None


def read_back(state: VersioningState, tenant: Tenant) -> tuple[str, ...] | None:
    """Where a tenant stopped half-way stands, read over a connection of its own."""
    try:
        database = tenant_database(state.database(), tenant)
    except Exception:
        return None
    try:
        return where_now(database)
    finally:
        dispose(database)


# -- the commands: module-level functions, so that a task pickles ------------------------------


def migrate(
    state: VersioningState,
    database: Database,
    *,
    command: str,
    allow_protected: bool | None = None,
    **arguments: Any,
) -> MigrationResult:
    """``executor.<command>`` (upgrade, downgrade or stamp), with ``allow_protected`` given to
    the guard where the command takes it."""
    function: Callable[..., MigrationResult] = getattr(executor, command)
    if allow_protected is None:
        return function(database, **arguments)
    with allowing(allow_protected):
        return function(database, **arguments)


def current(state: VersioningState, database: Database) -> tuple[str, ...]:
    return tuple(current_revisions(database))


def plan(
    state: VersioningState, database: Database, *, target: str, applied: bool, x_args: Sequence[str]
) -> DatabasePlan:
    from .._review.lint import plan as plan_upgrade

    return plan_upgrade(database, target, applied=applied, x_args=x_args)


def check(state: VersioningState, database: Database) -> tuple[str, ...]:
    """The differences between the models and the tenant, one per line, in ``check``'s words."""
    from .._review.drift import describe_diffs

    found = describe_diffs(queries.check(database), database.engine().dialect)
    return tuple(difference.description for difference in found)


def seed(
    state: VersioningState,
    database: Database,
    *,
    names: Sequence[str] | None,
    env: str | None,
    force: bool,
    allow_protected: bool,
) -> tuple[SeedResult, ...]:
    from .._seeds.run import run_pending, run_seeds

    if names is None and not force:
        # The lock-free look at the ledger first: a tenant with nothing due costs one query.
        return tuple(run_pending(state, env))
    return tuple(run_seeds(state, names, env=env, force=force, allow_protected=allow_protected))
