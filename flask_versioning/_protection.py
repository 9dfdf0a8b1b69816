"""Which environment an app acts for, and protection that follows the database.

Destructive commands (``reset``, ``downgrade base``, ``stamp`` over an applied history,
``seed --force``, ``validate --repair``) are refused for a database that is protected, before
anything changes. A database is protected when

- the app declares a protected environment (``VERSIONING_ENV``, or ``--env``, is in
  ``VERSIONING_PROTECTED_ENVS``), or
- its history ledger says so: it was migrated, seeded or auto-upgraded by such an app, or
  auto-upgraded by a served, non-debug process, and nobody ran ``flask db unprotect`` since.

The second rule is the one that matters: a developer's shell, configured for development and
pointed at the production URL by mistake, still meets the production database's record. An app
that declares nothing, on a database with no such record, is not protected: the Alembic
tutorials' ``downgrade base`` works there, as with Alembic itself. ``allow_protected``
(``--allow-protected``) overrides both rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app

from . import _errors as errors
from ._ledgers import history
from ._ledgers.versions import current

if TYPE_CHECKING:
    from ._alembic.database import Database
    from ._state import VersioningState

__all__ = [
    "check_allowed",
    "environment_name",
    "guard_downgrade",
    "guard_stamp",
    "mark_protected",
    "reason",
    "run_for",
    "unprotect",
]

_OVERRIDE_HINT = "pass --allow-protected (allow_protected=True in Python) if you really mean it"


def run_for(state: VersioningState, override: str | None = None) -> history.Run:
    """The environment the app acts for, whether it was declared, and whether it protects.

    ``override`` (``--env``) wins, then ``VERSIONING_ENV``; both are declared. Otherwise the
    name is guessed: ``testing`` in testing mode, ``development`` in debug mode, else
    ``production``, which chooses the seeds but protects nothing. The app's flags are read now
    rather than at ``init_app`` because ``flask --debug`` and test fixtures set them later.
    """
    protected = state.settings.protected_envs
    if override is not None:
        name = override.strip()
        if not name:
            raise errors.ConfigurationError("the environment name must not be empty")
        return history.Run(name, declared=True, protect=name in protected)
    if state.settings.env:
        name = str(state.settings.env)
        return history.Run(name, declared=True, protect=name in protected)
    app = current_app
    guessed = "testing" if app.testing else "development" if app.debug else "production"
    return history.Run(guessed)


def environment_name(state: VersioningState, override: str | None = None) -> str:
    """The environment seeds are chosen for (``override`` is ``--env``)."""
    return run_for(state, override).environment


def check_allowed(
    state: VersioningState,
    action: str,
    databases: Sequence[Database],
    *,
    env: str | None = None,
    allow_protected: bool,
) -> None:
    """Refuse ``action`` on ``databases`` if the app or any of them is protected.

    Both the app's own environment and an ``--env`` override count, so that
    ``flask db reset --env development`` on a production app is refused too.
    """
    if allow_protected:
        return
    why = reason(state, databases, env)
    if why is not None:
        raise errors.ProtectedEnvironmentError(
            f"refusing to {action}: {why}; nothing was changed; {_OVERRIDE_HINT}"
        )


def reason(
    state: VersioningState, databases: Sequence[Database], env: str | None = None
) -> str | None:
    """Why the app or one of ``databases`` is protected, or ``None``."""
    # The environment the command names first: it is what the user is asking about.
    for run in (run_for(state, env) if env is not None else None, run_for(state)):
        if run is not None and run.protect:
            return f"{run.environment!r} is a protected environment (VERSIONING_PROTECTED_ENVS)"
    for database in databases:
        mark = protection_mark(database)
        if mark is not None:
            when = mark.finished_at.strftime("%Y-%m-%d %H:%M UTC")
            what = f"{mark.direction} {mark.revision}" if mark.revision else mark.direction
            return (
                f"the database at {errors.mask_url(database.url)} is protected: its history "
                f"records a {mark.environment!r} app on {mark.host or 'an unknown host'} at "
                f"{when} ({what}); 'flask db unprotect --yes' lifts that if this database "
                f"is no longer {mark.environment!r}"
            )
    return None


def protection_mark(database: Database) -> history.Entry | None:
    """The ledger row that protects ``database``; ``None`` when it is not protected.

    A ledger that cannot be read protects nothing (``flask db status`` says it is damaged).
    """
    try:
        entries = history.read_history(database.engine(), database.settings)
    except (sa.exc.DBAPIError, ValueError, TypeError):  # values edited by hand, too
        return None
    return history.protection(entries or [])


def mark_protected(state: VersioningState, databases: Sequence[Database], run: history.Run) -> None:
    """Record that ``run`` (a protected one) touched ``databases``, unless they say so already.

    Migrations record it with every step; this is for seeds, which write no step.
    """
    if not run.protect:
        return
    for database in databases:
        if protection_mark(database) is None:
            history.write_marker(database, run, history.PROTECT)


def guard_downgrade(
    state: VersioningState, database: Database, target: str, *, sql: bool, allow_protected: bool
) -> None:
    """Refuse ``downgrade base`` of a protected database (offline ``--sql`` is harmless)."""
    if sql or allow_protected:
        return
    if target == "base" or target.endswith("@base"):
        check_allowed(
            state,
            f"downgrade to {target} (it reverts every migration)",
            [database],
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
    """Refuse a stamp that would rewrite the applied history of a protected database.

    An empty version table (adopting a database) or the same revisions stay allowed; a target
    that cannot be resolved counts as a rewrite, since refusing is the safe answer.
    """
    if sql or allow_protected:
        return
    now = set(current(database))
    if not now or reason(state, [database]) is None:
        return
    try:
        script = database.script_directory()
        target = {r.revision for r in script.get_revisions(list(revisions)) if r is not None}
    except Exception:
        target = None
    if target != now:
        check_allowed(
            state,
            f"stamp {' '.join(revisions)} over the applied history ({', '.join(sorted(now))})",
            [database],
            allow_protected=False,
        )


def unprotect(state: VersioningState, databases: Sequence[Database]) -> list[str]:
    """Record ``unprotect`` in the ledger of each protected database; returns their names."""
    lifted = []
    run = run_for(state)
    for database in databases:
        if protection_mark(database) is not None:
            history.write_marker(database, run, history.UNPROTECT)
            lifted.append(database.name)
    return lifted
