"""Where a database stands: its version table, history ledger and revision files side by side.

These are the commands people run in a hurry and init containers run on every start, so the
files are read as text wherever they can be (:mod:`.._alembic.revision_files`). A record that
cannot be read is reported, not raised: an unreachable database gives a status with ``error``;
a ledger dropped or edited by hand gives ``ledger = "missing"`` or ``"damaged"``.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._alembic.heads import missing_files, missing_message, plain_heads, script_heads
from .._alembic.revision_files import RevisionFile, read_revision_files, version_locations
from .._ledgers import history
from .._ledgers.versions import current
from .._online.backfill import backfills_in_progress
from .._protection import check_allowed, run_for, tampering
from .._types import DatabaseStatus, LedgerRecord, RevisionState, RevisionStatus, ValidationResult
from .from_baseline import ancestors

if TYPE_CHECKING:
    from .._alembic.database import Database
    from .._state import VersioningState

_Ledger = Literal["ok", "missing", "damaged"]

#: Ledger rows that move a database (the environment it "has").
_MOVES = ("upgrade", "downgrade", "stamp", history.BEFORE_HISTORY, history.PROTECT)
#: Rows that carry the checksum a revision's file had when it was applied or reviewed.
_CHECKSUMS = ("upgrade", history.BEFORE_HISTORY, history.CHECKSUM)


def head_ids(database: Database) -> list[str]:
    """The head revision ids, sorted, without importing the files where they read as text; none
    (and nothing created) without a revisions folder."""
    locations = version_locations(database)
    if not any(location.is_dir() for location in locations):
        return []
    return list(script_heads(locations, database.script_heads).revisions)


def plain_head_ids(database: Database) -> list[str] | None:
    """The heads in Alembic's order when the history is plain (see :func:`.plain_heads`)."""
    files = read_revision_files(version_locations(database))
    return None if files is None else plain_heads(files)


def database_status(state: VersioningState, database: Database) -> DatabaseStatus:
    """Everything ``flask db status`` shows about one database."""
    url = "<unknown>"
    try:
        url = errors.mask_url(database.url)
        rows = tuple(current(database))
    except errors.VersioningError as exc:
        return DatabaseStatus(database.name, database.bind, url, error=str(exc))
    except sa.exc.SQLAlchemyError as exc:
        detail = errors.scrub(errors.one_line(getattr(exc, "orig", None) or exc, 300))
        error = f"cannot read the version table of the database at {url}: {detail}"
        return DatabaseStatus(database.name, database.bind, url, error=error)
    problems: list[str] = []
    entries, ledger = _ledger(database, problems)
    signs: list[str] = []
    if ledger != "damaged":
        signs = tampering(entries if ledger == "ok" else None, rows, database.settings)
        problems.extend(signs)
    problems.extend(backfills_in_progress(database))
    files = _files(database, problems)
    found = _assemble(database, url, rows, entries, ledger, files, problems)
    return dataclasses.replace(found, tampering=tuple(signs)) if signs else found


def _ledger(database: Database, problems: list[str]) -> tuple[list[history.Entry], _Ledger]:
    try:
        entries = history.read_history(database.engine(), database.settings)
    except Exception as exc:  # any way a hand-edited table can fail to read as ours
        detail = errors.scrub(errors.one_line(getattr(exc, "orig", None) or exc, 200))
        problems.append(
            f"the history ledger ({database.settings.history_table}) cannot be read and was "
            f"ignored (protection unknown): {detail}"
        )
        return [], "damaged"
    if entries is None:
        return [], "missing"
    return entries, "ok"


def _files(database: Database, problems: list[str]) -> list[RevisionFile]:
    locations = version_locations(database)
    if not any(location.is_dir() for location in locations):
        return []
    files = read_revision_files(locations)
    if files is not None:
        return files
    try:
        return _files_through_alembic(database)
    except Exception as exc:
        problems.append(f"the revision files cannot be read: {errors.one_line(exc, 300)}")
        return []


