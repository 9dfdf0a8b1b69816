"""The commands on tenants: what :meth:`Versioning.for_tenants()
<flask_versioning.Versioning.for_tenants>` returns.

A run on tenants takes options of its own (which tenants, how many at once, a shard...) and
returns one :class:`~flask_versioning.TenantResult` per tenant instead of one database's
result. Holding the choice of tenants and those options in one object keeps each method's
keywords the command's own, as on :class:`~flask_versioning.Versioning`, with no keyword that
changes what a method returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _fleet as fleet
from ._state import get_state
from ._types import DatabaseStatus, MigrationResult, RunOptions, SeedResult, TenantResult

if TYPE_CHECKING:
    from ._fleet import Task, TenantSelection
    from ._reports import DatabasePlan
    from ._types import TenantOptions

__all__ = ["TenantCommands"]


class TenantCommands:
    """The commands that act on tenants, run on the tenants chosen by
    :meth:`Versioning.for_tenants() <flask_versioning.Versioning.for_tenants>`.

    Each method returns one :class:`~flask_versioning.TenantResult` per tenant, in declaration
    order, its ``value`` what the same method of :class:`~flask_versioning.Versioning` returns
    for one database. A failing tenant is its failed result, never an exception; bad input
    (an unknown tenant, a bad shard) raises. Ctrl-C raises
    :class:`~flask_versioning.TenantsInterrupted`, which holds every tenant's result.
    """

    def __init__(self, selection: TenantSelection, options: TenantOptions) -> None:
        self.selection = selection
        self.options = options

    def _run(self, task: Task) -> list[TenantResult[Any]]:
        return fleet.run(get_state(), task, self.selection, self.options)

    def upgrade(
        self,
        target: str = "heads",
        *,
        baseline: bool = True,
        sql: bool = False,
        tag: str | None = None,
        x_args: Sequence[str] | None = None,
    ) -> list[TenantResult[MigrationResult]]:
        """Upgrade each tenant to ``target``; tenants already there are skipped without
        loading a revision file. Options as for :meth:`Versioning.upgrade()
        <flask_versioning.Versioning.upgrade>`; ``sql=True`` is refused (offline SQL is one
        script per database)."""
        options = RunOptions(sql=sql, tag=tag, x_args=x_args)
        return self._run(fleet.upgrade(get_state(), target, options, baseline=baseline))

    def downgrade(
        self,
        target: str = "-1",
        *,
        allow_protected: bool = False,
        sql: bool = False,
        tag: str | None = None,
        x_args: Sequence[str] | None = None,
    ) -> list[TenantResult[MigrationResult]]:
        """Revert each tenant to ``target``, as :meth:`Versioning.downgrade()
        <flask_versioning.Versioning.downgrade>` does."""
        options = RunOptions(sql=sql, tag=tag, x_args=x_args)
        task = fleet.downgrade(get_state(), target, options, allow_protected=allow_protected)
        return self._run(task)

    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        purge: bool = False,
        allow_protected: bool = False,
        sql: bool = False,
        tag: str | None = None,
        x_args: Sequence[str] | None = None,
    ) -> list[TenantResult[MigrationResult]]:
        """Write ``revisions`` to each tenant's version table, as :meth:`Versioning.stamp()
        <flask_versioning.Versioning.stamp>` does."""
        options = RunOptions(sql=sql, tag=tag, x_args=x_args)
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        task = fleet.stamp(get_state(), revs, options, purge=purge, allow_protected=allow_protected)
        return self._run(task)

    def current(self) -> list[TenantResult[tuple[str, ...]]]:
        """Each tenant's revision ids, read one after the other (one query each, no worker
        processes)."""
        return self._run(fleet.current(get_state()))

    def status(self) -> list[TenantResult[DatabaseStatus]]:
        """Each tenant's status, named after the tenant, read one after the other; a tenant
        whose schema does not exist is a failed result."""
        return self._run(fleet.status(get_state()))

    def check(self) -> list[TenantResult[tuple[str, ...]]]:
        """Each tenant's differences from the models, one line each in ``flask db check``'s
        words."""
        return self._run(fleet.check(get_state()))

    def plan(
        self, target: str = "heads", *, applied: bool = False, x_args: Sequence[str] = ()
    ) -> list[TenantResult[DatabasePlan]]:
        """Each tenant's plan, as :meth:`Versioning.plan() <flask_versioning.Versioning.plan>`
        makes it (``jobs`` renders them in worker processes)."""
        return self._run(fleet.plan(get_state(), target, applied=applied, x_args=x_args))

    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
    ) -> list[TenantResult[tuple[SeedResult, ...]]]:
        """Run the seeds declared without ``bind=`` in each tenant, as
        :meth:`Versioning.run_seeds() <flask_versioning.Versioning.run_seeds>` does; a
        tenant's failing seed is its failed result."""
        task = fleet.seed(get_state(), names, env=env, force=force, allow_protected=allow_protected)
        return self._run(task)
