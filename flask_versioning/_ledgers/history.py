"""The applied-history ledger: what was applied to this database, when, from where, from what.

Alembic's version table only says where a database stands. Every path runs our ``env.py``,
which hands ``on_version_apply`` a :class:`StepWriter`: one row per step, in the step's own
transaction. The rows also record the environment and whether it is protected, so protection
follows the database, not the shell that points at it (like Rails' ``ar_internal_metadata``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import functools
import getpass
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._alembic.revision_files import checksum
from .._errors import HistoryWriteError, one_line, scrub
from .._settings import Settings
from . import has_table

if TYPE_CHECKING:
    from alembic.migration import MigrationContext, MigrationInfo
    from alembic.script import ScriptDirectory

    from .._alembic.database import Database


#: ``direction`` of the rows written for revisions applied before the ledger existed.
BEFORE_HISTORY = "before-history"
#: ``direction`` values of rows that are events, not steps.
PROTECT, UNPROTECT, CHECKSUM = "protect", "unprotect", "checksum"


@dataclasses.dataclass(frozen=True)
class Run:
    """Who is migrating, recorded with every row: ``declared`` if the environment was named
    (``VERSIONING_ENV``, ``--env``), not guessed; ``protect`` if its rows protect the database."""

    environment: str
    declared: bool = False
    protect: bool = False


_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "flask_versioning_run", default=None
)


@contextlib.contextmanager
def recording(run: Run) -> Iterator[None]:
    """Record the steps made inside the block as made by ``run``."""
    token = _run.set(run)
    try:
        yield
    finally:
        _run.reset(token)


def active_run() -> Run | None:
    """The run set by :func:`recording` around the current work, if any."""
    return _run.get()


def current_run(settings: Settings) -> Run:
    """The run set by :func:`recording`, else one described from the app's configuration
    (a tool that calls ``alembic.command`` directly)."""
    run = _run.get()
    if run is not None:
        return run
    from flask import current_app

    if settings.env:
        env = str(settings.env)
        return Run(env, declared=True, protect=env in settings.protected_envs)
    if current_app.testing:
        return Run("testing")
    return Run("development" if current_app.debug else "production")


def history_table(settings: Settings) -> sa.Table:
    """The ledger's table; ``id`` orders the rows (clocks of two hosts may disagree)."""
    return sa.Table(
        settings.history_table,
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(255), nullable=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(53), nullable=False),
        sa.Column("environment", sa.String(64), nullable=True),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("os_user", sa.String(255), nullable=True),
        sa.Column("tool_version", sa.String(32), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        schema=settings.version_table_schema,
    )


def _utc(timestamp: float | None = None) -> datetime.datetime:
    """Now, or ``timestamp``, stored naive because MariaDB's DATETIME has no zone (always UTC)."""
    return datetime.datetime.fromtimestamp(
        time.time() if timestamp is None else timestamp, datetime.UTC
    ).replace(tzinfo=None)


