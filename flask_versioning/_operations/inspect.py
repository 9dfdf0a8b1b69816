"""Reading: the history (heads, branches, history, show), the models against the database
(check), and which of an app's databases a command acts on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._ledgers.versions import current

if TYPE_CHECKING:
    from alembic.script import Script

    from .._alembic.database import Database
    from .._state import VersioningState

__all__ = ["branches", "check", "describe_diff", "heads", "history", "select", "show"]


def heads(database: Database) -> list[Script]:
    script = database.script_directory()
    with translate_errors(database):
        return [script.get_revision(rev) for rev in script.get_heads()]


def branches(database: Database) -> list[Script]:
    script = database.script_directory()
    with translate_errors(database):
        return [s for s in script.walk_revisions() if s.is_branch_point]


def history(database: Database, rev_range: str | None = None) -> list[Script]:
    """Revisions newest first, optionally limited to ``base:head`` style ranges."""
    script = database.script_directory()
    base = head = None
    if rev_range:
        if ":" not in rev_range:
            raise errors.RevisionError(
                f"history range {rev_range!r} must be '[start]:[end]', e.g. 'base:head' or '-3:'"
            )
        base, head = (part or None for part in rev_range.split(":", 1))
    with translate_errors(database):
        # Like Alembic: "current" is the database's revision; a relative start such as "-3"
        # counts back from the end of the range, which Alembic resolves itself.
        if base == "current":
            base = _current_or_base(database)
        if head == "current":
            head = _current_or_base(database)
        return list(script.walk_revisions(base=base or "base", head=head or "heads"))


def _current_or_base(database: Database) -> str:
    heads_now = current(database)
    if len(heads_now) > 1:
        raise errors.MultipleHeadsError(heads_now, "a history range with 'current'")
    return heads_now[0] if heads_now else "base"


def show(database: Database, revision: str) -> list[Script]:
    script = database.script_directory()
    with translate_errors(database):
        if revision == "current":
            return [script.get_revision(r) for r in current(database)]
        found = script.get_revisions(revision)
    if not found:
        raise errors.RevisionError(f"no revision matches {revision!r}")
    return [s for s in found if s is not None]


def check(database: Database) -> list[Any]:
    """The differences between the models and the database (empty when they match)."""
    from alembic.autogenerate import produce_migrations
    from alembic.runtime.environment import EnvironmentContext

    if database.metadata is None:
        raise errors.ConfigurationError(
            "check needs the app's models: pass a Flask-SQLAlchemy db or metadata= to Versioning"
        )
    config = database.alembic_config()
    script = database.script_directory(config)
    with translate_errors(database, "'check'"):
        behind = set(script.get_heads()) - set(current(database))
    if behind:
        raise errors.RevisionError(
            f"the database is not up to date (missing {', '.join(sorted(behind))}): "
            "run 'flask db upgrade' before checking the models"
        )
    diffs: list[Any] = []

    def compare(rev: Any, context: Any) -> list[Any]:
        migration = produce_migrations(context, database.metadata)  # type: ignore[arg-type]
        for ops in migration.upgrade_ops_list:
            diffs.extend(ops.as_diffs())
        return []

    with (
        translate_errors(database, "'check'"),
        EnvironmentContext(config, script, fn=compare, dont_mutate=True),
    ):
        script.run_env()
    return diffs


def describe_diff(diff: Any) -> str:
    """One readable line for an autogenerate diff, e.g. ``add_table users``; ``modify_*``
    diffs come grouped per column, as a list."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(d) for d in diff)
    if not isinstance(diff, tuple) or not diff:
        return str(diff)
    names: list[str] = []
    for item in diff[1:]:
        if isinstance(item, str):
            names.append(item)
        elif getattr(item, "name", None):
            names.append(str(item.name))
    return f"{diff[0]} {'.'.join(names)}".strip()


# -- which databases ----------------------------------------------------------------------------


def select(
    state: VersioningState,
    binds: Sequence[str] = (),
    revisions: Sequence[str] = (),
    *,
    models: bool = False,
    histories: bool = False,
) -> list[Database]:
    """The databases a command acts on: those named in ``binds``, or every one, except:

    - given revision ids (not ``heads``, ``-1``...), only the databases whose history has them;
    - ``models``: only databases with models, unless none has any (then the user hears why
      nothing can be compared);
    - ``histories`` (even with ``binds``): one database per script directory, as Flask-Migrate's
      multidb layout shares one.
    """
    if binds:
        chosen = [state.database(name) for name in dict.fromkeys(binds)]
    else:
        chosen = state.databases()
        named = [part for r in revisions for part in r.split(":") if _names_a_revision(part)]
        if len(chosen) > 1 and named:
            knowing = [d for d in chosen if all(_knows(d, rev) for rev in named)]
            chosen = knowing or chosen
        if models:
            chosen = [d for d in chosen if d.metadata is not None] or chosen
    if histories:
        seen: set[object] = set()
        distinct = []
        for database in chosen:
            if database.directory not in seen:
                seen.add(database.directory)
                distinct.append(database)
        chosen = distinct
    return chosen


def _names_a_revision(target: str) -> bool:
    match = re.match(r"^(.*?)([+-]\d+)?$", target)
    base = match.group(1) if match else target
    return base not in ("", "head", "heads", "base", "current")


def _knows(database: Database, revision: str) -> bool:
    try:
        return bool(show(database, revision))
    except errors.VersioningError:
        return False
