"""The seed ledger: which seed ran in this database, for which environment, when.

``name`` is the primary key: a seed's data is in a database once, whatever environment put it
there, and of two processes recording the same seed the loser's transaction rolls back.
"""

from __future__ import annotations

import dataclasses
import datetime
import socket

import sqlalchemy as sa

from .._settings import Settings
from . import has_table

__all__ = ["MAX_NAME", "LedgerEntry", "ledger_table", "read_ledger", "record"]

#: The longest seed name the ledger stores.
MAX_NAME = 200


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    environment: str
    applied_at: datetime.datetime
    runs: int


def ledger_table(settings: Settings) -> sa.Table:
    return sa.Table(
        settings.seed_table,
        sa.MetaData(),
        sa.Column("name", sa.String(MAX_NAME), primary_key=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("duration", sa.Float(53), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        schema=settings.version_table_schema,
    )


def read_ledger(
    engine: sa.Engine, table: sa.Table, *, check_exists: bool = True
) -> dict[str, LedgerEntry]:
    """The ledger's rows by seed name; empty when the table does not exist yet.
    ``check_exists=False`` skips that catalog query, for callers that treat any failure alike."""
    with engine.connect() as connection:
        if check_exists and not has_table(connection, table):
            return {}
        rows = connection.execute(
            sa.select(table.c.name, table.c.environment, table.c.applied_at, table.c.runs)
        )
        return {
            row.name: LedgerEntry(row.environment, _as_utc(row.applied_at), row.runs)
            for row in rows
        }


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    # Stored naive because MariaDB's DATETIME has no zone; it is always UTC.
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def record(
    connection: sa.Connection,
    table: sa.Table,
    name: str,
    environment: str,
    duration: float,
    previous: LedgerEntry | None,
) -> None:
    values = {
        "environment": environment[:64],
        "applied_at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
        "duration": duration,
        "host": socket.gethostname()[:255] or None,
    }
    if previous is None:
        connection.execute(sa.insert(table).values(name=name, runs=1, **values))
    else:
        connection.execute(
            sa.update(table).where(table.c.name == name).values(runs=table.c.runs + 1, **values)
        )
