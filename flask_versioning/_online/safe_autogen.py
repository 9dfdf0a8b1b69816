"""What autogenerate writes with ``VERSIONING_SAFE_DDL``: the helpers of :mod:`.safe`.

A ``process_revision_directives`` hook replaces each change that locks a live table by the
call of the helper that makes it without the lock (an index, a foreign key, ``nullable=False``
on an existing column, a unique constraint), so the revision file shows what runs and
``flask db lint`` finds nothing to say. The call is autogenerate's own rendering of the
operation under the helper's name. Changes on a table the revision creates or drops stay as
they are (nobody uses it yet, or any more), and only PostgreSQL, MariaDB and MySQL are
rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableSequence
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import render_op_text, renderers
from alembic.operations import MigrateOperation, ops

#: The dialects whose revisions get the safe forms.
DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})

#: What a reviewer reads above each call: the statements it runs.
_COMMENTS = {
    "create_index_concurrently": (
        "# CREATE INDEX CONCURRENTLY outside the transaction (PostgreSQL; an INVALID index "
        "left by a failed build is rebuilt), ALGORITHM=INPLACE, LOCK=NONE (MariaDB)"
    ),
    "drop_index_concurrently": (
        "# DROP INDEX CONCURRENTLY outside the transaction (PostgreSQL), ALGORITHM=INPLACE, "
        "LOCK=NONE (MariaDB)"
    ),
    "create_foreign_key_not_valid": (
        "# ADD CONSTRAINT ... NOT VALID in its own transaction (PostgreSQL): no row is read"
    ),
    "validate_constraint": (
        "# VALIDATE CONSTRAINT in its own transaction: reads every row, writes go on"
    ),
    "set_not_null": (
        "# CHECK (... IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL, drop the check, each in "
        "its own transaction (PostgreSQL); MODIFY ... NOT NULL, LOCK=NONE (MariaDB)"
    ),
    "create_unique_constraint_concurrently": (
        "# a unique index built concurrently, then ADD CONSTRAINT ... UNIQUE USING INDEX "
        "(PostgreSQL); ALGORITHM=INPLACE, LOCK=NONE (MariaDB)"
    ),
}


class SafeOp(MigrateOperation):
    """An operation rendered as a call of the helper ``helper`` of :mod:`.safe`."""

    def __init__(self, helper: str, operation: MigrateOperation) -> None:
        self.helper = helper
        self.operation = operation

    def reverse(self) -> MigrateOperation:
        return self.operation.reverse()


class ValidateOp(MigrateOperation):
    """``validate_constraint(name, table, schema=...)`` after a NOT VALID foreign key."""

    def __init__(self, name: str, table: str, schema: str | None) -> None:
        self.name = name
        self.table = table
        self.schema = schema


@renderers.dispatch_for(SafeOp)
def _render_safe(autogen_context: Any, op: SafeOp) -> list[str]:
    text = render_op_text(autogen_context, op.operation)
    call = re.sub(r"^[\w.]*?\b[a-z_]+\(", f"{op.helper}(", text, count=1)
    autogen_context.imports.add(f"from flask_versioning.online import {op.helper}")
    return [_COMMENTS[op.helper], *call.splitlines()]


@renderers.dispatch_for(ValidateOp)
def _render_validate(autogen_context: Any, op: ValidateOp) -> list[str]:
    autogen_context.imports.add("from flask_versioning.online import validate_constraint")
    schema = f", schema={op.schema!r}" if op.schema else ""
    return [
        _COMMENTS["validate_constraint"],
        f"validate_constraint({op.name!r}, {op.table!r}{schema})",
    ]


Hook = Callable[[Any, Any, MutableSequence[Any]], None]


def safe_forms_hook(user_hook: Hook | None) -> Hook:
    """A ``process_revision_directives`` hook: the app's own first, then the safe forms for
    the dialect compared against (the last database's operations, in a multi-database file)."""

    def hook(context: Any, revision: Any, directives: MutableSequence[Any]) -> None:
        if user_hook is not None:
            user_hook(context, revision, directives)
        dialect = context.dialect.name
        if dialect not in DIALECTS:
            return
        for script in directives:
            for ops_list in (script.upgrade_ops_list, script.downgrade_ops_list):
                if ops_list:
                    _rewrite(ops_list[-1], dialect)

    return hook


def _rewrite(container: ops.OpContainer, dialect: str) -> None:
    """Replace the locking operations by helper calls, run first unless they need the rest.

    The helpers commit as they go and, run again, finish what is missing, while the plain
    operations are the step's transaction: helpers first, a revision that fails anywhere can
    be run again. A helper that needs a plain operation (an index on a new column) stays
    after it (see the docs' "Safe forms").
    """
    rewritten = _rewritten(container.ops, _tables(container), dialect)
    helpers, plain = _split(rewritten)
    container.ops = [*helpers, *plain] if helpers and not _needs(helpers, plain) else rewritten


def _split(
    operations: list[MigrateOperation],
) -> tuple[list[MigrateOperation], list[MigrateOperation]]:
    """The helper calls (in table groups) and the rest, each in their order."""
    helpers: list[MigrateOperation] = []
    plain: list[MigrateOperation] = []
    for op in operations:
        if not isinstance(op, ops.ModifyTableOps):
            (helpers if isinstance(op, SafeOp | ValidateOp) else plain).append(op)
            continue
        for side, mine in ((helpers, True), (plain, False)):
            group = [o for o in op.ops if isinstance(o, SafeOp | ValidateOp) is mine]
            if group:
                side.append(ops.ModifyTableOps(op.table_name, group, schema=op.schema))
    return helpers, plain


def _flat(operations: list[MigrateOperation]) -> list[MigrateOperation]:
    return [
        o for op in operations for o in (op.ops if isinstance(op, ops.ModifyTableOps) else [op])
    ]


def _needs(helpers: list[MigrateOperation], plain: list[MigrateOperation]) -> bool:
    """Whether a helper works on a column or table that a plain operation makes or alters."""
    columns: set[tuple[str, str]] = set()
    tables: set[str] = set()
    for op in _flat(plain):
        if isinstance(op, ops.AddColumnOp):
            columns.add((op.table_name, op.column.name))
        elif isinstance(op, ops.AlterColumnOp):
            columns.add((op.table_name, op.modify_name or op.column_name))
        elif isinstance(op, ops.CreateTableOp | ops.DropTableOp):
            tables.add(op.table_name)
    for helper in _flat(helpers):
        if not isinstance(helper, SafeOp):
            continue
        op = helper.operation
        used: list[tuple[str, Any]] = []
        if isinstance(op, ops.CreateIndexOp | ops.CreateUniqueConstraintOp):
            used = [(op.table_name, c) for c in op.columns]
        elif isinstance(op, ops.CreateForeignKeyOp):
            if op.referent_table in tables:
                return True
            used = [(op.source_table, c) for c in op.local_cols]
            used += [(op.referent_table, c) for c in op.remote_cols]
        elif isinstance(op, ops.AlterColumnOp):
            used = [(op.table_name, op.column_name)]
        names = [(t, _column_name(c)) for t, c in used]
        if any(c is None or (t, c) in columns for t, c in names):
            return True  # an expression's columns are not known here
    return False


def _column_name(column: Any) -> str | None:
    """A column's name, given as text or as a ``Column``; ``None`` for an expression."""
    if isinstance(column, str):
        return column
    name = getattr(column, "name", None)
    return name if isinstance(column, sa.Column) and isinstance(name, str) else None


def _tables(container: ops.OpContainer) -> set[tuple[str | None, str]]:
    """The tables this revision creates or drops: their changes stay as they are."""
    return {
        (op.schema, op.table_name)
        for op in container.ops
        if isinstance(op, ops.CreateTableOp | ops.DropTableOp)
    }


def _rewritten(
    operations: list[MigrateOperation], changed: set[tuple[str | None, str]], dialect: str
) -> list[MigrateOperation]:
    result: list[MigrateOperation] = []
    for op in operations:
        if isinstance(op, ops.ModifyTableOps):
            op.ops = _rewritten(op.ops, changed, dialect)
            result.append(op)
        else:
            result.extend(_safe(op, changed, dialect))
    return result


def _safe(
    op: MigrateOperation, changed: set[tuple[str | None, str]], dialect: str
) -> list[MigrateOperation]:
    table = (getattr(op, "schema", None), getattr(op, "table_name", None))
    if table in changed:
        return [op]
    if isinstance(op, ops.CreateIndexOp) and op.index_name:
        return [SafeOp("create_index_concurrently", op)]
    if isinstance(op, ops.DropIndexOp):
        return [SafeOp("drop_index_concurrently", op)]
    if isinstance(op, ops.CreateForeignKeyOp) and op.constraint_name:
        safe: list[MigrateOperation] = [SafeOp("create_foreign_key_not_valid", op)]
        if dialect == "postgresql":
            schema = op.kw.get("source_schema")
            safe.append(ValidateOp(str(op.constraint_name), op.source_table, schema))
        return safe
    if isinstance(op, ops.CreateUniqueConstraintOp) and op.constraint_name:
        return [SafeOp("create_unique_constraint_concurrently", op)]
    if isinstance(op, ops.AlterColumnOp) and op.modify_nullable is False:
        return _not_null(op)
    return [op]


def _not_null(op: ops.AlterColumnOp) -> list[MigrateOperation]:
    """``nullable=False`` as ``set_not_null``, after the rest of the change, if any."""
    retyped = op.modify_type is not None
    defaulted = op.modify_server_default is not False
    commented = op.modify_comment is not False
    # The column as it stands when ``set_not_null`` runs: renamed, retyped, re-defaulted.
    not_null = ops.AlterColumnOp(
        op.table_name,
        op.modify_name or op.column_name,
        schema=op.schema,
        existing_type=op.modify_type if retyped else op.existing_type,
        existing_server_default=(
            op.modify_server_default if defaulted else op.existing_server_default
        ),
        existing_comment=op.existing_comment if op.modify_comment is False else op.modify_comment,
    )
    safe: list[MigrateOperation] = [SafeOp("set_not_null", not_null)]
    if not (retyped or defaulted or commented or op.modify_name is not None):
        return safe
    op.modify_nullable = None
    op.existing_nullable = True
    return [op, *safe]
