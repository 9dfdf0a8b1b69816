"""What ``init_app`` runs at start: ``VERSIONING_VALIDATE_ON_START``, then the automatic upgrade
(``VERSIONING_AUTO_UPGRADE``).

A revision file changed after it was applied no longer describes the schema the database has
(an edit meant for a new revision, a checkout that differs from what was deployed). Validating
reads every applied file, so it is opt-in: ``"refuse"`` stops app creation with
:class:`~flask_versioning.HistoryMismatch`, ``"log"`` logs the same line. It runs before the
upgrade, so a refused start changes nothing, and is skipped where the upgrade is: above all in
``flask db ...``, so that ``flask db validate --repair`` can still run.

Most starts find the database at head, so that case is nearly free: heads read without importing
a revision, one ``SELECT``, no lock, no Alembic. A database behind takes the locked upgrade,
which reads again under the lock: of many processes starting together one migrates.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import is_running_from_reloader

from . import _errors as errors
from ._alembic.database import Database
from ._alembic.heads import target_revisions
from ._ledgers.history import recording
from ._ledgers.versions import version_rows
from ._operations.executor import upgrade
from ._operations.standing import validate
from ._protection import run_for
from ._settings import start_skip_reason
from ._types import ValidationResult

if TYPE_CHECKING:
    from ._state import VersioningState

logger = logging.getLogger("flask_versioning")


def start(app: Flask, state: VersioningState, *, command: str) -> None:
    """Validate, then upgrade, as the settings ask; ``command`` is our CLI group's name."""
    if state.settings.validate_on_start is not None:
        _validate_on_start(app, state, command=command)
    if state.settings.auto_upgrade:
        auto_upgrade(app, state, command=command)


def _validate_on_start(app: Flask, state: VersioningState, *, command: str) -> None:
    """Validate every database of ``app`` as ``VERSIONING_VALIDATE_ON_START`` says."""
    reason = skip_reason(command)
    if reason is not None:
        logger.debug("validation at start skipped: %s", reason)
        return
    with app.app_context():
        failures = [
            result
            for database in state.databases()
            if not (result := validate(state, database, repair=False, allow_protected=False)).ok
        ]
    if not failures:
        return
    message = "; ".join(_describe(result) for result in failures)
    if state.settings.validate_on_start == "refuse":
        revisions = [r.revision for result in failures for r in result.problems]
        raise errors.HistoryMismatch(
            f"{message} (VERSIONING_VALIDATE_ON_START = 'refuse')", revisions
        )
    logger.error("%s (VERSIONING_VALIDATE_ON_START = 'log')", message)


def _describe(result: ValidationResult) -> str:
    """One line naming each applied revision whose file changed or vanished."""
    if result.error is not None and not result.problems:
        return f"the {result.database} database cannot be validated: {result.error}"
    parts = [
        f"{r.revision} ({'file missing' if r.state == 'missing' else 'file changed since'})"
        for r in result.problems
    ]
    return (
        f"the {result.database} database has applied revisions whose files changed or "
        f"vanished since: {', '.join(parts)}; review them, then record them with "
        "'flask db validate --repair'"
    )


def auto_upgrade(app: Flask, state: VersioningState, *, command: str) -> None:
    """Upgrade every database of ``app`` to ``VERSIONING_AUTO_UPGRADE_TARGET``, then seed; a
    failure stops app creation, or with ``VERSIONING_AUTO_UPGRADE_ON_ERROR = "log"`` is logged.
    """
    reason = skip_reason(command)
    if reason is not None:
        logger.debug("auto-upgrade skipped: %s", reason)
        return
    with app.app_context():
        run = run_for(state)
        if not run.declared and not app.debug and not app.testing:
            # A served start that declared nothing is guessed to be production: what it
            # migrates is production's from now on.
            run = dataclasses.replace(run, protect=True)
        with recording(run):
            _upgrade_all(state)


