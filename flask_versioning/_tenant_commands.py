"""The commands on tenants: what :meth:`Versioning.for_tenants()
<flask_versioning.Versioning.for_tenants>` returns. The choice of tenants and the run's options
live in the object, so each method's keywords are the command's own, as on
:class:`~flask_versioning.Versioning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _errors as errors
from ._alembic.heads import target_revisions
from ._fleet import Task, run, tasks
from ._operations.standing import database_status
from ._state import get_state
from ._types import DatabaseStatus, MigrationResult, RunOptions, SeedResult, TenantResult

if TYPE_CHECKING:
    from ._fleet import TenantSelection
    from ._reports import DatabasePlan
    from ._types import TenantOptions


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
        return run(get_state(), task, self.selection, self.options)

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
        arguments = {"target": target, "options": _options(sql, tag, x_args), "baselines": baseline}
        skip_at = target_revisions(get_state().database(), [target])
        return self._run(_migration("upgrade", arguments, skip_at))

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
        options = _options(sql, tag, x_args)
        arguments = {"target": target, "options": options, "allow_protected": allow_protected}
        skip_at: frozenset[str] | None = frozenset() if target == "base" else None
        return self._run(_migration("downgrade", arguments, skip_at))

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
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        arguments = {
            "revisions": revs,
            "options": _options(sql, tag, x_args),
            "purge": purge,
            "allow_protected": allow_protected,
        }
        skip_at = None if purge else target_revisions(get_state().database(), revs)
        return self._run(_migration("stamp", arguments, skip_at))

    def current(self) -> list[TenantResult[tuple[str, ...]]]:
        """Each tenant's revision ids, read one after the other (one query each, no worker
        processes)."""
        return self._run(Task(tasks.current, parallel=False))

    def status(self) -> list[TenantResult[DatabaseStatus]]:
        """Each tenant's status, named after the tenant, read one after the other; a tenant
        whose schema does not exist is a failed result."""
        return self._run(Task(database_status, parallel=False))

    def check(self) -> list[TenantResult[tuple[str, ...]]]:
        """Each tenant's differences from the models, one line each in ``flask db check``'s
        words."""
        if get_state().database().metadata is None:
            raise errors.ConfigurationError(
                "check needs the app's models: pass a Flask-SQLAlchemy db or metadata= to "
                "Versioning"
            )
        return self._run(Task(tasks.check))

    def plan(
        self, target: str = "heads", *, applied: bool = False, x_args: Sequence[str] = ()
    ) -> list[TenantResult[DatabasePlan]]:
        """Each tenant's plan, as :meth:`Versioning.plan() <flask_versioning.Versioning.plan>`
        makes it (``jobs`` renders them in worker processes)."""
        arguments = {"target": target, "applied": applied, "x_args": list(x_args)}
        return self._run(Task(tasks.plan, arguments))

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
        arguments = {
            "names": None if names is None else list(names),
            "env": env,
            "force": force,
            "allow_protected": allow_protected,
        }
        return self._run(Task(tasks.seed, arguments, writes=True))


def _migration(command: str, arguments: dict[str, Any], skip_at: frozenset[str] | None) -> Task:
    return Task(tasks.migrate, {"command": command, **arguments}, writes=True, skip_at=skip_at)


def _options(sql: bool, tag: str | None, x_args: Sequence[str] | None) -> RunOptions:
    """The options a tenant run takes; offline SQL is one script per database, not a run on
    tenants."""
    if sql:
        raise errors.ConfigurationError(
            "--sql (sql=True) cannot be combined with tenants: run it without them"
        )
    options: RunOptions = {}
    if tag is not None:
        options["tag"] = tag
    if x_args:
        options["x_args"] = list(x_args)
    return options
