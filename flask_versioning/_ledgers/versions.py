"""Alembic's version table, read with plain SQL.

Alembic's ``MigrationContext`` would cost the start-up check and ``current`` heavy imports for
one ``SELECT``. The table's shape is documented (one ``version_num`` column), so reading it
directly is safe; writing it stays Alembic's job.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from .._alembic.database import Database
from .._alembic.errors import database_errors

logger = logging.getLogger("flask_versioning")

#: PostgreSQL's SQLSTATE for a table that does not exist (``undefined_table``).
_PG_UNDEFINED_TABLE = "42P01"


def read_rows(connection: sa.Connection, database: Database) -> list[str]:
    """The version table's rows of ``database``, read on ``connection``: one connection can
    read the tables of many databases kept in schemas of one server (a fleet of tenants).
    Raises :class:`sqlalchemy.exc.DBAPIError` when the table cannot be read."""
    # Plain SQL with the dialect's quoting: building a Table and compiling a select would
    # cost more than the query itself on the start-up path.
    s = database.settings
    quote = connection.dialect.identifier_preparer
    table = quote.quote(s.version_table)
    if s.version_table_schema:
        table = f"{quote.quote_schema(s.version_table_schema)}.{table}"
    result = connection.exec_driver_sql(f"SELECT version_num FROM {table}")
    return [str(row[0]) for row in result]


def version_rows(database: Database) -> list[str] | None:
    """The version table's rows; ``None`` if it cannot be read (no table yet, server down),
    which sends start-up to the locked path, where the real answer or error comes."""
    try:
        with database.engine().connect() as connection:
            return read_rows(connection, database)
    except sa.exc.DBAPIError as exc:
        logger.debug("cannot read the version table of the %s database: %s", database.name, exc)
        return None


def current(database: Database) -> list[str]:
    """The revision ids in the version table (empty at base). When the ``SELECT`` fails, a
    catalog query tells "no version table yet" (base) from "cannot be read", unless
    PostgreSQL's error already said the table does not exist (a new database)."""
    s = database.settings
    with database_errors(database), database.engine().connect() as connection:
        try:
            return read_rows(connection, database)
        except sa.exc.DBAPIError as exc:
            connection.rollback()
            if getattr(exc.orig, "sqlstate", None) == _PG_UNDEFINED_TABLE:
                return []
            if not sa.inspect(connection).has_table(s.version_table, schema=s.version_table_schema):
                return []
            raise
