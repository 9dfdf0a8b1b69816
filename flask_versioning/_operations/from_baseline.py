"""Using a baseline: an empty database made from the newest baseline at or below the target.

Inside :func:`~flask_versioning._operations.executor.upgrade`, under the lock, for an *empty*
database only: the baseline is loaded and the version table stamped in one transaction (where
DDL is transactional), the load recorded in the history ledger, and only later revisions run.
The choice reads the files as text, so Alembic need not import a thousand of them. A baseline
holds what replay leaves in the schema, not the rows, and never sees ``-x`` arguments: when a
replaced revision changes data or ``-x`` was given, the result carries a line saying so.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._alembic.revision_files import revisions_by_id, version_locations
from .._baseline import (
    Baseline,
    data_revisions,
    dialect_key,
    find_baseline,
    is_empty,
    list_baselines,
    load_baseline,
)
from .._errors import VersioningError
from .._ledgers import history
from .._types import AppliedRevision

if TYPE_CHECKING:
    from alembic.ddl.impl import DefaultImpl

    from .._alembic.database import Database

logger = logging.getLogger("flask_versioning")


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What :func:`apply_baseline` did."""

    #: The load as a step (``direction="baseline"``); ``None``: no baseline was used.
    step: AppliedRevision | None = None
    #: Whether the target is reached: nothing is left for Alembic to run.
    complete: bool = False
    #: A line for the user, e.g. that there is no baseline for this backend.
    note: str | None = None


def apply_baseline(database: Database, target: str, x_args: Sequence[str] = ()) -> Loaded:
    """Load the newest baseline at or below ``target`` if the database is empty (under the
    lock). Targets other than ``head(s)`` or a full revision id always replay."""
    entries = list_baselines(database.directory)
    files = revisions_by_id(version_locations(database)) if entries else None
    if files is None:
        return Loaded()
    parents = {rev: file.down_revisions for rev, file in files.items()}
    if target in ("head", "heads"):
        referenced = {p for down in parents.values() for p in down}
        tips = {rev for rev in parents if rev not in referenced}
    elif target in parents:
        tips = {target}
    else:
        return Loaded()
    below = ancestors(parents, tips)
    usable = [e for e in entries if e.revision in below]
    if not usable:
        return Loaded()
    settings = database.settings
    db_engine = database.engine()
    with db_engine.connect() as connection:
        table, schema = settings.version_table, settings.version_table_schema
        if not is_empty(connection, version_table=table, schema=schema):
            return Loaded()
        dialect = dialect_key(connection)
    mine = [e.revision for e in usable if e.dialect == dialect]
    if not mine:
        others = ", ".join(sorted({e.dialect for e in usable}))
        note = (
            f"no baseline for {dialect} (only for {others}): replaying the revisions "
            f"of the {database.name} database"
        )
        logger.warning(note)
        return Loaded(note=note)
    depth = {rev: len(ancestors(parents, {rev})) for rev in mine}
    revision = max(mine, key=lambda rev: (depth[rev], rev))
    baseline = find_baseline(database.directory, dialect, [revision])
    assert baseline is not None
    started = time.perf_counter()
    statements = _load_and_stamp(database, db_engine, baseline)
    elapsed = time.perf_counter() - started
    run = history.current_run(settings)
    history.write_marker(database, run, "baseline", revision, baseline.checksum)
    step = AppliedRevision(
        revision=revision,
        down_revisions=parents[revision],
        message=f"{statements} statements",
        direction="baseline",
        duration=elapsed,
    )
    replaced = {rev: files[rev].path for rev in _oldest_first(parents, revision)}
    carried = sorted({name.strip('"`') for name in _ROWS.findall(baseline.sql)})
    skipped = not_replayed(database.name, revision, replaced, x_args, carried)
    if skipped is not None:
        logger.warning(skipped)
    return Loaded(step=step, complete=tips == {revision}, note=skipped)


