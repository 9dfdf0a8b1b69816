"""The :class:`Versioning` extension: set-up, and the Python API, one method per command,
each one call into the layers below (what few commands need is imported where used)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import sqlalchemy as sa
from flask import Flask

from . import _protection as protection
from ._ledgers.versions import current
from ._operations import executor, queries, standing, writer
from ._seeds.registry import F, SeedRegistry
from ._settings import Settings
from ._state import VersioningState, get_state
from ._types import (
    AdoptResult,
    AppliedRevision,
    BaselineResult,
    DatabaseStatus,
    MigrationResult,
    PrepareResult,
    ResetResult,
    RevisionOptions,
    RunOptions,
    SeedResult,
    SeedStatus,
    TenantOptions,
    ValidationResult,
)
from .cli import new_group

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script
    from sqlalchemy.orm import Session

    from ._alembic.database import Database
    from ._fleet import TenantSelection
    from ._graph import Format
    from ._lint import Finding
    from ._reports import CheckReport, DatabasePlan, RebaseResult
    from ._tenant_commands import TenantCommands

TF = TypeVar("TF", bound=Callable[[], Any])


class Versioning:
    """Database migrations for a Flask app, on Alembic.

    :param app: the app to initialise now, or call :meth:`init_app` later (app factories).
    :param db: a Flask-SQLAlchemy ``SQLAlchemy`` instance: its engines and models are used.
    :param metadata: the models' ``MetaData`` with plain SQLAlchemy or Flask-SQLAlchemy-Lite;
        a dict of them by database name (``"default"``: the default one) for several databases.
    :param directory: the script directory, relative to ``app.root_path``, ``"migrations"`` by
        default; ``VERSIONING_DIRECTORY`` takes precedence.
    :param command: the name of the CLI group, ``flask <command> ...``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: Any = None,
        *,
        metadata: sa.MetaData | Mapping[str | None, sa.MetaData] | None = None,
        directory: str | os.PathLike[str] | None = None,
        command: str = "db",
    ) -> None:
        self.db, self.metadata, self.directory, self.command = db, metadata, directory, command
        #: The ``@seed`` hooks: kept here, not per app, they serve every app a factory creates.
        self.seed_registry = SeedRegistry()
        #: The ``@versioning.tenants`` function (``VERSIONING_TENANTS`` takes precedence).
        self.tenant_source: Callable[[], Any] | None = None
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        db: Any = None,
        *,
        metadata: sa.MetaData | Mapping[str | None, sa.MetaData] | None = None,
        directory: str | os.PathLike[str] | None = None,
        command: str | None = None,
    ) -> None:
        """Register the extension and its ``flask db`` commands on ``app``."""
        state = VersioningState.register(app, self, db, metadata, directory, protection.guard_steps)
        settings, command = state.settings, command or self.command
        app.cli.add_command(new_group(), command)
        if settings.validate_on_start is not None or settings.auto_upgrade:
            from ._autoupgrade import start

            start(app, state, command=command)
        if settings.status_page or settings.wants_pending_page(app.debug):
            from .web import register

            register(app, state)

    @property
    def state(self) -> VersioningState:
        """The current app's internal state (``app.extensions["versioning"]``)."""
        return get_state()

    @property
    def settings(self) -> Settings:
        """The validated ``VERSIONING_*`` settings of the current app."""
        return get_state().settings

    def database(self, name: str | None = None) -> Database:
        """The database a bind name names: its ``engine``, ``url`` and ``alembic_config()``."""
        return get_state().database(name)

    def databases(self) -> list[str | None]:
        """The app's databases as ``bind`` values: ``None`` (the default) first, then binds."""
        return [database.bind for database in get_state().databases()]

    def select(
        self,
        binds: Sequence[str] = (),
        *,
        revisions: Sequence[str] = (),
        models: bool = False,
        histories: bool = False,
    ) -> list[str | None]:
        """The ``bind`` values a command acts on, chosen as ``flask db`` chooses them."""
        chosen = queries.select(get_state(), binds, revisions, models=models, histories=histories)
        return [database.bind for database in chosen]

    def alembic_config(self, *, bind: str | None = None) -> Config:
        """A standard :class:`alembic.config.Config` (``alembic.command.*``, pytest-alembic)."""
        self.init(bind=bind)
        return self.database(bind).alembic_config()

    def tenants(self, function: TF) -> TF:
        """Declare the function returning the tenants (``VERSIONING_TENANTS`` wins)."""
        self.tenant_source = function
        return function

    def for_tenants(
        self, selection: TenantSelection, **options: Unpack[TenantOptions]
    ) -> TenantCommands:
        """The tenant commands on ``selection`` (``"all"`` or names): see :doc:`/tenants`."""
        from ._tenant_commands import TenantCommands

        return TenantCommands(selection, options)

    def init(self, *, bind: str | None = None, linear: bool = False) -> Path:
        """Create the script directory if missing; ``linear`` turns on the linear-history guard."""
        database = self.database(bind)
        database.ensure_directory()
        if linear:
            from ._linear.guard import enable

            enable(database)
        return database.directory

    def upgrade(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        baseline: bool = True,
        **options: Unpack[RunOptions],
    ) -> MigrationResult:
        """Upgrade to ``target`` (``heads``, ``+1``, an id); ``sql=True`` returns the SQL instead.
        An empty database is made from a baseline (:doc:`/baselines`) unless ``baseline=False``."""
        return executor.upgrade(self.database(bind), target, options, progress, baselines=baseline)

    def baseline(
        self,
        at: str = "heads",
        *,
        bind: str | None = None,
        include_data: Sequence[str] = (),
        prune: bool = False,
    ) -> BaselineResult:
        """Write the baseline of revision ``at``, or with ``prune`` delete older revisions."""
        from ._operations import baseline

        database = self.database(bind)
        if prune:
            return baseline.prune(database, get_state().databases())
        return baseline.make_baseline(database, at, include_data=include_data)

    def downgrade(
        self,
        target: str = "-1",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        allow_protected: bool = False,
        **options: Unpack[RunOptions],
    ) -> MigrationResult:
        """Revert to ``target``; a whole branch of a protected database: ``allow_protected``."""
        with protection.allowing(allow_protected):
            return executor.downgrade(self.database(bind), target, options, progress)

    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        purge: bool = False,
        allow_protected: bool = False,
        **options: Unpack[RunOptions],
    ) -> MigrationResult:
        """Write ``revisions`` to the version table without running any migration."""
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        with protection.allowing(allow_protected):
            return executor.stamp(self.database(bind), revs, options, purge=purge)

    def revision(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        autogenerate: bool = False,
        sql: bool = False,
        **options: Unpack[RevisionOptions],
    ) -> list[Script]:
        """Write a new revision file (one per database touched), with Alembic's options."""
        database = self.database(bind)
        return writer.revision(database, message, options, autogenerate=autogenerate, sql=sql)

    def migrate(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        allow_empty: bool = False,
        **options: Unpack[RevisionOptions],
    ) -> Script | None:
        """Autogenerate a revision from the models; ``None`` when nothing changed."""
        database = self.database(bind)
        shared = get_state().sharing_file(database)
        scripts = writer.revision(
            database, message, options, autogenerate=True, allow_empty=allow_empty, together=shared
        )
        return scripts[0] if scripts else None

    def merge(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        message: str | None = None,
        branch_label: str | Sequence[str] | None = None,
        rev_id: str | None = None,
    ) -> Script:
        """Write a merge revision joining ``revisions`` (default: all heads)."""
        database = self.database(bind)
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        return writer.merge(
            database, revs, message=message, branch_label=branch_label, rev_id=rev_id
        )

    def edit(self, revision: str = "current", *, bind: str | None = None) -> list[Path]:
        """Open a revision file in ``$EDITOR``."""
        return writer.edit(self.database(bind), revision)

    def current(self, *, bind: str | None = None) -> list[str]:
        """The revision ids the database is at (empty at base)."""
        return current(self.database(bind))

    def heads(self, *, bind: str | None = None) -> list[str]:
        """The head revision ids, sorted, read without importing any revision."""
        return standing.head_ids(self.database(bind))

    def status(self, *, bind: str | None = None) -> list[DatabaseStatus]:
        """Where each database (or ``bind``'s) stands, revision by revision, never raising."""
        state = get_state()
        return [standing.database_status(state, d) for d in state.chosen(bind)]

    def validate(
        self, *, bind: str | None = None, repair: bool = False, allow_protected: bool = False
    ) -> list[ValidationResult]:
        """Applied revisions whose files changed or vanished; ``repair`` records them."""
        state = get_state()
        return [
            standing.validate(state, database, repair=repair, allow_protected=allow_protected)
            for database in state.chosen(bind)
        ]

    def branches(self, *, bind: str | None = None) -> list[Script]:
        """The revisions where history branches."""
        return queries.branches(self.database(bind))

    def history(self, rev_range: str | None = None, *, bind: str | None = None) -> list[Script]:
        """Revisions, newest first; ``rev_range`` like ``"base:head"``, ``"-3:"``."""
        return queries.history(self.database(bind), rev_range)

    def show(self, revision: str = "head", *, bind: str | None = None) -> list[Script]:
        """The revision(s) a symbol names (an id, a partial id, ``head``, ``current``)."""
        return queries.show(self.database(bind), revision)

    def pending(self, *, bind: str | None = None) -> list[Script]:
        """The revisions ``upgrade()`` would apply, oldest first."""
        return queries.pending(self.database(bind))

    def graph(
        self, *, bind: str | None = None, fmt: Format = "text", last: int | None = None
    ) -> str:
        """The revision graph as ``text``, ``mermaid``, ``dot`` or ``svg``, databases marked."""
        return queries.graph(get_state(), self.database(bind), fmt, last)

    def check(self, *, bind: str | None = None) -> CheckReport:
        """``versions/HEADS`` against the files, then the models against the up-to-date database."""
        from ._review.drift import check_report

        return check_report(self.database(bind))

    def lint(
        self,
        revisions: Sequence[str] = (),
        *,
        bind: str | None = None,
        since: str | None = None,
        squawk: bool = False,
        x_args: Sequence[str] = (),
    ) -> list[Finding]:
        """Findings on revision files unsafe on a live database (``squawk``: PostgreSQL)."""
        from ._review.lint import lint_database

        database = self.database(bind)
        return lint_database(database, revisions, since=since, squawk=squawk, x_args=x_args)

    def plan(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        applied: bool = False,
        x_args: Sequence[str] = (),
    ) -> DatabasePlan:
        """What ``upgrade(target)`` would apply, with SQL and lint findings; changes nothing."""
        from ._review.lint import plan

        return plan(self.database(bind), target, applied=applied, x_args=x_args)

    def rebase(
        self, revision: str, *, onto: str | None = None, bind: str | None = None
    ) -> RebaseResult:
        """Re-parent head ``revision`` onto ``onto`` (default: the other head), keeping its id."""
        from ._linear.rebase import rebase

        return rebase(self.database(bind), revision, onto, get_state().databases())

    def adopt(self, source: str | os.PathLike[str]) -> AdoptResult:
        """Move a Flask-Migrate folder to the configured (empty) directory, revisions unchanged."""
        from ._adopt import adopt

        return adopt(get_state(), Path(source))

    def seed(
        self,
        *environments: str,
        name: str | None = None,
        order: int = 0,
        always: bool = False,
        bind: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function, given a ``Session``, as seed data for
        ``environments``: run once per database unless ``always``, by ``order`` (:doc:`/seeds`)."""
        return self.seed_registry.decorator(
            environments, name=name, order=order, always=always, bind=bind
        )

    def environment_name(self, env: str | None = None) -> str:
        """The environment seeds and guards act for (``env`` overrides, like ``--env``)."""
        return protection.environment_name(get_state(), env)

    def protection(self, *, bind: str | None = None, databases: bool = True) -> str | None:
        """Why destructive commands would be refused here, or ``None``."""
        state = get_state()
        return protection.reason(state, state.chosen(bind or None) if databases else [])

    def unprotect(self, *, bind: str | None = None) -> list[str]:
        """Lift the protection the ledger records; returns the databases that had it."""
        state = get_state()
        return protection.unprotect(state, state.chosen(bind))

    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        progress: Callable[[SeedResult], None] | None = None,
    ) -> list[SeedResult]:
        """Run the seeds not run yet (or ``names``; again with ``force``)."""
        from ._seeds.run import run_seeds

        state = get_state()
        return run_seeds(
            state, names, env=env, force=force, allow_protected=allow_protected, progress=progress
        )

    def seeds_status(self, env: str | None = None) -> list[SeedStatus]:
        """Every seed with its environments and whether (and when) it ran in this database."""
        from ._seeds.run import status

        return status(get_state(), env)

    def reset(
        self,
        *,
        env: str | None = None,
        allow_protected: bool = False,
        confirm: Callable[[str], None] | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        seed_progress: Callable[[SeedResult], None] | None = None,
        baseline: bool = True,
    ) -> ResetResult:
        """Drop every table, upgrade and seed; ``confirm(environment)`` may raise to stop."""
        from ._provision import reset

        return reset(get_state(), env, allow_protected, confirm, progress, seed_progress, baseline)

    def prepare(
        self,
        *,
        env: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        seed_progress: Callable[[SeedResult], None] | None = None,
        baseline: bool = True,
    ) -> PrepareResult:
        """Create the database if missing, upgrade to heads and seed; safe to repeat."""
        from ._provision import prepare

        return prepare(get_state(), env, progress, seed_progress, baseline)

    def bulk_insert(
        self,
        target: Any,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 10_000,
        session: Session | sa.Connection | None = None,
    ) -> int:
        """Insert many ``rows`` (dicts) into a table in batches; returns the count."""
        from ._seeds.bulk import bulk_insert

        return bulk_insert(get_state(), target, rows, batch_size=batch_size, session=session)
