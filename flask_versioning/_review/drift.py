"""``flask db check``: each difference between the models and the database, as a reviewer
needs it to act.

Autogenerate's *diff tuples* (``("modify_type", schema, table, column, info, old, new)``...)
named by their first word alone drop what the reviewer needs, the types: :func:`describe_diffs`
turns each into a :class:`~flask_versioning._reports.Difference` that keeps them, rendered for
the database's dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._linear.guard import heads_file_problem
from .._operations.queries import check
from .._reports import CheckReport, Difference

if TYPE_CHECKING:
    from .._alembic.database import Database


Dialect = sa.Dialect | None


def check_report(database: Database) -> CheckReport:
    """The linear-history file first (while it disagrees with the revision files a comparison
    means nothing), then the models against the (up-to-date) database."""
    problem = heads_file_problem(database)
    if problem is not None:
        return CheckReport(database.name, (), problem)
    diffs = check(database)
    return CheckReport(database.name, tuple(describe_diffs(diffs, database.engine().dialect)))


def describe_diffs(diffs: Iterable[Any], dialect: Dialect = None) -> list[Difference]:
    """One :class:`Difference` per autogenerate diff, in Alembic's order, types and defaults as
    ``dialect`` spells them (without one, SQLAlchemy's generic spelling)."""
    flat = (d for diff in diffs for d in (diff if isinstance(diff, list) else [diff]))
    return [_describe(diff, dialect) for diff in flat]


def _describe(diff: Any, dialect: Dialect) -> Difference:
    if not isinstance(diff, tuple) or not diff or not isinstance(diff[0], str):
        return Difference("unknown", "", str(diff))
    kind = diff[0]
    try:
        if kind in _DESCRIBERS:
            return _DESCRIBERS[kind](kind, diff, dialect)
    except (AttributeError, IndexError, TypeError, ValueError):
        pass  # a shape this version of Alembic does not produce: fall back to its words
    names = [str(i) if isinstance(i, str) else str(getattr(i, "name", "")) for i in diff[1:]]
    return Difference(kind, "", f"{kind} {'.'.join(n for n in names if n)}".strip())


def _table_name(table: Any) -> str:
    if table is None:
        return ""
    return f"{table.schema}.{table.name}" if table.schema else str(table.name)


def _type(type_: Any, dialect: Dialect) -> str:
    if type_ is None:
        return "unknown type"
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render: its Python spelling is still useful
        return repr(type_)


def _default(value: Any, dialect: Dialect) -> str:
    if value is None or value is False:
        return "none"
    arg = getattr(value, "arg", value)
    if isinstance(arg, str):
        return repr(arg)
    text = getattr(arg, "text", None)
    if isinstance(text, str):
        return text
    try:
        return str(arg.compile(dialect=dialect))
    except Exception:
        return str(arg)


def _nullable(value: Any, dialect: Dialect = None) -> str:
    return "NULL" if value else "NOT NULL"


def _column_spec(column: sa.Column[Any], dialect: Dialect) -> str:
    spec = f"{_type(column.type, dialect)} {_nullable(column.nullable)}"
    if column.server_default is not None:
        spec += f" DEFAULT {_default(column.server_default, dialect)}"
    return spec


def _columns(item: Any) -> str:
    expressions = getattr(item, "expressions", None) or list(getattr(item, "columns", ()))
    return ", ".join(str(getattr(e, "name", None) or e) for e in expressions)


def _table(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    table = diff[1]
    name = _table_name(table)
    if kind == "add_table":
        columns = ", ".join(f"{c.name} {_column_spec(c, dialect)}" for c in table.columns)
        return Difference(kind, name, f"add table {name} ({columns})")
    return Difference(kind, name, f"remove table {name} (in the database, not in the models)")


def _column(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    _, schema, table, column = diff[:4]
    name = f"{schema}.{table}" if schema else table
    spec = _column_spec(column, dialect)
    if kind == "add_column":
        text = f"add column {name}.{column.name} {spec}"
        return Difference(kind, name, text, column.name, new=spec)
    text = f"remove column {name}.{column.name} (in the database, not in the models)"
    return Difference(kind, name, text, column.name, old=spec)


_MODIFIED: dict[str, tuple[str, Callable[[Any, Dialect], str]]] = {
    "modify_type": ("type", _type),
    "modify_nullable": ("nullability", _nullable),
    "modify_default": ("server default", _default),
    "modify_comment": ("comment", lambda value, dialect: repr(value)),
}


def _modify(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    _, schema, table, column, _info, old, new = diff[:7]
    name = f"{schema}.{table}" if schema else table
    what, render = _MODIFIED[kind]
    old_text, new_text = render(old, dialect), render(new, dialect)
    text = f"{name}.{column}: {what} {old_text} -> {new_text}"
    return Difference(kind, name, text, str(column), old=old_text, new=new_text)


def _index(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    index = diff[1]
    table = _table_name(getattr(index, "table", None))
    unique = "unique " if index.unique else ""
    verb = "add" if kind == "add_index" else "remove"
    text = f"{verb} {unique}index {index.name} on {table} ({_columns(index)})"
    return Difference(kind, table, text, name=str(index.name) if index.name else None)


_CONSTRAINT_WORDS = {
    "UniqueConstraint": "unique constraint",
    "CheckConstraint": "check constraint",
    "PrimaryKeyConstraint": "primary key",
    "ForeignKeyConstraint": "foreign key",
}


def _constraint(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    constraint = diff[1]
    table = _table_name(getattr(constraint, "table", None))
    word = _CONSTRAINT_WORDS.get(type(constraint).__name__, "constraint")
    verb = "add" if kind.startswith("add") else "remove"
    name = str(constraint.name) if getattr(constraint, "name", None) else None
    if isinstance(constraint, sa.CheckConstraint):
        detail = str(constraint.sqltext)
    else:
        detail = _columns(constraint)
    text = f"{verb} {word}{f' {name}' if name else ''} on {table} ({detail})"
    if isinstance(constraint, sa.ForeignKeyConstraint):
        text += f" -> {', '.join(element.target_fullname for element in constraint.elements)}"
    return Difference(kind, table, text, name=name)


def _table_comment(kind: str, diff: tuple[Any, ...], dialect: Dialect) -> Difference:
    table = diff[1]
    name = _table_name(table)
    if kind == "add_table_comment":
        old = diff[2] if len(diff) > 2 else None
        text = f"{name}: table comment {old!r} -> {table.comment!r}"
        return Difference(kind, name, text, old=repr(old), new=repr(table.comment))
    return Difference(kind, name, f"{name}: remove the table comment", old=repr(table.comment))


_DESCRIBERS: dict[str, Callable[[str, tuple[Any, ...], Dialect], Difference]] = {
    **dict.fromkeys(("add_table", "remove_table"), _table),
    **dict.fromkeys(("add_column", "remove_column"), _column),
    **dict.fromkeys(_MODIFIED, _modify),
    **dict.fromkeys(("add_index", "remove_index"), _index),
    **dict.fromkeys(("add_constraint", "remove_constraint", "add_fk", "remove_fk"), _constraint),
    **dict.fromkeys(("add_table_comment", "remove_table_comment"), _table_comment),
}
