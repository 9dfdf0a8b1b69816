"""The :class:`Versioning` extension: set-up, and the Python API, one method per command.

Every method is one call into the layers below, on :data:`flask.current_app`; it returns data
and prints nothing, so commands, pages and tests get the same answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import sqlalchemy as sa
from flask import Flask

from . import _protection as protection
from ._errors import ConfigurationError
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

# What only some commands need (seeds, provisioning, adopt, the team tools) is imported where
# used, to keep it off the start-up path of every app.

__all__ = ["Versioning"]

TF = TypeVar("TF", bound=Callable[[], Any])


class Versioning:
    """Database migrations for a Flask app, on Alembic.

    :param app: the app to initialise now; or call :meth:`init_app` later (app factories).
    :param db: a Flask-SQLAlchemy ``SQLAlchemy`` instance: its engine and models are used.
    :param metadata: the models' ``MetaData`` when using plain SQLAlchemy or
        Flask-SQLAlchemy-Lite (with ``SQLALCHEMY_DATABASE_URI`` or ``VERSIONING_DATABASE_URL``
        for the database); a dict of them keyed by database name (``"default"`` for the
        default one) when there are several databases.
    :param directory: the script directory, relative to ``app.root_path``; the
        ``VERSIONING_DIRECTORY`` config key takes precedence. Defaults to ``"migrations"``.
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
        self.db = db
        self.metadata = metadata
        self.directory = directory
        self.command = command
        #: The ``@seed`` hooks, kept here (not per app): hooks declared at import time serve
        #: every app a factory creates.
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
        if "versioning" in app.extensions:
            raise ConfigurationError("Versioning is already registered on this app")
        db = db if db is not None else self.db
        metadata = metadata if metadata is not None else self.metadata
        command = command or self.command
        settings = Settings.from_app(app, directory if directory is not None else self.directory)
        if db is not None and "sqlalchemy" not in app.extensions:
            # Registered before Flask-SQLAlchemy(-Lite), which will make its engines next.
            from ._databases import check_configured_urls

            check_configured_urls(app.config)
        state = VersioningState(self, settings, db, metadata, guard=protection.guard_steps)
        app.extensions["versioning"] = state

        from .cli import new_group

        app.cli.add_command(new_group(), command)

        if settings.validate_on_start is not None:
            from ._startcheck import validate_on_start

            validate_on_start(app, state, command=command)

        if settings.auto_upgrade:
            from ._autoupgrade import auto_upgrade

            auto_upgrade(app, state, command=command)

        # The development pages: imported only when one is wanted, so that a production start
        # (no debug, no status page) never loads them.
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
        """The databases a command acts on, as ``bind`` values, as ``flask db`` picks them:
        ``binds``, or every one whose history has the ids in ``revisions`` (with ``models``,
        that has models); with ``histories``, one per script directory."""
        chosen = queries.select(get_state(), binds, revisions, models=models, histories=histories)
        return [database.bind for database in chosen]

    def alembic_config(self, *, bind: str | None = None) -> Config:
        """A standard :class:`alembic.config.Config` for ``alembic.command.*`` and
        pytest-alembic; a connection in ``config.attributes["connection"]`` is used."""
        database = self.database(bind)
        database.ensure_directory()
        return database.alembic_config()

    def tenants(self, function: TF) -> TF:
        """Declare the function that returns the app's tenants (see :doc:`/tenants`): called in
        an app context, it returns :class:`~flask_versioning.Tenant` objects or a dict of name to
        URL or schema name. ``VERSIONING_TENANTS`` takes precedence."""
        self.tenant_source = function
        return function

    def for_tenants(
        self, selection: TenantSelection, **options: Unpack[TenantOptions]
    ) -> TenantCommands:
        """The commands that act on tenants, on ``selection``: ``"all"``, or names (and
        :class:`~flask_versioning.Tenant` objects). ``for_tenants("all", jobs=4).upgrade()``
        returns one :class:`~flask_versioning.TenantResult` per tenant. Options: ``jobs``,
        ``shard=(k, n)``, ``fail_fast``, ``create``, ``app_loader``, ``on_event`` (:doc:`/tenants`).
        """
        from ._tenant_commands import TenantCommands

        return TenantCommands(selection, options)

    def init(self, *, bind: str | None = None, linear: bool = False) -> Path:
        """Create the script directory if missing. ``linear``: write ``versions/HEADS`` from the
        revision files, which turns the linear-history guard on for an existing directory."""
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
        """Upgrade the database to ``target`` (``heads``, ``+1``, a revision id).

        ``progress`` is called with each revision once applied. ``sql=True`` touches nothing and
        returns the SQL; ``tag``; ``x_args`` (``-x``). An empty database is made from a baseline
        (:doc:`/baselines`) unless ``baseline=False``."""
        return executor.upgrade(self.database(bind), target, options, progress, baselines=baseline)

    def baseline(
        self,
        at: str = "heads",
        *,
        bind: str | None = None,
        include_data: Sequence[str] = (),
        prune: bool = False,
    ) -> BaselineResult:
        """Write the baseline of revision ``at`` for the database's backend (with the rows of
        the ``include_data`` tables); ``prune=True`` instead deletes the revision files older
        than the newest baseline, once every database sharing the directory is past it."""
        from ._operations import baseline

        database = self.database(bind)
        if prune:
            known = [self.database(name) for name in self.databases()]
            return baseline.prune(database, known)
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
        """Revert the database to ``target`` (``-1``, ``base``, a revision id). Reverting a
        whole branch is refused for a protected database unless ``allow_protected``. Options
        as for :meth:`upgrade`; offline (``sql=True``) it needs a ``from:to`` range."""
        database = self.database(bind)
        with protection.allowing(allow_protected):
            return executor.downgrade(database, target, options, progress)

    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        purge: bool = False,
        allow_protected: bool = False,
        **options: Unpack[RunOptions],
    ) -> MigrationResult:
        """Write ``revisions`` to the version table without running any migration; refused
        for a protected database's applied history unless ``allow_protected``."""
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        database = self.database(bind)
        with protection.allowing(allow_protected):
            return executor.stamp(database, revs, options, purge=purge)

    def revision(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        autogenerate: bool = False,
        sql: bool = False,
        **options: Unpack[RevisionOptions],
    ) -> list[Script]:
        """Write a new revision file (a list: one per database touched). Options as Alembic
        names them: ``head``, ``splice``, ``branch_label``, ``version_path``, ``rev_id``..."""
        return writer.revision(
            self.database(bind), message, options, autogenerate=autogenerate, sql=sql
        )

    def migrate(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        allow_empty: bool = False,
        **options: Unpack[RevisionOptions],
    ) -> Script | None:
        """Autogenerate a revision from the models; ``None`` when nothing changed. In
        Flask-Migrate's multidb layout one file holds every database's changes."""
        database = self.database(bind)
        together = (
            [d for d in get_state().databases() if d.engine_name is not None]
            if database.engine_name is not None
            else []
        )
        scripts = writer.revision(
            database,
            message,
            options,
            autogenerate=True,
            allow_empty=allow_empty,
            together=together,
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
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        return writer.merge(
            self.database(bind), revs, message=message, branch_label=branch_label, rev_id=rev_id
        )

    def edit(self, revision: str = "current", *, bind: str | None = None) -> list[Path]:
        """Open a revision file in ``$EDITOR``."""
        return writer.edit(self.database(bind), revision)

    def current(self, *, bind: str | None = None) -> list[str]:
        """The revision ids the database is at (empty at base)."""
        return current(self.database(bind))

    def heads(self, *, bind: str | None = None) -> list[str]:
        """The head revision ids, sorted, from the heads cache or the files read as text
        (:doc:`production`): no revision is imported. :meth:`show` has a head's details."""
        return standing.head_ids(self.database(bind))

    def status(self, *, bind: str | None = None) -> list[DatabaseStatus]:
        """Where each database stands (``bind``'s only when given): every revision applied,
        pending, missing or changed, with the history ledger's rows. Nothing is imported; an
        unreachable database gives a status with ``error`` set, not an exception."""
        state = get_state()
        databases = [self.database(bind)] if bind is not None else state.databases()
        return [standing.database_status(state, database) for database in databases]

    def validate(
        self, *, bind: str | None = None, repair: bool = False, allow_protected: bool = False
    ) -> list[ValidationResult]:
        """The applied revisions whose files changed or vanished, per database. ``repair``
        records the files' checksums, once reviewed (a protected database: ``allow_protected``)."""
        state = get_state()
        databases = [self.database(bind)] if bind is not None else state.databases()
        return [
            standing.validate(state, database, repair=repair, allow_protected=allow_protected)
            for database in databases
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
        """The revisions ``upgrade()`` would apply, oldest first; at heads, cheaply: one
        ``SELECT``, no revision imported."""
        return queries.pending(self.database(bind))

    def graph(
        self, *, bind: str | None = None, fmt: Format = "text", last: int | None = None
    ) -> str:
        """The revision graph as ``text``, ``mermaid``, ``dot`` or ``svg``, each database of
        the app marked where it stands; ``last`` keeps the newest ``last`` revisions."""
        return queries.graph(get_state(), self.database(bind), fmt, last)

    def check(self, *, bind: str | None = None) -> CheckReport:
        """What ``flask db check`` reports: ``versions/HEADS`` against the files, then each
        difference between the models and the up-to-date database; ``.ok`` when none."""
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
        """Revision files' operations unsafe on a live database: ``revisions``, those a branch
        adds ``since`` a revision, or all. ``squawk`` adds squawk-cli's findings (PostgreSQL);
        ``x_args`` are the ``-x`` arguments revisions see as they render."""
        from ._review.lint import lint_database

        return lint_database(
            self.database(bind), revisions, since=since, squawk=squawk, x_args=x_args
        )

    def plan(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        applied: bool = False,
        x_args: Sequence[str] = (),
    ) -> DatabasePlan:
        """What ``upgrade(target)`` would apply, with SQL and lint findings; no lock, no
        change. ``applied`` lists the revisions already applied on the way too."""
        from ._review.plan import plan

        return plan(self.database(bind), target, applied=applied, x_args=x_args)

    def rebase(
        self, revision: str, *, onto: str | None = None, bind: str | None = None
    ) -> RebaseResult:
        """Re-parent head ``revision`` onto ``onto`` (default: the other head), keeping its
        file and id; refused once a database of the app applied it, or if it has children."""
        from ._linear.rebase import rebase

        return rebase(self.database(bind), revision, onto, get_state().databases())

    def adopt(self, source: str | os.PathLike[str]) -> AdoptResult:
        """Move a Flask-Migrate ``migrations`` folder to the configured directory, revisions
        byte for byte, with our ``env.py``; refused when that directory is not empty."""
        from ._adopt import adopt

        state = get_state()
        result = adopt(self.database(), Path(source))
        state.forget_databases()  # the layout on disk changed: look again
        return result

    def seed(
        self,
        *environments: str,
        name: str | None = None,
        order: int = 0,
        always: bool = False,
        bind: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as seed data for ``environments`` (:doc:`/seeds`).

        It gets a ``Session``, committed with the record that it ran when it returns, rolled
        back when it raises; it may not send DDL. It runs once per database (``bind``, default
        the default one) unless ``always``, by ``order`` then as registered; ``name`` defaults
        to the function's."""
        return self.seed_registry.decorator(
            environments, name=name, order=order, always=always, bind=bind
        )

    def environment_name(self, env: str | None = None) -> str:
        """The environment seeds and guards act for (``env`` overrides, like ``--env``)."""
        return protection.environment_name(get_state(), env)

    def protection(self, *, bind: str | None = None, databases: bool = True) -> str | None:
        """Why destructive commands would be refused here (the environment, then unless
        ``databases=False`` the databases' history), or ``None``."""
        state = get_state()
        chosen = [] if not databases else [self.database(bind)] if bind else state.databases()
        return protection.reason(state, chosen)

    def unprotect(self, *, bind: str | None = None) -> list[str]:
        """Lift, and record lifting, the protection the history ledger records (a production
        copy restored into staging); returns the databases that were protected."""
        state = get_state()
        databases = [self.database(bind)] if bind is not None else state.databases()
        return protection.unprotect(state, databases)

    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        progress: Callable[[SeedResult], None] | None = None,
    ) -> list[SeedResult]:
        """Run the environment's seeds that have not run yet, or ``names``; ``force`` again
        (protected: ``allow_protected``). A failing seed raises ``SeedFailed``, rolled back."""
        from ._seeds.run import run_seeds

        return run_seeds(
            get_state(),
            names,
            env=env,
            force=force,
            allow_protected=allow_protected,
            progress=progress,
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
        """Drop every table, upgrade to heads and seed; protected: ``allow_protected``.
        ``confirm(environment)`` runs before anything is dropped: raise in it to stop.
        ``baseline=False`` replays every revision instead of loading a baseline."""
        from ._provision import reset

        return reset(
            get_state(),
            env=env,
            allow_protected=allow_protected,
            confirm=confirm,
            progress=progress,
            seed_progress=seed_progress,
            baseline=baseline,
        )

    def prepare(
        self,
        *,
        env: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        seed_progress: Callable[[SeedResult], None] | None = None,
        baseline: bool = True,
    ) -> PrepareResult:
        """Create the database if missing, upgrade to heads and seed; safe to repeat.
        ``baseline=False`` replays every revision instead of loading a baseline."""
        from ._provision import prepare

        return prepare(
            get_state(),
            env=env,
            progress=progress,
            seed_progress=seed_progress,
            baseline=baseline,
        )

    def bulk_insert(
        self,
        target: Any,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 10_000,
        session: Session | sa.Connection | None = None,
    ) -> int:
        """Insert many ``rows`` (dicts) into a ``Table`` or model, in batches, no objects built
        (in a seed, in its transaction); returns the count."""
        from ._seeds.bulk import bulk_insert

        return bulk_insert(get_state(), target, rows, batch_size=batch_size, session=session)
