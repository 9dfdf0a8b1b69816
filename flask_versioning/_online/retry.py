"""The attempts around a run of migrations, used by ``env.py`` (so every path has them).

On PostgreSQL a step that timed out waiting for a lock was rolled back whole, and the steps
before it committed (``transaction_per_migration``), so the run is simply attempted again,
after a jittered sleep and with a longer lock timeout, while the step has retries left; the
count starts again whenever the version table moved. On MariaDB each statement was retried
already (:mod:`.session`). Then the run fails with :class:`~flask_versioning.DDLTimeout`,
naming the session that held the lock.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._errors import DDLTimeout
from . import blockers, session
from .policy import Policy

if TYPE_CHECKING:
    from .._alembic.database import Database


@contextlib.contextmanager
def attempts(
    context: Any, connection: sa.Connection, database: Database
) -> Iterator[Iterator[_Run]]:
    """Yield the attempts to run the migrations on ``connection``, each a context manager
    around one try; leave the connection with its own timeouts afterwards."""
    # A connection handed over inside its owner's transaction cannot be rolled back and tried
    # again by us; it keeps the timeouts, without the retries.
    retry = not connection.in_transaction()
    state = session.start(connection, Policy.from_settings(database.settings))
    try:
        yield _Run(context, connection, state, retry).attempts()
    finally:
        if state is not None:
            session.finish(connection, state)


class _Run:
    """The tries at one run, each entered as a context manager whose exit decides whether a
    lock timeout is tried again."""

    def __init__(
        self, context: Any, connection: sa.Connection, state: session.Online | None, retry: bool
    ) -> None:
        self.context = context
        self.connection = connection
        self.state = state
        self.retry = retry and state is not None and state.dialect == "postgresql"
        self.pid = blockers.backend_pid(connection) if state is not None else 0
        #: The failing step's policy (its revision's own, if decorated) and where it failed.
        self.policy = state.policy if state is not None else Policy()
        self.heads: tuple[str, ...] | None = None
        self.index = 0
        self.failed = False
        self._watch: blockers.Watch | None = None

    def attempts(self) -> Iterator[_Run]:
        self.failed = True
        while self.failed:
            self.failed = False
            yield self

    def last(self) -> bool:
        return not self.retry or self.index >= self.policy.retries

    def __enter__(self) -> _Run:
        self._watch = None
        if self.state is not None and self.state.dialect == "postgresql" and self.last():
            self._watch = blockers.Watch(self.connection.engine, self.pid)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        found = self._watch.stop() if self._watch is not None else []
        state = self.state
        if exc is None or state is None:
            return False
        if blockers.is_statement_timeout(exc):
            limit = state.effective.statement_timeout
            raise DDLTimeout(
                f"a statement ran past the statement timeout ({limit:g} s): if this step is "
                "known to be long, lift it in the revision with @timeouts(statement=None), "
                "or raise VERSIONING_DDL_STATEMENT_TIMEOUT",
                kind="statement",
            ) from exc
        if not blockers.is_lock_timeout(exc):
            return False
        policy = self.policy = state.effective
        state.override = None
        if self.retry and (heads := self._heads()) != self.heads:
            self.heads, self.index = heads, 0  # another step than last time: its own retries
        if self.last():
            tries = self.index + 1 if state.dialect == "postgresql" else state.statement_attempts
            exact = bool(found)
            if not found:
                found = blockers.likely(self.connection.engine, self.pid)
            timeout = policy.lock_timeout_for(max(tries - 1, 0)) or 0.0
            if state.mysql:  # whole seconds there (see .session)
                timeout = float(math.floor(timeout))
            raise DDLTimeout(
                f"the lock was not granted in {tries} attempt{'s' if tries != 1 else ''} "
                f"(lock timeout {timeout:g} s), "
                f"{blockers.describe(found, likely=not exact)}; end that session, or allow "
                "more attempts with VERSIONING_DDL_LOCK_RETRIES or @timeouts(retries=...)",
                kind="lock",
                blockers=found,
            ) from exc
        policy.pause(self.index)
        self.index += 1
        state.attempt = self.index
        session.apply(self.connection, state)
        self.failed = True
        return True

    def _heads(self) -> tuple[str, ...]:
        if self.connection.in_transaction():
            self.connection.rollback()
        heads = tuple(sorted(self.context.get_context().get_current_heads()))
        if self.connection.in_transaction():
            self.connection.rollback()
        return heads
