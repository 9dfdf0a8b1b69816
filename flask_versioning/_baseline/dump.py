"""Rendering the schema of a real database as the SQL that recreates it.

A baseline must equal what replaying the revisions produces, so it is read from a replayed
database, never from the models, and each backend is asked in its most literal way: SQLite's
``sqlite_master`` holds every ``CREATE`` statement as ``ALTER TABLE`` left it; MariaDB and MySQL
answer ``SHOW CREATE TABLE``; for PostgreSQL, :mod:`._postgresql` builds the statements from the
catalog. What a dump cannot reproduce (triggers, routines, views on MariaDB) is refused by name,
and the output is sorted by name, so a regenerated baseline reviews as a diff of what changed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .._errors import VersioningError
from ._postgresql import dump_postgresql

if TYPE_CHECKING:
    from sqlalchemy.util.typing import TupleAny


def raw(connection: sa.Connection, sql: str) -> sa.CursorResult[*TupleAny]:
    """Run ``sql`` exactly as written: no driver-side ``%`` formatting."""
    return connection.exec_driver_sql(sql, execution_options={"no_parameters": True})


def dialect_key(connection: sa.Connection | sa.Engine) -> str:
    """The name a baseline file carries for this database's backend: MariaDB apart from MySQL,
    whose ``SHOW CREATE TABLE`` texts differ (the dialect knows which only once connected)."""
    if isinstance(connection, sa.Engine):
        with connection.connect() as connected:
            return dialect_key(connected)
    dialect = connection.dialect
    if dialect.name in ("mysql", "mariadb"):
        return "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
    return str(dialect.name)


def dump_schema(connection: sa.Connection, *, exclude_tables: Collection[str] = ()) -> str:
    """The SQL that recreates this database's schema on an empty database of the same backend,
    less ``exclude_tables`` (the version table and ledgers, which their owners create) with
    their indexes and sequences."""
    key = dialect_key(connection)
    excluded = frozenset(exclude_tables)
    if key == "sqlite":
        return _dump_sqlite(connection, excluded)
    if key in ("mariadb", "mysql"):
        return _dump_mysql(connection, excluded)
    if key == "postgresql":
        return dump_postgresql(connection, excluded)
    raise VersioningError(f"baselines are not supported on {key}; use replay (upgrade) instead")


def _join(statements: list[str]) -> str:
    """Statements as a file body, a blank line between them; a statement whose last line holds
    a ``--`` comment gets its semicolon on a line of its own, or the comment would swallow it."""
    body = []
    for statement in statements:
        text = statement.rstrip().removesuffix(";").rstrip()
        end = "\n;" if "--" in text.rpartition("\n")[2] else ";"
        body.append(f"{text}{end}\n\n")
    return "".join(body)


def _refuse(what: str, names: Collection[str]) -> None:
    if names:
        listed = ", ".join(sorted(names))
        raise VersioningError(
            f"this database has {what} ({listed}) that a baseline cannot reproduce yet; "
            "keep replaying the revisions for it"
        )


# -- SQLite ---------------------------------------------------------------------------------------


def _dump_sqlite(connection: sa.Connection, excluded: frozenset[str]) -> str:
    rows = raw(
        connection,
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
    ).all()
    shadows = _sqlite_shadow_tables(connection)
    tables: list[tuple[str, str]] = []
    indexes: list[tuple[str, str, str]] = []
    views: list[str] = []
    triggers: list[str] = []
    for kind, name, table, sql in rows:
        if name.startswith("sqlite_") or table in excluded or table in shadows:
            continue
        if kind == "table":
            tables.append((name, sql))
        elif kind == "index":
            indexes.append((table, name, sql))
        elif kind == "view":
            views.append(sql)  # in creation order: a view can only use what existed before it
        else:
            triggers.append(name)
    # A trigger's body holds its own semicolons inside BEGIN ... END.
    _refuse("triggers", triggers)
    return _join([sql for _, sql in sorted(tables)] + [sql for *_, sql in sorted(indexes)] + views)


def _sqlite_shadow_tables(connection: sa.Connection) -> set[str]:
    """Tables a virtual table (e.g. FTS5) creates for its data; ``PRAGMA table_list`` names
    them since SQLite 3.37 (before, none are known)."""
    try:
        rows = raw(connection, "PRAGMA table_list").all()
    except sa.exc.DBAPIError:
        return set()
    return {str(row[1]) for row in rows if row[2] == "shadow"}


# -- MariaDB / MySQL ------------------------------------------------------------------------------

#: The ``AUTO_INCREMENT=<n>`` table option: the counter left by rows the baseline does not copy.
_COUNTER = re.compile(r" AUTO_INCREMENT=\d+")


def _dump_mysql(connection: sa.Connection, excluded: frozenset[str]) -> str:
    """``SHOW CREATE TABLE`` for every base table, by name, foreign keys included: one may name
    a table created later (or a cycle), so the load turns ``FOREIGN_KEY_CHECKS`` off."""
    tables: list[str] = []
    others: list[str] = []
    for name, kind in raw(connection, "SHOW FULL TABLES"):
        if name in excluded:
            continue
        if kind == "BASE TABLE":
            tables.append(name)
        else:
            others.append(f"{name} ({kind.lower()})")
    # A view's text names the database it was read from, so it would not load elsewhere.
    _refuse("views or sequences", others)
    for what in ("triggers", "routines", "events"):  # bodies with semicolons of their own
        one = what.removesuffix("s")
        query = f"SELECT {one}_name FROM information_schema.{what} WHERE {one}_schema = DATABASE()"
        names = raw(connection, query).scalars()
        _refuse(what, [str(name) for name in names])
    statements = []
    quote = connection.dialect.identifier_preparer.quote_identifier
    for name in sorted(tables):
        row = raw(connection, f"SHOW CREATE TABLE {quote(name)}").one()
        statements.append(_without_counter(str(row[1])))
    return _join(statements)


def _without_counter(create: str) -> str:
    """``create`` without the table's ``AUTO_INCREMENT=<n>`` option, so counters start at 1 as
    in a replayed database; only the closing options line is edited, not the column attribute."""
    head, sep, options = create.rpartition("\n)")
    if not sep:
        return create
    first, newline, rest = options.partition("\n")
    return head + sep + _COUNTER.sub("", first) + newline + rest
