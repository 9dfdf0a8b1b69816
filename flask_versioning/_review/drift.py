"""``flask db check``: each difference between the models and the database, as a reviewer
needs it to act.

Alembic's autogenerate compares them and returns *diff tuples*, the same ones
``MigrationScript.upgrade_ops.as_diffs()`` gives: ``("add_table", Table)``,
``("add_column", schema, table, Column)``, ``("modify_type", schema, table, column, info,
old_type, new_type)``, ``("add_index", Index)`` and so on, the ``modify_*`` ones grouped in a
list per column. Printing only their first word and names (``modify_type
notification.timestamp``) drops what the reviewer needs, the types; :func:`describe_diffs`
turns each into a :class:`~flask_versioning._reports.Difference` that keeps it, with types and
defaults rendered for the database's dialect.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .._linear.guard import heads_file_problem
from .._operations.queries import check
from .._reports import CheckReport, Difference

if TYPE_CHECKING:
    from .._alembic.database import Database

__all__ = ["check_report", "describe_diffs"]


def check_report(database: Database) -> CheckReport:
    """The linear-history file first, then the models against the (up-to-date) database.

    When ``versions/HEADS`` disagrees with the revision files the history must be fixed
    before a comparison means anything, so the models are not compared.
    """
    problem = heads_file_problem(database)
    if problem is not None:
        return CheckReport(database.name, (), problem)
    diffs = check(database)
    return CheckReport(database.name, tuple(describe_diffs(diffs, database.engine().dialect)))


def describe_diffs(diffs: Iterable[Any], dialect: sa.Dialect | None = None) -> list[Difference]:
    """One :class:`Difference` per autogenerate diff, in Alembic's order.

    ``dialect`` renders types and defaults as that database spells them (``VARCHAR(50)``,
    ``TIMESTAMP WITHOUT TIME ZONE``); without one, SQLAlchemy's generic spelling is used.
    """
    return [_describe(diff, dialect) for diff in _flatten(diffs)]


def _flatten(diffs: Iterable[Any]) -> Iterator[Any]:
    for diff in diffs:
        if isinstance(diff, list):
            yield from diff
        else:
            yield diff


def _describe(diff: Any, dialect: sa.Dialect | None) -> Difference:
    if not isinstance(diff, tuple) or not diff or not isinstance(diff[0], str):
        return Difference("unknown", "", str(diff))
    kind = diff[0]
    try:
        describe = _DESCRIBERS.get(kind)
        if describe is not None:
            return describe(kind, diff, dialect)
    except (AttributeError, IndexError, TypeError, ValueError):
        pass  # a shape this version of Alembic does not produce: fall back to its words
    names = [str(i) if isinstance(i, str) else str(getattr(i, "name", "")) for i in diff[1:]]
    return Difference(kind, "", f"{kind} {'.'.join(n for n in names if n)}".strip())


# -- rendering pieces ---------------------------------------------------------------------------


def _table_name(table: str, schema: str | None) -> str:
    return f"{schema}.{table}" if schema else table


def _type(type_: Any, dialect: sa.Dialect | None) -> str:
    if type_ is None:
        return "unknown type"
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render: its Python spelling is still useful
        return repr(type_)


def _default(value: Any, dialect: sa.Dialect | None) -> str:
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


def _nullable(value: Any) -> str:
    return "NULL" if value else "NOT NULL"


def _column_spec(column: sa.Column[Any], dialect: sa.Dialect | None) -> str:
    spec = f"{_type(column.type, dialect)} {_nullable(column.nullable)}"
    if column.server_default is not None:
        spec += f" DEFAULT {_default(column.server_default, dialect)}"
    return spec


def _columns(item: Any) -> str:
    names = []
    for expression in getattr(item, "expressions", None) or list(getattr(item, "columns", ())):
        names.append(str(getattr(expression, "name", None) or expression))
    return ", ".join(names)


def _owner(item: Any) -> str:
    table = getattr(item, "table", None)
    if table is None:
        return ""
    return _table_name(table.name, table.schema)


def _name(item: Any) -> str | None:
    name = getattr(item, "name", None)
    return str(name) if name else None


# -- one describer per kind -------------------------------------------------------------------


def _table(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    table = diff[1]
    name = _table_name(table.name, table.schema)
    if kind == "add_table":
        columns = ", ".join(f"{c.name} {_column_spec(c, dialect)}" for c in table.columns)
        return Difference(kind, name, f"add table {name} ({columns})")
    return Difference(kind, name, f"remove table {name} (in the database, not in the models)")


def _column(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    _, schema, table, column = diff[:4]
    name = _table_name(table, schema)
    if kind == "add_column":
        spec = _column_spec(column, dialect)
        return Difference(
            kind, name, f"add column {name}.{column.name} {spec}", column.name, new=spec
        )
    return Difference(
        kind,
        name,
        f"remove column {name}.{column.name} (in the database, not in the models)",
        column.name,
        old=_column_spec(column, dialect),
    )


def _modify(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    _, schema, table, column, _info, old, new = diff[:7]
    name = _table_name(table, schema)
    what: str
    if kind == "modify_type":
        what, old_text, new_text = "type", _type(old, dialect), _type(new, dialect)
    elif kind == "modify_nullable":
        what, old_text, new_text = "nullability", _nullable(old), _nullable(new)
    elif kind == "modify_default":
        what, old_text, new_text = "server default", _default(old, dialect), _default(new, dialect)
    else:  # modify_comment
        what, old_text, new_text = "comment", repr(old), repr(new)
    return Difference(
        kind,
        name,
        f"{name}.{column}: {what} {old_text} -> {new_text}",
        str(column),
        old=old_text,
        new=new_text,
    )


def _index(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    index = diff[1]
    table = _owner(index)
    unique = "unique " if index.unique else ""
    verb = "add" if kind == "add_index" else "remove"
    text = f"{verb} {unique}index {index.name} on {table} ({_columns(index)})"
    return Difference(kind, table, text, name=_name(index))


_CONSTRAINT_WORDS = {
    "UniqueConstraint": "unique constraint",
    "CheckConstraint": "check constraint",
    "PrimaryKeyConstraint": "primary key",
    "ForeignKeyConstraint": "foreign key",
}


def _constraint(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    constraint = diff[1]
    table = _owner(constraint)
    word = _CONSTRAINT_WORDS.get(type(constraint).__name__, "constraint")
    verb = "add" if kind.startswith("add") else "remove"
    name = _name(constraint)
    label = f" {name}" if name else ""
    if isinstance(constraint, sa.CheckConstraint):
        detail = str(constraint.sqltext)
    else:
        detail = _columns(constraint)
    text = f"{verb} {word}{label} on {table} ({detail})"
    if isinstance(constraint, sa.ForeignKeyConstraint):
        targets = ", ".join(element.target_fullname for element in constraint.elements)
        text += f" -> {targets}"
    return Difference(kind, table, text, name=name)


def _table_comment(kind: str, diff: tuple[Any, ...], dialect: sa.Dialect | None) -> Difference:
    table = diff[1]
    name = _table_name(table.name, table.schema)
    if kind == "add_table_comment":
        old = diff[2] if len(diff) > 2 else None
        text = f"{name}: table comment {old!r} -> {table.comment!r}"
        return Difference(kind, name, text, old=repr(old), new=repr(table.comment))
    return Difference(kind, name, f"{name}: remove the table comment", old=repr(table.comment))


_DESCRIBERS = {
    "add_table": _table,
    "remove_table": _table,
    "add_column": _column,
    "remove_column": _column,
    "modify_type": _modify,
    "modify_nullable": _modify,
    "modify_default": _modify,
    "modify_comment": _modify,
    "add_index": _index,
    "remove_index": _index,
    "add_constraint": _constraint,
    "remove_constraint": _constraint,
    "add_fk": _constraint,
    "remove_fk": _constraint,
    "add_table_comment": _table_comment,
    "remove_table_comment": _table_comment,
}
