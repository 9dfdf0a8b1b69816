"""The code behind each rule in :data:`.rules.RULES`: what in a revision makes it fire.

Each check reads a :class:`~.context.Context` (the rendered statements in order, with their
source lines and transaction, plus the source view) and yields :class:`~.context.Hit` objects;
the engine turns hits into findings (severity from the configuration, the recipe,
suppressions). Checks that concern what the author wrote (drop, rename) read ``op.*`` calls
from the source and only the hand-written SQL of ``op.execute``; checks about locks read every
rendered statement, so ``op.execute("CREATE INDEX ...")`` and ``op.create_index(...)`` are
judged alike.

A table created earlier in the same revision is new: nobody else holds locks on it or reads it,
so lock and rewrite rules skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from alembic.operations.ops import AlterColumnOp

from . import sql
from .context import Context, Hit, Stmt
from .source import OpCall

Check = Callable[[Context], Iterable[Hit]]
CHECKS: dict[str, Check] = {}


def _check(rule: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[rule] = function
        return function

    return register


def _show(name: object) -> str:
    """A name as the message shows it: no quotes; ``?`` when the source has no literal."""
    if not isinstance(name, str):
        return "?"
    return name.replace('"', "").replace("`", "")


# --- PostgreSQL: locks ---------------------------------------------------------------------


@_check("require-concurrent-index-creation")
def _index_not_concurrent(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if p.kind == "create_index" and not p.concurrently and ctx.existing(p.table):
            yield Hit(
                "require-concurrent-index-creation",
                s.line,
                f"CREATE INDEX {_show(p.index)} without CONCURRENTLY blocks writes to "
                f"{_show(p.table)} while the index builds",
            )


@_check("require-concurrent-index-deletion")
def _drop_index_not_concurrent(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if (
            p.kind == "drop_index"
            and not p.concurrently
            and ctx.existing(p.table)
            and not (p.index and sql.name_key(p.index) in ctx.new_indexes)
        ):
            yield Hit(
                "require-concurrent-index-deletion",
                s.line,
                f"DROP INDEX {_show(p.index)} without CONCURRENTLY locks its table against "
                "reads and writes until running queries finish",
            )


@_check("ban-concurrent-index-creation-in-transaction")
def _concurrent_in_transaction(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if p.concurrently and s.transaction is not None:
            verb = "CREATE" if p.kind == "create_index" else "DROP"
            yield Hit(
                "ban-concurrent-index-creation-in-transaction",
                s.line,
                f"{verb} INDEX CONCURRENTLY {_show(p.index)} runs inside the revision's "
                "transaction, which PostgreSQL refuses: put it in "
                "op.get_context().autocommit_block()",
            )


def _not_valid_checks(ctx: Context, rule: str, kind: str, what: str) -> Iterator[Hit]:
    added: dict[str, int | None] = {}
    for s in ctx.statements:
        p = s.parsed
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        for a in p.actions:
            if a.kind == "add_constraint" and a.detail == kind:
                if sql.constraint_not_valid(a):
                    if a.name:
                        added[sql.name_key(a.name)] = s.transaction
                    continue
                label = f"{kind} {_show(a.name)}" if a.name else kind
                yield Hit(
                    rule,
                    s.line,
                    f"adding {label} on {_show(p.table)} without NOT VALID checks every row "
                    f"while {what}",
                )
            elif a.kind == "validate_constraint" and a.name:
                where = added.get(sql.name_key(a.name), -1)
                if where is not None and where == s.transaction:
                    yield Hit(
                        rule,
                        s.line,
                        f"VALIDATE CONSTRAINT {_show(a.name)} runs in the transaction that "
                        "added it, so the ADD's lock is held for the whole scan: validate it "
                        "in a later revision",
                    )


@_check("adding-foreign-key-constraint")
def _foreign_key(ctx: Context) -> Iterator[Hit]:
    return _not_valid_checks(
        ctx,
        "adding-foreign-key-constraint",
        "foreign key",
        "holding a lock that blocks writes to both tables",
    )


@_check("constraint-missing-not-valid")
def _check_constraint(ctx: Context) -> Iterator[Hit]:
    return _not_valid_checks(
        ctx,
        "constraint-missing-not-valid",
        "check",
        "holding an ACCESS EXCLUSIVE lock that blocks reads and writes",
    )


@_check("disallowed-unique-constraint")
def _unique_constraint(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        for a in p.actions:
            if a.kind == "add_constraint" and a.detail == "unique" and not sql.unique_uses_index(a):
                yield Hit(
                    "disallowed-unique-constraint",
                    s.line,
                    f"adding unique constraint {_show(a.name or '?')} builds its index on "
                    f"{_show(p.table)} under a lock that blocks reads and writes",
                )


def _no_rewrite(old: object, new: object) -> bool:
    """Type changes PostgreSQL makes without rewriting the table."""
    if not isinstance(old, sa.types.TypeEngine) or not isinstance(new, sa.types.TypeEngine):
        return False
    if isinstance(old, sa.Enum | sa.CHAR) or isinstance(new, sa.Enum | sa.CHAR):
        return False
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        if isinstance(new, sa.Text) or new.length is None:
            return True
        return not isinstance(old, sa.Text) and old.length is not None and new.length >= old.length
    if isinstance(old, sa.Numeric) and isinstance(new, sa.Numeric):
        if isinstance(old, sa.Float) or isinstance(new, sa.Float) or old.scale != new.scale:
            return False
        return old.precision is not None and (
            new.precision is None or new.precision >= old.precision
        )
    return False


@_check("changing-column-type")
def _column_type(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        op = s.operation
        if isinstance(op, AlterColumnOp) and _no_rewrite(op.existing_type, op.modify_type):
            continue
        for a in p.actions:
            if a.kind == "alter_type":
                yield Hit(
                    "changing-column-type",
                    s.line,
                    f"changing {_show(p.table)}.{_show(a.name)} to {a.detail} rewrites "
                    f"{_show(p.table)} under a lock that blocks reads and writes",
                )


@_check("adding-required-field")
def _required_field(ctx: Context) -> Iterator[Hit]:
    for s in ctx.statements:
        p = s.parsed
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        for a in p.actions:
            if a.kind == "add_column" and sql.add_column_is_required(a):
                if ctx.dialect in ("mysql", "mariadb"):
                    effect = "fills the existing rows with the type's implicit default (0, '')"
                else:
                    effect = f"fails as soon as {_show(p.table)} has rows"
                yield Hit(
                    "adding-required-field",
                    s.line,
                    f"adding NOT NULL column {_show(p.table)}.{_show(a.name)} without a "
                    f"default {effect}",
                )


@_check("adding-not-nullable-field")
def _set_not_null(ctx: Context) -> Iterator[Hit]:
    validated: set[str] = set()
    for s in ctx.statements:
        p = s.parsed
        if p.kind != "alter_table" or not p.table or not ctx.existing(p.table):
            continue
        table = sql.name_key(p.table)
        for a in p.actions:
            if a.kind == "validate_constraint":
                validated.add(table)
            elif a.kind == "set_not_null" and table not in validated:
                yield Hit(
                    "adding-not-nullable-field",
                    s.line,
                    f"SET NOT NULL on {_show(p.table)}.{_show(a.name)} scans the table under "
                    "an ACCESS EXCLUSIVE lock (no CHECK constraint was validated first)",
                )


_LOCKING_KINDS = {
    "alter_table": "ALTER TABLE",
    "create_index": "CREATE INDEX",
    "drop_index": "DROP INDEX",
    "drop_table": "DROP TABLE",
    "rename_table": "RENAME TABLE",
}


@_check("require-timeout-settings")
def _timeout(ctx: Context) -> Iterator[Hit]:
    # Where env.py sets a lock timeout (with its retries) around every step, a revision needs
    # none of its own, unless it lifts that one with @timeouts(lock=None).
    lifted = any(
        function.lifts_lock
        for name, function in ctx.source.functions.items()
        if ctx.source.upgrades_with(name, ctx.engine_name)
    )
    if ctx.lock_timeout and not lifted:
        return
    why = "@timeouts(lock=None) lifts the one env.py sets" if lifted else "none is set"
    session = False
    local: int | None = None
    for s in ctx.statements:
        p = s.parsed
        if p.kind == "set_lock_timeout":
            if sql.sets_local(p.sql):
                local = s.transaction
            else:
                session = True
            continue
        if p.kind == "create_table":
            # A new table's foreign keys lock the tables they reference.
            locked = [t for t in sql.references(p.sql) if ctx.existing(t)]
            table, what = (locked[0] if locked else None), "CREATE TABLE with a foreign key"
        elif p.kind in _LOCKING_KINDS and ctx.existing(p.table):
            table, what = p.table or "?", _LOCKING_KINDS[p.kind]
        else:
            continue
        if table is None or session or (local is not None and local == s.transaction):
            continue
        yield Hit(
            "require-timeout-settings",
            s.line,
            f"{what} on {_show(table)} runs without a lock_timeout ({why}): while it waits "
            "for its lock, every query on the table queues behind it",
        )
        return


# --- MySQL and MariaDB ---------------------------------------------------------------------


@_check("ban-copying-alter")
def _copying_alter(ctx: Context) -> Iterator[Hit]:
    server = "MariaDB" if ctx.dialect == "mariadb" else "MySQL"
    checks_off = False
    for s in ctx.statements:
        p = s.parsed
        if p.kind == "foreign_key_checks_off":
            checks_off = True
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        if {a.detail for a in p.actions if a.kind == "algorithm"} & {"INPLACE", "INSTANT"}:
            continue  # the server refuses the ALTER rather than copy the table
        table = _show(p.table)
        copies = f"makes {server} copy {table} (ALGORITHM=COPY); writes wait until it ends"
        for a in p.actions:
            if a.kind == "modify_column":
                yield from _modify_column(ctx, s, a, table, copies)
            elif a.kind == "add_constraint" and a.detail == "foreign key" and not checks_off:
                yield Hit(
                    "ban-copying-alter",
                    s.line,
                    f"adding foreign key {_show(a.name or '?')} while foreign_key_checks is on "
                    f"{copies}",
                )
            elif a.kind == "drop_primary_key" and not any(
                b.kind == "add_constraint" and b.detail == "primary key" for b in p.actions
            ):
                yield Hit(
                    "ban-copying-alter", s.line, f"DROP PRIMARY KEY without a new one {copies}"
                )
            elif a.kind == "convert_charset":
                yield Hit("ban-copying-alter", s.line, f"CONVERT TO CHARACTER SET {copies}")


def _modify_column(ctx: Context, s: Stmt, a: sql.Action, table: str, copies: str) -> Iterator[Hit]:
    column = f"{table}.{_show(a.name)}"
    op = s.operation
    if isinstance(op, AlterColumnOp):
        # Alembic restates the whole column for any change; only a new type copies.
        if op.modify_type is not None:
            yield Hit("ban-copying-alter", s.line, f"changing the type of {column} {copies}")
    elif s.origin == "batch":
        for call in ctx.source.calls_in_block(s.line):
            if call.method == "alter_column" and "type_" in call.keywords:
                column = f"{table}.{_show(call.arg(0, 'column_name'))}"
                yield Hit("ban-copying-alter", call.line, f"changing the type of {column} {copies}")
    elif s.hand_written:
        yield Hit(
            "ban-copying-alter",
            s.line,
            f"MODIFY/CHANGE of {column} {copies} when the column's type changes (add "
            "ALGORITHM=INPLACE, LOCK=NONE to have the server refuse instead)",
        )


# --- All databases: what the author wrote --------------------------------------------------


def _hand_written(ctx: Context) -> Iterator[Stmt]:
    return (s for s in ctx.statements if s.hand_written)


def _calls(ctx: Context, method: str) -> Iterator[OpCall]:
    return (c for c in ctx.source.upgrade_calls(ctx.engine_name) if c.method == method)


@_check("ban-drop-table")
def _drop_table(ctx: Context) -> Iterator[Hit]:
    tables = [(c.line, c.arg(0, "table_name")) for c in _calls(ctx, "drop_table")]
    tables += [
        (s.line, s.parsed.table) for s in _hand_written(ctx) if s.parsed.kind == "drop_table"
    ]
    for line, table in tables:
        if ctx.existing(table):
            yield Hit(
                "ban-drop-table",
                line,
                f"dropping table {_show(table)} breaks deployed code that still queries it",
            )


@_check("ban-drop-column")
def _drop_column(ctx: Context) -> Iterator[Hit]:
    columns: list[tuple[int, object, object]] = []
    for c in _calls(ctx, "drop_column"):
        if c.in_batch:
            columns.append((c.line, c.batch_table, c.arg(0, "column_name")))
        else:
            columns.append((c.line, c.arg(0, "table_name"), c.arg(1, "column_name")))
    for s in _hand_written(ctx):
        columns += [
            (s.line, s.parsed.table, a.name) for a in s.parsed.actions if a.kind == "drop_column"
        ]
    for line, table, column in columns:
        if ctx.existing(table):
            yield Hit(
                "ban-drop-column",
                line,
                f"dropping column {_show(table)}.{_show(column)} breaks deployed code whose "
                "models still select it",
            )


@_check("renaming-column")
def _rename_column(ctx: Context) -> Iterator[Hit]:
    renames: list[tuple[int, object, object, object]] = []
    for c in _calls(ctx, "alter_column"):
        new = c.keywords.get("new_column_name")
        if new is not None:
            table = c.batch_table if c.in_batch else c.arg(0, "table_name")
            column = c.arg(0, "column_name") if c.in_batch else c.arg(1, "column_name")
            renames.append((c.line, table, column, new))
    for s in _hand_written(ctx):
        for a in s.parsed.actions:
            if a.kind == "rename_column" or (
                a.kind == "modify_column" and a.new_name and a.new_name != a.name
            ):
                renames.append((s.line, s.parsed.table, a.name, a.new_name))
    for line, table, old, new in renames:
        yield Hit(
            "renaming-column",
            line,
            f"renaming {_show(table)}.{_show(old)} to {_show(new)} breaks deployed code that "
            "still uses the old name",
        )


@_check("renaming-table")
def _rename_table(ctx: Context) -> Iterator[Hit]:
    renames = [
        (c.line, c.arg(0, "old_table_name"), c.arg(1, "new_table_name"))
        for c in _calls(ctx, "rename_table")
    ]
    for s in _hand_written(ctx):
        if s.parsed.kind == "rename_table":
            renames.append((s.line, s.parsed.table, s.parsed.new_name))
        renames += [
            (s.line, s.parsed.table, a.new_name)
            for a in s.parsed.actions
            if a.kind == "rename_table"
        ]
    for line, old, new in renames:
        yield Hit(
            "renaming-table",
            line,
            f"renaming table {_show(old)} to {_show(new)} breaks deployed code that still "
            "queries the old name",
        )


@_check("unbatched-data-change")
def _data_change(ctx: Context) -> Iterator[Hit]:
    for s in _hand_written(ctx):
        p = s.parsed
        if p.kind == "data_change" and not ctx.source.in_loop(s.lines) and not sql.has_limit(p.sql):
            verb = p.sql.split()[0].upper()
            yield Hit(
                "unbatched-data-change",
                s.line,
                f"{verb} in one statement changes every matching row at once and holds their "
                "locks until the revision commits",
            )


@_check("irreversible-downgrade")
def _irreversible(ctx: Context) -> Iterator[Hit]:
    functions = ctx.source.functions
    if "downgrade" not in functions and "upgrade" in functions:
        yield Hit(
            "irreversible-downgrade",
            functions["upgrade"].line,
            "the revision has no downgrade(): it cannot be rolled back",
        )
        return
    for function in ctx.source.downgrades_with(ctx.engine_name):
        upgrade = functions.get("upgrade" + function.name[len("downgrade") :])
        if function.body == "empty" and not (upgrade and upgrade.body == "empty"):
            yield Hit(
                "irreversible-downgrade",
                function.line,
                f"{function.name}() is empty: the revision cannot be rolled back",
            )
        elif function.body == "raises":
            yield Hit(
                "irreversible-downgrade",
                function.line,
                f"{function.name}() raises (line {function.raise_line}): the revision cannot "
                "be rolled back",
            )
