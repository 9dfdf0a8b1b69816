"""Per-step commits that do not each wait for the disk, while the run's end does.

Every step of an upgrade commits on its own (``transaction_per_migration``), with its version
row and its ledger row, so that a failing revision rolls back alone. Waiting for the disk at
each of those commits costs more than the steps themselves on a busy disk, yet only the last
one matters to whoever ran the command: when it returns, everything must be durable; before
that, a crash may lose the newest steps as long as it never loses *part* of one.

Both backends have a setting with exactly that promise, and neither can corrupt a database:

- PostgreSQL: an asynchronous commit (``SET LOCAL synchronous_commit = off``, made by the
  ledger's INSERT in the same round trip) may be lost in a server crash, never half-applied.
  The run ends with a commit that holds a transaction id and waits for the disk under the
  session's own setting, which waits for every earlier commit as well.
- SQLite: ``synchronous = NORMAL`` in WAL journal mode keeps the file consistent through
  power loss and loses at most the newest commits. A database in another rollback-journal mode
  is switched to WAL for the run and back afterwards, which checkpoints it to the main file.
  (``synchronous = OFF`` can corrupt a file on power loss, and ``NORMAL`` with a rollback
  journal can too on some file systems: neither is used.)

Only on a connection the environment opened itself: a caller's connection may be inside a
transaction the caller commits, with the caller's own durability.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from .._errors import mask_url

__all__ = ["deferred_flush"]

logger = logging.getLogger("flask_versioning")

#: SQLite journal modes that are files next to the database, which WAL may stand in for.
_ROLLBACK_JOURNALS = frozenset({"delete", "truncate", "persist"})


@contextlib.contextmanager
def deferred_flush(connection: sa.Connection) -> Iterator[bool]:
    """Run the block with step commits that need not wait for the disk; flush at its end.

    Yields whether each step's transaction must itself ask for it (PostgreSQL's
    ``SET LOCAL``, which the ledger's INSERT does); on SQLite the connection's setting covers
    every commit. When the block fails, the steps committed before the failure are flushed
    too, and the failure is what propagates.
    """
    if connection.in_transaction():
        yield False
    elif connection.dialect.name == "postgresql":
        with _flushed_at_end(connection, _postgresql_flush):
            yield True
    elif connection.dialect.name == "sqlite":
        restore = _sqlite_relax(connection)
        if restore is None:
            yield False
        else:
            with _flushed_at_end(connection, restore):
                yield False
    else:
        yield False


@contextlib.contextmanager
def _flushed_at_end(
    connection: sa.Connection, flush: Callable[[sa.Connection], None]
) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(sa.exc.DBAPIError):
            _end_transaction(connection)
            flush(connection)
        raise
    _end_transaction(connection)
    flush(connection)


def _end_transaction(connection: sa.Connection) -> None:
    # A failed step's transaction is rolled back by Alembic already; what may remain is
    # SQLAlchemy's record of one begun by a statement of Alembic's after the last step.
    if connection.in_transaction():
        connection.rollback()


def _postgresql_flush(connection: sa.Connection) -> None:
    connection.exec_driver_sql("SELECT txid_current()")
    connection.commit()


def _sqlite_relax(connection: sa.Connection) -> _SQLiteRestore | None:
    """Put the connection in WAL mode with ``synchronous = NORMAL``; ``None`` if it cannot be
    (an in-memory database, another process holding the file)."""
    mode = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    synchronous = int(connection.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
    if mode not in _ROLLBACK_JOURNALS | {"wal"} or synchronous < 2:
        connection.commit()
        return None  # no file journal, or a durability already chosen below FULL: keep it
    if mode != "wal":
        now = str(connection.exec_driver_sql("PRAGMA journal_mode = WAL").scalar()).lower()
        if now != "wal":
            connection.commit()
            return None
    connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
    connection.commit()
    return _SQLiteRestore(mode, synchronous)


class _SQLiteRestore:
    """Give the connection back its journal mode and ``synchronous`` level, durably."""

    def __init__(self, mode: str, synchronous: int) -> None:
        self.mode = mode
        self.synchronous = synchronous

    def __call__(self, connection: sa.Connection) -> None:
        connection.exec_driver_sql(f"PRAGMA synchronous = {self.synchronous}")
        if self.mode == "wal":
            # Copies the log into the file, syncing both: what the run committed is durable.
            connection.exec_driver_sql("PRAGMA wal_checkpoint")
        else:
            try:
                now = connection.exec_driver_sql(f"PRAGMA journal_mode = {self.mode}").scalar()
            except sa.exc.OperationalError:  # "database is locked": another connection has it
                now = "wal"
            if str(now).lower() != self.mode:
                # Another connection has the file open; WAL is consistent, only different.
                connection.exec_driver_sql("PRAGMA wal_checkpoint")
                logger.warning(
                    "the SQLite database at %s stays in WAL journal mode (it was %s): another "
                    "connection had it open when the upgrade ended",
                    mask_url(connection.engine.url),
                    self.mode.upper(),
                )
        connection.commit()
