"""Baselines for an app's database: writing one, and pruning the revisions it replaces.

Writing replays the revisions into a *scratch* database of the same backend (a temporary SQLite
file, or a ``fvbaseline_<random>`` database on the server, dropped afterwards) and dumps it: a
baseline is what replay produces, never what the models say, and the app's database is not
touched. Using one is :mod:`.from_baseline`'s, inside ``upgrade``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .._alembic.errors import translate_errors
from .._alembic.revision_files import assignments, revisions_by_id, version_locations
from .._baseline import (
    baseline_path,
    data_revisions,
    dialect_key,
    dump_rows,
    dump_schema,
    list_baselines,
    read_baseline,
    write_baseline,
)
from .._errors import VersioningError, mask_url
from .._ledgers.versions import current
from .._types import BaselineResult
from .from_baseline import ancestors

if TYPE_CHECKING:
    from .._alembic.database import Database


def make_baseline(
    database: Database, at: str = "heads", *, include_data: Collection[str] = ()
) -> BaselineResult:
    """Write the baseline of revision ``at`` for ``database``'s backend into its directory."""
    from .executor import upgrade

    script = database.script_directory()
    with translate_errors(database, f"'baseline --at {at}'"):
        found = script.get_revisions(at)
    revisions = [r.revision for r in found if r is not None]
    if len(revisions) != 1:
        listed = ", ".join(revisions) or "none"
        raise VersioningError(
            f"a baseline stands for one revision; {at!r} means {listed}: name one with --at"
        )
    revision = revisions[0]
    settings = database.settings
    excluded = (settings.version_table, *settings.own_tables)
    with _scratch(database) as url:
        scratch = dataclasses.replace(database, url_override=url, get_engine=None, _own_engine=None)
        try:
            upgrade(scratch, revision, baselines=False)
            with scratch.engine().connect() as connection:
                dialect = dialect_key(connection)
                sql = dump_schema(connection, exclude_tables=excluded)
                if include_data:
                    sql += dump_rows(connection, include_data)
        finally:
            scratch.engine().dispose()
    path = write_baseline(database.directory, revision, dialect, sql)
    paths = [s.path for s in script.iterate_revisions(revision, "base") if s is not None]
    data = [f"{d.path.name}: {'; '.join(d.findings)}" for d in reversed(data_revisions(paths))]
    return BaselineResult(
        database=database.name,
        revision=revision,
        dialect=dialect,
        path=path,
        statements=read_baseline(path).sql.count(";\n"),
        data_revisions=tuple(data),
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


def prune(database: Database, known: Sequence[Database]) -> BaselineResult:
    """Delete the revision files older than the newest baseline of ``database``'s directory,
    whose revision becomes the root; refused unless every database in ``known`` sharing the
    directory is at or past it and has a baseline for its backend there."""
    files = revisions_by_id(version_locations(database))
    if files is None:
        raise VersioningError(
            f"cannot prune {database.directory}: a revision file is too unusual to read "
            "without importing it"
        )
    parents = {rev: file.down_revisions for rev, file in files.items()}
    entries = [e for e in list_baselines(database.directory) if e.revision in parents]
    if not entries:
        raise VersioningError(
            f"no baseline in {database.directory}: write one with `flask db baseline` first"
        )
    newest = max({e.revision for e in entries}, key=lambda r: len(ancestors(parents, {r})))
    older = ancestors(parents, {newest}) - {newest}
    for rev, down in parents.items():
        if rev not in older and rev != newest and set(down) & older:
            raise VersioningError(
                f"cannot prune: revision {rev} branches off before baseline {newest}; "
                "merge it first"
            )
    for other in known:
        if other.directory == database.directory:
            _check_at_or_past(other, parents, newest)
    for rev in sorted(older):
        files[rev].path.unlink()
    _make_root(files[newest].path)
    return BaselineResult(
        database=database.name,
        revision=newest,
        pruned=tuple(sorted(files[rev].path for rev in older)),
    )


def _check_at_or_past(database: Database, parents: Mapping[str, Sequence[str]], rev: str) -> None:
    where = f"the {database.name} database ({mask_url(database.url)})"
    dialect = dialect_key(database.engine())
    if not baseline_path(database.directory, rev, dialect).is_file():
        raise VersioningError(
            f"cannot prune: {where} is {dialect} and baseline {rev} has no {dialect} file; "
            "write it with `flask db baseline` against that database first"
        )
    heads = current(database)
    if not heads or rev not in ancestors(parents, heads):
        raise VersioningError(
            f"cannot prune: {where} is at {', '.join(heads) or 'base'}, behind baseline {rev}; "
            "upgrade it first"
        )


def _make_root(path: Path) -> None:
    """Set the revision file's ``down_revision`` to ``None``: older files are gone."""
    import ast

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for value in assignments(ast.parse(text), ["down_revision"])["down_revision"][:1]:
        assert value.end_lineno is not None and value.end_col_offset is not None
        first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
        merged = first[: value.col_offset] + "None" + last[value.end_col_offset :]
        lines[value.lineno - 1 : value.end_lineno] = [merged]
        path.write_text("".join(lines), encoding="utf-8")
