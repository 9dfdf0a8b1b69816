"""Running a command on many tenants: choose them, skip those already at the target, run the
rest one after the other or in worker processes, and report each one.

Each command is a :class:`~.tasks.Task`; :func:`run` is the same for all of them. One tenant's
failure is its result, never an exception, so the others go on (unless ``fail_fast``); every
tenant is migrated under its own migration lock, so running the same command again, or on
several machines at once (``shard``), only does what is still pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from .. import _errors as errors
from .._state import VersioningState
from .._types import RunOptions, Tenant, TenantEvent, TenantOptions, TenantResult
from . import tasks
from .pool import run_pool
from .skip import protect_skipped, read_versions, target_revisions
from .tasks import Task, run_task
from .tenants import check_shard, declared, select

__all__ = [
    "Task",
    "TenantSelection",
    "check",
    "current",
    "declared",
    "downgrade",
    "plan",
    "run",
    "seed",
    "stamp",
    "status",
    "upgrade",
]

#: ``"all"``, or tenant names (and :class:`~flask_versioning.Tenant` objects).
TenantSelection = str | Iterable[str | Tenant]


class _Events:
    """Counts and the ``on_event`` callback, all in the parent process."""

    def __init__(self, total: int, callback: Callable[[TenantEvent], None] | None) -> None:
        self.total = total
        self.done = self.failed = self.skipped = 0
        self.callback = callback

    def _emit(
        self,
        kind: Literal["start", "finish", "interrupt"],
        tenant: str,
        worker: int,
        result: Any = None,
    ) -> None:
        if self.callback is not None:
            self.callback(
                TenantEvent(
                    kind,
                    tenant,
                    worker,
                    self.total,
                    self.done,
                    self.failed,
                    self.skipped,
                    result,
                )
            )

    def start(self, worker: int, tenant: Tenant) -> None:
        self._emit("start", tenant.name, worker)

    def interrupt(self, worker: int = 0, tenant: Tenant | None = None) -> None:
        self._emit("interrupt", tenant.name if tenant is not None else "", worker)

    def finish(self, worker: int, result: TenantResult[Any]) -> None:
        if result.status == "failed":
            self.failed += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.done += 1
        self._emit("finish", result.tenant, worker, result)


def run(
    state: VersioningState,
    task: Task,
    selection: TenantSelection,
    options: TenantOptions | None = None,
) -> list[TenantResult[Any]]:
    """Run ``task`` on the selected tenants; one result per tenant, in declaration order."""
    options = options or {}
    jobs = options.get("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise errors.ConfigurationError(f"jobs must be a whole number >= 1, not {jobs!r}")
    shard = options.get("shard")
    if shard is not None:
        shard = check_shard(shard)
    chosen = select(state, selection, shard)
    fail_fast = bool(options.get("fail_fast"))
    create = bool(options.get("create"))
    events = _Events(len(chosen), options.get("on_event"))
    results: dict[str, TenantResult[Any]] = {}
    pending = list(chosen)

    if task.skip_at is not None and pending:
        found = read_versions(state.database(), pending)
        at_target = [
            (tenant, tuple(sorted(rows)))
            for tenant, rows in zip(pending, found, strict=True)
            if rows is not None and len(rows) == len(task.skip_at) and set(rows) == task.skip_at
        ]
        unmarked = protect_skipped(state, [t for t, _ in at_target]) if task.writes else {}
        for tenant, now in at_target:
            error = unmarked.get(tenant.name)
            result: TenantResult[Any] = TenantResult(
                tenant.name,
                "failed" if error else "skipped",
                error=error,
                before=now,
                after=now,
            )
            results[tenant.name] = result
            events.finish(0, result)
        pending = [t for t in pending if t.name not in results]

    def record(worker: int, result: TenantResult[Any]) -> bool:
        results[result.tenant] = result
        events.finish(worker, result)
        return fail_fast and result.status == "failed"

    processes = min(jobs, len(pending)) if task.parallel else 1
    interrupted = False
    if processes > 1:
        interrupted = run_pool(
            state,
            pending,
            task,
            jobs=processes,
            create=create,
            loader=options.get("app_loader"),
            start=events.start,
            record=record,
            interrupt=events.interrupt,
        )
    else:
        for tenant in pending:
            events.start(1, tenant)
            started = time.perf_counter()
            try:
                result = run_task(state, tenant, task, create=create)
            except KeyboardInterrupt as stopped:
                # Stopped half-way: a transaction rolls back; the tenant is read back to say
                # where it stands.
                interrupted = True
                events.interrupt(1, tenant)
                took = time.perf_counter() - started
                result = tasks.interrupted(state, tenant, took, stopped)
            if record(1, result) or interrupted:
                break
    why = "interrupted (Ctrl-C)" if interrupted else "an earlier tenant failed (fail fast)"
    # Every tenant has a result: one never started (fail fast, Ctrl-C, even one taken from the
    # queue as Ctrl-C arrived) is "not run".
    for tenant in chosen:
        if tenant.name not in results:
            results[tenant.name] = TenantResult(tenant.name, "not run", error=f"not run: {why}")
    ordered = [results[t.name] for t in chosen]
    if interrupted:
        raise errors.TenantsInterrupted(ordered)
    return ordered


# -- the commands -------------------------------------------------------------------------------


def upgrade(
    state: VersioningState, target: str, options: RunOptions, *, baseline: bool = True
) -> Task:
    return Task(
        tasks.upgrade,
        {"target": target, "options": _plain(options), "baseline": baseline},
        writes=True,
        skip_at=target_revisions(state.database(), [target]),
    )


def downgrade(
    state: VersioningState, target: str, options: RunOptions, *, allow_protected: bool
) -> Task:
    return Task(
        tasks.downgrade,
        {"target": target, "options": _plain(options), "allow_protected": allow_protected},
        writes=True,
        skip_at=frozenset() if target == "base" else None,
    )


def stamp(
    state: VersioningState,
    revisions: Sequence[str],
    options: RunOptions,
    *,
    purge: bool,
    allow_protected: bool,
) -> Task:
    arguments = {
        "revisions": list(revisions),
        "options": _plain(options),
        "purge": purge,
        "allow_protected": allow_protected,
    }
    skip_at = None if purge else target_revisions(state.database(), revisions)
    return Task(tasks.stamp, arguments, writes=True, skip_at=skip_at)


def current(state: VersioningState) -> Task:
    return Task(tasks.current, parallel=False)


def status(state: VersioningState) -> Task:
    """Where each tenant stands: its version table, ledger and the files read as text, one
    after the other (no revision is imported, so a worker process would only cost)."""
    return Task(tasks.status, parallel=False)


def plan(state: VersioningState, target: str, *, applied: bool, x_args: Sequence[str] = ()) -> Task:
    """What ``upgrade(target)`` would do to each tenant; rendering the SQL offline is the
    costly part, so it may run in worker processes."""
    return Task(tasks.plan, {"target": target, "applied": applied, "x_args": list(x_args)})


def check(state: VersioningState) -> Task:
    if state.database().metadata is None:
        raise errors.ConfigurationError(
            "check needs the app's models: pass a Flask-SQLAlchemy db or metadata= to Versioning"
        )
    return Task(tasks.check)


def seed(
    state: VersioningState,
    names: Sequence[str] | None,
    *,
    env: str | None,
    force: bool,
    allow_protected: bool,
) -> Task:
    arguments = {
        "names": None if names is None else list(names),
        "env": env,
        "force": force,
        "allow_protected": allow_protected,
    }
    return Task(tasks.seed, arguments, writes=True)


def _plain(options: RunOptions) -> RunOptions:
    """The options a tenant run accepts; offline SQL is one script per database, not a fleet
    run."""
    if options.get("sql"):
        raise errors.ConfigurationError(
            "--sql (sql=True) cannot be combined with tenants: run it without them"
        )
    plain: RunOptions = {}
    if options.get("tag") is not None:
        plain["tag"] = options.get("tag")
    if options.get("x_args"):
        plain["x_args"] = list(options.get("x_args") or ())
    return plain
