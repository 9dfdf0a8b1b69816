"""Which environment an app acts for, and protection that follows the database: the one place
that decides whether a command may wipe or rewrite a database.

A database is protected when the app declares a protected environment (``VERSIONING_ENV`` or
``--env`` in ``VERSIONING_PROTECTED_ENVS``), or when its history ledger says a protected app (or
a served, non-debug start that declared nothing: a *guessed* production) migrated, seeded or
auto-upgraded it, and nobody ran ``flask db unprotect`` since. The ledger rule is the one that
matters: a development shell pointed at the production URL by mistake still meets production's
record. An unreadable ledger is refused like a protected one (failing closed);
``allow_protected`` (``--allow-protected``) overrides all of it.

Refusals are judged by effect, not spelling: ``env.py``, which every path runs, hands
:func:`guard_steps` the steps Alembic resolved, which refuses a downgrade ending a branch at
base and a stamp over applied history (rollbacks stay allowed, as Rails allows
``db:rollback``). Commands that never reach Alembic ask :func:`check_allowed` first.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app

from . import _errors as errors
from ._ledgers import history

if TYPE_CHECKING:
    from alembic.config import Config

    from ._alembic.database import Database
    from ._settings import Settings
    from ._state import VersioningState

_OVERRIDE_HINT = "pass --allow-protected (allow_protected=True in Python) if you really mean it"

#: Key in ``Config.attributes``: ``True`` lets plain ``alembic.command`` calls on
#: ``Versioning.alembic_config()`` wipe or rewrite a protected database.
ALLOW_KEY = "versioning_allow_protected"

_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flask_versioning_allow_protected", default=False
)


@contextlib.contextmanager
def allowing(allow: bool) -> Iterator[None]:
    """Run the block with ``--allow-protected`` given or not: the facade tells the guard in
    ``env.py`` the caller's choice this way; outside such a block nothing is allowed."""
    token = _allowed.set(allow)
    try:
        yield
    finally:
        _allowed.reset(token)


def run_for(state: VersioningState, override: str | None = None) -> history.Run:
    """The environment the app acts for, whether it was declared, and whether it protects.

    ``override`` (``--env``) wins, then ``VERSIONING_ENV``. Otherwise it is guessed from the
    app's flags, read now because ``flask --debug`` and fixtures set them after ``init_app``:
    a guessed ``production`` chooses the seeds but protects nothing from a shell.
    """
    if override is not None and not override.strip():
        raise errors.ConfigurationError("the environment name must not be empty")
    name = override.strip() if override is not None else state.settings.env
    if name:
        name = str(name)
        return history.Run(name, declared=True, protect=name in state.settings.protected_envs)
    app = current_app
    guessed = "testing" if app.testing else "development" if app.debug else "production"
    return history.Run(guessed)


#: What a protection recorded without a declared environment assumed (see ``_autoupgrade``).
GUESSED_PROTECTION = "a served, non-debug start that declared no environment"

_GUESSES = {
    "production": "not declared, no --debug",
    "development": "not declared, --debug",
    "testing": "not declared, testing mode",
}


def environment_label(name: str | None, *, declared: bool) -> str:
    """``name`` as ``status`` and the status page show it: a guess never reads as a claim."""
    if declared:
        return f"{name or 'unknown'} (declared)"
    return f"{name or 'unknown'} (guessed: {_GUESSES.get(name or '', 'not declared')})"


def environment_name(state: VersioningState, override: str | None = None) -> str:
    """The environment seeds are chosen for (``override``: ``--env``)."""
    return run_for(state, override).environment


class Unknown(Exception):
    """The ledger of a database cannot be read, so whether it is protected is unknown."""


def check_allowed(
    state: VersioningState,
    action: str,
    databases: Sequence[Database],
    *,
    env: str | None = None,
    allow_protected: bool,
) -> None:
    """Refuse ``action`` on ``databases`` if the app (its own environment or ``--env``) or
    any of them is protected, or unknown."""
    if allow_protected:
        return
    why = reason(state, databases, env)
    if why is not None:
        raise _refusal(action, why)


def _refusal(action: str, why: str) -> errors.ProtectedEnvironmentError:
    return errors.ProtectedEnvironmentError(
        f"refusing to {action}: {why}; nothing was changed; {_OVERRIDE_HINT}"
    )


def reason(
    state: VersioningState, databases: Sequence[Database], env: str | None = None
) -> str | None:
    """Why the app or one of ``databases`` is protected (or may be), or ``None``."""
    # The environment the command names first: it is what the user is asking about.
    for run in [run_for(state, env)] if env is not None else []:
        if run.protect:
            return _app_reason(run)
    if (run := run_for(state)).protect:
        return _app_reason(run)
    reasons = (_database_reason(database, None) for database in databases)
    return next((why for why in reasons if why is not None), None)


def _app_reason(run: history.Run) -> str:
    return f"{run.environment!r} is a protected environment (VERSIONING_PROTECTED_ENVS)"


def _database_reason(database: Database, connection: sa.Connection | None) -> str | None:
    """Why ``database``'s ledger protects it (or leaves that unknown), or ``None``."""
    where = errors.mask_url(database.url)
    try:
        mark = protection_mark(database, connection)
    except Unknown as exc:
        return (
            f"the protection state of the database at {where} is unknown: its history ledger "
            f"({database.settings.history_table}) cannot be read ({exc})"
        )
    if mark is None:
        return None
    when = mark.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    what = f"{mark.direction} {mark.revision}" if mark.revision else mark.direction
    guessed = "" if mark.declared else f" (guessed: {GUESSED_PROTECTION})"
    return (
        f"the database at {where} is protected: its history records a "
        f"{mark.environment!r} app{guessed} on {mark.host or 'an unknown host'} at {when} "
        f"({what}); 'flask db unprotect --yes' lifts that if this database is no longer "
        f"{mark.environment!r}"
    )