def _files_through_alembic(database: Database) -> list[RevisionFile]:
    from alembic.script import ScriptDirectory

    with translate_errors(database):
        scripts = list(ScriptDirectory.from_config(database.alembic_config()).walk_revisions())
    files = []
    for s in reversed(scripts):
        data = Path(s.path).read_bytes()
        parsed = RevisionFile.parse(s.path, data)
        labels = parsed.branch_labels if parsed else ()
        down, depends = _tuple(s.down_revision), _tuple(s.dependencies)
        files.append(RevisionFile(s.revision, down, labels, depends, s.path, data, doc=s.doc))
    return files


def _tuple(value: Any) -> tuple[str, ...]:
    return () if value is None else (value,) if isinstance(value, str) else tuple(map(str, value))


def _record(entry: history.Entry) -> LedgerRecord:
    fields = {f.name for f in dataclasses.fields(LedgerRecord)} - {"at"}
    return LedgerRecord(at=entry.finished_at, **{name: getattr(entry, name) for name in fields})


@dataclasses.dataclass
class _Trail:
    """What the ledger says about one revision, read row by row, oldest first."""

    step: history.Entry | None = None  # newest upgrade/downgrade/before-history
    mark: history.Entry | None = None  # newest row carrying a checksum


def _trails(entries: Sequence[history.Entry]) -> dict[str, _Trail]:
    trails: dict[str, _Trail] = {}
    for entry in entries:
        if entry.direction not in ("upgrade", "downgrade", *_CHECKSUMS) or not entry.revision:
            continue
        for revision in entry.revision.split(", "):
            trail = trails.setdefault(revision, _Trail())
            if entry.direction != history.CHECKSUM:
                trail.step = entry
            if entry.direction in _CHECKSUMS:
                trail.mark = entry
    return trails


def _replayed(entries: Sequence[history.Entry], graph: Mapping[str, tuple[str, ...]]) -> set[str]:
    """What the ledger says is applied now, replaying its steps (for gaps in the files)."""
    applied: set[str] = set()
    for entry in entries:
        revisions = [r for r in (entry.revision or "").split(", ") if r]
        if entry.direction in ("upgrade", history.BEFORE_HISTORY):
            applied.update(revisions)
        elif entry.direction == "downgrade":
            applied.difference_update(revisions)
        elif entry.direction == "stamp":
            applied = _closure([r for r in revisions if r != "base"], graph)[0]
    return applied


def _closure(start: Iterable[str], graph: Mapping[str, tuple[str, ...]]) -> tuple[set[str], bool]:
    """``start`` and every ancestor; ``True`` as well when an unknown revision was met."""
    start = set(start)
    known = ancestors(graph, start)
    unknown = {p for r in known for p in graph[r] if p not in graph} | (start - graph.keys())
    return known | unknown, bool(unknown)


def _assemble(
    database: Database,
    url: str,
    rows: tuple[str, ...],
    entries: list[history.Entry],
    ledger: _Ledger,
    files: list[RevisionFile],
    problems: list[str],
) -> DatabaseStatus:
    by_id: dict[str, RevisionFile] = {}
    for file in files:
        by_id.setdefault(file.revision, file)
    # Parents for "applied": down revisions and dependencies, as Alembic's current heads imply.
    graph = {
        rev: (*f.down_revisions, *(d for d in f.depends_on if d in by_id))
        for rev, f in by_id.items()
    }
    applied, gap = _closure(rows, graph)
    if gap:
        # A file on the way down is missing: what lies beyond it is known only from the ledger.
        applied |= _replayed(entries, graph)
        applied = _closure(applied, graph)[0]
        if ledger != "ok":
            problems.append(
                "a revision file the database's revisions depend on is missing, and without "
                "a history ledger the revisions below it cannot be told applied or pending"
            )
    trails = _trails(entries)
    stamped_ever = any(e.direction == "stamp" for e in entries)
    order = _oldest_first(by_id, applied, trails)
    statuses = tuple(
        _revision_status(rev, by_id.get(rev), rev in applied, trails.get(rev), stamped_ever)
        for rev in order
    )
    referenced = {parent for f in by_id.values() for parent in f.down_revisions}
    missing = missing_files(by_id.values())
    if missing:
        problems.append(missing_message(missing))
    # A revision whose child's file is gone looks like a head; one the database has applied
    # but does not hold as current has an applied child, so it is not one.
    heads = tuple(
        rev
        for rev in by_id
        if rev not in referenced and not (missing and rev in applied and rev not in rows)
    )
    environment = next((e for e in reversed(entries) if e.direction in _MOVES), None)
    protected = history.protection(entries)
    return DatabaseStatus(
        database=database.name,
        bind=database.bind,
        url=url,
        current=rows,
        heads=heads,
        revisions=statuses,
        ledger=ledger,
        problems=tuple(problems),
        environment=_record(environment) if environment else None,
        protected_by=_record(protected) if protected else None,
    )


