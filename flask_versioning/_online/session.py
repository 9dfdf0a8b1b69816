"""The timeouts of a :class:`~.policy.Policy`, set on the migration connection.

PostgreSQL takes ``lock_timeout`` and ``statement_timeout``; MariaDB and MySQL take
``lock_wait_timeout`` (metadata locks: every ``ALTER TABLE`` waits for one),
``innodb_lock_wait_timeout`` (row locks) and ``max_statement_time``. They are set at session
level, so that they also hold in an ``autocommit_block``, and the connection's own values are
put back when the run ends: it may be a pooled connection the app uses next. SQLite has no lock
queue to jump, so nothing is set or retried there.

PostgreSQL retries a whole step (see :mod:`.policy`). MariaDB cannot roll DDL back, so there
each statement is retried on its own, by a ``do_execute`` listener that acts only on a
connection marked as migrating.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from . import blockers

if TYPE_CHECKING:
    from .policy import Policy

T = TypeVar("T")

#: Key in ``Connection.info`` holding the :class:`Online` state while a run is on.
_KEY = "versioning_online"


@dataclasses.dataclass
class Online:
    """The timeouts on one migration connection, for one run: the connection's own values
    (``original``, put back by :func:`finish`), the current step's attempt (PostgreSQL), a
    revision's ``@timeouts`` (``override``), the attempts of the last failed statement
    (MariaDB, for the message), and whether the run began in its owner's transaction."""

    policy: Policy
    dialect: str
    original: tuple[Any, ...]
    attempt: int = 0
    override: Policy | None = None
    statement_attempts: int = 0
    borrowed: bool = False

    @property
    def effective(self) -> Policy:
        return self.override if self.override is not None else self.policy

    @property
    def mysql(self) -> bool:
        return self.dialect in ("mysql", "mariadb")


def state_of(connection: Any) -> Online | None:
    if not isinstance(connection, sa.Connection):
        return None
    state = connection.info.get(_KEY)
    return state if isinstance(state, Online) else None


def start(connection: sa.Connection, policy: Policy) -> Online | None:
    """Mark ``connection`` as migrating under ``policy`` and set its timeouts."""
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        return None
    if policy.lock_timeout is None and policy.statement_timeout is None:
        return None
    began = not connection.in_transaction()
    if dialect == "postgresql":  # each value as SHOW would print it
        read = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
    else:
        read = (
            "SELECT @@session.lock_wait_timeout, @@session.innodb_lock_wait_timeout, "
            "@@session.max_statement_time"
        )
    original = tuple(connection.exec_driver_sql(read).one())
    state = Online(policy, dialect, original, borrowed=not began)
    connection.info[_KEY] = state
    if state.mysql:
        for name, listener in (
            ("do_execute", _do_execute),
            ("do_execute_no_params", _do_execute_no_params),
        ):
            if not event.contains(connection.engine, name, listener):
                event.listen(connection.engine, name, listener)
    apply(connection, state)
    if began:
        connection.commit()
    return state


def finish(connection: sa.Connection, state: Online) -> None:
    """Put the connection's own values back; a connection that cannot take them is dropped
    from the pool rather than handed to the app with a migration's timeouts."""
    connection.info.pop(_KEY, None)
    sql = _sql(state.dialect, *state.original)
    if state.borrowed:
        # In the owner's transaction: restored with it if it commits, undone with our own
        # settings if it rolls back (PostgreSQL); never rolled back or dropped by us.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            _execute(connection, sql)
        return
    try:
        if connection.in_transaction():
            connection.rollback()
        _execute(connection, sql)
    except sa.exc.SQLAlchemyError:
        connection.invalidate()


def apply(connection: sa.Connection, state: Online) -> None:
    """Set the timeouts of the current attempt (inside a transaction: for that transaction,
    and after it if it commits; outside one: at once)."""
    _execute(connection, _statement(state, state.attempt))


