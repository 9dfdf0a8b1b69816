"""The timeouts of a :class:`~.policy.Policy`, set on the migration connection.

PostgreSQL takes ``lock_timeout`` and ``statement_timeout``; MariaDB and MySQL take
``lock_wait_timeout`` (metadata locks: every ``ALTER TABLE`` waits for one),
``innodb_lock_wait_timeout`` (row locks) and ``max_statement_time``. They are set at session
level, so that they also hold in an ``autocommit_block`` (where ``CREATE INDEX CONCURRENTLY``
runs), and the connection's own values are put back when the run ends: the connection may be a
pooled one the app uses next.

SQLite has no lock queue to jump (one writer holds the whole file and others wait for the
driver's busy timeout), so nothing is set there and nothing is retried.

PostgreSQL retries a whole step (a rolled-back step releases every lock it held, and the next
attempt starts from a clean transaction: see :mod:`.retry`). MariaDB cannot roll DDL back, so a
step half done cannot be run again; there each statement is retried on its own, here, by a
``do_execute`` listener that acts only on a connection marked as migrating.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from . import blockers

if TYPE_CHECKING:
    from .policy import Policy

__all__ = ["Online", "finish", "overridden", "start", "state_of"]

log = logging.getLogger("flask_versioning")

#: Key in ``Connection.info`` holding the :class:`Online` state while a run is on.
_KEY = "versioning_online"


@dataclasses.dataclass
class Online:
    """What the timeouts are on one migration connection, for one run."""

    policy: Policy
    dialect: str
    #: The connection's values before the run, put back by :func:`finish`.
    original: tuple[Any, ...]
    #: Attempt number of the current step (PostgreSQL), from 0.
    attempt: int = 0
    #: A revision's own policy while its decorated function runs (see ``@timeouts``).
    override: Policy | None = None
    #: Attempts the last failed statement made (MariaDB), for the message.
    statement_attempts: int = 0
    #: Whether the connection was in its owner's transaction when the run began: that
    #: transaction is theirs to commit or roll back, never ours.
    borrowed: bool = False

    @property
    def effective(self) -> Policy:
        return self.override if self.override is not None else self.policy

    @property
    def mysql(self) -> bool:
        return self.dialect in ("mysql", "mariadb")


def supported(connection: sa.Connection) -> bool:
    return connection.dialect.name in ("postgresql", "mysql", "mariadb")


def state_of(connection: Any) -> Online | None:
    if not isinstance(connection, sa.Connection):
        return None
    state = connection.info.get(_KEY)
    return state if isinstance(state, Online) else None


def start(connection: sa.Connection, policy: Policy) -> Online | None:
    """Mark ``connection`` as migrating under ``policy`` and set its timeouts."""
    if not supported(connection):
        return None
    if policy.lock_timeout is None and policy.statement_timeout is None:
        return None
    dialect = connection.dialect.name
    began = not connection.in_transaction()
    reads: tuple[str, ...]
    if dialect == "postgresql":
        # One statement, one round trip; each value as SHOW would print it.
        reads = ("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",)
    else:
        reads = (
            "SELECT @@session.lock_wait_timeout, @@session.innodb_lock_wait_timeout, "
            "@@session.max_statement_time",
        )
    original: list[Any] = []
    for sql in reads:
        row = connection.exec_driver_sql(sql).one()
        original.extend(row)
    state = Online(policy, dialect, tuple(original), borrowed=not began)
    connection.info[_KEY] = state
    if state.mysql:
        _listen(connection.engine)
    apply(connection, state)
    if began:
        connection.commit()
    return state


def finish(connection: sa.Connection, state: Online) -> None:
    """Put the connection's own values back; a connection that cannot take them is dropped
    from the pool rather than handed to the app with a migration's timeouts."""
    connection.info.pop(_KEY, None)
    if state.dialect == "postgresql":
        statements = [_pg_settings(str(state.original[0]), str(state.original[1]))]
    else:
        lock, innodb, statement = state.original
        statements = [
            f"SET SESSION lock_wait_timeout = {int(lock)}, innodb_lock_wait_timeout = "
            f"{int(innodb)}, max_statement_time = {float(statement)}"
        ]
    if state.borrowed:
        # In the owner's transaction: restored with it if it commits, undone with our own
        # settings if it rolls back (PostgreSQL); never rolled back or dropped by us.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            _execute(connection, statements)
        return
    try:
        if connection.in_transaction():
            connection.rollback()
        _execute(connection, statements)
    except sa.exc.SQLAlchemyError:
        connection.invalidate()