def not_replayed(
    name: str,
    baseline: str,
    replaced: Mapping[str, Path],
    x_args: Sequence[str],
    carried: Sequence[str] = (),
) -> str | None:
    """One line naming the replaced revisions whose work a baseline may lack, or ``None``:
    those that change data (``carried``: tables whose rows it has, from ``--include-data``) or
    read ``-x`` arguments (only the keys are shown: a value may be a secret)."""
    data, reads_x = _data_and_x(replaced)
    if not data and not x_args:
        return None
    count = f"{len(replaced)} revision{'s' if len(replaced) != 1 else ''}"
    parts = []
    if data:
        rows = f" (the baseline carries the rows of {', '.join(carried)})" if carried else ""
        parts.append(f"{_listed(data)} change{'s' if len(data) == 1 else ''} data{rows}")
    if x_args:
        keys = " ".join(f"-x {arg.partition('=')[0]}" for arg in x_args)
        if reads_x:
            verb = "reads" if len(reads_x) == 1 else "read"
            parts.append(f"{_listed(reads_x)} {verb} -x arguments and never saw {keys}")
        else:
            parts.append(f"none of them reads -x arguments, so {keys} reached none of them")
    return (
        f"the {name} database was made from baseline {baseline} without replaying the {count} "
        f"it stands for: {'; '.join(parts)}; upgrade an empty database with --no-baseline "
        "(baseline=False) to replay them"
    )


#: The tables whose rows a baseline carries (``--include-data``), from its INSERT statements.
_ROWS = re.compile(r"^INSERT INTO ([^\s(]+)", re.MULTILINE)
#: Words without which a revision file cannot change data (see ``_baseline.data_revisions``).
_DATA_WORDS = (b"execute", b"bulk_insert", b"get_bind")


def _data_and_x(replaced: Mapping[str, Path]) -> tuple[list[str], list[str]]:
    data: list[str] = []
    reads_x: list[str] = []
    for rev, path in replaced.items():
        try:
            source = path.read_bytes()
        except OSError:
            continue
        if b"get_x_argument" in source:
            reads_x.append(rev)
        if any(word in source for word in _DATA_WORDS):
            try:
                changes = bool(data_revisions([path]))
            except VersioningError:
                changes = True  # unreadable as Python: it may change data, say so
            if changes:
                data.append(rev)
    return data, reads_x


def _listed(revisions: Sequence[str], limit: int = 8) -> str:
    more = len(revisions) - limit
    return ", ".join(revisions[:limit]) + (f" and {more} more" if more > 0 else "")


def _oldest_first(parents: Mapping[str, Sequence[str]], tip: str) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, bool]] = [(tip, False)]
    while stack:
        rev, expanded = stack.pop()
        if expanded:
            order.append(rev)
            continue
        if rev in seen or rev not in parents:
            continue
        seen.add(rev)
        stack.append((rev, True))
        stack.extend((p, False) for p in reversed(tuple(parents[rev])))
    return order


def _load_and_stamp(database: Database, db_engine: sa.Engine, baseline: Baseline) -> int:
    """Run the baseline and write the version row, in one transaction where DDL allows."""
    from alembic.migration import MigrationContext

    with db_engine.connect() as connection:
        statements = load_baseline(connection, baseline, commit=False)
        try:
            impl = MigrationContext.configure(connection).impl
            table = _version_table(impl, database.configure_options())
            table.create(connection)
            connection.execute(table.insert().values(version_num=baseline.revision))
            connection.commit()
        except sa.exc.DBAPIError as exc:
            connection.rollback()
            raise VersioningError(
                f"cannot stamp {baseline.revision} after loading baseline {baseline.path}: "
                f"{' '.join(str(exc.orig).split())}"
            ) from exc
    return statements


def _version_table(impl: DefaultImpl, options: Mapping[str, Any]) -> sa.Table:
    """The version table Alembic would create (``version_table_impl`` from Alembic 1.14)."""
    name, schema = options["version_table"], options["version_table_schema"]
    pk = options.get("version_table_pk", True)
    define = getattr(impl, "version_table_impl", None)
    if define is not None:
        table: sa.Table = define(
            version_table=name, version_table_schema=schema, version_table_pk=pk
        )
        return table
    column = sa.Column("version_num", sa.String(32), nullable=False)
    table = sa.Table(name, sa.MetaData(), column, schema=schema)
    if pk:
        table.append_constraint(sa.PrimaryKeyConstraint("version_num", name=f"{name}_pkc"))
    return table


def ancestors(parents: Mapping[str, Sequence[str]], tips: Collection[str]) -> set[str]:
    seen: set[str] = set()
    stack = [t for t in tips if t in parents]
    while stack:
        rev = stack.pop()
        if rev not in seen:
            seen.add(rev)
            stack.extend(p for p in parents.get(rev, ()) if p in parents)
    return seen
