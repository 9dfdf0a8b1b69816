"""Stopping a migration's statement on the server after Ctrl-C.

A client that stops reading does not stop the server (MariaDB runs on, PostgreSQL notices only
when it next writes), so after Ctrl-C :func:`cancel` asks the server, from a second connection,
to cancel what the migration connection still runs, and waits until it is idle, so that "rolled
back" is true when it is said.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from .database import Database

#: How long :func:`cancel` waits for the server to show the statement stopped.
_WAIT = 10.0
_POLL = 0.05

_RUNNING = {
    "postgresql": (
        "SELECT 1 FROM pg_stat_activity WHERE pid = :id AND state = 'active'",
        "SELECT pg_cancel_backend(:id)",
    ),
    "mysql": (
        "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = :id AND COMMAND = 'Query'",
        "KILL QUERY {id}",
    ),
}


def _family(dialect: sa.Dialect) -> str:
    return "mysql" if dialect.name in ("mysql", "mariadb") else dialect.name


def server_id(connection: sa.Connection) -> int | None:
    """The server's id of ``connection`` as the driver learnt it when connecting (no round
    trip); ``None`` for SQLite and for a driver that does not say."""
    family = _family(connection.dialect)
    if family not in _RUNNING:
        return None
    try:
        dbapi = connection.connection.dbapi_connection
        if family == "postgresql":
            info = getattr(dbapi, "info", None)  # psycopg 3
            if info is not None and getattr(info, "backend_pid", None):
                return int(info.backend_pid)
            get_pid = getattr(dbapi, "get_backend_pid", None)  # psycopg2
            return int(get_pid()) if callable(get_pid) else None
        thread_id = getattr(dbapi, "thread_id", None)  # PyMySQL, mysqlclient
        return int(thread_id()) if callable(thread_id) else None
    except Exception:
        return None


def cancel(database: Database, ident: int) -> bool | None:
    """Cancel what the server runs for connection ``ident`` and wait until it stops: ``True``
    once nothing runs there, ``False`` if it still runs after the wait, ``None`` if the server
    could not be asked."""
    engine = database.engine()
    family = _family(engine.dialect)
    if family not in _RUNNING:
        return True
    running, stop = _RUNNING[family]
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.execute(sa.text(running), {"id": ident}).first() is None:
                return True
            if family == "mysql":
                # "Unknown thread id": it ended between the two statements.
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.exec_driver_sql(stop.format(id=int(ident)))
            else:
                conn.execute(sa.text(stop), {"id": ident})
            deadline = time.monotonic() + _WAIT
            while conn.execute(sa.text(running), {"id": ident}).first() is not None:
                if time.monotonic() > deadline:
                    return False
                time.sleep(_POLL)
            return True
    except Exception:
        return None
