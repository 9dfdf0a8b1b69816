"""The tables a database keeps about itself: Alembic's version table (read here without
Alembic), and our own ledgers, created race-safely and hidden from autogenerate."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa


def has_table(connection: sa.Connection, table: sa.Table) -> bool:
    return sa.inspect(connection).has_table(table.name, schema=table.schema)


def ensure(
    engine: sa.Engine,
    present: Callable[[sa.Connection], bool],
    create: Callable[[sa.Connection], object],
) -> None:
    """``create`` unless ``present``, safe without the lock: when two processes both create,
    PostgreSQL can fail the loser even with ``IF NOT EXISTS``, so a failure that leaves the
    thing in place counts as success."""
    with engine.connect() as connection:
        if present(connection):
            return
    try:
        with engine.begin() as connection:
            create(connection)
    except sa.exc.DBAPIError:
        with engine.connect() as connection:
            if not present(connection):
                raise


def ensure_table(engine: sa.Engine, table: sa.Table) -> None:
    ensure(engine, lambda c: has_table(c, table), lambda c: table.create(c, checkfirst=True))
