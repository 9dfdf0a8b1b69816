"""Tenants: where the list comes from, which ones a command acts on, and each one as a
:class:`~flask_versioning.Database` that shares the app's script directory.

A tenant is a database of its own (a URL) or a schema. A PostgreSQL schema tenant keeps its
version table and ledgers in its schema; its connections run with ``search_path`` set to
``<schema>, public`` (as django-tenants does) and a ``schema_translate_map``, so revisions
written once, with no schema in them, land in each tenant's schema, raw SQL included. On
MariaDB/MySQL a schema is a database, so a schema tenant is that database on the app's server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.database import Database
from .._alembic.errors import database_errors
from .._seeds.registry import SeedRegistry
from .._state import VersioningState
from .._types import Tenant

#: A tenant name: what ``--tenant`` takes, what output shows, what a shard hashes.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
#: A schema (or MariaDB database) name: quoted anyway, but kept to plain identifiers.
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MYSQL = ("mysql", "mariadb")
#: The servers' own schemas, and every ``pg_`` name: a tenant's tables created there would sit
#: among the catalogs, and dropping the tenant would touch them.
_SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})


# -- the list -----------------------------------------------------------------------------------


def declared(state: VersioningState) -> list[Tenant]:
    """Every tenant the app declares, checked: a duplicate or unsafe name fails here, in one
    line, before any tenant is touched. ``VERSIONING_TENANTS`` (a dotted path or a callable)
    wins over the ``@versioning.tenants`` function, so a deployment can point elsewhere."""
    function = state.settings.tenants
    if function is None:
        function = state.extension.tenant_source
    elif isinstance(function, str):
        from werkzeug.utils import ImportStringError, import_string

        configured = function
        try:
            function = import_string(configured)
        except ImportStringError as exc:
            raise errors.ConfigurationError(
                f"VERSIONING_TENANTS = {configured!r} cannot be imported: "
                f"{type(exc.exception).__name__}: {errors.one_line(exc.exception)}"
            ) from None
        if not callable(function):
            raise errors.ConfigurationError(
                f"VERSIONING_TENANTS = {configured!r} names a {type(function).__name__}, "
                "not a function"
            )
    if function is None:
        raise errors.ConfigurationError(
            "the app declares no tenants: decorate a function returning them with "
            "@versioning.tenants, or set VERSIONING_TENANTS"
        )
    name = getattr(function, "__qualname__", None) or repr(function)
    try:
        found = function()
    except errors.VersioningError:
        raise
    except Exception as exc:
        raise errors.ConfigurationError(
            f"the tenants function {name}() failed: {type(exc).__name__}: "
            f"{errors.scrub(errors.one_line(exc, 300))}"
        ) from exc
    return checked(found, f"{name}()")


def checked(found: Any, origin: str) -> list[Tenant]:
    """``found`` (Tenants, or a dict of name to URL-or-schema) as checked tenants."""
    if isinstance(found, Mapping):
        items: Iterable[Any] = [_from_pair(key, value, origin) for key, value in found.items()]
    elif isinstance(found, Iterable) and not isinstance(found, (str, bytes)):
        items = found
    else:
        raise errors.ConfigurationError(
            f"{origin} must return Tenant objects or a dict of name to URL or schema, "
            f"not {type(found).__name__}"
        )
    tenants: dict[str, Tenant] = {}
    for item in items:
        tenant = _check(item, origin)
        if tenant.name in tenants:
            raise errors.ConfigurationError(
                f"tenant names must be unique: {tenant.name!r} is declared twice by {origin}"
            )
        tenants[tenant.name] = tenant
    return list(tenants.values())


def _from_pair(name: Any, value: Any, origin: str) -> Tenant:
    if isinstance(value, sa.URL):
        return Tenant(str(name), url=value.render_as_string(hide_password=False))
    if not isinstance(value, str) or not value:
        raise errors.ConfigurationError(
            f"{origin}: the value for tenant {name!r} must be a URL or a schema name, "
            f"not {type(value).__name__}"
        )
    return Tenant(name, url=value) if "://" in value else Tenant(name, schema=value)


def _check(item: Any, origin: str) -> Tenant:
    if isinstance(item, str):
        item = Tenant(item)
    if not isinstance(item, Tenant):
        raise errors.ConfigurationError(
            f"{origin} returned a {type(item).__name__}; tenants are flask_versioning.Tenant "
            "objects (or a dict of name to URL or schema)"
        )
    if not isinstance(item.name, str) or not _NAME.match(item.name):
        raise errors.ConfigurationError(
            f"tenant name {item.name!r} is not safe: use 1 to 63 letters, digits, '_', '-' or "
            "'.', starting with a letter, digit or '_'"
        )
    if item.url is not None and (not isinstance(item.url, str) or "://" not in item.url):
        raise errors.ConfigurationError(
            f"tenant {item.name!r}: url must be a database URL, not {errors.scrub(repr(item.url))}"
        )
    schema = item.schema_name
    if schema is None:
        return item
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        raise errors.ConfigurationError(
            f"tenant {item.name!r}: schema {schema!r} is not a safe identifier: use 1 to 63 "
            "letters, digits or '_', not starting with a digit"
        )
    if schema.lower() in _SYSTEM_SCHEMAS or schema.lower().startswith("pg_"):
        raise errors.ConfigurationError(
            f"tenant {item.name!r}: schema {schema!r} belongs to the database server, not to "
            "a tenant: give the tenant a schema of its own"
        )
    return item


# -- which ones ---------------------------------------------------------------------------------


def select(
    state: VersioningState,
    selection: str | Iterable[str | Tenant],
    shard: tuple[int, int] | None = None,
) -> list[Tenant]:
    """The tenants a command acts on: ``"all"``, or names (and :class:`Tenant` objects), then
    the shard's share of them. Unknown names fail before anything runs."""
    if shard is not None:
        shard = _check_shard(shard)
    every = functools.cache(lambda: declared(state))
    if selection == "all":
        chosen = every()
    else:
        chosen = _named(every, [selection] if isinstance(selection, str) else list(selection))
    if shard is not None:
        chosen = [t for t in chosen if _shard_of(t.name, shard[1]) == shard[0]]
    _check_schemas(state, chosen)
    return chosen


