"""The linear-history guard: ``versions/HEADS`` (see :mod:`flask_versioning._alembic.heads_file`)
kept true, and checked against the revisions, so that a deploy of a bad merge fails before any
revision runs. With ``VERSIONING_LINEAR_HISTORY = False`` nothing here reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._alembic.heads import script_heads
from .._alembic.heads_file import (
    HeadsFile,
    current_entries,
    head_messages,
    heads_path,
    read_heads_file,
    revision_ids,
    write_heads_file,
)
from .._alembic.revision_files import version_locations
from .._paths import display_path

if TYPE_CHECKING:
    from .._alembic.database import Database


def _compute(database: Database) -> list[str]:
    with translate_errors(database):
        return database.script_heads()


def _heads(database: Database) -> tuple[str, ...]:
    return script_heads(version_locations(database), lambda: _compute(database)).revisions


def _guarded(database: Database) -> HeadsFile | None:
    return read_heads_file(database.directory) if database.settings.linear_history else None


def _write(database: Database) -> Path:
    entries = current_entries(version_locations(database), lambda: _compute(database))
    return write_heads_file(database.directory, entries)


def heads_file_problem(database: Database) -> str | None:
    """How ``versions/HEADS`` disagrees with the revision files, in one line naming both sides
    and the fixing command; ``None`` if it agrees or the directory has no such file."""
    listed = _guarded(database)
    return None if listed is None else _file_problem(database, listed, _heads(database))


def _file_problem(database: Database, listed: HeadsFile, actual: Sequence[str]) -> str | None:
    if not listed.conflicted and set(listed.revisions) == set(actual):
        return None
    where, says = display_path(listed.path), _side(listed.entries)
    if listed.conflicted:
        start = f"{where} still has git's conflict markers (its lines list {says})"
    else:
        start = f"{where} lists {says}"
    advice = _advice(database, listed, actual)
    return f"{start}, but the revision files' heads are {_files(database, actual)}: {advice}"


def _files(database: Database, heads: Sequence[str]) -> str:
    messages = head_messages(version_locations(database), heads)
    return _side([(rev, messages.get(rev, "")) for rev in heads])


def _side(entries: Sequence[tuple[str, str]]) -> str:
    if not entries:
        return "no revision"
    return ", ".join(f"{rev} ({message})" if message else rev for rev, message in entries)


def _advice(database: Database, listed: HeadsFile, actual: Sequence[str]) -> str:
    known = [rev for rev in actual if rev in listed.revisions]
    if len(actual) > 1 and len(known) == len(actual) - 1:
        (newcomer,) = (rev for rev in actual if rev not in listed.revisions)
        return _rebase_advice(newcomer, known)
    if len(actual) > 1 and len(known) == len(actual) and listed.conflicted:
        # Both sides of the conflict are heads: move the incoming side onto the other.
        incoming = [rev for rev in listed.theirs if rev in actual]
        newcomer = incoming[0] if len(incoming) == 1 else actual[-1]
        return _rebase_advice(newcomer, [rev for rev in actual if rev != newcomer])
    known_ids = revision_ids(version_locations(database))
    lost = [rev for rev in listed.revisions if known_ids is not None and rev not in known_ids]
    if lost:
        return (
            f"no revision file has {', '.join(lost)} (lost in a merge?); restore it, or run "
            "'flask db init --linear' to record the heads the files have"
        )
    return (
        "revisions were added without rewriting HEADS (by another tool?); check them, then "
        "run 'flask db init --linear' to record the heads the files have"
    )


def _rebase_advice(newcomer: str, others: Sequence[str]) -> str:
    onto = others[0] if len(others) == 1 else None
    after = f" to put it after {onto}" if onto else ""
    option = "" if onto else " --onto <head>"
    return (
        f"two branches each added a revision; run 'flask db rebase {newcomer}{option}'{after} "
        "(or 'flask db merge' to keep both branches), then commit HEADS"
    )


def refuse_stale(database: Database) -> None:
    """Raise :class:`~flask_versioning.RevisionError` when ``versions/HEADS`` is stale: writing
    a revision would rewrite the file and hide the disagreement it exists to show."""
    problem = heads_file_problem(database)
    if problem is not None:
        raise errors.RevisionError(f"no revision was written: {problem}")


def refuse_upgrade(database: Database) -> None:
    """Raise :class:`~flask_versioning.RevisionError` when the guarded history is not linear:
    a conflicted or stale file, or more than one head even where the file lists them all (a
    branch written on purpose still needs a merge or a rebase before it is deployed)."""
    listed = _guarded(database)
    if listed is None:
        return
    actual = _heads(database)
    problem = _file_problem(database, listed, actual)
    if problem is None:
        if len(actual) < 2:
            return
        problem = (
            f"the revision files have {len(actual)} heads, {_files(database, actual)}, and "
            f"{display_path(heads_path(database.directory))} keeps this history linear: "
            + _rebase_advice(actual[-1], actual[:-1])
        )
    raise errors.RevisionError(
        f"nothing was applied to the {database.name} database: {problem} "
        "(VERSIONING_LINEAR_HISTORY = False turns this guard off)"
    )


def record_heads(database: Database) -> Path | None:
    """Rewrite ``versions/HEADS`` from the revision files, if the directory has one."""
    return None if _guarded(database) is None else _write(database)


def enable(database: Database) -> Path:
    """Turn the guard on: write ``versions/HEADS`` from the files (an existing or adopted
    directory, or after a change made by another tool); refused when it is configured off."""
    if not database.settings.linear_history:
        raise errors.ConfigurationError(
            "VERSIONING_LINEAR_HISTORY is False: the linear-history guard is off for this app"
        )
    _write(database)
    return heads_path(database.directory)
