"""Recognising a timeout, and naming the session that held the lock.

PostgreSQL says exactly who blocks a waiting backend (``pg_blocking_pids``), but only while it
waits: once the lock timeout fires the wait is gone. So during the last attempt a
:class:`Watch` asks every few milliseconds from a connection of its own, and keeps the last
answer. MariaDB has no such function without the ``metadata_lock_info`` plugin; there the
sessions with the oldest open transactions are named, as the likely holders.
"""

from __future__ import annotations

import dataclasses
import threading

import sqlalchemy as sa

from .._alembic.cancel import server_id

#: PostgreSQL's SQLSTATE for a lock not granted in time (``lock_not_available``).
_PG_LOCK_TIMEOUT = "55P03"
#: PostgreSQL's SQLSTATE for a cancelled statement (``query_canceled``).
_PG_CANCELED = "57014"
#: MariaDB/MySQL: "Lock wait timeout exceeded", for metadata and row locks alike.
_MY_LOCK_TIMEOUT = 1205
#: MariaDB: "Query execution was interrupted (max_statement_time exceeded)".
_MY_STATEMENT_TIMEOUT = 1969
#: How often the watch asks who blocks the migration, in seconds.
_POLL = 0.02


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str | None:
    error = _driver_error(exc)
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)


def errno(exc: BaseException) -> int | None:
    """MariaDB/MySQL's error number of ``exc`` (SQLAlchemy's or the driver's)."""
    args = getattr(_driver_error(exc), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLAlchemy's or the driver's) is a lock not granted in time."""
    return _sqlstate(exc) == _PG_LOCK_TIMEOUT or errno(exc) == _MY_LOCK_TIMEOUT


def is_statement_timeout(exc: BaseException) -> bool:
    if _sqlstate(exc) == _PG_CANCELED:
        return "statement timeout" in str(_driver_error(exc))
    return errno(exc) == _MY_STATEMENT_TIMEOUT


@dataclasses.dataclass(frozen=True)
class Blocker:
    """A session holding the lock a migration waited for."""

    pid: int
    user: str
    state: str
    age: float
    query: str

    def __str__(self) -> str:
        query = " ".join(self.query.split())[:100]
        return (
            f"pid {self.pid} (user {self.user or '?'}, {self.state or '?'}, "
            f"for {self.age:.1f} s): {query or '(no statement running)'}"
        )


_PG_BLOCKERS = sa.text(
    "SELECT pid, coalesce(usename, ''), coalesce(state, ''), "
    "coalesce(extract(epoch FROM now() - coalesce(xact_start, query_start)), 0), "
    "left(coalesce(query, ''), 100) FROM pg_stat_activity "
    "WHERE pid = ANY(pg_blocking_pids(:pid)) "
    "ORDER BY coalesce(xact_start, query_start) NULLS LAST"
)

_PG_TRANSACTIONS = sa.text(
    "SELECT pid, coalesce(usename, ''), coalesce(state, ''), "
    "coalesce(extract(epoch FROM now() - xact_start), 0), left(coalesce(query, ''), 100) "
    "FROM pg_stat_activity WHERE pid <> :pid AND pid <> pg_backend_pid() "
    "AND datname = current_database() "
    "AND xact_start IS NOT NULL AND backend_type = 'client backend' "
    "ORDER BY xact_start LIMIT 3"
)

#: MariaDB/MySQL: the waiting session's database and the schema its tables are translated to.
#: Sessions working there come first: other databases on the server have open transactions of
#: their own, which can hold the lock only through qualified table names.
_MY_NEAR = "(SELECT DB FROM information_schema.PROCESSLIST WHERE ID = :pid), :schema"

_MY_TRANSACTIONS = sa.text(
    "SELECT p.ID, coalesce(p.USER, ''), "
    "CASE WHEN p.COMMAND = 'Sleep' THEN 'idle in transaction' "
    "ELSE concat(p.COMMAND, ': ', coalesce(p.STATE, '')) END, "
    "timestampdiff(MICROSECOND, t.trx_started, now(6)) / 1e6, "
    "left(coalesce(p.INFO, t.trx_query, ''), 100) "
    "FROM information_schema.INNODB_TRX t "
    "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
    f"WHERE p.ID <> :pid ORDER BY coalesce(p.DB IN ({_MY_NEAR}), 0) DESC, t.trx_started LIMIT 3"
)

_MY_STATEMENTS = sa.text(
    "SELECT ID, coalesce(USER, ''), concat(COMMAND, ': ', coalesce(STATE, '')), TIME_MS / 1000, "
    "left(coalesce(INFO, ''), 100) FROM information_schema.PROCESSLIST "
    "WHERE ID <> :pid AND ID <> connection_id() AND COMMAND NOT IN ('Sleep', 'Daemon') "
    f"ORDER BY coalesce(DB IN ({_MY_NEAR}), 0) DESC, TIME_MS DESC LIMIT 3"
)


def _rows(
    connection: sa.Connection, query: sa.TextClause, pid: int, schema: str | None = None
) -> list[Blocker]:
    return [
        Blocker(int(r[0]), str(r[1]), str(r[2]), float(r[3] or 0), str(r[4]))
        for r in connection.execute(query, {"pid": pid, "schema": schema})
    ]


def likely(engine: sa.Engine, pid: int) -> list[Blocker]:
    """The likely holders of a lock session ``pid`` waited for, asked once it stopped
    waiting: the oldest open transactions (on MariaDB, else the longest-running statements).
    On PostgreSQL only sessions of the same database can hold a table's lock, so sessions of
    other databases on the server are never named; on MariaDB, where a session may reach any
    database, those of the waiting session's database (or tenant schema) come first."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                return _rows(connection, _PG_TRANSACTIONS, pid)
            return _rows(connection, _MY_TRANSACTIONS, pid, schema) or _rows(
                connection, _MY_STATEMENTS, pid, schema
            )
    except sa.exc.SQLAlchemyError:
        return []


def describe(found: list[Blocker], *, likely: bool = False) -> str:
    if not found:
        return "the session holding the lock could not be found (it may have ended since)"
    label = "probably held by" if likely else "held by"
    return f"{label} " + "; ".join(str(b) for b in found[:2])


class Watch:
    """Asks PostgreSQL who blocks backend ``pid`` while an attempt runs, from a connection of
    its own, in a thread, until :meth:`stop`."""

    def __init__(self, engine: sa.Engine, pid: int) -> None:
        self.found: list[Blocker] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(engine, pid), name="versioning-blockers", daemon=True
        )
        self._thread.start()

    def _run(self, engine: sa.Engine, pid: int) -> None:
        try:
            with engine.connect() as connection:
                while not self._stopped.wait(_POLL):
                    rows = _rows(connection, _PG_BLOCKERS, pid)
                    connection.rollback()
                    if rows:
                        self.found = rows
        except sa.exc.SQLAlchemyError:
            return  # the message then says the holder could not be found

    def stop(self) -> list[Blocker]:
        self._stopped.set()
        self._thread.join()
        return self.found


def backend_pid(connection: sa.Connection) -> int:
    """The server's id of ``connection``'s session: as the driver learnt it when connecting
    (:func:`~.._alembic.cancel.server_id`), else asked of the server."""
    known = server_id(connection)
    if known is not None:
        return known
    postgresql = connection.dialect.name == "postgresql"
    sql = "SELECT pg_backend_pid()" if postgresql else "SELECT connection_id()"
    began = not connection.in_transaction()
    pid = int(connection.exec_driver_sql(sql).scalar_one())
    if began:
        connection.commit()
    return pid
