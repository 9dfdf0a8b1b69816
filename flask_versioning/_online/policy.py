"""How long DDL may wait for its lock, how often it is retried, and how long a statement may run.

The schedule follows GitLab's ``with_lock_retries``: short lock timeouts first (a statement that
gets its lock at once never notices them), growing up to ``VERSIONING_DDL_LOCK_TIMEOUT``, with
jittered sleeps so that replicas starting together do not retry in step. The lock timeout is
also the longest the app's queries queue behind a waiting statement, hence its small default.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
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
            from . import session

            with session.overridden(changes):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check(values: dict[str, Any], where: str) -> None:
    """Refuse a negative or non-numeric timeout, naming where it was given."""
    from .._errors import ConfigurationError

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
