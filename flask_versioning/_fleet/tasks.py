"""What runs on one tenant, in this process or in a worker: a :class:`Task` names a function of
the operations layer and its arguments, and :func:`run_task` runs it on the tenant and turns
whatever happens into a :class:`~flask_versioning.TenantResult`.

A task crosses into worker processes by pickling, so its function must be a module-level
function (pickled by name) and its arguments plain data. Any command can run on tenants by
adding such a function: it takes the tenant's state and database, and returns what the command
returns for one database.
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
from .._operations.standing import database_status
from .._protection import allowing
from .._state import VersioningState
from .._types import (
    DatabaseStatus,
    MigrationResult,
    RunOptions,
    SeedResult,
    Tenant,
    TenantResult,
)

if TYPE_CHECKING:
    from .._reports import DatabasePlan

from .tenants import dispose, ensure_exists, tenant_database, tenant_state

__all__ = ["Task", "TaskFunction", "failure", "interrupted", "run_task"]

#: ``function(state, database, **arguments)``: the state has the tenant as its only database.
TaskFunction = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Task:
    """A command to run on each tenant."""

    #: A module-level function ``(state, database, **arguments) -> value``.
    function: TaskFunction
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Whether the command writes: only then may ``create`` make a missing schema.
    writes: bool = False
    #: Skip tenants whose version table holds exactly these revisions, read without loading
    #: any revision file or taking the lock; ``None``: never skip.
    skip_at: frozenset[str] | None = None
    #: Whether the command may run in worker processes (reading the version table does not
    #: need them: it is one query, cheaper than starting a process).
    parallel: bool = True


def run_task(
    state: VersioningState, tenant: Tenant, task: Task, *, create: bool = False
) -> TenantResult[Any]:
    """Run ``task`` on ``tenant``; every error becomes a failed result with one line, never an
    exception, so one tenant never stops the others."""
    started = time.perf_counter()
    database: Database | None = None
    ready = False
    try:
        database = tenant_database(state.database(), tenant)
        ensure_exists(database, tenant, create=create and task.writes)
        ready = True
        value = task.function(tenant_state(state, database), database, **task.arguments)
        return finished(tenant, value, time.perf_counter() - started)
    except Exception as exc:
        # A tenant that could not be reached or has no schema stands nowhere known.
        return failure(tenant, database if ready else None, exc, time.perf_counter() - started)
    finally:
        if database is not None:
            dispose(database)


def finished(tenant: Tenant, value: Any, duration: float) -> TenantResult[Any]:
    before = after = None
    changed = False
    if isinstance(value, MigrationResult):
        before, after = value.before, value.after
        changed = bool(value.steps) or before != after
    elif isinstance(value, Sequence) and any(isinstance(v, SeedResult) for v in value):
        changed = any(getattr(v, "status", None) == "applied" for v in value)
    return TenantResult(
        tenant.name,
        "changed" if changed else "ok",
        value=value,
        before=before,
        after=after,
        duration=duration,
    )


def failure(
    tenant: Tenant, database: Database | None, exc: BaseException, duration: float
) -> TenantResult[Any]:
    """A failed result: the one-line error, and where the tenant stands now if it can be read."""
    if isinstance(exc, errors.VersioningError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {errors.one_line(exc, 300)}"
    now: tuple[str, ...] | None = None
    if isinstance(exc, errors.MigrationFailed):
        now = exc.current
    elif database is not None:
        now = where_now(database)
    return TenantResult(
        tenant.name, "failed", error=errors.scrub(message), after=now, duration=duration
    )


def interrupted(
    state: VersioningState, tenant: Tenant, duration: float, stopped: BaseException | None = None
) -> TenantResult[Any]:
    """The result of a tenant stopped by Ctrl-C while it ran in this process: what the
    migration said (its statement cancelled, where it stands), else read back."""
    if isinstance(stopped, errors.MigrationInterrupted):
        return TenantResult(
            tenant.name, "failed", error=str(stopped), after=stopped.current, duration=duration
        )
    database = None
    try:
        database = tenant_database(state.database(), tenant)
        now = where_now(database)
    except Exception:
        now = None
    finally:
        if database is not None:
            dispose(database)
    return TenantResult(
        tenant.name,
        "failed",
        error="interrupted (Ctrl-C) while it ran",
        after=now,
        duration=duration,
    )


def where_now(database: Database) -> tuple[str, ...] | None:
    """The tenant's revisions, or ``None`` when they cannot be read (the database is down)."""
    try:
        return tuple(current_revisions(database))
    except Exception:
        return None


# -- the commands, one function each ------------------------------------------------------------


def upgrade(
    state: VersioningState,
    database: Database,
    *,
    target: str,
    options: RunOptions,
    baseline: bool = True,
) -> MigrationResult:
    return executor.upgrade(database, target, options, baselines=baseline)


def downgrade(
    state: VersioningState,
    database: Database,
    *,
    target: str,
    options: RunOptions,
    allow_protected: bool,
) -> MigrationResult:
    with allowing(allow_protected):
        return executor.downgrade(database, target, options)


def stamp(
    state: VersioningState,
    database: Database,
    *,
    revisions: Sequence[str],
    options: RunOptions,
    purge: bool,
    allow_protected: bool,
) -> MigrationResult:
    with allowing(allow_protected):
        return executor.stamp(database, revisions, options, purge=purge)


def current(state: VersioningState, database: Database) -> tuple[str, ...]:
    return tuple(current_revisions(database))


def status(state: VersioningState, database: Database) -> DatabaseStatus:
    return database_status(state, database)


def plan(
    state: VersioningState,
    database: Database,
    *,
    target: str,
    applied: bool,
    x_args: Sequence[str] = (),
) -> DatabasePlan:
    from .._review.plan import plan as plan_upgrade

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
