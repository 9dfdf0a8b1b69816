"""The tables a database keeps about itself: Alembic's version table (read here without
Alembic), and our own ledgers, created race-safely and hidden from autogenerate."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ensure_table", "has_table"]


def has_table(connection: sa.Connection, table: sa.Table) -> bool:
    return sa.inspect(connection).has_table(table.name, schema=table.schema)


def ensure_table(engine: sa.Engine, table: sa.Table) -> None:
    """Create ``table`` if it is missing, safely without the lock too: when two processes
    both create it, PostgreSQL can fail the loser even with ``IF NOT EXISTS``, so a failed
    create that leaves the table in place counts as success."""
    with engine.connect() as connection:
        if has_table(connection, table):
            return
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
    except sa.exc.DBAPIError:
        with engine.connect() as connection:
            if not has_table(connection, table):
                raise