def _statement(state: Online, attempt: int) -> str:
    policy = state.effective
    lock = policy.lock_timeout_for(attempt)
    statement = policy.statement_timeout
    if state.dialect == "postgresql":
        return _sql(state.dialect, _milliseconds(lock), _milliseconds(statement))
    # Whole seconds only; below one second is 0, which MariaDB reads as "do not wait at all"
    # (NOWAIT): the statement then never queues, and the retries find a moment the lock is free.
    original_lock, original_innodb, _ = state.original
    return _sql(
        state.dialect,
        original_lock if lock is None else math.floor(lock),
        original_innodb if lock is None else math.floor(lock),
        0.0 if statement is None else statement,
    )


def _sql(dialect: str, *values: Any) -> str:
    """One statement (one round trip) setting the session's timeouts; on PostgreSQL, like
    ``SET``, undone if the transaction it runs in rolls back."""
    if dialect == "postgresql":
        lock, statement = (str(value).replace("'", "''") for value in values)
        return (
            f"SELECT set_config('lock_timeout', '{lock}', false), "
            f"set_config('statement_timeout', '{statement}', false)"
        )
    lock, innodb, statement = values
    return (
        f"SET SESSION lock_wait_timeout = {int(lock)}, innodb_lock_wait_timeout = "
        f"{int(innodb)}, max_statement_time = {float(statement)}"
    )


def _milliseconds(seconds: float | None) -> int:
    """PostgreSQL's value: whole milliseconds, 0 meaning no timeout (and never 0 by rounding)."""
    if seconds is None or seconds == 0:
        return 0
    return max(1, round(seconds * 1000))


def _execute(connection: sa.Connection, sql: str) -> None:
    """Run ``sql``; outside a transaction, commit the one it began, so that Alembic, which
    leaves alone a connection already in a transaction, still commits each step."""
    began = not connection.in_transaction()
    connection.exec_driver_sql(sql)
    if began:
        connection.commit()


@contextlib.contextmanager
def overridden(changes: Mapping[str, Any]) -> Iterator[None]:
    """Run a revision's function under its own policy (``@timeouts``).

    On success the run's policy comes back. On failure the revision's policy stays in force
    for :mod:`.policy` to decide with; the rollback has already undone its settings on PostgreSQL.
    """
    from alembic import op

    try:
        connection = op.get_bind()
    except Exception:  # offline (--sql): there is no connection to set anything on
        connection = None
    # Outside a migration, after one in this process, ``op`` still points at its closed bind.
    state = None if getattr(connection, "closed", False) else state_of(connection)
    if state is None or connection is None:
        yield
        return
    previous = state.override
    state.override = dataclasses.replace(state.policy, **changes)
    apply(connection, state)
    yield
    state.override = previous
    apply(connection, state)


def retrying(
    state: Online,
    run: Callable[[], T],
    at: Callable[[int], None],
    exhausted: Callable[[Exception, int], None] | None = None,
) -> T:
    """Call ``run`` again while it times out waiting for a lock and the policy has retries
    left, after a logged, jittered sleep and ``at(attempt)`` setting that attempt's timeouts
    (and at the end the ones before). ``exhausted(exc, attempts)`` may raise instead."""
    policy = state.effective
    first = state.attempt
    attempt = 0
    state.statement_attempts = 0
    try:
        while True:
            try:
                return run()
            except Exception as exc:
                if not blockers.is_lock_timeout(exc) or policy.lock_timeout is None:
                    raise
                if attempt >= policy.retries:
                    state.statement_attempts = attempt + 1
                    if exhausted is not None:
                        exhausted(exc, attempt + 1)
                    raise
            policy.pause(attempt)
            attempt += 1
            at(attempt)
    finally:
        if attempt:
            at(first)


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    return _statement_retried(cursor, context, (statement, parameters))


def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool | None:
    return _statement_retried(cursor, context, (statement,))


def _statement_retried(cursor: Any, context: Any, arguments: tuple[Any, ...]) -> bool | None:
    """Execute one statement on a marked MariaDB connection, retried on a lock timeout.
    Between attempts it holds nothing (MariaDB commits DDL at once, and a timed-out row-lock
    wait rolls back only that statement), so the app's queries pass in the gaps."""
    state = state_of(getattr(context, "root_connection", None))
    if state is None or state.effective.lock_timeout is None:
        return None  # not ours: SQLAlchemy executes it as usual

    def at(attempt: int) -> None:
        cursor.execute(_statement(state, attempt))

    retrying(state, lambda: cursor.execute(*arguments), at)
    return True
