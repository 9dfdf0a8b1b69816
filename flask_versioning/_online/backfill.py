"""Batched backfills: update a large table in key-ordered batches, each committed on its own.

One ``UPDATE`` of a million rows holds its row locks until it ends, and the app's writes to
them wait all that time. Here every batch is a short transaction of its own, after the step's
DDL committed, recording how far it got: an interrupted backfill resumes after its last
committed batch when the migration runs again (so it goes in a revision without DDL).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._errors import ConfigurationError, DDLTimeout
from .._ledgers import ensure_table
from .._ledgers.history import write_event
from .._settings import BACKFILL_TABLE
from . import blockers, session
from .policy import Policy

if TYPE_CHECKING:
    from .._alembic.database import Database

log = logging.getLogger("flask_versioning")


def backfills_table(schema: str | None) -> sa.Table:
    return sa.Table(
        BACKFILL_TABLE,
        sa.MetaData(),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("revision", sa.String(255), nullable=True),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("last_key", sa.String(255), nullable=True),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(53), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        schema=schema,
    )


def backfill(
    table: str,
    values: str,
    *,
    key: str = "id",
    where: str | None = None,
    batch_size: int = 1000,
    sleep: float = 0.0,
    name: str | None = None,
) -> int:
    """Run ``UPDATE <table> SET <values>`` in batches of ``batch_size`` rows ordered by ``key``.

    Call it inside a revision's ``upgrade()``, in a revision of its own::

        from flask_versioning.online import backfill

        def upgrade():
            backfill("accounts", "plan = 'free'", where="plan IS NULL", batch_size=5000)

    ``key`` must be unique and ordered (the primary key); ``where`` narrows the rows; ``sleep``
    seconds pass between batches, to leave the server room. Returns the rows updated by this
    run. Progress shows as a bar on a terminal and as log lines (``flask_versioning`` logger,
    INFO) otherwise; each batch that waits too long for a row lock is retried as a migration
    step is (``VERSIONING_DDL_*``). The finished backfill gets a ``backfill`` row in the history
    ledger, and ``flask db status`` shows one in progress.
    """
    from alembic import op

    if batch_size < 1 or sleep < 0:
        raise ConfigurationError(
            f"backfill({table!r}): batch_size must be at least 1 and sleep not negative"
        )
    context = op.get_context()
    database = _database(context)
    revision = _revision(context, sys._getframe(1).f_globals)
    label = name or f"{revision}:{table}"
    engine = op.get_bind().engine
    progress_table = backfills_table(database.settings.version_table_schema)
    with context.autocommit_block():  # the step's DDL commits first: batches never wait on it
        ensure_table(engine, progress_table)
        runner = _Backfill(engine, database, progress_table, label, revision, table, values)
        return runner.run(key, where, batch_size, sleep)


@dataclasses.dataclass
class _Backfill:
    engine: sa.Engine
    database: Database
    progress: sa.Table
    label: str
    revision: str | None
    table: str
    values: str

    @property
    def policy(self) -> Policy:
        return Policy.from_settings(self.database.settings)

    def run(self, key: str, where: str | None, batch_size: int, sleep: float) -> int:
        with self.engine.connect() as connection:
            online = session.start(connection, self.policy)
            try:
                return self._batches(connection, key, where, batch_size, sleep)
            finally:
                if online is not None:
                    session.finish(connection, online)

    def _batches(
        self, connection: sa.Connection, key: str, where: str | None, size: int, pause: float
    ) -> int:
        q = connection.dialect.identifier_preparer.quote
        table, column = q(self.table), q(key)
        extra = f" AND ({where})" if where else ""
        state = self._load(connection)
        last = _key_value(state)
        after = f"{column} > :last" if last is not None else "1 = 1"
        total = connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {after}{extra}"), {"last": last}
        ).scalar_one()
        connection.commit()
        done = 0
        bar = _Progress(self.table, int(total))
        started = time.perf_counter()
        while True:  # bounded: every batch moves ``last`` strictly forward, and the table ends
            batch_started = time.perf_counter()
            upto_sql = sa.text(
                f"SELECT max(k) FROM (SELECT {column} AS k FROM {table} WHERE {after} "
                f"ORDER BY {column} LIMIT {int(size)}) AS batch"
            )
            upto = connection.execute(upto_sql, {"last": last}).scalar()
            connection.commit()
            if upto is None:
                break
            if last is not None and not upto > last:
                raise ConfigurationError(
                    f"backfill({self.table!r}): key {key!r} is not unique and ordered"
                )
            update = sa.text(
                f"UPDATE {table} SET {self.values} WHERE {after} AND {column} <= :upto{extra}"
            )
            count = self._batch(connection, update, last, upto)
            done += count
            last = upto
            after = f"{column} > :last"
            self._save(connection, state, last, count, time.perf_counter() - batch_started)
            state = self._load(connection)
            connection.commit()
            bar.advance(count, last)
            if pause:
                time.sleep(pause)
        self._finish(connection, state, time.perf_counter() - started)
        bar.close()
        return done

    def _batch(self, connection: sa.Connection, update: sa.TextClause, last: Any, upto: Any) -> int:
        """One batch and its progress row in one transaction, retried on a lock timeout."""
        policy = self.policy
        attempt = 0
        while True:
            try:
                return int(connection.execute(update, {"last": last, "upto": upto}).rowcount)
            except sa.exc.DBAPIError as exc:
                connection.rollback()
                if not blockers.is_lock_timeout(exc):
                    raise
                if attempt >= policy.retries:
                    found = blockers.likely(self.engine, blockers.backend_pid(connection))
                    raise DDLTimeout(
                        f"backfill of {self.table} stopped after its last committed batch (up "
                        f"to {last}): a row lock was not granted in {attempt + 1} attempts, "
                        f"{blockers.describe(found, likely=True)}; run the migration again "
                        "to resume",
                        kind="lock",
                        blockers=found,
                    ) from exc
            time.sleep(policy.sleep_after(attempt))
            attempt += 1

    def _load(self, connection: sa.Connection) -> dict[str, Any] | None:
        row = connection.execute(
            sa.select(self.progress).where(self.progress.c.name == self.label)
        ).first()
        return dict(row._mapping) if row is not None else None

    def _save(
        self,
        connection: sa.Connection,
        state: dict[str, Any] | None,
        last: Any,
        count: int,
        seconds: float,
    ) -> None:
        now = _now()
        kind = "int:" if isinstance(last, int) else "str:"
        both = {"last_key": kind + str(last), "updated_at": now}
        c = self.progress.c
        statement: sa.Executable
        if state is None:
            statement = sa.insert(self.progress).values(
                name=self.label,
                revision=self.revision,
                table_name=self.table,
                rows_done=count,
                batches=1,
                seconds=seconds,
                started_at=now,
                finished_at=None,
                **both,
            )
        else:
            statement = (
                sa.update(self.progress)
                .where(c.name == self.label)
                .values(
                    rows_done=c.rows_done + count,
                    batches=c.batches + 1,
                    seconds=c.seconds + seconds,
                    **both,
                )
            )
        connection.execute(statement)
        connection.commit()

    def _finish(
        self, connection: sa.Connection, state: dict[str, Any] | None, spent: float
    ) -> None:
        """Mark the backfill done and add its row to the history ledger."""
        now = _now()
        if state is None:  # nothing to update at all
            self._save(connection, None, None, 0, spent)
            state = self._load(connection)
        assert state is not None
        connection.execute(
            sa.update(self.progress)
            .where(self.progress.c.name == self.label)
            .values(finished_at=now, updated_at=now)
        )
        connection.commit()
        write_event(
            self.database,
            "backfill",
            self.revision,
            started_at=state["started_at"],
            duration_ms=float(state["seconds"]) * 1000,
        )
        log.info(
            "backfill %s: %d rows in %d batches, %.1f s",
            self.table,
            int(state["rows_done"]),
            int(state["batches"]),
            float(state["seconds"]),
        )


def backfills_in_progress(database: Database) -> list[str]:
    """One line per backfill that started and has not finished, for ``flask db status``."""
    table = backfills_table(database.settings.version_table_schema)
    try:
        with database.engine().connect() as connection:
            if not sa.inspect(connection).has_table(table.name, schema=table.schema):
                return []
            rows = connection.execute(sa.select(table).where(table.c.finished_at.is_(None)))
            found = [dict(r._mapping) for r in rows]
    except sa.exc.SQLAlchemyError:
        return []  # status reports an unreadable database on its own
    return [
        f"backfill {row['name']} in progress: {row['rows_done']} rows done in "
        f"{row['batches']} batches, up to key {_key_value(row)}, last batch at "
        f"{row['updated_at']:%Y-%m-%d %H:%M:%S} UTC; 'flask db upgrade' resumes it"
        for row in found
    ]


def _key_value(state: dict[str, Any] | None) -> Any:
    if state is None or state["last_key"] is None:
        return None
    kind, _, text = str(state["last_key"]).partition(":")
    return int(text) if kind == "int" else text


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _database(context: Any) -> Database:
    from .._alembic.environment import DATABASE_KEY

    config = getattr(context, "config", None)
    database = config.attributes.get(DATABASE_KEY) if config is not None else None
    if database is None:
        from flask import current_app

        database = current_app.extensions["versioning"].database(None)
    return database  # type: ignore[no-any-return]


def _revision(context: Any, caller: dict[str, Any]) -> str | None:
    """The revision calling: its file's ``revision`` (the version table still holds the one
    before it while the step runs)."""
    own = caller.get("revision")
    if isinstance(own, str):
        return own
    heads = context.get_current_heads()
    return heads[0] if len(heads) == 1 else None


class _Progress:
    """A bar on a terminal, else a log line at most every few seconds."""

    def __init__(self, table: str, total: int) -> None:
        self.table, self.total, self.done = table, total, 0
        self.tty = sys.stderr.isatty()
        self._logged = time.monotonic()

    def advance(self, count: int, last: Any) -> None:
        self.done += count
        if self.tty:
            filled = int(30 * min(1.0, self.done / self.total)) if self.total else 30
            sys.stderr.write(
                f"\rbackfill {self.table} [{'#' * filled}{'.' * (30 - filled)}] "
                f"{self.done}/{self.total} rows"
            )
            sys.stderr.flush()
        elif time.monotonic() - self._logged >= 2.0:
            self._logged = time.monotonic()
            log.info(
                "backfill %s: %d of %d rows (up to key %s)", self.table, self.done, self.total, last
            )

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
