"""``flask db plan [TARGET]``: what ``upgrade TARGET`` would do, without doing any of it.

For the database as it stands (one ``SELECT`` of its version table): the revisions an upgrade
would apply, each with its message, its SQL rendered offline and its lint findings. It takes
no migration lock, so planning works while another process migrates and never makes a deploy
wait; a SQLite file that does not exist yet is at base and is not created by opening it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._alembic.errors import translate_errors
from .._ledgers.versions import current
from .._paths import normal_path, sqlite_file_missing
from .._reports import DatabasePlan, PlanStep
from .lint import dialect_name, lint_config

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from .._alembic.database import Database


_RELATIVE = re.compile(r"^\+(\d+)$")


def plan(
    database: Database,
    target: str = "heads",
    *,
    applied: bool = False,
    x_args: Sequence[str] = (),
) -> DatabasePlan:
    """The revisions ``upgrade target`` would apply to ``database``, oldest first.

    ``target`` is what ``upgrade`` takes (``heads``, a revision, ``branch@head``, ``+N``). With
    ``applied``, those the database already has are listed too (no SQL), to show where the
    pending ones sit. ``x_args``: the ``-x`` arguments the revisions see, as in ``upgrade``.
    """
    from .._lint import lint_revision, render_revision

    config, dialect = lint_config(database), dialect_name(database)
    script = database.script_directory()
    now = () if sqlite_file_missing(database) else tuple(current(database))
    with translate_errors(database, f"'plan {target}'"):
        path = _upgrade_path(script, target, now)
    steps: list[PlanStep] = []
    for revision, done in path:
        file = normal_path(revision.path)
        if done:
            if applied:
                steps.append(PlanStep(revision.revision, revision.doc, file, applied=True))
            continue
        rendering = render_revision(
            file, dialect=dialect, engine_name=database.engine_name, x_args=x_args
        )
        findings = lint_revision(
            file,
            dialect=dialect,
            config=config,
            engine_name=database.engine_name,
            x_args=x_args,
        )
        steps.append(
            PlanStep(
                revision.revision,
                revision.doc,
                file,
                sql=rendering.sql,
                sql_error=rendering.error or rendering.note,
                findings=tuple(findings),
            )
        )
    return DatabasePlan(database.name, database.bind, dialect, now, target, tuple(steps))


def _upgrade_path(
    script: ScriptDirectory, target: str, now: Sequence[str]
) -> list[tuple[Script, bool]]:
    """Every revision up to ``target``, oldest first, with whether the database has it (it is
    in the ancestry of the database's current revisions)."""
    relative = _RELATIVE.match(target)
    upper = "heads" if relative else target
    wanted = list(reversed(list(script.iterate_revisions(upper, "base"))))
    have = {s.revision for revision in now for s in script.iterate_revisions(revision, "base")}
    path = [(s, s.revision in have) for s in wanted]
    if relative:
        limit = int(relative.group(1))
        pending = [s for s, done in path if not done][:limit]
        path = [(s, done) for s, done in path if done or s in pending]
    return path