def _shard_of(name: str, count: int) -> int:
    """A hash of the name, the same on every machine and every run (``hash()`` is salted per
    process, so it is not used)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def _check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in shard)
    except (TypeError, ValueError):
        raise errors.ConfigurationError(f"shard must be (k, n), not {shard!r}") from None
    if not 0 <= index < count:
        raise errors.ConfigurationError(
            f"shard {index}/{count} does not exist: k counts from 0 and must be below n "
            "(as Kubernetes' JOB_COMPLETION_INDEX does)"
        )
    return index, count


def _check_schemas(state: VersioningState, tenants: Sequence[Tenant]) -> None:
    """A schema tenant on SQLite (which has no schemas), or in the schema holding the app's
    own tables, is a mistake in the declaration: it fails before anything runs."""
    for tenant in tenants:
        schema = tenant.schema_name
        if schema is None:
            continue
        url = sa.make_url(tenant.url) if tenant.url is not None else state.database().url
        if url.get_backend_name() == "sqlite":
            raise errors.ConfigurationError(
                f"SQLite has no schemas (tenant {tenant.name!r} names schema "
                f"{schema!r}): give the tenant a URL, a database file of its own"
            )
        if tenant.url is None and schema.lower() == _default_schema(url):
            raise errors.ConfigurationError(
                f"tenant {tenant.name!r}: schema {schema!r} holds the app's own "
                "tables (the tenant's version table and ledgers would be the app's): give the "
                "tenant a schema of its own"
            )


def _default_schema(url: sa.URL) -> str | None:
    """Where the app's tables are when no schema is named (lower case, as names are compared)."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        return "public"
    return url.database.lower() if backend in _MYSQL and url.database else None


def _named(every: Callable[[], list[Tenant]], items: Sequence[str | Tenant]) -> list[Tenant]:
    given = [item for item in items if isinstance(item, Tenant)]
    names = [item for item in items if not isinstance(item, Tenant)]
    known = {t.name: t for t in every()} if names else {}
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
        raise errors.ConfigurationError(
            f"unknown tenant{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)} ({len(known)} declared: {listed or 'none'})"
        )
    chosen = checked([*given, *(known[n] for n in dict.fromkeys(names))], "tenants=")
    order = {name: i for i, name in enumerate(known)}
    # Named tenants run in declaration order, whatever order they were typed in.
    return sorted(chosen, key=lambda t: order.get(t.name, -1))


# -- one tenant as a Database -------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _SchemaEngine:
    """The engine of a schema tenant, made on first use: ``NullPool`` (so a changed
    ``search_path`` never leaks into the app's pool), ``search_path`` set on every PostgreSQL
    connection, unqualified tables translated."""

    url: sa.URL
    schema: str
    engine: sa.Engine | None = None

    def __call__(self) -> sa.Engine:
        if self.engine is None:
            engine = sa.create_engine(self.url, poolclass=sa.NullPool)
            if engine.dialect.name == "postgresql":
                # insert=True: before SQLAlchemy's first-connect set-up reads current_schema(),
                # so the dialect's default schema (what reflection and autogenerate use) is ours.
                sa.event.listen(
                    engine, "connect", functools.partial(_search_path, self.schema), insert=True
                )
            self.engine = engine.execution_options(schema_translate_map={None: self.schema})
        return self.engine