def protection_mark(
    database: Database, connection: sa.Connection | None = None
) -> history.Entry | None:
    """The ledger row that protects ``database``, or ``None``; :class:`Unknown` (with a
    one-line reason) when the ledger exists but cannot be read."""
    try:
        entries = history.read_history(
            connection if connection is not None else database.engine(), database.settings
        )
    except (sa.exc.SQLAlchemyError, ValueError, TypeError, KeyError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise Unknown(errors.scrub(errors.one_line(first, 200))) from exc
    return history.protection(entries or [])


def harm(heads: Sequence[str], steps: Sequence[Any], *, purge: bool = False) -> str | None:
    """What Alembic's resolved ``steps`` would wipe or rewrite from ``heads``, or ``None``.

    Reverting a root revision ends its branch at base, however the target was spelled; a stamp
    that changes a non-empty version table rewrites applied history (``purge``: it is emptied
    first); stamping an empty one (adopting a database) is harmless.
    """
    reverted: list[str] = []
    now = set() if purge else set(heads)
    stamped = purge
    for step in steps:
        info = step.info  # MigrationInfo: Alembic's public description of a step
        if info.is_stamp:
            stamped = True
            now = (now - set(info.source_revision_ids)) | set(info.destination_revision_ids)
            continue
        if info.is_upgrade:
            continue
        reverted.extend(info.up_revision_ids)
        if not info.down_revision_ids:
            return (
                f"downgrade to base (it reverts {len(reverted)} revision(s), down to "
                f"{reverted[-1]}, leaving that branch with none applied)"
            )
    if stamped and heads and now != set(heads):
        to = ", ".join(sorted(now)) or "base"
        how = "stamp --purge" if purge else "stamp"
        return f"{how} {to} over the applied history ({', '.join(sorted(heads))})"
    return None


def guard_steps(
    database: Database,
    config: Config,
    connection: sa.Connection,
    heads: Sequence[str],
    steps: Sequence[Any],
    purge: bool = False,
) -> None:
    """Refuse ``steps`` before the first runs if they harm a protected database (``env.py``).

    The ledger is read on the migration's connection, and only for harmful steps: upgrades
    cost nothing.
    """
    if _allowed.get() or config.attributes.get(ALLOW_KEY):
        return
    action = harm(heads, steps, purge=purge)
    if action is None:
        return
    run = history.current_run(database.settings)
    why = _app_reason(run) if run.protect else _database_reason(database, connection)
    if why is not None:
        raise _refusal(action, why)


def mark_protected(databases: Sequence[Database], run: history.Run) -> None:
    """Record that protected ``run`` touched ``databases`` unless they say so already: for
    seeds, which write no step, and tenants found at head."""
    if not run.protect:
        return
    for database in databases:
        try:
            marked = protection_mark(database) is not None
        except Unknown:
            marked = False  # writing the marker may still work (INSERT without SELECT)
        if not marked:
            history.write_marker(database, run, history.PROTECT)


def unprotect(state: VersioningState, databases: Sequence[Database]) -> list[str]:
    """Record ``unprotect`` in each protected database's ledger; returns their names. An
    unreadable ledger refuses: lifting protection nobody can see is a change like any other."""
    lifted = []
    run = run_for(state)
    for database in databases:
        try:
            mark = protection_mark(database)
        except Unknown as exc:
            raise errors.ProtectedEnvironmentError(
                f"cannot lift protection of the database at {errors.mask_url(database.url)}: "
                f"its history ledger cannot be read ({exc}); nothing was changed"
            ) from exc
        if mark is not None:
            history.write_marker(database, run, history.UNPROTECT)
            lifted.append(database.name)
    return lifted


def tampering(
    entries: Sequence[history.Entry] | None, applied: Sequence[str], settings: Settings
) -> list[str]:
    """Signs that the ledger (``entries``, ``None``: none) was edited or dropped by hand, one
    line each: they make deletions visible, proving nothing (a failed step leaves a gap too)."""
    if not settings.keeps_history:
        return []  # VERSIONING_HISTORY = False: no ledger is kept, so none is missing
    table = settings.history_table
    if entries is None:
        gone = (
            f"the history ledger ({table}) is missing although revisions are applied "
            f"({', '.join(applied)}): it was dropped, or the database was migrated only by "
            "other tools; any protection it recorded is gone"
        )
        return [gone] if applied else []
    found: list[str] = []
    ids = sorted(e.id for e in entries)
    missing = _ranges(sorted(set(range(1, ids[-1] + 1)) - set(ids))) if ids else []
    if missing:
        found.append(
            f"history ledger ({table}) row(s) {', '.join(missing)} are missing: deleted by "
            "hand, or written by steps that failed and were rolled back"
        )
    edited = [
        str(e.id)
        for e in entries
        if e.declared
        and e.environment in settings.protected_envs
        and not e.protected
        and e.direction != history.UNPROTECT
    ]
    if edited:
        found.append(
            f"history ledger ({table}) row(s) {', '.join(edited)} were written by a protected "
            "environment but do not protect: edited by hand"
        )
    if not ids and applied:
        found.append(
            f"the history ledger ({table}) is empty although revisions are applied "
            f"({', '.join(applied)}): its rows were deleted"
        )
    return found


def _ranges(numbers: Sequence[int]) -> list[str]:
    """``1-3``, ``5`` for 1, 2, 3, 5: runs of consecutive numbers."""
    runs = [[n for _, n in run] for _, run in groupby(enumerate(numbers), lambda p: p[1] - p[0])]
    return [str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
