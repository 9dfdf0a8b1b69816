"""Rows and baselines: which old revisions wrote data, and copying chosen tables' rows.

A baseline holds the schema only, so rows that revisions wrote (reference data, a backfill) are
in every replayed database and in no baseline-made one: writing a baseline warns of those
revisions, found by reading the files as Python syntax (importing would run module code that
may need the app). Rows that belong in every new database are copied as ``INSERT`` statements
(``--include-data TABLE``), their values rendered by the database's own SQLAlchemy dialect.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path

import sqlalchemy as sa

from .._errors import VersioningError
from .dump import dialect_key

#: Statements that write rows, as the first word of a statement.
_WRITES = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE|MERGE|REPLACE|UPSERT|COPY)\b", re.IGNORECASE)
_WITH_WRITES = re.compile(r"^\s*WITH\b.*\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.I | re.DOTALL)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
#: SQLAlchemy constructs and ``Table`` methods that build a data-changing statement.
_BUILDERS = frozenset({"insert", "update", "delete"})
#: Rows rendered into one ``INSERT`` statement.
_BATCH = 500
_SERIAL = sa.text("SELECT pg_get_serial_sequence(:t, :c)")


@dataclasses.dataclass(frozen=True)
class DataRevision:
    """A revision file whose ``upgrade`` changes data, with what gave it away."""

    path: Path
    revision: str | None
    findings: tuple[str, ...]  # e.g. "line 14: op.bulk_insert(...)"


def data_revisions(scripts: Iterable[str | os.PathLike[str]]) -> list[DataRevision]:
    """The revision files among ``scripts`` whose ``upgrade*`` functions change data:
    ``op.execute`` of an INSERT, UPDATE or DELETE (text, ``sa.text(...)`` or
    ``insert()``/``update()``/``delete()``), ``op.bulk_insert`` and ``op.get_bind()``. A
    statement built at run time cannot be read, so it counts as possibly changing data."""
    found = []
    for script in scripts:
        path = Path(script)
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError) as exc:
            where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
            raise VersioningError(f"cannot read revision {path}{where}: {exc}") from exc
        findings = _findings(tree)
        if findings:
            found.append(DataRevision(path, _revision_id(tree), tuple(findings)))
    return found


def _revision_id(tree: ast.Module) -> str | None:
    for node in tree.body:
        target: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if (
            isinstance(target, ast.Name)
            and target.id == "revision"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def _op_names(tree: ast.Module) -> set[str]:
    """The names ``alembic.op`` is bound to in the module (``op`` unless imported as another)."""
    names = {"op"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(alias.asname or alias.name for alias in node.names if alias.name == "op")
    return names


def _findings(tree: ast.Module) -> list[str]:
    ops = _op_names(tree)
    findings = []
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not function.name.startswith("upgrade"):
            continue
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ops
            ):
                continue
            what = _data_call(node.func.attr, node.args)
            if what is not None:
                findings.append(f"line {node.lineno}: op.{node.func.attr}({what})")
    return findings


def _data_call(name: str, args: list[ast.expr]) -> str | None:
    """What an ``op.<name>(args)`` call does to data, or ``None`` when it changes none."""
    if name == "bulk_insert":
        return "..."
    if name == "get_bind":
        return ""
    if name != "execute" or not args:
        return None
    statement = args[0]
    if isinstance(statement, ast.Call) and _callee(statement) == "text" and statement.args:
        statement = statement.args[0]
    text = _literal_text(statement)
    if text is not None:
        for part in _COMMENTS.sub(" ", text).split(";"):
            if _WRITES.match(part) or _WITH_WRITES.match(part):
                return repr(" ".join(part.split())[:40])
        return None
    if isinstance(statement, ast.Call):
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and _callee(node) in _BUILDERS:
                return f"{_callee(node)}(...)"
        return None  # e.g. op.execute(CreateSequence(...)): a construct that is not a write
    return "a statement built at run time"


def _literal_text(node: ast.expr) -> str | None:
    """The SQL of a string literal or f-string (its replacement fields read as ``x``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "x" for part in node.values
        )
    return None


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def dump_rows(connection: sa.Connection, tables: Collection[str]) -> str:
    """``INSERT`` statements that recreate the rows of ``tables``, parents first, rows in
    primary key order. On PostgreSQL the tables' sequences are then set past the copied rows,
    as replay left them; MariaDB and SQLite move their counters on their own."""
    metadata = sa.MetaData()
    inspector = sa.inspect(connection)
    for name in tables:
        if not inspector.has_table(name):
            raise VersioningError(f"cannot copy the rows of table {name!r}: it does not exist")
        sa.Table(name, metadata, autoload_with=connection)
    dialect = connection.dialect
    # The dialect writes literals for a driver that formats with `%`, so it doubles every `%`;
    # a baseline runs without driver formatting, so the doubling is undone (exactly: every `%`
    # of the statement was doubled).
    doubled = dialect.paramstyle in ("format", "pyformat")
    if dialect.positional:
        # A statement with every value inline has no parameters, but SQLAlchemy before 2.0.55
        # still turns `%(name)s` into `?` or `%s` inside the literals for a positional driver
        # (SQLite, MariaDB); compiled as for a non-positional one, the text stays as it is.
        dialect = copy.copy(dialect)
        dialect.positional = False
    statements = []
    for table in metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = [
            dict(row) for row in connection.execute(sa.select(table).order_by(*order)).mappings()
        ]
        for start in range(0, len(rows), _BATCH):
            insert = sa.insert(table).values(rows[start : start + _BATCH])
            try:
                text = str(insert.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            except sa.exc.CompileError as exc:
                raise VersioningError(
                    f"cannot copy the rows of table {table.name!r}: {' '.join(str(exc).split())}"
                ) from exc
            statements.append(text.replace("%%", "%") if doubled else text)
        if rows and dialect_key(connection) == "postgresql":
            statements += _pg_counters(connection, table)
    return "".join(f"{statement};\n\n" for statement in statements)


def _pg_counters(connection: sa.Connection, table: sa.Table) -> list[str]:
    """``setval`` for each sequence a column of ``table`` draws from, to its largest value; the
    sequence is looked up by table and column at load time, in the loading database's schema."""
    statements = []
    quote = connection.dialect.identifier_preparer.quote
    for column in table.columns:
        arguments = {"t": quote(table.name), "c": column.name}
        if connection.execute(_SERIAL, arguments).scalar() is None:
            continue
        literals = [value.replace("'", "''") for value in arguments.values()]
        statements.append(
            f"SELECT setval(pg_get_serial_sequence('{literals[0]}', '{literals[1]}'), "
            f"MAX({quote(column.name)})) FROM {quote(table.name)}"
        )
    return statements
