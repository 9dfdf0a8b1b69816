"""Running a command on many tenants: choose them, skip those already at the target, run the
rest one after the other or in worker processes, and report each one.

One tenant's failure is its result, never an exception, so the others go on (unless
``fail_fast``); each tenant migrates under its own migration lock, so running the same command
again, or on several machines at once (``shard``), only does what is still pending.

Tenants already at the target are skipped as the start-up fast path does: the heads come from
the cached reading of the revision files (none is imported), and each tenant's version table is
read with one ``SELECT``, without the lock. A tenant whose table cannot be read (no table yet,
schema missing, server down) is not skipped: the run itself then creates it or reports why.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any, Literal

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.database import Database
from .._ledgers.history import active_run
from .._ledgers.versions import read_rows
from .._protection import mark_protected, run_for
from .._state import VersioningState
from .._types import Tenant, TenantEvent, TenantOptions, TenantResult, TenantStatus
from .pool import run_pool
from .tasks import Task, interrupted, run_task
from .tenants import declared, dispose, select, tenant_database

__all__ = ["Task", "TenantSelection", "declared", "run"]

#: ``"all"``, or tenant names (and :class:`~flask_versioning.Tenant` objects).
TenantSelection = str | Iterable[str | Tenant]


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
    chosen = select(state, selection, options.get("shard"))
    fail_fast = bool(options.get("fail_fast"))
    create = bool(options.get("create"))
    on_event = options.get("on_event")
    counts = {"done": 0, "failed": 0, "skipped": 0}
    results: dict[str, TenantResult[Any]] = {}

    def emit(
        kind: Literal["start", "finish", "interrupt"],
        worker: int,
        tenant: str = "",
        result: TenantResult[Any] | None = None,
    ) -> None:
        if on_event is not None:
            on_event(TenantEvent(kind, tenant, worker, len(chosen), result=result, **counts))

    def record(worker: int, result: TenantResult[Any]) -> bool:
        results[result.tenant] = result
        counts[result.status if result.status in ("failed", "skipped") else "done"] += 1
        emit("finish", worker, result.tenant, result)
        return fail_fast and result.status == "failed"

    if task.skip_at is not None and chosen:
        found = read_versions(state.database(), chosen)
        at_target = [
            (tenant, tuple(sorted(rows)))
            for tenant, rows in zip(chosen, found, strict=True)
            if rows is not None and len(rows) == len(task.skip_at) and set(rows) == task.skip_at
        ]
        unmarked = protect_skipped(state, [t for t, _ in at_target]) if task.writes else {}
        for tenant, now in at_target:
            error = unmarked.get(tenant.name)
            status: TenantStatus = "failed" if error else "skipped"
            record(0, TenantResult(tenant.name, status, error=error, before=now, after=now))
    pending = [t for t in chosen if t.name not in results]

    processes = min(jobs, len(pending)) if task.parallel else 1
    stopped = False
    if processes > 1:
        stopped = run_pool(
            state,
            pending,
            task,
            jobs=processes,
            create=create,
            loader=options.get("app_loader"),
            emit=emit,
            record=record,
        )
    else:
        for tenant in pending:
            emit("start", 1, tenant.name)
            started = time.perf_counter()
            try:
                result = run_task(state, tenant, task, create=create)
            except KeyboardInterrupt as exc:
                # Stopped half-way: a transaction rolls back; the tenant is read back to say
                # where it stands.
                stopped = True
                emit("interrupt", 1, tenant.name)
                result = interrupted(state, tenant, time.perf_counter() - started, exc)
            if record(1, result) or stopped:
                break
    why = "interrupted (Ctrl-C)" if stopped else "an earlier tenant failed (fail fast)"
    # Every tenant has a result: one never started (fail fast, Ctrl-C, even one taken from the
    # queue as Ctrl-C arrived) is "not run".
    ordered = [
        results.get(t.name) or TenantResult(t.name, "not run", error=f"not run: {why}")
        for t in chosen
    ]
    if stopped:
        raise errors.TenantsInterrupted(ordered)
    return ordered


def read_versions(base: Database, tenants: Sequence[Tenant]) -> list[list[str] | None]:
    """Each tenant's version rows, ``None`` where they cannot be read. Schema tenants on the
    app's server share one connection of the app's engine; a URL tenant costs one of its own."""
    found: list[list[str] | None] = [None] * len(tenants)
    shared: list[tuple[int, Database]] = []
    for index, tenant in enumerate(tenants):
        database = tenant_database(base, tenant)
        if tenant.url is None:
            shared.append((index, database))
            continue
        try:
            with suppress(sa.exc.DBAPIError), database.engine().connect() as connection:
                found[index] = read_rows(connection, database)
        finally:
            dispose(database)
    if shared:
        with suppress(sa.exc.DBAPIError), base.engine().connect() as connection:
            for index, database in shared:
                try:
                    found[index] = read_rows(connection, database)
                except sa.exc.DBAPIError:
                    connection.rollback()  # PostgreSQL: the transaction is aborted
    return found


def protect_skipped(state: VersioningState, tenants: Sequence[Tenant]) -> dict[str, str]:
    """Record a protected run's protection in tenants skipped at the target (or a later
    ``downgrade base`` from a development shell would find them unprotected); returns the
    one-line error of each tenant whose ledger could not be written."""
    run = active_run() or run_for(state)
    if not run.protect:
        return {}
    failed: dict[str, str] = {}
    for tenant in tenants:
        database = tenant_database(state.database(), tenant)
        try:
            mark_protected([database], run)
        except sa.exc.SQLAlchemyError as exc:
            detail = errors.scrub(errors.one_line(getattr(exc, "orig", None) or exc, 200))
            failed[tenant.name] = f"cannot record protection in its history ledger: {detail}"
        finally:
            dispose(database)
    return failed
