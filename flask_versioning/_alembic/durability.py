"""Per-step commits that do not each wait for the disk, while the run's end does.

Each step of an upgrade commits on its own so that a failing revision rolls back alone, but
only the last commit must be durable when the command returns; before that, a crash may lose
the newest steps, never *part* of one. PostgreSQL's asynchronous commit (``SET LOCAL
synchronous_commit = off``, sent with the ledger's INSERT) and SQLite's ``synchronous = NORMAL``
in WAL mode make exactly that promise; the run then ends with a commit that waits for the disk.
(SQLite's ``OFF``, or ``NORMAL`` with a rollback journal, can corrupt a file: neither is used.)
Only on a connection the environment opened itself: a caller's has the caller's durability.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from .._errors import mask_url

logger = logging.getLogger("flask_versioning")

#: SQLite journal modes that are files next to the database, which WAL may stand in for.
_ROLLBACK_JOURNALS = frozenset({"delete", "truncate", "persist"})


@contextlib.contextmanager
def deferred_flush(connection: sa.Connection) -> Iterator[bool]:
    """Run the block with step commits that need not wait for the disk; flush at its end, and
    after a failure too (the failure is what propagates).

    Yields whether each step's transaction must ask for it itself (PostgreSQL's ``SET LOCAL``);
    on SQLite the connection's setting covers every commit."""
    flush: Callable[[sa.Connection], None] | None = None
    if not connection.in_transaction():
        if connection.dialect.name == "postgresql":
            flush = _postgresql_flush
        elif connection.dialect.name == "sqlite":
            flush = _sqlite_relax(connection)
    if flush is None:
        yield False
        return
    try:
        yield flush is _postgresql_flush
    except BaseException:
        with contextlib.suppress(sa.exc.DBAPIError):
            _end(connection, flush)
        raise
    _end(connection, flush)


def _end(connection: sa.Connection, flush: Callable[[sa.Connection], None]) -> None:
    # Alembic rolled back a failed step already; what may remain is SQLAlchemy's record of a
    # transaction begun by a statement of Alembic's after the last step.
    if connection.in_transaction():
        connection.rollback()
    flush(connection)


def _postgresql_flush(connection: sa.Connection) -> None:
    # A commit holding a transaction id waits for the disk, and for every earlier commit.
    connection.exec_driver_sql("SELECT txid_current()")
    connection.commit()


def _sqlite_relax(connection: sa.Connection) -> Callable[[sa.Connection], None] | None:
    """Put the connection in WAL mode with ``synchronous = NORMAL`` and return what restores
    it; ``None`` if it cannot be (in memory, another process holding the file) or durability
    was already chosen below FULL."""
    mode = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    synchronous = int(connection.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
    relaxed = mode in _ROLLBACK_JOURNALS | {"wal"} and synchronous >= 2
    if relaxed and mode != "wal":
        now = connection.exec_driver_sql("PRAGMA journal_mode = WAL").scalar()
        relaxed = str(now).lower() == "wal"
    if relaxed:
        connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
    connection.commit()
    if not relaxed:
        return None

    def restore(connection: sa.Connection) -> None:
        connection.exec_driver_sql(f"PRAGMA synchronous = {synchronous}")
        if mode == "wal":
            # Copies the log into the file, syncing both: what the run committed is durable.
            connection.exec_driver_sql("PRAGMA wal_checkpoint")
        else:
            now = "wal"
            with contextlib.suppress(sa.exc.OperationalError):  # locked by another connection
                now = str(connection.exec_driver_sql(f"PRAGMA journal_mode = {mode}").scalar())
            if now.lower() != mode:  # another connection has it open: WAL is only different
                connection.exec_driver_sql("PRAGMA wal_checkpoint")
                logger.warning(
                    "the SQLite database at %s stays in WAL journal mode (it was %s): another "
                    "connection had it open when the upgrade ended",
                    mask_url(connection.engine.url),
                    mode.upper(),
                )
        connection.commit()

    return restore
