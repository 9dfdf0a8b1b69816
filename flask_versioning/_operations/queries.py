"""Reading: the history (heads, branches, history, show, graph, pending), the models against
the database (check), and which of an app's databases a command acts on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._alembic.heads import script_heads
from .._alembic.revision_files import version_locations
from .._ledgers.versions import current, version_rows

if TYPE_CHECKING:
    from alembic.script import Script

    from .._alembic.database import Database
    from .._graph import Format
    from .._state import VersioningState


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
        # Like Alembic: "current" is the database's revision (a relative start such as "-3"
        # Alembic resolves itself).
        base, head = (_current_or_base(database) if p == "current" else p for p in (base, head))
        return list(script.walk_revisions(base=base or "base", head=head or "heads"))


def _current_or_base(database: Database) -> str:
    heads_now = current(database)
    if len(heads_now) > 1:
        raise errors.MultipleHeadsError(heads_now, "a history range with 'current'")
    return heads_now[0] if heads_now else "base"


def pending(database: Database) -> list[Script]:
    """The revisions an upgrade to heads would apply, oldest first (empty when at heads).

    The common answer, "nothing", costs one ``SELECT`` and the cached heads, as at start-up:
    the development pages ask this on a process's first request.
    """
    cached = script_heads(version_locations(database), database.script_heads)
    rows = version_rows(database)
    if rows is not None and set(rows) == set(cached.revisions):
        return []
    now = current(database)  # raises, with one masked line, when the database is unreachable
    script = database.script_directory()
    with translate_errors(database, "'pending'"):
        # What ``upgrade heads`` walks: from the heads down to what the database has, with
        # implicit_base so that a branch the database never started is listed from its base.
        walked = script.iterate_revisions("heads", tuple(now) or "base", implicit_base=True)
        return list(reversed([s for s in walked if s is not None]))


def graph(state: VersioningState, database: Database, fmt: Format, last: int | None = None) -> str:
    """The history of ``database`` drawn in ``fmt``, with where each database stands marked.

    Every database sharing this script directory is marked; one that cannot be read is named
    in a note instead of failing the drawing, which is most wanted when something is wrong.
    """
    from .._graph import BASE, Graph, nodes_from_scripts, render

    script = database.script_directory()
    with translate_errors(database, "'graph'"):
        nodes = nodes_from_scripts(script.walk_revisions())
    marks: dict[str, list[str]] = {}
    notes: list[str] = []
    for other in state.databases():
        if other.directory != database.directory:
            continue
        try:
            revisions = current(other)
        except (errors.VersioningError, sa.exc.SQLAlchemyError) as exc:
            notes.append(f"{other.name}: cannot be read ({errors.scrub(errors.one_line(exc))})")
            continue
        for revision in revisions or [BASE]:
            marks.setdefault(revision, []).append(other.name)
    return render(Graph(nodes, marks, notes), fmt, last=last)


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
    - ``models``: only databases with models, unless none has any (the user then hears why);
    - ``histories`` (even with ``binds``): one database per script directory (multidb layout).
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
        first: dict[Path, Database] = {}
        for database in chosen:
            first.setdefault(database.directory, database)
        chosen = list(first.values())
    return chosen


def _names_a_revision(target: str) -> bool:
    return re.sub(r"[+-]\d+$", "", target) not in ("", "head", "heads", "base", "current")


def _knows(database: Database, revision: str) -> bool:
    try:
        return bool(show(database, revision))
    except errors.VersioningError:
        return False
