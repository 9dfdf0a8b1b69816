"""Which databases an app has, whichever way it uses SQLAlchemy: Flask-SQLAlchemy's engines
and ``db.metadatas``; Flask-SQLAlchemy-Lite's engines with ``metadata=``; or plain SQLAlchemy,
``VERSIONING_DATABASE_URL`` or ``SQLALCHEMY_DATABASE_URI`` with ``metadata=``.

A bind's history is its own, in ``<VERSIONING_DIRECTORY>/binds/<name>/``, so adding a database
never touches the revisions written; Flask-Migrate's multidb layout shares one directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app

from ._alembic import layout
from ._alembic.database import Database
from ._alembic.drivers import check_url
from ._errors import ConfigurationError
from ._ledgers.history import StepWriter
from ._ledgers.seeds import ForgetDropped

if TYPE_CHECKING:
    from ._alembic.database import Guard
    from ._settings import Settings

#: What the default database is called in output and in ``--bind``.
DEFAULT = "default"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def discover(
    settings: Settings, db: Any, metadata: Any, guard: Guard | None = None
) -> list[Database]:
    """Every database the app has (the default first, then the binds in config order), from
    the SQLAlchemy extension and models ``init_app`` was given, if any."""
    if db is None:
        # Flask-SQLAlchemy and -Lite register themselves here: use the app's one if not given.
        db = current_app.extensions.get("sqlalchemy")
        if not hasattr(db, "engines"):
            db = None
    names = _bind_names(db, settings.bind_urls)
    metadatas = _metadata_map(metadata)
    for name in metadatas:
        if name is not None and name not in names:
            raise ConfigurationError(
                f"metadata is given for database {name!r}, but the app has no such database "
                f"(it has: {', '.join([DEFAULT, *names])})"
            )
    if settings.binds is not None:
        unknown = [b for b in settings.binds if b not in names]
        if unknown:
            raise ConfigurationError(
                f"VERSIONING_BINDS names unknown database(s) {', '.join(map(repr, unknown))} "
                f"(the app has: {', '.join(names) or 'no binds'})"
            )
        names = [n for n in names if n in settings.binds]
    multidb = layout.is_multidb(settings.directory)
    engine_names = ("", *names) if multidb else ()
    out = []
    for bind in (None, *names):
        if bind is not None and not _SAFE_NAME.match(bind):
            raise ConfigurationError(
                f"database name {bind!r} cannot name a directory: use letters, digits, '_', "
                "'-' or '.'"
            )
        directory = settings.directory
        if bind is not None and not multidb:
            directory = directory / "binds" / bind
        get_engine = _engine_getter(db, bind)
        out.append(
            Database(
                name=bind or DEFAULT,
                settings=settings,
                metadata=_metadata_for(db, metadatas, bind),
                directory=directory,
                get_engine=get_engine,
                url_override=_url_for(get_engine, settings.database_url, settings.bind_urls, bind),
                bind=bind,
                engine_name=(bind or "") if multidb else None,
                engine_names=engine_names,
                history=StepWriter if settings.keeps_history else None,
                seed_ledger=ForgetDropped,
                guard=guard,
            )
        )
    return out


def _is_flask_sqlalchemy(db: Any) -> bool:
    return hasattr(db, "metadatas") and hasattr(db, "engines")


def _bind_names(db: Any, bind_urls: Mapping[str, str]) -> list[str]:
    if _is_flask_sqlalchemy(db):
        names = [k for k in db.engines if k is not None]
    elif db is not None and hasattr(db, "engines"):  # Flask-SQLAlchemy-Lite
        names = [k for k in _lite_engines(db) if k != DEFAULT]
    else:
        names = list(bind_urls)
    if DEFAULT in names:
        raise ConfigurationError(
            f"a bind may not be called {DEFAULT!r}: that name means the default database"
        )
    # A URL given for a bind the SQLAlchemy extension does not know still adds a database.
    names.extend(n for n in bind_urls if n not in names)
    return names


def _lite_engines(db: Any) -> dict[str, Any]:
    """Flask-SQLAlchemy-Lite's engines by name, its async ones where no sync one has the name
    (migrations reach those through a sync driver)."""
    engines: dict[str, Any] = dict(getattr(db, "async_engines", None) or {})
    engines.update(db.engines)
    return engines


def _metadata_map(metadata: Any) -> dict[str | None, sa.MetaData]:
    if metadata is None:
        return {}
    if isinstance(metadata, sa.MetaData):
        return {None: metadata}
    if isinstance(metadata, Mapping):
        out: dict[str | None, sa.MetaData] = {}
        for key, value in metadata.items():
            if not isinstance(value, sa.MetaData):
                raise ConfigurationError(
                    f"metadata[{key!r}] must be a sqlalchemy.MetaData, not {type(value).__name__}"
                )
            out[None if key in (None, DEFAULT) else key] = value
        return out
    raise ConfigurationError(
        f"metadata must be a sqlalchemy.MetaData or a dict of them, not {type(metadata).__name__}"
    )


def _metadata_for(
    db: Any, metadatas: Mapping[str | None, sa.MetaData], bind: str | None
) -> sa.MetaData | None:
    if bind in metadatas:
        return metadatas[bind]
    if _is_flask_sqlalchemy(db):
        found: sa.MetaData | None = db.metadatas.get(bind)
        if found is None and bind is not None:
            # A bind without models yet: its models are "none", not "unknown".
            found = sa.MetaData()
        return found
    fallback = getattr(db, "metadata", None) if bind is None else None
    return fallback if isinstance(fallback, sa.MetaData) else None


def _engine_getter(db: Any, bind: str | None) -> Callable[[], sa.Engine] | None:
    if db is None:
        return None
    if _is_flask_sqlalchemy(db):
        key: str | None = bind
    elif hasattr(db, "engines"):
        key = bind or DEFAULT
    elif bind is None and hasattr(db, "engine"):
        return lambda: db.engine
    else:
        return None

    def get_engine() -> sa.Engine:
        engines: Mapping[Any, Any] = db.engines if _is_flask_sqlalchemy(db) else _lite_engines(db)
        if key not in engines:
            raise ConfigurationError(
                f"the SQLAlchemy extension has no engine for database {bind or DEFAULT!r}"
            )
        return engines[key]  # type: ignore[no-any-return]

    return get_engine


def _url_for(
    get_engine: Callable[[], sa.Engine] | None,
    default_url: str | None,
    bind_urls: Mapping[str, str],
    bind: str | None,
) -> str | None:
    """An explicit URL wins over the extension's engine; plain SQLAlchemy falls back to
    ``SQLALCHEMY_DATABASE_URI`` for the default database."""
    if bind is not None:
        return bind_urls.get(bind)
    if default_url is None and get_engine is None:
        url = current_app.config.get("SQLALCHEMY_DATABASE_URI")
        if isinstance(url, sa.URL):
            return url.render_as_string(hide_password=False)
        return None if url is None else str(url)
    return default_url


def check_configured_urls(config: Mapping[str, Any]) -> None:
    """Check the URLs Flask-SQLAlchemy(-Lite) will make engines of, so that ``postgres://`` or
    a missing driver is one line naming the fix, not a traceback from its engine creation."""
    found: list[tuple[str, Any]] = [
        ("SQLALCHEMY_DATABASE_URI", config.get("SQLALCHEMY_DATABASE_URI"))
    ]
    for key in ("SQLALCHEMY_BINDS", "SQLALCHEMY_ENGINES"):
        entries = config.get(key)
        if isinstance(entries, Mapping):
            found.extend((f"{key}[{name!r}]", value) for name, value in entries.items())
    for where, value in found:
        if isinstance(value, Mapping):
            value = value.get("url")
        if isinstance(value, (str, sa.URL)) and value:
            check_url(value, where)
