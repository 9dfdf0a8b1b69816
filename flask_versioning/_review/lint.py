"""``flask db lint`` and ``flask db plan``: the linter given the app's view.

The linter (:mod:`flask_versioning._lint`) takes one file and a dialect and knows nothing of the
app; this module gives it the revisions of a database's directory, its dialect, its engine name
in Flask-Migrate's multi-database layout, and ``VERSIONING_LINT``. ``plan [TARGET]`` says what
``upgrade TARGET`` would do (the pending revisions, their SQL rendered offline and findings) for
the database as it stands, from one ``SELECT`` of its version table: it takes no migration lock,
so planning never makes a deploy wait, and a SQLite file that does not exist yet is at base.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._ledgers.versions import current
from .._paths import normal_path, sqlite_file_missing
from .._reports import DatabasePlan, PlanStep

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from .._alembic.database import Database
    from .._lint import Finding, LintConfig


def _settings(database: Database) -> tuple[LintConfig, str]:
    """``VERSIONING_LINT``, with whether ``env.py`` sets a lock timeout (so that the linter does
    not ask for one it already has), and the dialect the revisions are rendered for (making an
    engine does not connect; MariaDB through ``mysql+pymysql`` says ``mysql``, which the MySQL
    rules cover)."""
    from .._lint import LintConfig

    lock_timeout = bool(database.settings.ddl_lock_timeout)  # PostgreSQL reads 0 as "none"
    config = LintConfig.from_setting(database.settings.lint, lock_timeout=lock_timeout)
    return config, database.engine().dialect.name


def lint_database(
    database: Database,
    revisions: Sequence[str] = (),
    *,
    since: str | None = None,
    squawk: bool = False,
    x_args: Sequence[str] = (),
) -> list[Finding]:
    """Lint the revision files :func:`pick_revisions` picks, with ``x_args`` as their ``-x``
    arguments: file by file, oldest first, each path absolute and normalised."""
    from .._lint import lint_revision

    config, dialect = _settings(database)
    return [
        finding
        for script in pick_revisions(database, revisions, since=since)
        for finding in lint_revision(
            normal_path(script.path),
            dialect=dialect,
            config=config,
            engine_name=database.engine_name,
            squawk=squawk,
            x_args=x_args,
        )
    ]


def pick_revisions(
    database: Database, revisions: Sequence[str] = (), *, since: str | None = None
) -> list[Script]:
    """The revisions to lint, oldest first: ``revisions`` (ids, partial ids, ``head``...), or
    those ``since`` does not have (how CI lints what a branch adds), or all of them."""
    if revisions and since is not None:
        raise errors.RevisionError("name revisions or give --since, not both")
    script = database.script_directory()
    with translate_errors(database, "'lint'"):
        if revisions:
            return _named(script, revisions)
        every = list(reversed(list(script.walk_revisions())))
        if since is None:
            return every
        from alembic.util import CommandError

        try:
            start = script.get_revision(since)
        except CommandError as exc:
            raise errors.RevisionError(f"--since: {errors.one_line(exc)}") from exc
        if start is None:
            raise errors.RevisionError(f"--since: no revision matches {since!r}")
        before = {s.revision for s in script.iterate_revisions(start.revision, "base")}
        return [s for s in every if s.revision not in before]


def _named(script: ScriptDirectory, revisions: Sequence[str]) -> list[Script]:
    chosen: dict[str, Script] = {}
    for name in revisions:
        found = [s for s in script.get_revisions(name) if s is not None]
        if not found:
            raise errors.RevisionError(f"no revision matches {name!r}")
        for s in found:
            chosen.setdefault(s.revision, s)
    return list(chosen.values())


_RELATIVE = re.compile(r"^\+(\d+)$")


def plan(
    database: Database,
    target: str = "heads",
    *,
    applied: bool = False,
    x_args: Sequence[str] = (),
) -> DatabasePlan:
    """The revisions ``upgrade target`` (``heads``, a revision, ``branch@head``, ``+N``) would
    apply to ``database``, oldest first; with ``applied``, those it has are listed too (no SQL),
    to show where the pending ones sit."""
    from .._lint import lint_revision, render_revision

    config, dialect = _settings(database)
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
