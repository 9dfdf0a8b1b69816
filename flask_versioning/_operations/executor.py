"""Upgrade, downgrade and stamp one database with Alembic's commands, under its migration lock:
where it stands before and after, each revision as it is applied, and a failure as
:class:`~flask_versioning.MigrationFailed` (which revision failed, where the database is now).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .. import _errors as errors
from .._alembic.environment import RECORDER_KEY, StepRecorder
from .._alembic.errors import translate_errors
from .._ledgers.versions import current
from .._locking import database_lock
from .._types import AppliedRevision, MigrationResult, RunOptions

if TYPE_CHECKING:
    from alembic.migration import MigrationInfo

    from .._alembic.database import Database

Direction = Literal["upgrade", "downgrade", "stamp"]
_RELATIVE = re.compile(r"^[+-]\d+$")


def upgrade(
    database: Database,
    target: str = "heads",
    options: RunOptions | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
    *,
    baselines: bool = True,
) -> MigrationResult:
    """Upgrade ``database`` to ``target``; ``progress`` hears of each revision once applied.

    An empty database is made from a baseline unless ``baselines`` is false. Every path that
    upgrades comes here, so two heads or a conflicted or stale ``versions/HEADS`` are refused
    here first.
    """
    # Imported here: the automatic upgrade at start comes here only when behind.
    from .._linear.guard import refuse_upgrade

    refuse_upgrade(database)
    return _migrate(database, "upgrade", target, options or {}, progress, baselines=baselines)


def downgrade(
    database: Database,
    target: str = "-1",
    options: RunOptions | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
) -> MigrationResult:
    """Revert ``database`` to ``target``. Offline (``sql``) it needs a ``from:to`` range."""
    options = options or {}
    if options.get("sql") and ":" not in target:
        raise errors.RevisionError(
            "downgrade with --sql needs a range '<from>:<to>', e.g. 'head:base'"
        )
    return _migrate(database, "downgrade", target, options, progress)


def stamp(
    database: Database,
    revisions: Sequence[str] = ("heads",),
    options: RunOptions | None = None,
    *,
    purge: bool = False,
) -> MigrationResult:
    """Write ``revisions`` to the version table without running any revision."""
    return _migrate(database, "stamp", list(revisions), options or {}, None, purge=purge)


def _migrate(
    database: Database,
    direction: Direction,
    target: str | Sequence[str],
    options: RunOptions,
    progress: Callable[[AppliedRevision], None] | None,
    *,
    purge: bool = False,
    baselines: bool = False,
) -> MigrationResult:
    from alembic import command

    from .from_baseline import Loaded, apply_baseline  # only when something migrates

    sql = bool(options.get("sql"))
    buffer = io.StringIO() if sql else None
    config = database.alembic_config(x_args=options.get("x_args"), output_buffer=buffer)
    # Only created, not loaded: Alembic's command imports every revision file itself, before
    # the first one runs; loading them here as well doubled that cost.
    database.script_directory(config)

    # When every step shares one transaction (transaction_per_migration=False on a database
    # that rolls back DDL), a step is not done until the last one commits: tell of them then.
    held = progress is not None and not sql and _one_transaction(database)

    def report(step: MigrationInfo, elapsed: float) -> None:
        if progress is not None and not held:
            progress(_applied(step, elapsed))

    recorder = StepRecorder(report)
    config.attributes[RECORDER_KEY] = recorder
    action = f"'{direction} {target if isinstance(target, str) else ' '.join(target)}'"

    def run() -> None:
        arguments: dict[str, Any] = {"sql": sql, "tag": options.get("tag")}
        if direction == "stamp":
            arguments["purge"] = purge
        getattr(command, direction)(config, target, **arguments)

    if sql:
        with translate_errors(database, action):
            run()
        return MigrationResult(database.name, (), (), sql=buffer.getvalue() if buffer else "")

    with database_lock(database):
        before = tuple(current(database))
        loaded = Loaded()
        if baselines and isinstance(target, str):
            loaded = apply_baseline(database, target, options.get("x_args") or ())
            if loaded.step is not None and progress is not None:
                progress(loaded.step)
        try:
            with translate_errors(database, action):
                if not loaded.complete:
                    run()
        except KeyboardInterrupt as exc:
            raise _stopped(database, target, direction, before, recorder, None) from exc
        except errors.ProtectedEnvironmentError:
            raise  # refused before the first step: nothing changed
        except (errors.RevisionError, errors.DatabaseError) as exc:
            # Alembic's refusals (an unknown target) come before any revision runs and are
            # right as they are; a database error once migrations began is a revision's SQL
            # failing, or the connection dropping under it: say which revision, with its cause.
            if recorder.steps or (recorder.began and isinstance(exc, errors.DatabaseError)):
                cause = exc.__cause__ if exc.__cause__ is not None else exc
                raise _stopped(database, target, direction, before, recorder, cause) from exc
            raise
        except Exception as exc:
            raise _stopped(database, target, direction, before, recorder, exc) from exc
        after = tuple(current(database))
        if held and progress is not None:
            for step, elapsed in recorder.steps:
                progress(_applied(step, elapsed))
    steps = tuple(_applied(step, elapsed) for step, elapsed in recorder.steps)
    if loaded.step is not None:
        steps = (loaded.step, *steps)
    notes = (loaded.note,) if loaded.note else ()
    return MigrationResult(database.name, before, after, steps, notes=notes)


def _applied(step: MigrationInfo, elapsed: float) -> AppliedRevision:
    direction: Direction = (
        "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
    )
    revs = step.up_revision_ids if step.up_revision_ids else (step.up_revision_id or "base",)
    return AppliedRevision(
        revision=", ".join(revs),
        down_revisions=tuple(step.down_revision_ids),
        message=getattr(step.up_revision, "doc", None) or "",
        direction=direction,
        duration=elapsed,
    )


def is_transactional(database: Database) -> bool:
    """Whether the database rolls back DDL (PostgreSQL does; MariaDB and SQLite do not)."""
    from alembic.ddl.impl import DefaultImpl

    return bool(DefaultImpl.get_by_dialect(database.engine().dialect).transactional_ddl)


def _one_transaction(database: Database) -> bool:
    if database.configure_options().get("transaction_per_migration", False):
        return False
    try:
        return is_transactional(database)
    except Exception:
        return False  # no engine yet: the run will say why


def _in_progress(
    database: Database, target: str, position: Sequence[str], direction: str
) -> str | None:
    """The revision that was running when a command stopped, from ``position``, where the run
    had got to (not the version table, which a shared transaction rolls back)."""
    try:
        if direction == "downgrade":
            return position[0] if len(position) == 1 else None
        script = database.script_directory()
        lower = tuple(position) if position else None
        upper = target if not _RELATIVE.match(target) else "heads"
        candidates = list(script.iterate_revisions(upper, lower))
        return candidates[-1].revision if candidates else None
    except Exception:
        return None


def _stopped(
    database: Database,
    target: str | Sequence[str],
    direction: str,
    before: Sequence[str],
    recorder: StepRecorder,
    exc: BaseException | None,
) -> BaseException:
    """:class:`~flask_versioning.MigrationFailed` for a run that raised ``exc``; without one
    (Ctrl-C), :class:`~flask_versioning.MigrationInterrupted` once the statement the server
    still runs for us is cancelled (:mod:`.._alembic.cancel`). Either says which revision was
    running, where the database is read back to be, and which reported steps were kept."""
    cancelled: bool | None = True
    if exc is None and recorder.server_id is not None:
        from .._alembic.cancel import cancel

        cancelled = cancel(database, recorder.server_id)
    try:
        now: tuple[str, ...] | None = tuple(current(database))
    except errors.VersioningError:
        now = None  # unknown, not "base": the message must not guess where the database is
    positions, heads = [], list(before)
    for step, _ in recorder.steps:
        heads = [h for h in heads if h not in step.source_revision_ids]
        heads += [r for r in step.destination_revision_ids if r not in heads]
        positions.append(tuple(heads))
    target_text = target if isinstance(target, str) else "heads"
    position = positions[-1] if positions else tuple(before)
    revision = _in_progress(database, target_text, position, direction) if recorder.began else None
    names = tuple(_applied(step, 0.0).revision for step, _ in recorder.steps)
    kept: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    if now is not None and names:
        if set(now) == set(before):
            rolled_back = names
        else:
            reached = [i for i, p in enumerate(positions) if set(p) == set(now)]
            if reached:
                kept, rolled_back = names[: reached[-1] + 1], names[reached[-1] + 1 :]
    transactional = is_transactional(database)
    if exc is not None:
        return errors.MigrationFailed(
            revision, now, exc, transactional=transactional, rolled_back=rolled_back
        )
    return errors.MigrationInterrupted(
        database.name,
        revision,
        now,
        transactional=transactional,
        kept=kept,
        rolled_back=rolled_back,
        cancelled=cancelled,
    )
