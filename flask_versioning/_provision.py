"""``prepare`` (create the database if missing, upgrade, seed) and ``reset`` (drop everything,
upgrade, seed): getting a database into a known state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import _errors as errors
from ._alembic.errors import reraise, translate_errors
from ._ledgers.history import recording
from ._locking import database_lock, sqlite_path
from ._operations.executor import upgrade
from ._protection import check_allowed, run_for
from ._seeds.run import run_pending
from ._types import AppliedRevision, MigrationResult, PrepareResult, ResetResult, SeedResult

if TYPE_CHECKING:
    from ._alembic.database import Database
    from ._state import VersioningState


def _quote(connection: sa.Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _drop_postgresql(connection: sa.Connection) -> list[str]:
    """Drop the current schema's views, tables, sequences and enum/domain types, ``CASCADE``,
    all or nothing; types must go too, or the first migration fails on ``CREATE TYPE``.
    Objects of an extension (PostGIS's ``spatial_ref_sys``) are not the app's and stay."""
    relations = connection.execute(
        sa.text(
            "SELECT c.relkind, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype = 'e') ORDER BY c.relname"
        )
    ).all()
    types = connection.execute(
        sa.text(
            "SELECT t.typtype, t.typname FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass "
            "AND d.objid = t.oid AND d.deptype = 'e') ORDER BY t.typname"
        )
    ).all()
    by_kind: dict[str, list[str]] = {}
    for kind, name in relations:
        by_kind.setdefault(kind, []).append(name)
    statements = [
        ("MATERIALIZED VIEW", by_kind.get("m", [])),
        ("VIEW", by_kind.get("v", [])),
        ("TABLE", by_kind.get("r", []) + by_kind.get("p", [])),
        ("SEQUENCE", by_kind.get("S", [])),
        ("TYPE", [name for kind, name in types if kind == "e"]),
        ("DOMAIN", [name for kind, name in types if kind == "d"]),
    ]
    dropped: list[str] = []
    for what, names in statements:
        if names:
            quoted = ", ".join(_quote(connection, n) for n in names)
            connection.exec_driver_sql(f"DROP {what} IF EXISTS {quoted} CASCADE")
            if what in ("VIEW", "MATERIALIZED VIEW", "TABLE"):
                dropped.extend(names)
    return dropped


def _drop_in_dependency_order(connection: sa.Connection, schema: str | None = None) -> list[str]:
    """Drop the views, then the tables, children before parents (MariaDB, SQLite, others)."""
    inspector = sa.inspect(connection)
    views = inspector.get_view_names(schema=schema)
    ordered = [t for t, _ in inspector.get_sorted_table_and_fkc_names(schema=schema) if t]
    prefix = f"{_quote(connection, schema)}." if schema else ""
    for view in views:
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {prefix}{_quote(connection, view)}")
    for table in reversed(ordered):
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}{_quote(connection, table)}")
    if connection.dialect.name in ("mysql", "mariadb"):
        with contextlib.suppress(NotImplementedError):
            for sequence in inspector.get_sequence_names(schema=schema):
                connection.exec_driver_sql(
                    f"DROP SEQUENCE IF EXISTS {prefix}{_quote(connection, sequence)}"
                )
    return [*views, *reversed(ordered)]


def drop_everything(database: Database) -> list[str]:
    """Drop every view and table of the default schema, ours included (and those in
    ``VERSIONING_VERSION_TABLE_SCHEMA``); MariaDB and SQLite switch foreign key checks off,
    since a cycle of foreign keys has no valid order."""
    engine = database.engine()
    settings = database.settings
    dialect = engine.dialect.name
    with translate_errors(database, "'reset'"), engine.connect() as connection:
        if dialect == "postgresql":
            with connection.begin():
                dropped = _drop_postgresql(connection)
        elif dialect in ("mysql", "mariadb"):
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            try:
                dropped = _drop_in_dependency_order(connection)
            finally:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
            connection.commit()
        elif dialect == "sqlite":
            before = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            connection.commit()  # the pragma is ignored inside a transaction
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            try:
                dropped = _drop_in_dependency_order(connection)
                connection.commit()
            finally:
                connection.exec_driver_sql(f"PRAGMA foreign_keys = {1 if before else 0}")
                connection.commit()
        else:
            dropped = _drop_in_dependency_order(connection)
            connection.commit()
        schema = settings.version_table_schema
        if schema:
            for name in (settings.version_table, settings.seed_table):
                table = sa.Table(name, sa.MetaData(), schema=schema)
                if sa.inspect(connection).has_table(name, schema=schema):
                    connection.execute(sa.schema.DropTable(table))
                    dropped.append(f"{schema}.{name}")
            connection.commit()
    return dropped


def reset(
    state: VersioningState,
    env: str | None,
    allow_protected: bool,
    confirm: Callable[[str], None] | None,
    progress: Callable[[AppliedRevision], None] | None,
    seed_progress: Callable[[SeedResult], None] | None,
    baseline: bool,
) -> ResetResult:
    """Drop everything in every database, upgrade to heads and seed, holding the locks.

    ``confirm`` (raises to stop) runs before the locks are taken: nobody should wait on a lock
    while a person reads a prompt.
    """
    run = run_for(state, env)
    databases = state.databases()
    action = "reset the database (drop every table)"
    check_allowed(state, action, databases, env=env, allow_protected=allow_protected)
    if confirm is not None:
        confirm(run.environment)
    dropped: dict[str, tuple[str, ...]] = {}
    migrations: list[MigrationResult] = []
    with contextlib.ExitStack() as stack:
        for database in databases:
            stack.enter_context(database_lock(database))
        for database in databases:
            dropped[database.name] = tuple(drop_everything(database))
        with recording(run):
            for database in databases:
                migrations.append(upgrade(database, "heads", progress=progress, baselines=baseline))
        seeds = run_pending(state, env=env, progress=seed_progress)
    return ResetResult(dropped, tuple(migrations), tuple(seeds))


def server_urls(url: sa.URL) -> list[sa.URL]:
    """Where to connect to run ``CREATE DATABASE``: the server's maintenance database, in
    the order to try (also the pytest plugin's, for its templates)."""
    if url.get_backend_name() == "postgresql":
        return [url.set(database="postgres"), url.set(database="template1")]
    return [without_database(url)]


def without_database(url: sa.URL) -> sa.URL:
    """``url`` naming the server only (MariaDB/MySQL connect to no database at all)."""
    return url._replace(database=None)  # ``URL.set(database=None)`` means "unchanged"


def _server_has_database(connection: sa.Connection, dialect: str, name: str) -> bool:
    if dialect == "postgresql":
        query = sa.text("SELECT 1 FROM pg_database WHERE datname = :n")
    else:
        query = sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n")
    return connection.execute(query.bindparams(n=name)).first() is not None


def _create_if_missing(database: Database, url: sa.URL, original: sa.exc.DBAPIError) -> bool:
    """After connecting failed: create the database if the server's catalog says it is missing
    (drivers give no error code on a failed connect, and messages follow the server's locale).
    Otherwise the original error is raised; losing a race to create it is fine."""
    dialect = url.get_backend_name()
    name = url.database or ""
    for server_url in server_urls(url):
        engine = sa.create_engine(server_url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        try:
            try:
                connection = engine.connect()
            except sa.exc.DBAPIError:
                continue
            with connection:
                if _server_has_database(connection, dialect, name):
                    break
                quoted = _quote(connection, name)
                try:
                    connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
                except sa.exc.DBAPIError as exc:
                    if _server_has_database(connection, dialect, name):
                        return False
                    detail = errors.scrub(errors.one_line(getattr(exc, "orig", None) or exc))
                    raise errors.DatabaseError(
                        f"the database {name!r} does not exist and could not be created at "
                        f"{errors.mask_url(database.url)}: {detail}; create it yourself or "
                        "give the user the right to create databases"
                    ) from exc
                return True
        finally:
            engine.dispose()
    reraise(database, original, "'prepare'")


def ensure_database(database: Database) -> bool:
    """Create the database if missing and the backend can (SQLite: its directory, then the
    file on connecting; PostgreSQL, MariaDB/MySQL: ``CREATE DATABASE``); ``True`` if created."""
    url = database.url
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        path = sqlite_path(url)
        if path is None:
            return False
        existed = Path(path).exists()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with translate_errors(database, "'prepare'"), database.engine().connect():
            pass
        return not existed
    try:
        with database.engine().connect():
            return False
    except sa.exc.DBAPIError as exc:
        if dialect not in ("postgresql", "mysql", "mariadb") or not url.database:
            reraise(database, exc, "'prepare'")
        return _create_if_missing(database, url, exc)


def prepare(
    state: VersioningState,
    env: str | None,
    progress: Callable[[AppliedRevision], None] | None,
    seed_progress: Callable[[SeedResult], None] | None,
    baseline: bool,
) -> PrepareResult:
    """Create missing databases, upgrade them to heads and seed; idempotent: the upgrades and
    seeds read under the migration locks, so containers running it at once work once."""
    databases = state.databases()
    created = tuple(d.name for d in databases if ensure_database(d))
    with recording(run_for(state, env)):
        migrations = tuple(
            upgrade(d, "heads", progress=progress, baselines=baseline) for d in databases
        )
    seeds = run_pending(state, env=env, progress=seed_progress)
    return PrepareResult(created, migrations, tuple(seeds))