def apply(connection: sa.Connection, state: Online) -> None:
    """Set the timeouts of the current attempt (inside a transaction: for that transaction,
    and after it if it commits; outside one: at once)."""
    _execute(connection, _statements(state, state.attempt))


def _statements(state: Online, attempt: int) -> list[str]:
    policy = state.effective
    lock = policy.lock_timeout_for(attempt)
    statement = policy.statement_timeout
    if state.dialect == "postgresql":
        return [_pg_settings(str(_milliseconds(lock)), str(_milliseconds(statement)))]
    # Whole seconds only; below one second is 0, which MariaDB reads as "do not wait at all"
    # (NOWAIT): the statement then never queues, and the retries find a moment the lock is free.
    original_lock, original_innodb, _ = state.original
    lock_s = int(original_lock) if lock is None else math.floor(lock)
    innodb_s = int(original_innodb) if lock is None else math.floor(lock)
    return [
        f"SET SESSION lock_wait_timeout = {lock_s}, innodb_lock_wait_timeout = {innodb_s}, "
        f"max_statement_time = {0.0 if statement is None else float(statement)}"
    ]


def _pg_settings(lock: str, statement: str) -> str:
    """Both PostgreSQL timeouts for the session in one statement (one round trip); like
    ``SET``, undone if the transaction it runs in rolls back."""
    lock, statement = (value.replace("'", "''") for value in (lock, statement))
    return (
        f"SELECT set_config('lock_timeout', '{lock}', false), "
        f"set_config('statement_timeout', '{statement}', false)"
    )


def _milliseconds(seconds: float | None) -> int:
    """PostgreSQL's value: whole milliseconds, 0 meaning no timeout (and never 0 by rounding)."""
    if seconds is None or seconds == 0:
        return 0
    return max(1, round(seconds * 1000))


def _execute(connection: sa.Connection, statements: list[str]) -> None:
    """Run ``statements``; outside a transaction, commit the one they began, so that Alembic,
    which leaves alone a connection already in a transaction, still commits each step."""
    began = not connection.in_transaction()
    for sql in statements:
        connection.exec_driver_sql(sql)
    if began:
        connection.commit()


@contextlib.contextmanager
def overridden(changes: Mapping[str, Any]) -> Iterator[None]:
    """Run a revision's function under its own policy (``@timeouts``).

    On success the run's policy comes back. On failure the revision's policy stays in force
    for :mod:`.retry` to decide with (its retries, its delays); the failed transaction's
    rollback has already undone its settings on PostgreSQL.
    """
    from alembic import op

    try:
        connection = op.get_bind()
    except Exception:  # offline (--sql): there is no connection to set anything on
        connection = None
    if connection is not None and getattr(connection, "closed", False):
        # Called outside a migration, after one in this process: Alembic's ``op`` still
        # points at that run's connection, closed since.
        connection = None
    state = state_of(connection)
    if state is None or connection is None:
        yield
        return
    previous = state.override
    state.override = dataclasses.replace(state.policy, **changes)
    apply(connection, state)
    yield
    state.override = previous
    apply(connection, state)


def _listen(engine: sa.Engine) -> None:
    """Install the statement-level retry on ``engine``'s dialect, once; it acts only on
    connections that :func:`start` marked."""
    for name, listener in (
        ("do_execute", _do_execute),
        ("do_execute_no_params", _do_execute_no_params),
    ):
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    return _retrying(cursor, context, (statement, parameters))


def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool | None:
    return _retrying(cursor, context, (statement,))


def _retrying(cursor: Any, context: Any, arguments: tuple[Any, ...]) -> bool | None:
    """Execute one statement, retrying it while the server times out waiting for a lock.

    Between attempts the statement holds nothing (MariaDB commits DDL at once, and a timed-out
    row-lock wait rolls back only that statement), so the app's queries pass in the gaps.
    """
    state = state_of(getattr(context, "root_connection", None))
    if state is None or state.effective.lock_timeout is None:
        return None  # not ours: SQLAlchemy executes it as usual
    policy = state.effective
    attempt = 0
    state.statement_attempts = 0
    try:
        while True:
            try:
                cursor.execute(*arguments)
                return True
            except Exception as exc:
                if not blockers.is_lock_timeout(exc) or attempt >= policy.retries:
                    state.statement_attempts = attempt + 1
                    raise
            pause = policy.sleep_after(attempt)
            attempt += 1
            log.info(
                "lock not granted; attempt %d of %d in %.2f s",
                attempt + 1,
                policy.retries + 1,
                pause,
            )
            time.sleep(pause)
            for sql in _statements(state, attempt):
                cursor.execute(sql)
    finally:
        if attempt:
            for sql in _statements(state, 0):
                cursor.execute(sql)
