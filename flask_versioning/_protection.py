"""Which environment an app acts for, and the guards that protect some environments.

Destructive commands (``reset``, ``downgrade base``, ``stamp`` over an applied history,
``seed --force``) are refused in a protected environment (``VERSIONING_PROTECTED_ENVS``) unless
the caller says ``allow_protected``. Every guard runs before anything changes, so a refusal
leaves the database exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from flask import current_app

from . import _errors as errors
from ._ledgers.versions import current

if TYPE_CHECKING:
    from ._alembic.database import Database
    from ._state import VersioningState

__all__ = ["ensure_allowed", "environment_name", "guard_downgrade", "guard_stamp"]

_OVERRIDE_HINT = "pass --allow-protected (allow_protected=True in Python) if you really mean it"


def environment_name(state: VersioningState, override: str | None = None) -> str:
    """``override`` (``--env``), else ``VERSIONING_ENV``, else ``testing``, ``development``
    (debug) or ``production`` from the app's flags, read now because ``flask --debug`` and test
    fixtures set them after ``init_app``."""
    if override is not None:
        name = override.strip()
        if not name:
            raise errors.ConfigurationError("the environment name must not be empty")
        return name
    configured = state.settings.env
    if configured:
        return str(configured)
    app = current_app
    if app.testing:
        return "testing"
    if app.debug:
        return "development"
    return "production"


def ensure_allowed(
    state: VersioningState, action: str, environments: Iterable[str], *, allow_protected: bool
) -> None:
    """Refuse ``action`` when any of ``environments`` is protected. Callers pass the app's
    environment and any ``--env``, so ``reset --env development`` on production is refused."""
    if allow_protected:
        return
    protected = set(state.settings.protected_envs)
    for environment in dict.fromkeys(environments):
        if environment in protected:
            raise errors.ProtectedEnvironmentError(
                f"refusing to {action}: {environment!r} is a protected environment "
                f"(VERSIONING_PROTECTED_ENVS) and nothing was changed; {_OVERRIDE_HINT}"
            )


def guard_downgrade(
    state: VersioningState, target: str, *, sql: bool, allow_protected: bool
) -> None:
    """Refuse ``downgrade base`` in a protected environment (offline ``--sql`` is harmless)."""
    if sql or allow_protected:
        return
    if target == "base" or target.endswith("@base"):
        ensure_allowed(
            state,
            f"downgrade to {target} (it reverts every migration)",
            [environment_name(state)],
            allow_protected=False,
        )


def guard_stamp(
    state: VersioningState,
    database: Database,
    revisions: Sequence[str],
    *,
    sql: bool,
    allow_protected: bool,
) -> None:
    """Refuse a stamp that would rewrite an applied history in a protected environment.

    An empty version table (adopting a database) or the same revisions stay allowed; a target
    that cannot be resolved counts as a rewrite, since refusing is the safe answer.
    """
    if sql or allow_protected:
        return
    environment = environment_name(state)
    if environment not in state.settings.protected_envs:
        return
    now = set(current(database))
    if not now:
        return
    try:
        script = database.script_directory()
        target = {r.revision for r in script.get_revisions(list(revisions)) if r is not None}
    except Exception:
        target = None
    if target != now:
        ensure_allowed(
            state,
            f"stamp {' '.join(revisions)} over the applied history ({', '.join(sorted(now))})",
            [environment],
            allow_protected=False,
        )
