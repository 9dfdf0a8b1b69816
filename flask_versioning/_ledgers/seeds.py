"""The seed ledger: which seed ran in this database, for which environment, when, and which
tables it wrote.

``name`` is the primary key: a seed's data is in a database once, whatever environment put it
there, and of two processes recording the same seed the loser's transaction rolls back. A
seed's record must never outlive its rows, so every downgrade step runs :class:`ForgetDropped`
in its own transaction: seeds that wrote a table which no longer exists are forgotten, and run
again with the next seeds run.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import socket
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._settings import Settings
from . import ensure, ensure_table, has_table

if TYPE_CHECKING:
    from alembic.migration import MigrationContext, MigrationInfo

    from .._alembic.database import Database


logger = logging.getLogger("flask_versioning")

#: ``(schema, table)``: a table a seed wrote, schema ``None`` for the connection's default.
TableName = tuple[str | None, str]

#: The tables a seed wrote, as a JSON list of ``[schema, table]``. Added to a ledger of an
#: earlier release when seeds next run; rows without it are never forgotten.
WRITTEN = "written_tables"

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
        sa.Column(WRITTEN, sa.Text(), nullable=True),
        schema=settings.version_table_schema,
    )


def _has_written_column(connection: sa.Connection, table: sa.Table) -> bool:
    columns = sa.inspect(connection).get_columns(table.name, schema=table.schema)
    return any(c["name"].lower() == WRITTEN for c in columns)


def ensure_ledger(engine: sa.Engine, table: sa.Table) -> None:
    """Create the ledger, or add the tables column to one an earlier release made; under the
    migration lock, before any seed's transaction (MariaDB commits the ``ALTER`` anyway)."""
    ensure_table(engine, table)

    def add_column(connection: sa.Connection) -> None:
        preparer, column = connection.dialect.identifier_preparer, table.c[WRITTEN]
        connection.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN "
            f"{preparer.format_column(column)} {column.type.compile(connection.dialect)}"
        )

    ensure(engine, lambda c: _has_written_column(c, table), add_column)


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
        # Stored naive because MariaDB's DATETIME has no zone; it is always UTC.
        return {
            row.name: LedgerEntry(
                row.environment, row.applied_at.replace(tzinfo=datetime.UTC), row.runs
            )
            for row in rows
        }


def record(
    connection: sa.Connection,
    table: sa.Table,
    name: str,
    environment: str,
    duration: float,
    previous: LedgerEntry | None,
    tables: Collection[TableName],
) -> None:
    """Record that seed ``name`` ran, in the seed's transaction. ``tables`` (what it wrote)
    adds to what earlier runs wrote: their rows are there too."""
    written = set(tables)
    where = table.c.name == name
    if previous is not None:
        written |= _parse(connection.execute(sa.select(table.c[WRITTEN]).where(where)).scalar())
    values = {
        "environment": environment[:64],
        "applied_at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
        "duration": duration,
        "host": socket.gethostname()[:255] or None,
        WRITTEN: json.dumps(sorted(written, key=lambda t: (t[0] or "", t[1]))),
    }
    if previous is None:
        connection.execute(sa.insert(table).values(name=name, runs=1, **values))
    else:
        connection.execute(sa.update(table).where(where).values(runs=table.c.runs + 1, **values))


def _parse(text: Any) -> set[TableName]:
    """The tables of a ledger row; nothing for a row from before the column, or unreadable."""
    try:
        items = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        return set()
    return {
        (item[0], item[1])
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, list)
        and len(item) == 2
        and isinstance(item[1], str)
        and (item[0] is None or isinstance(item[0], str))
    }


def forget_dropped(connection: sa.Connection, table: sa.Table) -> list[str]:
    """Delete, in ``connection``'s transaction, the rows of seeds that wrote a table which no
    longer exists; returns their names. One missing table is enough: the record must not
    outlive any of the seed's rows, and the next run writes the table again."""
    inspector = sa.inspect(connection)
    if not has_table(connection, table) or not _has_written_column(connection, table):
        return []
    rows = connection.execute(
        sa.select(table.c.name, table.c[WRITTEN]).where(table.c[WRITTEN].is_not(None))
    )
    exists: dict[TableName, bool] = {}
    gone: list[str] = []
    for name, text in rows.all():
        for key in sorted(_parse(text), key=lambda t: (t[0] or "", t[1])):
            if key not in exists:
                exists[key] = inspector.has_table(key[1], schema=key[0])
            if not exists[key]:
                gone.append(name)
                break
    if gone:
        connection.execute(sa.delete(table).where(table.c.name.in_(gone)))
        logger.info(
            "seed ledger: forgot %s, whose tables a downgrade dropped; the next seeds run "
            "runs them again",
            ", ".join(sorted(gone)),
        )
    return gone


class ForgetDropped:
    """``on_version_apply``: after a downgrade step, :func:`forget_dropped` in its transaction."""

    #: Its deletes ride in the step's transaction, whose commit the history writer decides.
    defer_flush = False
    ends_step = False

    def __init__(self, database: Database) -> None:
        self.table = ledger_table(database.settings)

    def begin(self) -> None:
        pass

    def ends_steps_on(self, connection: sa.Connection) -> bool:
        return False

    def __call__(self, ctx: MigrationContext, step: MigrationInfo, **kw: Any) -> None:
        if not (step.is_upgrade or step.is_stamp):
            assert ctx.connection is not None
            forget_dropped(ctx.connection, self.table)
