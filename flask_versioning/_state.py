"""What the extension knows about one app, kept in ``app.extensions["versioning"]``: one
:class:`~flask_versioning.Versioning` can serve many apps, so nothing per app is kept on it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, current_app

from ._databases import DEFAULT, check_configured_urls, discover
from ._errors import ConfigurationError
from ._settings import Settings

if TYPE_CHECKING:
    from ._alembic.database import Database, Guard
    from ._extension import Versioning
    from ._seeds.registry import SeedRegistry


@dataclasses.dataclass(eq=False)
class VersioningState:
    """The extension's state for one app, kept in ``app.extensions["versioning"]``."""

    extension: Versioning
    settings: Settings
    #: The SQLAlchemy extension and the models' ``MetaData`` given to ``init_app``, if any.
    db: Any
    metadata: sa.MetaData | Mapping[str | None, sa.MetaData] | None
    #: What ``env.py`` asks before a migration's first step (protection), handed down by the
    #: facade because the rule lives in a higher layer.
    guard: Guard | None = None
    _databases: list[Database] | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def register(
        cls,
        app: Flask,
        extension: Versioning,
        db: Any,
        metadata: sa.MetaData | Mapping[str | None, sa.MetaData] | None,
        directory: str | os.PathLike[str] | None,
        guard: Guard,
    ) -> VersioningState:
        """Validate ``app``'s settings and keep its new state in ``app.extensions``, once; what
        ``init_app`` was not given comes from the extension."""
        if "versioning" in app.extensions:
            raise ConfigurationError("Versioning is already registered on this app")
        db = db if db is not None else extension.db
        metadata = metadata if metadata is not None else extension.metadata
        settings = Settings.from_app(
            app, directory if directory is not None else extension.directory
        )
        if db is not None and "sqlalchemy" not in app.extensions:
            check_configured_urls(app.config)  # before Flask-SQLAlchemy makes engines of them
        state = app.extensions["versioning"] = cls(extension, settings, db, metadata, guard)
        return state

    def databases(self) -> list[Database]:
        """Every database of the app: the default first, then the binds in config order."""
        if self._databases is None:
            self._databases = discover(self.settings, self.db, self.metadata, self.guard)
        return list(self._databases)

    def database(self, name: str | None = None) -> Database:
        """The database of a bind name (``None`` or ``"default"``: the default database)."""
        wanted = None if name == DEFAULT else name
        databases = self.databases()
        for database in databases:
            if database.bind == wanted:
                return database
        known = ", ".join(d.name for d in databases)
        raise ConfigurationError(f"unknown database {name!r} (this app has: {known})")

    @property
    def seeds(self) -> SeedRegistry:
        """The seed hooks declared on the extension (shared by every app it serves)."""
        return self.extension.seed_registry

    def forget_databases(self) -> None:
        """Look for the databases again on next use (the layout on disk has changed)."""
        self._databases = None

    def chosen(self, bind: str | None) -> list[Database]:
        """``bind``'s database, or every one when ``None``: what most commands act on."""
        return [self.database(bind)] if bind is not None else self.databases()

    def sharing_file(self, database: Database) -> list[Database]:
        """The databases whose changes go in one revision file with ``database``'s: in
        Flask-Migrate's multidb layout every one with an engine name, else none."""
        if database.engine_name is None:
            return []
        return [d for d in self.databases() if d.engine_name is not None]


def get_state() -> VersioningState:
    """The state of the current app, or a one-line error if the extension is not set up."""
    try:
        state: VersioningState = current_app.extensions["versioning"]
    except KeyError:
        raise ConfigurationError(
            "Versioning is not initialised on this app: call init_app(app) first"
        ) from None
    return state