@functools.cache
def _origin() -> dict[str, Any]:
    """Where this process runs and with what: the same for every row it writes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        user: str | None = getpass.getuser()
    except Exception:  # no user name in a minimal container
        user = None
    try:
        tool_version: str | None = version("Flask-Versioning")[:32]
    except PackageNotFoundError:
        tool_version = None
    return {
        "host": socket.gethostname()[:255] or None,
        "os_user": user[:255] if user else None,
        "tool_version": tool_version,
    }


def _row(run: Run, direction: str, revision: str | None, **values: Any) -> dict[str, Any]:
    now = _utc()
    row: dict[str, Any] = {
        "revision": revision,
        "direction": direction,
        "started_at": now,
        "finished_at": now,
        "duration_ms": 0.0,
        "environment": run.environment[:64],
        "declared": run.declared,
        "protected": run.protect,
        "checksum": None,
        "pid": os.getpid(),  # not cached: a forked worker is another process
    }
    row.update(_origin())
    row.update(values)
    return row


class StepWriter:
    """Adds a row per step to the ledger, in the step's transaction (``on_version_apply``).

    A step and its record commit together or not at all: a row that cannot be written raises
    :class:`~flask_versioning.HistoryWriteError`, which rolls the step back and names the grant
    to make. No savepoint guards the INSERT: a broken ledger must stop the migration. The table
    is made in the first step's transaction, so commands that apply nothing never create it.
    Where the row ends the step's transaction (:attr:`ends_step`), it goes with the ``COMMIT``
    and the next ``BEGIN`` in one round trip (:meth:`_closing`).
    """

    def __init__(self, database: Database, script: ScriptDirectory | None) -> None:
        self.database = database
        self.script = script
        self.table = history_table(database.settings)
        self.run = current_run(database.settings)
        self._insert = self.table.insert()
        self._insert_sql: str | None = None
        self._client_cursor: Any = None
        self._ready = False
        #: Set by the environment (see :class:`~._alembic.database.StepListener`).
        self.defer_flush = False
        self.ends_step = False
        self._last = time.time()

    def begin(self) -> None:
        self._last = time.time()

    def __call__(self, ctx: MigrationContext, step: MigrationInfo, **kw: Any) -> None:
        finished = time.time()
        started, self._last = self._last, finished
        direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        # A stamp records where it left the database; a step, the revision it applied or
        # reverted (and that file's checksum).
        revisions = kw.get("heads", ()) if step.is_stamp else step.up_revision_ids
        script: Any = None if step.is_stamp else step.up_revision
        row = _row(
            self.run,
            direction,
            ", ".join(sorted(r for r in revisions if r)) or "base",
            started_at=_utc(started),
            finished_at=_utc(finished),
            duration_ms=(finished - started) * 1000,
            checksum=checksum(script.path) if script is not None and script.path else None,
        )
        connection = ctx.connection
        assert connection is not None
        closing: str | None = None
        try:
            if not self._ready:
                if not has_table(connection, self.table):
                    self.table.create(connection, checkfirst=False)
                    self._before_history(connection, step)
                self._ready = True
            if self.ends_step:
                closing = self._closing(connection, row)
                connection.exec_driver_sql(closing, execution_options={"no_parameters": True})
            elif self.defer_flush:
                connection.execute(self._relaxed_insert, row)
            else:
                connection.execute(self._insert, row)
        except sa.exc.DBAPIError as exc:
            if closing is not None and not _failed_in_transaction(connection):
                # The row went in and the COMMIT failed (a deferred constraint of the step,
                # a lost connection): the step's own failure, rolled back by the server. No
                # transaction is open for Alembic to roll back; it rolls back nothing.
                raise
            raise _refused(self.table, connection, row["revision"], exc) from exc

    def ends_steps_on(self, connection: sa.Connection) -> bool:
        """Whether this run's rows can end their steps' transactions (:meth:`_closing`).

        Only psycopg 3: ``ClientCursor.mogrify`` quotes as the server expects, a query without
        parameters may hold several statements, and it asks the server whether a transaction
        is open before its own ``BEGIN``/``COMMIT``. Not in autocommit (a failed INSERT would
        leave no failed transaction to tell it by), nor with the app's transaction
        characteristics (isolation level, read only), which our ``BEGIN`` would not repeat.
        """
        if connection.dialect.driver != "psycopg":
            return False
        import psycopg

        dbapi_connection = connection.connection.dbapi_connection
        return (
            isinstance(dbapi_connection, psycopg.Connection)
            and not dbapi_connection.autocommit
            and dbapi_connection.isolation_level is None
            and dbapi_connection.read_only is None
            and dbapi_connection.deferrable is None
        )

    def _closing(self, connection: sa.Connection, row: dict[str, Any]) -> str:
        """The row's INSERT, the step's ``COMMIT`` and the next step's ``BEGIN``: one round trip
        where there were three. A failed INSERT stops the string there, leaving the step to be
        rolled back; ``SET LOCAL`` makes the commit not wait for the disk (as
        :attr:`_relaxed_insert`). After the last step, Alembic commits the empty transaction.
        """
        import psycopg

        dbapi_connection = connection.connection.dbapi_connection
        assert isinstance(dbapi_connection, psycopg.Connection)  # see ends_steps_on()
        if self._client_cursor is None or self._client_cursor.connection is not dbapi_connection:
            self._client_cursor = psycopg.ClientCursor(dbapi_connection)
        insert = self._client_cursor.mogrify(self._insert_text(connection), row)
        return f"SET LOCAL synchronous_commit = off; {insert}; COMMIT; BEGIN"

    def _insert_text(self, connection: sa.Connection) -> str:
        """The row's INSERT with psycopg's named placeholders, in the schema the connection
        translates the ledger's to (a tenant's); worked out once per run."""
        if self._insert_sql is None:
            quote = connection.dialect.identifier_preparer
            translate = connection.get_execution_options().get("schema_translate_map") or {}
            schema = translate.get(self.table.schema, self.table.schema)
            name = quote.quote(self.table.name)
            if schema:
                name = f"{quote.quote_schema(schema)}.{name}"
            columns = [c.name for c in self.table.c if c.name != "id"]
            self._insert_sql = (
                f"INSERT INTO {name} ({', '.join(quote.quote(c) for c in columns)}) "
                f"VALUES ({', '.join(f'%({c})s' for c in columns)})"
            )
        return self._insert_sql

    @functools.cached_property
    def _relaxed_insert(self) -> sa.Insert:
        """The row's INSERT that also makes its transaction commit without waiting for the
        disk (PostgreSQL's ``SET LOCAL synchronous_commit = off``), in the same round trip; the
        environment flushes once at the end of the run
        (``deferred_flush`` in :mod:`~._alembic.environment`)."""
        relaxed = sa.select(
            sa.func.set_config("synchronous_commit", "off", True).label("setting")
        ).cte("relaxed")
        columns = [column for column in self.table.c if column.name != "id"]
        values = [sa.cast(sa.bindparam(c.name), c.type).label(c.name) for c in columns]
        return self.table.insert().from_select(
            [c.name for c in columns], sa.select(*values).select_from(relaxed)
        )

    def _before_history(self, connection: sa.Connection, step: MigrationInfo) -> None:
        """A new ledger on a database that had revisions: mark those as before history."""
        heads = [h for h in step.source_revision_ids if h]
        if self.script is None or not heads:
            return
        rows = [
            _row(self.run, BEFORE_HISTORY, rev.revision, checksum=checksum(rev.path))
            for rev in reversed(list(self.script.iterate_revisions(tuple(heads), "base")))
            if rev is not None and rev.path
        ]
        if rows:
            connection.execute(self._insert, rows)


def _failed_in_transaction(connection: sa.Connection) -> bool:
    """Whether the server holds a failed transaction open: a statement before the ``COMMIT``
    failed, rather than the ``COMMIT`` itself (which ends the transaction either way)."""
    info = getattr(connection.connection.dbapi_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    return status is not None and status.name == "INERROR"


_DENIED = re.compile(r"permission denied|command denied|access denied", re.IGNORECASE)
_PG_OBJECT = re.compile(r"permission denied for (sequence|schema) (\S+)", re.IGNORECASE)
_MYSQL_DENIED = re.compile(r"(\w+) command denied to user ('[^']*'@'[^']*')", re.IGNORECASE)


def _refused(
    table: sa.Table, connection: sa.Connection, revision: str, exc: sa.exc.DBAPIError
) -> HistoryWriteError:
    """The one line for a ledger row the database refused: the grant to make, or the fix."""
    detail = scrub(one_line(exc.orig if exc.orig is not None else exc, 160))
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    off = "or set VERSIONING_HISTORY = False to keep no ledger"
    if _DENIED.search(detail):
        grantee = connection.engine.url.username or "<role>"
        grant = f"GRANT INSERT ON {name} TO {grantee}"
        if found := _PG_OBJECT.search(detail):
            kind, what = found.group(1).lower(), found.group(2)
            privilege = "USAGE" if kind == "sequence" else "CREATE"  # nextval(); the table
            grant = f"GRANT {privilege} ON {kind.upper()} {what} TO {grantee}"
        elif found := _MYSQL_DENIED.search(detail):
            grant = f"GRANT {found.group(1).upper()} ON {name} TO {found.group(2)}"
        fix = f"run {grant}, {off}"
    else:
        fix = f"give the table back the columns it was made with, {off}"
    return HistoryWriteError(
        f"revision {revision} cannot be recorded in the history ledger {name} ({detail}): {fix}",
        revision,
    )


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of the ledger."""

    id: int
    revision: str | None
    direction: str
    started_at: datetime.datetime
    finished_at: datetime.datetime
    duration_ms: float
    environment: str | None
    declared: bool
    protected: bool
    host: str | None
    pid: int | None
    os_user: str | None
    tool_version: str | None
    checksum: str | None


def read_history(bind: sa.Engine | sa.Connection, settings: Settings) -> list[Entry] | None:
    """Every row, oldest first; ``None`` when the database has no ledger. Raises
    :class:`sqlalchemy.exc.DBAPIError` when the table cannot be read as ours (edited by hand)."""
    table = history_table(settings)
    opened = bind.connect() if isinstance(bind, sa.Engine) else contextlib.nullcontext(bind)
    with opened as connection:
        if not has_table(connection, table):
            return None
        rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings()
        return [
            Entry(**{**row, "declared": bool(row["declared"]), "protected": bool(row["protected"])})
            for row in rows
        ]


def protection(entries: Sequence[Entry]) -> Entry | None:
    """The row that marks the database protected, or ``None``: the newest row that protects
    or lifts protection (``unprotect``) decides."""
    for entry in reversed(entries):
        if entry.direction == UNPROTECT:
            return None
        if entry.protected:
            return entry
    return None


def write_marker(
    database: Database,
    run: Run,
    direction: str,
    revision: str | None = None,
    digest: str | None = None,
) -> None:
    """Add an event row (``protect``, ``unprotect``, ``checksum``) in its own transaction,
    unless the app keeps no ledger (``VERSIONING_HISTORY = False``)."""
    if database.settings.keeps_history:
        _write_alone(database, _row(run, direction, revision, checksum=digest))


def write_event(
    database: Database,
    direction: str,
    revision: str | None,
    *,
    started_at: datetime.datetime,
    duration_ms: float,
) -> None:
    """Add a row for work done outside a step's transaction (a batched ``backfill``), timed
    by the caller."""
    run = current_run(database.settings)
    values = {"started_at": started_at, "finished_at": _utc(), "duration_ms": duration_ms}
    _write_alone(database, _row(run, direction, revision, **values))


def _write_alone(database: Database, row: dict[str, Any]) -> None:
    from . import ensure_table

    table = history_table(database.settings)
    ensure_table(database.engine(), table)
    with database.engine().begin() as connection:
        connection.execute(sa.insert(table).values(row))
