"""Baselines for an app's database: writing one, using one for an empty database, pruning.

Writing replays the revisions into a *scratch* database of the same backend (a temporary SQLite
file, or a ``fvbaseline_<random>`` database on the same server, dropped afterwards) and dumps
it: a baseline is what replay produces, never what the models say. The app's own database is
not touched, so a baseline can be written from any checkout that reaches the server.

Using one happens inside :func:`~flask_versioning._operations.migrate.upgrade`, under the
migration lock, only for an *empty* database: the newest baseline at or below the target is
loaded and the version table stamped in the same transaction (where DDL is transactional), the
load is recorded in the history ledger, and only the revisions after it are run. The choice is
made from the revision files read as text (:func:`.heads.revision_files`), so when the baseline
is at the target Alembic never has to import a thousand revision files at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .. import _baseline as engine
from .._alembic.errors import translate_errors
from .._alembic.heads import revision_files
from .._errors import VersioningError, mask_url
from .._ledgers import history
from .._ledgers.versions import current
from .._types import AppliedRevision, BaselineResult

if TYPE_CHECKING:
    from .._alembic.database import Database

__all__ = ["Loaded", "apply_baseline", "make_baseline", "prune"]

logger = logging.getLogger("flask_versioning")

#: ``direction`` of the history ledger's row for a database made from a baseline.
BASELINE = "baseline"


# -- writing ----------------------------------------------------------------------------------


def make_baseline(
    database: Database, at: str = "heads", *, include_data: Collection[str] = ()
) -> BaselineResult:
    """Write the baseline of revision ``at`` for ``database``'s backend into its directory."""
    from .migrate import upgrade

    script = database.script_directory()
    with translate_errors(database, f"'baseline --at {at}'"):
        found = script.get_revisions(at)
    revisions = [r for r in found if r is not None]
    if len(revisions) != 1:
        listed = ", ".join(r.revision for r in revisions) or "none"
        raise VersioningError(
            f"a baseline stands for one revision; {at!r} means {listed}: name one with --at"
        )
    revision = revisions[0].revision
    settings = database.settings
    excluded = (settings.version_table, *settings.own_tables)
    with _scratch(database) as url:
        scratch = dataclasses.replace(database, url_override=url, get_engine=None, _own_engine=None)
        try:
            upgrade(scratch, revision, baselines=False)
            with scratch.engine().connect() as connection:
                dialect = engine.dialect_key(connection)
                sql = engine.dump_schema(connection, exclude_tables=excluded)
                if include_data:
                    sql += engine.dump_rows(connection, include_data)
        finally:
            scratch.engine().dispose()
    path = engine.write_baseline(database.directory, revision, dialect, sql)
    paths = [s.path for s in script.iterate_revisions(revision, "base") if s is not None]
    data = engine.data_revisions(paths)
    statements = engine.read_baseline(path).sql.count(";\n")
    return BaselineResult(
        database=database.name,
        revision=revision,
        dialect=dialect,
        path=path,
        statements=statements,
        data_revisions=tuple(f"{d.path.name}: {'; '.join(d.findings)}" for d in reversed(data)),
        included=tuple(include_data),
    )


@contextlib.contextmanager
def _scratch(database: Database) -> Iterator[str]:
    """The URL of a new empty database of ``database``'s backend, removed afterwards."""
    url = database.url
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fvbaseline-") as folder:
            yield url.set(database=str(Path(folder, "scratch.db"))).render_as_string(False)
        return
    name = f"fvbaseline_{secrets.token_hex(6)}"
    server = database.engine().execution_options(isolation_level="AUTOCOMMIT")
    quoted = server.dialect.identifier_preparer.quote(name)
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except sa.exc.DBAPIError as exc:
        raise VersioningError(
            f"cannot create a scratch database for the baseline on {mask_url(url)}: "
            f"{' '.join(str(exc.orig).split())}"
        ) from exc
    try:
        yield url.set(database=name).render_as_string(False)
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")


# -- using ------------------------------------------------------------------------------------


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
    below = _ancestors(parents, tips)
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
    depth = {rev: len(_ancestors(parents, {rev})) for rev in mine}
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


def _ancestors(parents: Mapping[str, Sequence[str]], tips: Collection[str]) -> set[str]:
    """``tips`` and every revision below them."""
    seen: set[str] = set()
    stack = [t for t in tips if t in parents]
    while stack:
        rev = stack.pop()
        if rev not in seen:
            seen.add(rev)
            stack.extend(p for p in parents.get(rev, ()) if p in parents)
    return seen


# -- pruning ----------------------------------------------------------------------------------


def prune(database: Database, known: Sequence[Database]) -> BaselineResult:
    """Delete the revision files older than the newest baseline of ``database``'s directory.

    Refused unless every database in ``known`` that shares the directory is at or past that
    baseline, and has a baseline for its backend there (an empty one is then made from it).
    The baseline's own revision becomes the root: its ``down_revision`` is set to ``None``.
    """
    files = revision_files([database.directory / "versions"])
    if files is None:
        raise VersioningError(
            f"cannot prune {database.directory}: a revision file is too unusual to read "
            "without importing it"
        )
    parents = {rev: down for rev, (_, down) in files.items()}
    entries = [e for e in engine.list_baselines(database.directory) if e.revision in parents]
    if not entries:
        raise VersioningError(
            f"no baseline in {database.directory}: write one with `flask db baseline` first"
        )
    newest = max({e.revision for e in entries}, key=lambda r: len(_ancestors(parents, {r})))
    older = _ancestors(parents, {newest}) - {newest}
    for rev, down in parents.items():
        if rev not in older and rev != newest and set(down) & older:
            raise VersioningError(
                f"cannot prune: revision {rev} branches off before baseline {newest}; "
                "merge it first"
            )
    for other in known:
        if other.directory != database.directory:
            continue
        _check_at_or_past(other, parents, newest)
    for rev in sorted(older):
        files[rev][0].unlink()
    _make_root(files[newest][0])
    return BaselineResult(
        database=database.name,
        revision=newest,
        pruned=tuple(sorted(files[rev][0] for rev in older)),
    )


def _check_at_or_past(database: Database, parents: Mapping[str, Sequence[str]], rev: str) -> None:
    where = f"the {database.name} database ({mask_url(database.url)})"
    dialect = engine.dialect_key(database.engine())
    if not engine.baseline_path(database.directory, rev, dialect).is_file():
        raise VersioningError(
            f"cannot prune: {where} is {dialect} and baseline {rev} has no {dialect} file; "
            "write it with `flask db baseline` against that database first"
        )
    heads = current(database)
    if not heads or rev not in _ancestors(parents, heads):
        raise VersioningError(
            f"cannot prune: {where} is at {', '.join(heads) or 'base'}, behind baseline {rev}; "
            "upgrade it first"
        )


def _make_root(path: Path) -> None:
    """Set the revision file's ``down_revision`` to ``None``: older files are gone."""
    import ast

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for node in ast.parse(text).body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "down_revision" and value is not None:
            assert value.end_lineno is not None and value.end_col_offset is not None
            first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
            merged = first[: value.col_offset] + "None" + last[value.end_col_offset :]
            lines[value.lineno - 1 : value.end_lineno] = [merged]
            path.write_text("".join(lines), encoding="utf-8")
            return