def _upgrade_all(state: VersioningState) -> None:
    settings = state.settings
    try:
        databases = state.databases()
    except Exception as exc:
        _handle(settings.auto_upgrade_on_error, "the app's databases", exc)
        return
    try:
        upgraded = True
        for database in databases:
            try:
                upgrade_database(database, settings.auto_upgrade_target)
            except Exception as exc:
                upgraded = False
                _handle(settings.auto_upgrade_on_error, f"the {database.name} database", exc)
        if upgraded:
            _seed(state)
    finally:
        _release_connections(databases)


def _seed(state: VersioningState) -> None:
    """Run the pending seeds (``VERSIONING_AUTO_SEED``); not after a failed upgrade, since
    seeds written for the new schema would fail on the old."""
    if not len(state.seeds):
        return  # no seed declared: nothing to run, and the seeds modules stay unloaded
    from ._seeds.run import auto_seed

    try:
        results = auto_seed(state)
    except Exception as exc:
        _handle(state.settings.auto_upgrade_on_error, "the seeds", exc)
        return
    for result in results:
        if result.status == "applied":
            logger.info(
                "auto-seed: seeded %s (%s) on the %s database in %.0f ms",
                result.name,
                result.environment,
                result.database,
                result.duration * 1000,
            )


def _handle(on_error: str, what: str, exc: Exception) -> None:
    """Raise ``exc``, or with ``on_error == "log"`` log it so that the app can start."""
    if on_error != "log":
        raise exc
    # Our own errors say all there is to say; anything else gets its traceback in the log.
    logger.error(
        "auto-upgrade of %s failed, starting anyway (VERSIONING_AUTO_UPGRADE_ON_ERROR = 'log'): "
        "%s: %s",
        what,
        type(exc).__name__,
        errors.scrub(errors.one_line(exc)),
        exc_info=None if isinstance(exc, errors.VersioningError) else exc,
    )


def upgrade_database(database: Database, target: str) -> None:
    """Bring one database to ``target``: the fast check first, the locked upgrade if behind."""
    started = time.perf_counter()
    # Also where a Flask-Migrate directory keeps them: its env.py is bypassed, not its folders.
    versions = database.directory / "versions"
    if not versions.is_dir():
        logger.warning(
            "auto-upgrade: no revisions for the %s database (no directory %s); nothing to "
            "upgrade. Create it with 'flask db init' or set VERSIONING_DIRECTORY.",
            database.name,
            versions,
        )
        return
    found = at_target(database, target)
    if found is not None:
        logger.info(
            "auto-upgrade: the %s database is at %s, nothing to do (%.0f ms)",
            database.name,
            _where(found),
            (time.perf_counter() - started) * 1000,
        )
        return

    result = upgrade(database, target)
    elapsed = time.perf_counter() - started
    applied = sum(1 for step in result.steps if step.direction == "upgrade")
    if result.steps:
        logger.info(
            "auto-upgrade: upgraded the %s database from %s to %s (%d revision%s) in %.0f ms",
            database.name,
            _where(result.before),
            _where(result.after),
            applied,
            "" if applied == 1 else "s",
            elapsed * 1000,
        )
    else:
        # Usually another process upgraded it while this one waited for the lock.
        logger.info(
            "auto-upgrade: the %s database is at %s, nothing to do (checked under the "
            "migration lock, %.0f ms)",
            database.name,
            _where(result.after),
            elapsed * 1000,
        )


def _where(revisions: Sequence[str]) -> str:
    return ", ".join(revisions) or "base"


# -- the fast path ----------------------------------------------------------------------------


def at_target(database: Database, target: str) -> tuple[str, ...] | None:
    """The database's revisions if it is at ``target`` already, else ``None``: take the locked
    path, as for anything this cannot answer cheaply. ``head`` with several heads raises."""
    if target == "base":
        return None  # an empty version table is left to the locked path
    setting = "VERSIONING_AUTO_UPGRADE_TARGET = 'head'"
    wanted = target_revisions(database, [target], setting=setting, log_heads=True)
    if wanted is None:
        return None
    rows = version_rows(database)
    if rows is None or len(rows) != len(wanted) or set(rows) != wanted:
        return None
    return tuple(sorted(rows))


