"""The attempts around a run of migrations, used by ``env.py`` (so every path has them: the
CLI, the API, the automatic upgrade, the web page, tenants and plain Alembic).

On PostgreSQL a step that times out waiting for a lock has been rolled back whole, and every
step before it committed on its own (``transaction_per_migration``): running the migrations
again starts at that step. So the run is simply attempted again, after a jittered sleep and
with a longer lock timeout, while the step has retries left; its count starts again whenever
the version table moved (another step is now the one waiting). On MariaDB each statement was
already retried by :mod:`.session`. When the retries are spent, the run fails with
:class:`~flask_versioning.DDLTimeout`, naming the session that held the lock.
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

__all__ = ["attempts"]


@contextlib.contextmanager
def attempts(
    context: Any, connection: sa.Connection, database: Database
) -> Iterator[Iterator[Attempt]]:
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

    def attempts(self) -> Iterator[Attempt]:
        while True:
            attempt = Attempt(self)
            yield attempt
            if not attempt.failed:
                return

    def last(self) -> bool:
        return not self.retry or self.index >= self.policy.retries


class Attempt:
    """One try at the run: its exit decides whether a lock timeout is tried again."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.failed = False
        self._watch: blockers.Watch | None = None

    def __enter__(self) -> Attempt:
        run = self.run
        if run.state is not None and run.state.dialect == "postgresql" and run.last():
            self._watch = blockers.Watch(run.connection.engine, run.pid)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        run = self.run
        found = self._watch.stop() if self._watch is not None else []
        state = run.state
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
        step_policy = state.effective
        state.override = None
        if run.retry:
            heads = self._heads()
            if heads != run.heads:  # another step than last time: its own retries
                run.heads, run.index, run.policy = heads, 0, step_policy
            else:
                run.policy = step_policy
        if run.last():
            tries = run.index + 1 if state.dialect == "postgresql" else state.statement_attempts
            exact = bool(found)
            if not found:
                found = blockers.likely(run.connection.engine, run.pid)
            timeout = step_policy.lock_timeout_for(max(tries - 1, 0)) or 0.0
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
        step_policy.pause(run.index)
        run.index += 1
        state.attempt = run.index
        session.apply(run.connection, state)
        self.failed = True
        return True

    def _heads(self) -> tuple[str, ...]:
        connection = self.run.connection
        if connection.in_transaction():
            connection.rollback()
        heads = tuple(sorted(self.run.context.get_context().get_current_heads()))
        if connection.in_transaction():
            connection.rollback()
        return heads
