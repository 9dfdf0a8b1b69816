"""A database's schema as plain data, read by reflection, to compare two databases with ``==``:
the proof that a database made from a baseline equals one that replayed the revisions. It is
read through SQLAlchemy's inspector, not the dump's queries, so a mistake in the dump cannot
hide by being made twice. Whatever has no defined order is sorted by name (columns keep theirs);
state rather than schema (``AUTO_INCREMENT`` counters, a sequence's current value) is left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from flask_versioning._baseline.dump import dialect_key

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql.base import PGInspector

_SEQUENCES = sa.text(
    "SELECT sequence_name, data_type, start_value, increment, minimum_value, maximum_value, "
    "cycle_option FROM information_schema.sequences WHERE sequence_schema = current_schema() "
    "ORDER BY sequence_name"
)


def schema_snapshot(
    bind: sa.Engine | sa.Connection,
    *,
    exclude: Collection[str] = (),
    version_table: str | None = "alembic_version",
    version_table_schema: str | None = None,
) -> dict[str, Any]:
    """Tables, columns, keys, indexes, constraints, views, enums and sequences, less the tables
    and views in ``exclude``, plus the version table's rows (under ``"version"``; ``None`` when
    it does not exist)."""
    connect = bind.connect() if isinstance(bind, sa.Engine) else contextlib.nullcontext(bind)
    with connect as connection:
        key = dialect_key(connection)
        inspector = sa.inspect(connection)
        tables = sorted(set(inspector.get_table_names()) - set(exclude))
        snapshot: dict[str, Any] = {
            "dialect": key,
            "tables": _tables(connection, inspector, tables),
            "views": {
                name: _clean(inspector.get_view_definition(name))
                for name in sorted(set(inspector.get_view_names()) - set(exclude))
            },
            "version": _version_rows(connection, version_table, version_table_schema),
        }
        if key == "postgresql":
            enums = cast("PGInspector", inspector).get_enums()
            snapshot["enums"] = sorted(
                ({"name": e["name"], "labels": list(e["labels"])} for e in enums),
                key=lambda enum: str(enum["name"]),
            )
            snapshot["materialized_views"] = sorted(inspector.get_materialized_view_names())
            snapshot["sequences"] = [list(row) for row in connection.execute(_SEQUENCES)]
        return snapshot


def _tables(connection: sa.Connection, inspector: sa.Inspector, names: list[str]) -> dict[str, Any]:
    """Each table's parts, read with the inspector's ``get_multi_*`` (a few queries in all)."""
    if not names:
        return {}
    dialect = connection.dialect

    def multi(method: str) -> Mapping[tuple[str | None, str], Any]:
        return dict(getattr(inspector, f"get_multi_{method}")(filter_names=names))

    columns = multi("columns")
    primary = multi("pk_constraint")
    indexes = multi("indexes")
    uniques = multi("unique_constraints")
    checks = multi("check_constraints")
    foreign = multi("foreign_keys")
    comments = multi("table_comment") if dialect.supports_comments else {}
    try:
        options = multi("table_options")
    except NotImplementedError:
        # SQLAlchemy reads SQLite's table options (WITHOUT ROWID, STRICT) from 2.0.53 on.
        options = {}
    return {
        key[1]: {
            "columns": [_column(column, dialect) for column in table_columns],
            "primary_key": _clean(primary.get(key)),
            "indexes": _sorted(indexes.get(key, [])),
            "unique_constraints": _sorted(uniques.get(key, [])),
            "check_constraints": _sorted(checks.get(key, [])),
            "foreign_keys": _sorted(foreign.get(key, [])),
            "comment": _clean(comments.get(key)),
            "options": {
                option: _clean(value)
                for option, value in sorted(options.get(key, {}).items())
                if not option.endswith("auto_increment")
            },
        }
        for key, table_columns in sorted(columns.items(), key=lambda item: str(item[0][1]))
    }


def _column(column: Mapping[str, Any], dialect: sa.Dialect) -> dict[str, Any]:
    try:
        type_ = column["type"].compile(dialect=dialect)
    except sa.exc.CompileError:
        type_ = repr(column["type"])
    return {"type": type_, **_clean({key: value for key, value in column.items() if key != "type"})}


def _clean(value: Any) -> Any:
    """``value`` as plain, comparable data: dicts with sorted keys, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(key): _clean(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, sa.types.TypeEngine):
        return repr(value)
    return str(value)


def _sorted(items: list[Any]) -> list[Any]:
    """Reflected constraints or indexes, in an order that does not depend on the database."""
    cleaned = [_clean(item) for item in items]
    return sorted(cleaned, key=lambda item: (str(item.get("name")), repr(item)))


def _version_rows(
    connection: sa.Connection, table: str | None, schema: str | None
) -> list[list[Any]] | None:
    if table is None or not sa.inspect(connection).has_table(table, schema=schema):
        return None
    version = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=connection)
    return sorted([list(row) for row in connection.execute(sa.select(version))], key=repr)
