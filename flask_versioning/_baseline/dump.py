"""Rendering the schema of a real database as the SQL that recreates it.

A baseline must equal what replaying the revisions produces, so it is read from a database that
was upgraded by replay, never from the models, and each backend is asked in the most literal way
it offers:

- SQLite keeps the text of every ``CREATE`` statement in ``sqlite_master``, already rewritten by
  ``ALTER TABLE``: that text is the schema.
- MariaDB and MySQL answer ``SHOW CREATE TABLE`` with a statement that includes the engine, the
  character set and collation, ``AUTO_INCREMENT`` columns, keys, checks and foreign keys.
- PostgreSQL has no such statement; :mod:`._postgresql` builds one from the server's catalog and
  its own deparsing functions (see there for why not ``pg_dump``).

Objects a backend's dump cannot reproduce (triggers, routines, views on MariaDB) are refused by
name: a baseline that silently lacks them would make databases that differ from replayed ones.
The output is deterministic (tables and indexes sorted by name), so a regenerated baseline
shows in review as a diff of what changed.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import sqlalchemy as sa

from .._errors import VersioningError
from ._postgresql import dump_postgresql

#: Execution options for statements run exactly as written: no driver-side ``%`` formatting.
RAW: dict[str, object] = {"no_parameters": True}


def dialect_key(connection: sa.Connection | sa.Engine) -> str:
    """The name a baseline file carries for this database's backend.

    MariaDB is told apart from MySQL (both use SQLAlchemy's ``mysql`` dialect unless the URL
    says ``mariadb://``): their ``SHOW CREATE TABLE`` texts differ, and one's baseline is not
    guaranteed to load on the other. The dialect only knows which it is once it has connected,
    so an engine is connected first.
    """
    if isinstance(connection, sa.Engine):
        with connection.connect() as connected:
            return dialect_key(connected)
    dialect = connection.dialect
    if dialect.name in ("mysql", "mariadb"):
        return "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
    return str(dialect.name)


def dump_schema(connection: sa.Connection, *, exclude_tables: Collection[str] = ()) -> str:
    """The SQL that recreates this database's schema on an empty database of the same backend.

    ``exclude_tables`` names tables left out, with their indexes and sequences: the version
    table and the ledgers, which their owners create. Raises :class:`VersioningError` when the
    backend is not supported or the schema holds objects a baseline cannot reproduce.
    """
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
    """Statements as a file body: each ends with a semicolon, a blank line between them.

    A statement whose last line holds a ``--`` comment gets its semicolon on a line of its own,
    or the comment would swallow it.
    """
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
    rows = connection.exec_driver_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
        execution_options=RAW,
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
    """Tables a virtual table (e.g. FTS5) keeps its data in, and creates by itself.

    ``PRAGMA table_list`` says which they are since SQLite 3.37; before, none are known.
    """
    try:
        rows = connection.exec_driver_sql("PRAGMA table_list", execution_options=RAW).all()
    except sa.exc.DBAPIError:
        return set()
    return {str(row[1]) for row in rows if row[2] == "shadow"}


# -- MariaDB / MySQL ------------------------------------------------------------------------------

#: The ``AUTO_INCREMENT=<n>`` table option: the counter left by rows the baseline does not copy.
_COUNTER = re.compile(r" AUTO_INCREMENT=\d+")


#: Objects whose bodies hold semicolons of their own, by the query that lists them.
_MYSQL_BODIES = (
    (
        "triggers",
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
    ),
    (
        "routines",
        "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE()",
    ),
    ("events", "SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE()"),
)


def _dump_mysql(connection: sa.Connection, excluded: frozenset[str]) -> str:
    """``SHOW CREATE TABLE`` for every base table, by name; foreign keys come with them.

    Tables are created in name order, not dependency order, so a foreign key can name a table
    created later: :func:`~.apply.load_baseline` turns ``FOREIGN_KEY_CHECKS`` off for the load,
    which also covers cycles.
    """
    tables: list[str] = []
    others: list[str] = []
    for name, kind in connection.exec_driver_sql("SHOW FULL TABLES", execution_options=RAW):
        if name in excluded:
            continue
        if kind == "BASE TABLE":
            tables.append(name)
        else:
            others.append(f"{name} ({kind.lower()})")
    # A view's text names the database it was read from, so it would not load elsewhere.
    _refuse("views or sequences", others)
    for what, query in _MYSQL_BODIES:
        names = connection.exec_driver_sql(query, execution_options=RAW).scalars()
        _refuse(what, [str(name) for name in names])
    statements = []
    quote = connection.dialect.identifier_preparer.quote_identifier
    for name in sorted(tables):
        row = connection.exec_driver_sql(
            f"SHOW CREATE TABLE {quote(name)}", execution_options=RAW
        ).one()
        statements.append(_without_counter(str(row[1])))
    return _join(statements)


def _without_counter(create: str) -> str:
    """``create`` without the table's ``AUTO_INCREMENT=<n>`` option.

    A fresh database starts its counters at 1, as a replayed one does; the option is only in
    the way of that when the dumped database held rows. The column attribute of the same name
    is on a column line, which is left alone: only the closing options line is edited.
    """
    head, sep, options = create.rpartition("\n)")
    if not sep:
        return create
    first, newline, rest = options.partition("\n")
    return head + sep + _COUNTER.sub("", first) + newline + rest