def _oldest_first(
    files: Mapping[str, RevisionFile], applied: set[str], trails: Mapping[str, _Trail]
) -> list[str]:
    """Every revision, parents before children: applied ones in the order the ledger recorded
    them, then pending ones in the order of the files (Alembic's)."""
    nodes = list(files) + sorted(r for r in applied if r not in files)
    position = {rev: i for i, rev in enumerate(nodes)}
    children: dict[str, list[str]] = {rev: [] for rev in nodes}
    waiting = dict.fromkeys(nodes, 0)
    for rev, file in files.items():
        for parent in {*file.down_revisions, *file.depends_on}:
            if parent in children and parent != rev:
                children[parent].append(rev)
                waiting[rev] += 1

    def key(rev: str) -> tuple[int, int, int]:
        trail = trails.get(rev)
        recorded = trail.step.id if trail and trail.step else 2**62
        return (0 if rev in applied else 1, recorded, position[rev])

    ready = [(key(rev), rev) for rev in nodes if waiting[rev] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, rev = heapq.heappop(ready)
        order.append(rev)
        for child in children[rev]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (key(child), child))
    # A cycle (Alembic refuses those) leaves revisions out: list them rather than hide them.
    order.extend(rev for rev in nodes if rev not in set(order))
    return order


def _revision_status(
    revision: str,
    file: RevisionFile | None,
    applied: bool,
    trail: _Trail | None,
    stamped_ever: bool,
) -> RevisionStatus:
    message = file.message if file else ""
    down = file.down_revisions if file else ()
    path = file.path if file else None
    now = file.checksum if file else None
    if not applied:
        return RevisionStatus(revision, "pending", message, down, path, checksum=now)
    step = trail.step if trail else None
    record = step if step is not None and step.direction != "downgrade" else None
    mark = trail.mark if trail else None
    recorded = mark.checksum if mark else None
    state: RevisionState = "applied"
    if file is None:
        state = "missing"
    elif recorded is not None and recorded != now:
        state = "changed"
    return RevisionStatus(
        revision,
        state,
        message,
        down,
        path,
        applied=_record(record) if record else None,
        stamped=record is None and stamped_ever,
        checksum=now,
        recorded_checksum=recorded,
        reviewed=_record(mark) if mark and mark.direction == history.CHECKSUM else None,
    )


def validate(
    state: VersioningState, database: Database, *, repair: bool, allow_protected: bool
) -> ValidationResult:
    """The applied revisions whose files changed or vanished; with ``repair``, record the
    files' current checksums as reviewed (refused for a protected database unless
    ``allow_protected``: it rewrites what the ledger vouches for)."""
    found = database_status(state, database)
    if found.error is not None:
        return ValidationResult(database.name, (), error=found.error)
    if found.ledger == "damaged":
        return ValidationResult(database.name, found.troubles, error=found.problems[0])
    problems = found.troubles
    if not repair or not problems:
        return ValidationResult(database.name, problems, tampering=found.tampering)
    check_allowed(
        state,
        "record new checksums of applied revisions (validate --repair)",
        [database],
        allow_protected=allow_protected,
    )
    run = run_for(state)
    for revision in problems:
        history.write_marker(database, run, history.CHECKSUM, revision.revision, revision.checksum)
    return ValidationResult(database.name, problems, repaired=True, tampering=found.tampering)
