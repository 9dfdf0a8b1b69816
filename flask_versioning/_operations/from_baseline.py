"""Using a baseline: an empty database made from the newest baseline at or below the target.

This happens inside :func:`~flask_versioning._operations.migrate.upgrade`, under the migration
lock, only for an *empty* database: the baseline is loaded and the version table stamped in the
same transaction (where DDL is transactional), the load is recorded in the history ledger, and
only the revisions after it are run. The choice is made from the revision files read as text
(:func:`.heads.revision_files`), so when the baseline is at the target Alembic never has to
import a thousand revision files at all. Writing baselines is :mod:`.baseline`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .. import _baseline as engine
from .._alembic.heads import revision_files
from .._errors import VersioningError
from .._ledgers import history
from .._types import AppliedRevision

if TYPE_CHECKING:
    from .._alembic.database import Database

__all__ = ["BASELINE", "Loaded", "ancestors", "apply_baseline"]

logger = logging.getLogger("flask_versioning")

#: ``direction`` of the history ledger's row for a database made from a baseline.
BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What :func:`apply_baseline` did."""

    #: The load as a step (``direction="baseline"``); ``None``: no baseline was used.
    step: AppliedRevision | None = None
    #: Whether the target is reached: nothing is left for Alembic to run.
    complete: bool = False
    #: A line for the user, e.g. that there is no baseline for this backend.
    note: str | None = None


def apply_baseline(database: Database, target: str) -> Loaded:
    """Load the newest baseline at or below ``target`` if the database is empty.

    Called under the migration lock. Targets other than ``head``, ``heads`` and a full revision
    id (relative steps, branch labels) always replay.
    """
    entries = engine.list_baselines(database.directory)
    if not entries:
        return Loaded()
    files = revision_files([database.directory / "versions"])
    if files is None:
        return Loaded()
    parents = {rev: down for rev, (_, down) in files.items()}
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
        empty = engine.is_empty(
            connection,
            version_table=settings.version_table,
            schema=settings.version_table_schema,
        )
        if not empty:
            return Loaded()
        dialect = engine.dialect_key(connection)
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
    baseline = engine.find_baseline(database.directory, dialect, [revision])
    assert baseline is not None
    started = time.perf_counter()
    statements = _load_and_stamp(database, db_engine, baseline)
    elapsed = time.perf_counter() - started
    history.write_marker(
        database, history.current_run(settings), BASELINE, revision, baseline.checksum
    )
    step = AppliedRevision(
        revision=revision,
        down_revisions=parents[revision],
        message=f"{statements} statements",
        direction="baseline",
        duration=elapsed,
    )
    return Loaded(step=step, complete=tips == {revision})


def _load_and_stamp(database: Database, db_engine: sa.Engine, baseline: engine.Baseline) -> int:
    """Run the baseline and write the version row, in one transaction where DDL allows."""
    from alembic.migration import MigrationContext

    options = database.configure_options()
    with db_engine.connect() as connection:
        statements = engine.load_baseline(connection, baseline, commit=False)
        try:
            # The table Alembic itself would create, from its own definition.
            context = MigrationContext.configure(connection)
            table = context.impl.version_table_impl(
                version_table=options["version_table"],
                version_table_schema=options["version_table_schema"],
                version_table_pk=options.get("version_table_pk", True),
            )
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


def ancestors(parents: Mapping[str, Sequence[str]], tips: Collection[str]) -> set[str]:
    """``tips`` and every revision below them."""
    seen: set[str] = set()
    stack = [t for t in tips if t in parents]
    while stack:
        rev = stack.pop()
        if rev not in seen:
            seen.add(rev)
            stack.extend(p for p in parents.get(rev, ()) if p in parents)
    return seen