def _search_path(schema: str, dbapi_connection: Any, record: Any) -> None:
    quoted = '"' + schema.replace('"', '""') + '"'
    with contextlib.closing(dbapi_connection.cursor()) as cursor:
        cursor.execute(f"SET search_path TO {quoted}, public")
    # Committed: SQLAlchemy rolls back after its set-up, which would undo an open SET.
    if not getattr(dbapi_connection, "autocommit", False):
        dbapi_connection.commit()


def tenant_database(base: Database, tenant: Tenant) -> Database:
    """``tenant`` as a :class:`Database`: the app's script directory, models and settings, its
    own connection, and its version table (and ledgers) in its schema for a schema tenant."""
    url = sa.make_url(tenant.url) if tenant.url is not None else base.url
    schema = tenant.schema_name
    settings = base.settings
    if schema is not None:
        settings = dataclasses.replace(settings, version_table_schema=schema)
    # The app's database, with the tenant's name, settings and connection.
    common: dict[str, Any] = {"name": tenant.name, "settings": settings, "_own_engine": None}
    if schema is None or url.get_backend_name() in _MYSQL:
        if schema is not None:
            url = url.set(database=schema)
        override = url.render_as_string(hide_password=False)
        return dataclasses.replace(base, get_engine=None, url_override=override, **common)
    engine = _SchemaEngine(url, schema)
    return dataclasses.replace(base, get_engine=engine, url_override=None, **common)


def dispose(database: Database) -> None:
    """Close what the tenant's engine holds (``NullPool``: nothing stays open between uses)."""
    getter = database.get_engine
    if isinstance(getter, _SchemaEngine):
        if getter.engine is not None:
            getter.engine.dispose()
    elif database.url_override is not None:
        database.engine().dispose()


def ensure_exists(database: Database, tenant: Tenant, *, create: bool) -> None:
    """Check that a schema tenant's schema exists (PostgreSQL would accept a ``search_path``
    naming a missing one and put the tables in ``public``); with ``create``, create it, or a
    URL tenant's database, when missing."""
    schema = tenant.schema_name
    if schema is None:
        if create:
            from .._provision import ensure_database

            ensure_database(database)
        return
    url = database.url
    own_engine = url.get_backend_name() in _MYSQL
    if own_engine:
        from .._provision import without_database

        # The tenant's database may not exist: ask the server, connected to no database.
        server = without_database(url)
        engine = sa.create_engine(server, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        exists = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"
        statement = "CREATE DATABASE IF NOT EXISTS {}"
    else:
        engine = database.engine()
        exists = "SELECT 1 FROM pg_namespace WHERE nspname = :s"
        statement = "CREATE SCHEMA IF NOT EXISTS {}"
    query = sa.text(exists).bindparams(s=schema)
    try:
        with database_errors(database), engine.connect() as connection:
            if connection.execute(query).first() is not None:
                return
            if not create:
                raise errors.DatabaseError(
                    f"the schema {schema!r} does not exist at "
                    f"{errors.mask_url(url)}; create it, or pass --create (create=True)"
                )
            quoted = connection.dialect.identifier_preparer.quote_schema(schema)
            try:
                connection.exec_driver_sql(statement.format(quoted))
                connection.commit()
            except sa.exc.DBAPIError:
                # Two runs creating it at once: the loser's error is fine if it exists now.
                connection.rollback()
                if connection.execute(query).first() is None:
                    raise
    finally:
        if own_engine:
            engine.dispose()


# -- the app's state, seen from one tenant ------------------------------------------------------


@dataclasses.dataclass(eq=False)
class TenantState(VersioningState):
    """The app's state with the tenant as its only database, so the operations written for one
    app (seeds, protection guards) act on the tenant unchanged. Seeds declared for a bind
    (``bind=``) belong to that database, not to tenants, and are left out."""

    @functools.cached_property
    def seeds(self) -> SeedRegistry:
        registry = SeedRegistry()
        for hook in self.extension.seed_registry:
            if hook.bind is None:
                registry.add(
                    hook.function,
                    hook.environments,
                    name=hook.name,
                    order=hook.order,
                    always=hook.always,
                )
        return registry
