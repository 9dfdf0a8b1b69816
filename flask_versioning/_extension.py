"""The :class:`Versioning` extension: set-up, and the Python API, one method per command.

Every method is one call into the layers below, on :data:`flask.current_app`; it returns data
and prints nothing, so commands, pages and tests get the same answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast, overload

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
    FleetRunOptions,
    MigrationResult,
    PrepareResult,
    ResetResult,
    RevisionOptions,
    RunOptions,
    SeedResult,
    SeedStatus,
    Tenant,
    TenantOptions,
    TenantResult,
    ValidationResult,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script
    from sqlalchemy.orm import Session

    from ._alembic.database import Database
    from ._fleet import Task, TenantSelection
    from ._graph import Format
    from ._lint import Finding
    from ._reports import CheckReport, DatabasePlan, RebaseResult

# The seed runner, provisioning and adopt modules are imported where used, to keep them off the
# start-up path of an app that declares no seeds (see benchmarks/FINDINGS.md, fresh_upgrade).

__all__ = ["Versioning"]

TF = TypeVar("TF", bound=Callable[[], Any])
_TENANT_KEYS = frozenset(TenantOptions.__annotations__)


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
        settings = Settings.from_app(app, directory if directory is not None else self.directory)
        if (db if db is not None else self.db) is not None and "sqlalchemy" not in app.extensions:
            # Registered before Flask-SQLAlchemy(-Lite), which will make its engines next.
            from ._databases import check_configured_urls

            check_configured_urls(app.config)
        state = VersioningState(
            extension=self,
            settings=settings,
            db=db if db is not None else self.db,
            metadata=metadata if metadata is not None else self.metadata,
            guard=protection.guard_steps,
        )
        app.extensions["versioning"] = state

        from .cli import new_group

        app.cli.add_command(new_group(), command or self.command)

        if settings.validate_on_start is not None:
            from ._startcheck import validate_on_start

            validate_on_start(app, state, command=command or self.command)

        if settings.auto_upgrade:
            from ._autoupgrade import auto_upgrade

            auto_upgrade(app, state, command=command or self.command)

        # The development pages: imported only when one is wanted, so that a production start
        # (no debug, no status page) never loads them.
        if settings.status_page or settings.wants_pending_page(app.debug):
            from .web import register

            register(app, state)

    # -- databases ------------------------------------------------------------------------------

    @property
    def state(self) -> VersioningState:
        """The current app's :class:`VersioningState` (``app.extensions["versioning"]``)."""
        return get_state()

    @property
    def settings(self) -> Settings:
        """The validated ``VERSIONING_*`` settings of the current app."""
        return get_state().settings

    def database(self, name: str | None = None) -> Database:
        """The :class:`~flask_versioning.Database` the API acts on for a bind name."""
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
        """The databases a command acts on, as ``bind`` values: ``binds``, or every one.

        Without ``binds``: only the databases whose history has the revision ids in
        ``revisions``; with ``models``, only those with models to compare; with ``histories``,
        one per script directory. This is how ``flask db upgrade`` without ``--bind`` picks its
        databases, usable from Python.
        """
        chosen = queries.select(get_state(), binds, revisions, models=models, histories=histories)
        return [database.bind for database in chosen]

    def alembic_config(self, *, bind: str | None = None) -> Config:
        """A standard :class:`alembic.config.Config` for the current app's migrations.

        ``alembic.command.*`` and pytest-alembic run against it; put a connection or engine in
        ``config.attributes["connection"]`` to make the environment use it.
        """
        database = self.database(bind)
        database.ensure_directory()
        return database.alembic_config()

    # -- tenants ----------------------------------------------------------------------------------

    def tenants(self, function: TF) -> TF:
        """Declare the function that returns the app's tenants (see :doc:`/tenants`).

        It is called in an app context, so it may read them from the app's own database, and
        returns :class:`~flask_versioning.Tenant` objects or a dict of name to URL (a tenant
        with a database of its own) or schema name. ``VERSIONING_TENANTS`` takes precedence.
        """
        self.tenant_source = function
        return function

    def get_tenants(self) -> list[Tenant]:
        """Every declared tenant, checked: duplicate or unsafe names raise
        :class:`~flask_versioning.ConfigurationError`."""
        from . import _fleet as fleet

        return fleet.declared(get_state())

    def _on_tenants(
        self, task: Task, tenants: TenantSelection, options: TenantOptions
    ) -> list[TenantResult[Any]]:
        from . import _fleet as fleet

        return fleet.run(get_state(), task, tenants, options)

    # -- the API, one method per command --------------------------------------------------------

    def init(self, *, bind: str | None = None, linear: bool = False) -> Path:
        """Create the script directory (``env.py``, template, ``versions/``) if missing.

        ``linear``: turn the linear-history guard on for an existing directory, or record its
        heads again: write ``versions/HEADS`` from the revision files (a new directory gets
        it anyway, unless ``VERSIONING_LINEAR_HISTORY`` is ``False``).
        """
        database = self.database(bind)
        database.ensure_directory()
        if linear:
            from ._linear.guard import enable

            enable(database)
        return database.directory

    @overload
    def upgrade(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        baseline: bool = True,
        tenants: None = None,
        **options: Unpack[RunOptions],
    ) -> MigrationResult: ...

    @overload
    def upgrade(
        self,
        target: str = "heads",
        *,
        baseline: bool = True,
        tenants: TenantSelection,
        **options: Unpack[FleetRunOptions],
    ) -> list[TenantResult[MigrationResult]]: ...

    def upgrade(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        baseline: bool = True,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> MigrationResult | list[TenantResult[MigrationResult]]:
        """Upgrade the database to ``target`` (``heads``, ``head``, ``+1``, a revision id).

        ``progress`` is called with each revision as soon as it has been applied. Options:
        ``sql=True`` touches nothing and returns the SQL; ``tag``; ``x_args`` (``-x``).
        An empty database is made from a baseline (see :doc:`/baselines`) unless
        ``baseline=False``, which replays every revision.

        With ``tenants`` (``"all"`` or names, see :doc:`/tenants`), every chosen tenant instead,
        with the :class:`~flask_versioning.TenantOptions` (``jobs=4``, ``shard=(0, 4)``, ...):
        returns one :class:`~flask_versioning.TenantResult` per tenant and raises only for bad
        input, never for a failing tenant.
        """
        if tenants is not None:
            from . import _fleet as fleet

            run_options, fleet_options = _split(options, bind)
            task = fleet.upgrade(get_state(), target, run_options, baseline=baseline)
            return self._on_tenants(task, tenants, fleet_options)
        return executor.upgrade(
            self.database(bind), target, cast(RunOptions, options), progress, baselines=baseline
        )

    def baseline(
        self,
        at: str = "heads",
        *,
        bind: str | None = None,
        include_data: Sequence[str] = (),
        prune: bool = False,
    ) -> BaselineResult:
        """Write the baseline of revision ``at`` (default: the head) for the database's backend,
        replayed on a scratch database; empty databases are then made from it.

        ``include_data`` names tables whose rows are copied into it. ``prune=True`` writes
        nothing and instead deletes the revision files older than the newest baseline, refused
        unless every database sharing the directory is at or past it.
        """
        from ._operations import baseline

        database = self.database(bind)
        if prune:
            known = [self.database(name) for name in self.databases()]
            return baseline.prune(database, known)
        return baseline.make_baseline(database, at, include_data=include_data)

    @overload
    def downgrade(
        self,
        target: str = "-1",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        allow_protected: bool = False,
        tenants: None = None,
        **options: Unpack[RunOptions],
    ) -> MigrationResult: ...

    @overload
    def downgrade(
        self,
        target: str = "-1",
        *,
        allow_protected: bool = False,
        tenants: TenantSelection,
        **options: Unpack[FleetRunOptions],
    ) -> list[TenantResult[MigrationResult]]: ...

    def downgrade(
        self,
        target: str = "-1",
        *,
        bind: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        allow_protected: bool = False,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> MigrationResult | list[TenantResult[MigrationResult]]:
        """Revert the database to ``target`` (``-1``, ``base``, a revision id).

        A target that reverts every revision of a branch (``base``, ``-N`` past the first,
        ``branch@base``...) is refused for a protected database unless ``allow_protected``,
        judged by what it would do, in ``env.py``. Options as
        for :meth:`upgrade`; offline (``sql=True``) it needs a ``from:to`` range. ``tenants``
        as for :meth:`upgrade`.
        """
        if tenants is not None:
            from . import _fleet as fleet

            run_options, fleet_options = _split(options, bind)
            task = fleet.downgrade(
                get_state(), target, run_options, allow_protected=allow_protected
            )
            return self._on_tenants(task, tenants, fleet_options)
        database = self.database(bind)
        with protection.allowing(allow_protected):
            return executor.downgrade(database, target, cast(RunOptions, options), progress)

    @overload
    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        purge: bool = False,
        allow_protected: bool = False,
        tenants: None = None,
        **options: Unpack[RunOptions],
    ) -> MigrationResult: ...

    @overload
    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        purge: bool = False,
        allow_protected: bool = False,
        tenants: TenantSelection,
        **options: Unpack[FleetRunOptions],
    ) -> list[TenantResult[MigrationResult]]: ...

    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        purge: bool = False,
        allow_protected: bool = False,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> MigrationResult | list[TenantResult[MigrationResult]]:
        """Write ``revisions`` to the version table without running any migration.

        Rewriting the applied history of a protected database is refused unless
        ``allow_protected``; stamping an empty version table is always allowed. ``tenants``
        as for :meth:`upgrade`.
        """
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        if tenants is not None:
            from . import _fleet as fleet

            run_options, fleet_options = _split(options, bind)
            task = fleet.stamp(
                get_state(), revs, run_options, purge=purge, allow_protected=allow_protected
            )
            return self._on_tenants(task, tenants, fleet_options)
        database = self.database(bind)
        with protection.allowing(allow_protected):
            return executor.stamp(database, revs, cast(RunOptions, options), purge=purge)

    def revision(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        autogenerate: bool = False,
        sql: bool = False,
        **options: Unpack[RevisionOptions],
    ) -> list[Script]:
        """Write a new revision file and return it (a list: one per database touched).

        Options, as Alembic names them: ``head``, ``splice``, ``branch_label``,
        ``version_path``, ``rev_id``, ``depends_on``, ``x_args``.
        """
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
        """Autogenerate a revision from the models; ``None`` when nothing changed.

        In Flask-Migrate's multidb layout one revision file holds every database's changes,
        whichever ``bind`` is named. Options as for :meth:`revision`.
        """
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

    @overload
    def current(self, *, bind: str | None = None, tenants: None = None) -> list[str]: ...

    @overload
    def current(
        self, *, tenants: TenantSelection, **options: Unpack[TenantOptions]
    ) -> list[TenantResult[tuple[str, ...]]]: ...

    def current(
        self,
        *,
        bind: str | None = None,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> list[str] | list[TenantResult[tuple[str, ...]]]:
        """The revision ids the database is at (empty at base); with ``tenants``, each
        tenant's, read one after the other (one query each, no worker processes)."""
        if tenants is not None:
            from . import _fleet as fleet

            fleet_options = _fleet_only(options, bind)
            return self._on_tenants(fleet.current(get_state()), tenants, fleet_options)
        return current(self.database(bind))

    def heads(self, *, bind: str | None = None) -> list[Script]:
        """The head revisions of the script directory."""
        return queries.heads(self.database(bind))

    def head_revisions(self, *, bind: str | None = None) -> list[str]:
        """The head revision ids, sorted, without importing any revision file.

        From the heads cache (see :doc:`production`), else the files read as text; Alembic
        only for a file too unusual to read that way.
        """
        return standing.head_ids(self.database(bind))

    @overload
    def status(self, *, bind: str | None = None, tenants: None = None) -> list[DatabaseStatus]: ...

    @overload
    def status(
        self, *, tenants: TenantSelection, **options: Unpack[TenantOptions]
    ) -> list[TenantResult[DatabaseStatus]]: ...

    def status(
        self,
        *,
        bind: str | None = None,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> list[DatabaseStatus] | list[TenantResult[DatabaseStatus]]:
        """Where each database stands (only ``bind``'s when given): every revision applied,
        pending, applied with its file missing, or applied with its file changed since, with
        when, how long and in which environment, from the history ledger.

        Reads the version table, the ledger and the files as text: no revision is imported. A
        database that cannot be reached gives a status with ``error`` set, not an exception.
        With ``tenants``, each tenant's status (named after the tenant), read one after the
        other; a tenant whose schema does not exist is a failed result.
        """
        state = get_state()
        if tenants is not None:
            from . import _fleet as fleet

            fleet_options = _fleet_only(options, bind)
            return self._on_tenants(fleet.status(state), tenants, fleet_options)
        databases = [self.database(bind)] if bind is not None else state.databases()
        return [standing.database_status(state, database) for database in databases]

    def validate(
        self, *, bind: str | None = None, repair: bool = False, allow_protected: bool = False
    ) -> list[ValidationResult]:
        """The applied revisions whose files changed or vanished, per database.

        ``repair`` records the files' current checksums in the ledger, once a person has
        reviewed the changes; refused for a protected database unless ``allow_protected``.
        Every database unless ``bind`` names one.
        """
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
        """The revisions ``upgrade()`` would apply, oldest first; empty at heads.

        At heads this costs one ``SELECT`` and no revision import, so it is cheap to ask.
        """
        return queries.pending(self.database(bind))

    def graph(
        self, *, bind: str | None = None, fmt: Format = "text", last: int | None = None
    ) -> str:
        """The revision graph as ``text``, ``mermaid``, ``dot`` or ``svg``.

        Branch points, merges, heads and branch labels are shown, and every database of the
        app that shares this history is marked where it stands (a database that cannot be
        read is named in a note). ``last`` keeps only the newest ``last`` revisions.
        """
        return queries.graph(get_state(), self.database(bind), fmt, last)

    @overload
    def check(self, *, bind: str | None = None, tenants: None = None) -> list[Any]: ...

    @overload
    def check(
        self, *, tenants: TenantSelection, **options: Unpack[TenantOptions]
    ) -> list[TenantResult[tuple[str, ...]]]: ...

    def check(
        self,
        *,
        bind: str | None = None,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> list[Any] | list[TenantResult[tuple[str, ...]]]:
        """Differences between the models and an up-to-date database (empty when none).

        With ``tenants``, each tenant's differences, one line each in ``flask db check``'s words.
        """
        if tenants is not None:
            from . import _fleet as fleet

            fleet_options = _fleet_only(options, bind)
            return self._on_tenants(fleet.check(get_state()), tenants, fleet_options)
        return queries.check(self.database(bind))

    def check_report(self, *, bind: str | None = None) -> CheckReport:
        """What ``flask db check`` reports: the linear-history file, then each difference
        between the models and the database, described (tables, columns, types from and to).
        """
        from ._review.drift import check_report

        return check_report(self.database(bind))

    def heads_file_problem(self, *, bind: str | None = None) -> str | None:
        """How ``versions/HEADS`` disagrees with the revision files, in one line naming both
        sides; ``None`` when it agrees or the directory has no such file."""
        from ._linear.guard import heads_file_problem

        return heads_file_problem(self.database(bind))

    def lint(
        self,
        revisions: Sequence[str] = (),
        *,
        bind: str | None = None,
        since: str | None = None,
        squawk: bool = False,
        x_args: Sequence[str] = (),
    ) -> list[Finding]:
        """Lint revision files for operations unsafe on a live database (``flask db lint``).

        ``revisions`` names some (ids, ``head``...); ``since`` takes every revision that is not
        that one or its ancestor (what a branch adds); by default all of them. The bind's
        dialect picks the rules, ``VERSIONING_LINT`` their severities; ``squawk`` adds
        squawk's findings on the SQL (PostgreSQL, ``pip install squawk-cli``). ``x_args``
        (``-x``) are what ``context.get_x_argument()`` returns while each revision renders.
        """
        from ._review.lint import lint_database

        return lint_database(
            self.database(bind), revisions, since=since, squawk=squawk, x_args=x_args
        )

    @overload
    def plan(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        applied: bool = False,
        x_args: Sequence[str] = (),
        tenants: None = None,
    ) -> DatabasePlan: ...

    @overload
    def plan(
        self,
        target: str = "heads",
        *,
        applied: bool = False,
        x_args: Sequence[str] = (),
        tenants: TenantSelection,
        **options: Unpack[TenantOptions],
    ) -> list[TenantResult[DatabasePlan]]: ...

    def plan(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        applied: bool = False,
        x_args: Sequence[str] = (),
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> DatabasePlan | list[TenantResult[DatabasePlan]]:
        """What ``upgrade(target)`` would apply, revision by revision, with SQL and findings.

        Reads the version table and nothing else: no lock, no change. ``applied`` also lists
        the revisions on the way that the database already has; ``x_args`` are the ``-x``
        arguments the revisions see as they render. With ``tenants``, each tenant's plan
        (``jobs`` renders them in worker processes).
        """
        from ._review.plan import plan

        if tenants is not None:
            from . import _fleet as fleet

            fleet_options = _fleet_only(options, bind)
            task = fleet.plan(get_state(), target, applied=applied, x_args=x_args)
            return self._on_tenants(task, tenants, fleet_options)

        return plan(self.database(bind), target, applied=applied, x_args=x_args)

    def rebase(
        self, revision: str, *, onto: str | None = None, bind: str | None = None
    ) -> RebaseResult:
        """Re-parent head ``revision`` onto ``onto`` (default: the other head).

        Rewrites the file's ``down_revision`` and ``Revises:`` line, keeps its name and id, and
        rewrites ``versions/HEADS``. Refused when a database of the app that uses this
        directory has applied ``revision``, or when ``revision`` has children.
        """
        from ._linear.rebase import rebase

        return rebase(self.database(bind), revision, onto, get_state().databases())

    def adopt(self, source: str | os.PathLike[str]) -> AdoptResult:
        """Move a Flask-Migrate ``migrations`` folder to the configured directory and make it
        ours: revisions byte for byte, our ``env.py`` instead of theirs.

        Refuses (changing nothing) when the directory already exists and is not empty.
        """
        from ._adopt import adopt

        state = get_state()
        result = adopt(self.database(), Path(source))
        state.forget_databases()  # the layout on disk changed: look again
        return result

    # -- seeds ------------------------------------------------------------------------------------

    def seed(
        self,
        *environments: str,
        name: str | None = None,
        order: int = 0,
        always: bool = False,
        bind: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as seed data for ``environments``.

        ``@versioning.seed("development", "testing")``. The function is called with a
        SQLAlchemy ``Session``; it is committed, together with the record that the seed ran,
        when the function returns, and rolled back when it raises. It runs once per database
        unless ``always=True``, and again after a downgrade dropped a table it wrote. It may
        not send DDL (refused before it runs: see :doc:`/seeds`). Seeds run by ``order``, then
        in registration order; ``bind`` names the database (default: the default one).
        ``name`` defaults to the function's.
        """
        return self.seed_registry.decorator(
            environments, name=name, order=order, always=always, bind=bind
        )

    def environment_name(self, env: str | None = None) -> str:
        """The environment seeds and guards act for (``env`` overrides, like ``--env``)."""
        return protection.environment_name(get_state(), env)

    def protection(self, *, bind: str | None = None, databases: bool = True) -> str | None:
        """Why destructive commands would be refused here, or ``None`` when they would not.

        The app's declared environment, then (unless ``databases=False``) what the history of
        the database (``bind``) or of every database records.
        """
        state = get_state()
        chosen = [] if not databases else [self.database(bind)] if bind else state.databases()
        return protection.reason(state, chosen)

    def unprotect(self, *, bind: str | None = None) -> list[str]:
        """Lift the protection the history ledger records for the database(s).

        For a database that is no longer production's (a copy restored into staging, say). The
        lifting is itself recorded in the ledger. Every database unless ``bind`` names one;
        returns the names of the databases that were protected.
        """
        state = get_state()
        databases = [self.database(bind)] if bind is not None else state.databases()
        return protection.unprotect(state, databases)

    @overload
    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        progress: Callable[[SeedResult], None] | None = None,
        tenants: None = None,
    ) -> list[SeedResult]: ...

    @overload
    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        tenants: TenantSelection,
        **options: Unpack[TenantOptions],
    ) -> list[TenantResult[tuple[SeedResult, ...]]]: ...

    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        progress: Callable[[SeedResult], None] | None = None,
        tenants: TenantSelection | None = None,
        **options: Any,
    ) -> list[SeedResult] | list[TenantResult[tuple[SeedResult, ...]]]:
        """Run the environment's seeds that have not run yet, or only ``names``.

        ``force`` runs them again even if they ran before (refused in a protected environment
        unless ``allow_protected``). A failing seed raises
        :class:`~flask_versioning.SeedFailed` after its changes were rolled back. With
        ``tenants``, in each chosen tenant (the seeds declared without ``bind=``); a tenant's
        failing seed is its failed result.
        """
        if tenants is not None:
            from . import _fleet as fleet

            _, fleet_options = _split(options, None)
            task = fleet.seed(
                get_state(), names, env=env, force=force, allow_protected=allow_protected
            )
            return self._on_tenants(task, tenants, fleet_options)
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
        """Drop every table (ours included), upgrade to heads and run the seeds.

        Refused in a protected environment unless ``allow_protected``. ``confirm`` is called
        with the environment name before anything is dropped; raise in it to stop.
        ``baseline=False`` replays every revision instead of loading a baseline.
        """
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
        ``baseline=False`` replays every revision on an empty database instead of loading a
        baseline."""
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
        """Insert many ``rows`` (dicts) into a ``Table`` or model class, fast; returns the count.

        Core ``executemany`` for a table, SQLAlchemy's ORM bulk ``INSERT`` for a model (attribute
        names, inheritance), in batches; no objects are built. Inside a seed it writes in the
        seed's transaction.
        """
        from ._seeds.bulk import bulk_insert

        return bulk_insert(get_state(), target, rows, batch_size=batch_size, session=session)


def _fleet_only(options: Mapping[str, Any], bind: str | None) -> TenantOptions:
    """The options of a call with ``tenants=`` that takes no Alembic options."""
    run, fleet = _split(options, bind)
    if run:
        names = ", ".join(sorted(run))
        raise TypeError(f"unexpected keyword argument(s) with tenants=: {names}")
    return fleet


def _split(options: Mapping[str, Any], bind: str | None) -> tuple[RunOptions, TenantOptions]:
    """Keyword options of a call with ``tenants=``: Alembic's and the fleet's."""
    if bind is not None:
        raise ConfigurationError("bind= and tenants= cannot be combined: tenants have one database")
    run = {k: v for k, v in options.items() if k not in _TENANT_KEYS}
    fleet = {k: v for k, v in options.items() if k in _TENANT_KEYS}
    return cast(RunOptions, run), cast(TenantOptions, fleet)