def _release_connections(databases: Sequence[Database]) -> None:
    """Close the pooled connections opened on the app's engines: created before a fork
    (gunicorn ``--preload``), every worker would share them. Only queue pools: a static one
    may be the only handle on an in-memory SQLite database."""
    for database in databases:
        if database.url_override is not None or database.get_engine is None:
            continue  # our own engine, with NullPool: nothing stays open
        try:
            engine = database.engine()
        except Exception:
            continue
        if isinstance(engine.pool, sa.pool.QueuePool):
            engine.dispose()


# -- when not to run --------------------------------------------------------------------------


def skip_reason(command: str, argv: Sequence[str] | None = None) -> str | None:
    """Why this process must not auto-upgrade, or ``None`` when it should.

    Skipped: ``flask <command> ...`` (our group: the command decides) and ``flask`` without a
    command, also through a script's :class:`flask.cli.FlaskGroup`; the file-watching parent
    of ``flask run``'s reloader; apps made inside :func:`skipped` (a tenants worker, the pytest
    plugin). Anything else (gunicorn, ``flask run``'s child, ``flask shell``...) upgrades.
    """
    if (reason := start_skip_reason()) is not None:
        return reason
    argv = list(sys.argv if argv is None else argv)
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    group = root.command if root is not None and _is_flask_group(root.command) else None
    if argv and (_is_flask_script(argv[0]) or (group is not None and _parses_argv(root, argv))):
        name = _subcommand(argv[1:], _value_options(group))
        if name == command:
            return f"the process is running 'flask {command} ...'"
        if name is None:
            return "the flask command was run without a command"
    if not is_running_from_reloader() and _reloader_in_use(ctx):
        return "this is the file-watching parent of 'flask run'; its child process upgrades"
    return None


def _is_flask_group(command: click.Command) -> bool:
    from flask.cli import FlaskGroup

    return isinstance(command, FlaskGroup)


def _is_flask_script(program: str) -> bool:
    """``flask`` (``flask.exe``) or ``python -m flask`` (``.../flask/__main__.py``)."""
    path = Path(program)
    if path.name == "__main__.py":
        return path.parent.name == "flask"
    return path.stem.lower() == "flask" and path.suffix.lower() in ("", ".exe", ".py")


def _parses_argv(root: click.Context | None, argv: Sequence[str]) -> bool:
    """Whether the root click command parses this process's command line: click names it after
    the program, a test's ``CliRunner`` after the command."""
    if root is None or not root.info_name:
        return False
    if root.info_name.startswith("python") and " -m " in root.info_name:
        return True
    program = Path(argv[0])
    return root.info_name in (program.name, program.stem)


def _value_options(group: click.Command | None) -> Collection[str]:
    """The group's (or Flask's ``flask``'s) options taking a value, whose value is skipped."""
    if group is None:
        from flask.cli import cli

        group = cli
    return {
        name
        for param in group.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for name in (*param.opts, *param.secondary_opts)
    }


def _subcommand(args: Sequence[str], value_options: Collection[str]) -> str | None:
    """The first argument that is neither an option nor an option's value."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("-") and arg != "-":
            i += 2 if arg in value_options else 1
            continue
        return arg
    return None


def _reloader_in_use(ctx: click.Context | None) -> bool:
    """Whether ``flask run`` is about to start Werkzeug's reloader in this process."""
    from flask.helpers import get_debug_flag

    while ctx is not None:
        if ctx.command.name == "run" and "reload" in ctx.params:
            root = ctx.find_root()
            if not _is_flask_group(root.command):
                return False
            reload = ctx.params["reload"]
            return bool(get_debug_flag() if reload is None else reload)
        ctx = ctx.parent
    return False
