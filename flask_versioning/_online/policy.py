"""How long DDL may wait for its lock, how often it is retried, and how long a statement may run.

The schedule follows GitLab's ``with_lock_retries``: short lock timeouts first (a statement that
gets its lock at once never notices them), growing up to ``VERSIONING_DDL_LOCK_TIMEOUT``, with
jittered sleeps so that replicas starting together do not retry in step. The lock timeout is
also the longest the app's queries queue behind a waiting statement, hence its small default.

:func:`attempts`, which ``env.py`` runs around every run of migrations, applies the schedule.
On PostgreSQL a step that timed out waiting for a lock was rolled back whole, and the steps
before it committed (``transaction_per_migration``), so the run is simply attempted again,
after a jittered sleep and with a longer lock timeout, while the step has retries left; the
count starts again whenever the version table moved. On MariaDB each statement was retried
already (:mod:`.session`). Then the run fails with :class:`~flask_versioning.DDLTimeout`,
naming the session that held the lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from .._errors import ConfigurationError, DDLTimeout
from . import blockers, session

if TYPE_CHECKING:
    from .._alembic.database import Database
    from .._settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("flask_versioning")

#: The first attempt waits a quarter of the lock timeout, the next half, then all of it.
_FIRST_FRACTION = 0.25
#: The first sleep between attempts; each later one doubles, up to ``retry_delay``.
_FIRST_SLEEP = 0.1


@dataclasses.dataclass(frozen=True)
class Policy:
    """The timeouts of a run, or of one revision (see :func:`timeouts`). ``lock_timeout``
    ``None`` turns the mechanism off: statements wait as long as the server lets them."""

    lock_timeout: float | None = 0.4
    retries: int = 20
    retry_delay: float = 2.0
    statement_timeout: float | None = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            lock_timeout=settings.ddl_lock_timeout,
            retries=settings.ddl_lock_retries,
            retry_delay=settings.ddl_retry_delay,
            statement_timeout=settings.ddl_statement_timeout,
        )

    def lock_timeout_for(self, attempt: int) -> float | None:
        """The lock timeout of attempt ``attempt`` (0 is the first)."""
        if self.lock_timeout is None:
            return None
        return min(self.lock_timeout, self.lock_timeout * _FIRST_FRACTION * 2.0**attempt)

    def sleep_after(self, attempt: int) -> float:
        """Seconds to sleep after attempt ``attempt`` failed: doubling, capped, jittered."""
        cap = min(self.retry_delay, _FIRST_SLEEP * 2.0**attempt)
        return random.uniform(cap / 2, cap)

    def pause(self, attempt: int) -> None:
        """Sleep after attempt ``attempt`` was not granted its lock, saying so in the log."""
        seconds = self.sleep_after(attempt)
        log.info(
            "lock not granted; attempt %d of %d in %.2f s", attempt + 2, self.retries + 1, seconds
        )
        time.sleep(seconds)


_UNSET: Any = object()


def timeouts(
    *,
    lock: float | None = _UNSET,
    retries: int = _UNSET,
    retry_delay: float = _UNSET,
    statement: float | None = _UNSET,
) -> Callable[[F], F]:
    """Change the DDL timeouts for one revision's ``upgrade()`` or ``downgrade()``.

    Each keyword replaces the app's setting of the same name while the function runs (in
    seconds; ``None`` lifts a timeout)::

        from flask_versioning.online import timeouts

        @timeouts(statement=None)  # the index build is known to take minutes
        def upgrade():
            ...

    The app's settings come back when the function returns. On SQLite the decorator does
    nothing, as the settings themselves do nothing there.
    """
    given = {
        "lock_timeout": lock,
        "retries": retries,
        "retry_delay": retry_delay,
        "statement_timeout": statement,
    }
    changes = {name: value for name, value in given.items() if value is not _UNSET}
    check(changes, "@timeouts")

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with session.overridden(changes):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check(values: dict[str, Any], where: str) -> None:
    """Refuse a negative or non-numeric timeout, naming where it was given."""
    for name, value in values.items():
        if name == "retries":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(
                    f"{where}: retries must be a whole number of at least 0, not {value!r}"
                )
        elif value is None and name != "retry_delay":
            continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigurationError(
                f"{where}: {name} must be a number of seconds (0 or more) or None, not {value!r}"
            )


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
