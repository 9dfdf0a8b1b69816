"""The :class:`Versioning` extension: configuration, per-app state and the Python API.

Every ``flask db`` command is a thin layer over a method here, so anything a command does, app
code and tests can do too. Methods act on :data:`flask.current_app`, like Flask-SQLAlchemy's, and
return data instead of printing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, current_app

from . import runner
from .errors import ConfigurationError
from .runner import AppliedRevision, Database, MigrationResult
from .settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from alembic.config import Config
    from alembic.script import Script
    from sqlalchemy.orm import Session

    from .adopt import AdoptResult
    from .seeds import F, PrepareResult, ResetResult, SeedRegistry, SeedResult, SeedStatus

# The seeds and adopt modules are imported where they are used: an app that declares no seeds
# never loads them, which keeps them off the start-up path (see benchmarks/FINDINGS.md).

__all__ = ["AppliedRevision", "MigrationResult", "Versioning"]


@dataclasses.dataclass(eq=False)
class _AppState:
    """What the extension knows about one app, kept in ``app.extensions["versioning"]``."""

    extension: Versioning
    settings: Settings
    db: Any
    metadata: sa.MetaData | Mapping[str | None, sa.MetaData] | None
    _databases: list[Database] | None = None

    def databases(self) -> list[Database]:
        """Every database of the app: the default first, then the binds in config order."""
        if self._databases is None:
            from .databases import discover

            self._databases = discover(self)
        return list(self._databases)

    def database(self, name: str | None = None) -> Database:
        """The :class:`~flask_versioning.runner.Database` for a bind (``None``: the default)."""
        from .databases import DEFAULT

        wanted = None if name == DEFAULT else name
        databases = self.databases()
        for database in databases:
            if database.bind == wanted:
                return database
        known = ", ".join(d.name for d in databases)
        raise ConfigurationError(f"unknown database {name!r} (this app has: {known})")


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
        self._seed_registry: SeedRegistry | None = None
        if app is not None:
            self.init_app(app)

    @property
    def seed_registry(self) -> SeedRegistry:
        """The ``@seed`` hooks, kept here (not per app) so that hooks declared at import time
        serve every app a factory creates. Made on first use."""
        if self._seed_registry is None:
            from .seeds import SeedRegistry

            self._seed_registry = SeedRegistry()
        return self._seed_registry

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
        state = _AppState(
            extension=self,
            settings=settings,
            db=db if db is not None else self.db,
            metadata=metadata if metadata is not None else self.metadata,
        )
        app.extensions["versioning"] = state

        # Commands are defined when click first needs one, not on every app start.
        from .cligroup import new_group

        app.cli.add_command(new_group(), command or self.command)

        if settings.auto_upgrade:
            from .autoupgrade import auto_upgrade

            auto_upgrade(app, state, command=command or self.command)

    # -- state ---------------------------------------------------------------------------------

    def _state(self) -> _AppState:
        try:
            state: _AppState = current_app.extensions["versioning"]
        except KeyError:
            raise ConfigurationError(
                "Versioning is not initialised on this app: call init_app(app) first"
            ) from None
        return state

    def database(self, name: str | None = None) -> Database:
        """The :class:`~flask_versioning.runner.Database` the API acts on."""
        return self._state().database(name)

    def databases(self) -> list[str | None]:
        """The app's databases as ``bind`` values: ``None`` (the default) first, then binds."""
        return [database.bind for database in self._state().databases()]

    @property
    def settings(self) -> Settings:
        """The validated ``VERSIONING_*`` settings of the current app."""
        return self._state().settings

    def alembic_config(self, *, bind: str | None = None) -> Config:
        """A standard :class:`alembic.config.Config` for the current app's migrations.

        ``alembic.command.*`` and pytest-alembic run against it; put a connection or engine in
        ``config.attributes["connection"]`` to make the environment use it.
        """
        database = self.database(bind)
        runner.ensure_directory(database)
        return database.alembic_config()

    # -- the API, one method per command --------------------------------------------------------

    def init(self, *, bind: str | None = None) -> Path:
        """Create the script directory (``env.py``, template, ``versions/``) if missing."""
        database = self.database(bind)
        runner.ensure_directory(database)
        return database.directory

    def upgrade(
        self,
        target: str = "heads",
        *,
        bind: str | None = None,
        sql: bool = False,
        tag: str | None = None,
        x_args: Sequence[str] | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
    ) -> MigrationResult:
        """Upgrade the database to ``target`` (``heads``, ``head``, ``+1``, a revision id).

        ``progress`` is called with each revision as soon as it has been applied. With
        ``sql=True`` nothing touches the database and the result carries the SQL.
        """
        return runner.upgrade(
            self.database(bind), target, sql=sql, tag=tag, x_args=x_args, progress=progress
        )

    def downgrade(
        self,
        target: str = "-1",
        *,
        bind: str | None = None,
        sql: bool = False,
        tag: str | None = None,
        x_args: Sequence[str] | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        allow_protected: bool = False,
    ) -> MigrationResult:
        """Revert the database to ``target`` (``-1``, ``base``, a revision id).

        ``base`` is refused in a protected environment unless ``allow_protected``.
        """
        from . import seeds

        seeds.guard_downgrade(self._state(), target, sql=sql, allow_protected=allow_protected)
        return runner.downgrade(
            self.database(bind), target, sql=sql, tag=tag, x_args=x_args, progress=progress
        )

    def stamp(
        self,
        revisions: str | Sequence[str] = "heads",
        *,
        bind: str | None = None,
        sql: bool = False,
        tag: str | None = None,
        purge: bool = False,
        allow_protected: bool = False,
    ) -> MigrationResult:
        """Write ``revisions`` to the version table without running any migration.

        Rewriting an applied history is refused in a protected environment unless
        ``allow_protected``; stamping an empty version table is always allowed.
        """
        revs = [revisions] if isinstance(revisions, str) else list(revisions)
        database = self.database(bind)
        from . import seeds

        seeds.guard_stamp(self._state(), database, revs, sql=sql, allow_protected=allow_protected)
        return runner.stamp(database, revs, sql=sql, tag=tag, purge=purge)

    def revision(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        autogenerate: bool = False,
        sql: bool = False,
        head: str = "head",
        splice: bool = False,
        branch_label: str | Sequence[str] | None = None,
        version_path: str | None = None,
        rev_id: str | None = None,
        depends_on: str | Sequence[str] | None = None,
        x_args: Sequence[str] | None = None,
    ) -> list[Script]:
        """Write a new revision file and return it (a list: one per database touched)."""
        return runner.revision(
            self.database(bind),
            message,
            autogenerate=autogenerate,
            sql=sql,
            head=head,
            splice=splice,
            branch_label=branch_label,
            version_path=version_path,
            rev_id=rev_id,
            depends_on=depends_on,
            x_args=x_args,
        )

    def migrate(
        self,
        message: str | None = None,
        *,
        bind: str | None = None,
        allow_empty: bool = False,
        head: str = "head",
        splice: bool = False,
        branch_label: str | Sequence[str] | None = None,
        version_path: str | None = None,
        rev_id: str | None = None,
        depends_on: str | Sequence[str] | None = None,
        x_args: Sequence[str] | None = None,
    ) -> Script | None:
        """Autogenerate a revision from the models; ``None`` when nothing changed.

        In Flask-Migrate's multidb layout one revision file holds every database's changes,
        whichever ``bind`` is named.
        """
        database = self.database(bind)
        together = (
            [d for d in self._state().databases() if d.engine_name is not None]
            if database.engine_name is not None
            else []
        )
        scripts = runner.revision(
            database,
            message,
            autogenerate=True,
            head=head,
            splice=splice,
            branch_label=branch_label,
            version_path=version_path,
            rev_id=rev_id,
            depends_on=depends_on,
            allow_empty=allow_empty,
            x_args=x_args,
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
        return runner.merge(
            self.database(bind), revs, message=message, branch_label=branch_label, rev_id=rev_id
        )

    def edit(self, revision: str = "current", *, bind: str | None = None) -> list[Path]:
        """Open a revision file in ``$EDITOR``."""
        return runner.edit(self.database(bind), revision)

    def current(self, *, bind: str | None = None) -> list[str]:
        """The revision ids the database is at (empty at base)."""
        return runner.current(self.database(bind))

    def heads(self, *, bind: str | None = None) -> list[Script]:
        """The head revisions of the script directory."""
        return runner.heads(self.database(bind))

    def branches(self, *, bind: str | None = None) -> list[Script]:
        """The revisions where history branches."""
        return runner.branches(self.database(bind))

    def history(self, rev_range: str | None = None, *, bind: str | None = None) -> list[Script]:
        """Revisions, newest first; ``rev_range`` like ``"base:head"``, ``"-3:"``."""
        return runner.history(self.database(bind), rev_range)

    def show(self, revision: str = "head", *, bind: str | None = None) -> list[Script]:
        """The revision(s) a symbol names (an id, a partial id, ``head``, ``current``)."""
        return runner.show(self.database(bind), revision)

    def check(self, *, bind: str | None = None) -> list[Any]:
        """Differences between the models and an up-to-date database (empty when none)."""
        return runner.check(self.database(bind))

    def adopt(self, source: str | os.PathLike[str]) -> AdoptResult:
        """Move a Flask-Migrate ``migrations`` folder to the configured directory and make it
        ours: revisions byte for byte, our ``env.py`` instead of theirs.

        Refuses (changing nothing) when the directory already exists and is not empty.
        """
        state = self._state()
        from .adopt import adopt

        result = adopt(self.database(), Path(source))
        state._databases = None  # the layout on disk changed: look again
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
        unless ``always=True``. Seeds run by ``order``, then in registration order; ``bind``
        names the database (default: the default one). ``name`` defaults to the function's.
        """
        return self.seed_registry.decorator(
            environments, name=name, order=order, always=always, bind=bind
        )

    def environment_name(self, env: str | None = None) -> str:
        """The environment seeds and guards act for (``env`` overrides, like ``--env``)."""
        from . import seeds

        return seeds.environment_name(self._state(), env)

    def run_seeds(
        self,
        names: Sequence[str] | None = None,
        *,
        env: str | None = None,
        force: bool = False,
        allow_protected: bool = False,
        progress: Callable[[SeedResult], None] | None = None,
    ) -> list[SeedResult]:
        """Run the environment's seeds that have not run yet, or only ``names``.

        ``force`` runs them again even if they ran before (refused in a protected environment
        unless ``allow_protected``). A failing seed raises
        :class:`~flask_versioning.errors.SeedFailed` after its changes were rolled back.
        """
        from . import seeds

        return seeds.run_seeds(
            self._state(),
            names,
            env=env,
            force=force,
            allow_protected=allow_protected,
            progress=progress,
        )

    def seeds_status(self, env: str | None = None) -> list[SeedStatus]:
        """Every seed with its environments and whether (and when) it ran in this database."""
        from . import seeds

        return seeds.status(self._state(), env)

    def reset(
        self,
        *,
        env: str | None = None,
        allow_protected: bool = False,
        confirm: Callable[[str], None] | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        seed_progress: Callable[[SeedResult], None] | None = None,
    ) -> ResetResult:
        """Drop every table (ours included), upgrade to heads and run the seeds.

        Refused in a protected environment unless ``allow_protected``. ``confirm`` is called
        with the environment name before anything is dropped; raise in it to stop.
        """
        from . import seeds

        return seeds.reset(
            self._state(),
            env=env,
            allow_protected=allow_protected,
            confirm=confirm,
            progress=progress,
            seed_progress=seed_progress,
        )

    def prepare(
        self,
        *,
        env: str | None = None,
        progress: Callable[[AppliedRevision], None] | None = None,
        seed_progress: Callable[[SeedResult], None] | None = None,
    ) -> PrepareResult:
        """Create the database if missing, upgrade to heads and seed; safe to repeat."""
        from . import seeds

        return seeds.prepare(self._state(), env=env, progress=progress, seed_progress=seed_progress)

    def bulk_insert(
        self,
        target: Any,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 10_000,
        session: Session | sa.Connection | None = None,
    ) -> int:
        """Insert many ``rows`` (dicts) into a ``Table`` or model class, fast; returns the count.

        Uses Core ``executemany`` in batches, not the ORM. Inside a seed it writes in the
        seed's transaction.
        """
        from . import seeds

        return seeds.bulk_insert(
            self._state(), target, rows, batch_size=batch_size, session=session
        )
