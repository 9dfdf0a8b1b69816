"""``flask db lint``: which revision files to check, for which database, with which settings.

The linter (:mod:`flask_versioning._lint`) takes one file and a dialect and knows nothing of the
app; this module gives it the app's view: the revisions of a database's directory, its dialect,
its engine name in Flask-Migrate's multi-database layout, and ``VERSIONING_LINT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._paths import normal_path

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from .._alembic.database import Database
    from .._lint import Finding, LintConfig


def dialect_name(database: Database) -> str:
    """The dialect the database's revisions are rendered for (making an engine does not
    connect; a ``mysql+pymysql`` URL to MariaDB says ``mysql``, and the MySQL rules cover both)."""
    return database.engine().dialect.name


def lint_config(database: Database) -> LintConfig:
    """``VERSIONING_LINT`` as the linter reads it, and whether ``env.py`` sets a lock timeout
    (so that the linter does not ask for one it already has); a bad value is a one-line error."""
    from .._lint import LintConfig

    lock_timeout = bool(database.settings.ddl_lock_timeout)  # PostgreSQL reads 0 as "none"
    return LintConfig.from_setting(database.settings.lint, lock_timeout=lock_timeout)


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

    config, dialect = lint_config(database), dialect_name(database)
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
