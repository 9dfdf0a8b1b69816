"""The code behind each rule in :data:`.rules.RULES`: what in a revision makes it fire.

:func:`build_context` lays the revision out for the checks: the rendered statements in order,
each in the transaction it runs in (an autocommit block writes ``COMMIT`` and ``BEGIN`` around
its body), plus the literal SQL of ``op.execute`` calls that offline rendering did not reach.
Each check reads that :class:`Context` and yields ``(line, message)``. Checks about what the
author wrote read the source's ``op.*`` calls and the SQL of ``op.execute``; checks about locks
read every rendered statement, so ``op.execute("CREATE INDEX ...")`` and ``op.create_index(...)``
are judged alike. A table created earlier in the same revision is new: nobody else locks or
reads it, so lock and rewrite rules skip it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.operations import MigrateOperation
from alembic.operations.ops import AlterColumnOp, ExecuteSQLOp

from . import sql
from .render import Rendering
from .source import OpCall, Source


@dataclass(frozen=True)
class Stmt:
    """One rendered statement. ``origin``: ``"op"``, ``"execute"`` (SQL handed to
    ``op.execute``), ``"batch"`` (written when a batch block ends) or ``"source"`` (an
    ``op.execute`` literal rendering did not reach); ``transaction``: ``None`` outside one."""

    parsed: sql.Statement
    line: int
    lines: tuple[int, ...]
    origin: str
    operation: MigrateOperation | None
    transaction: int | None

    @property
    def hand_written(self) -> bool:
        return self.origin in ("execute", "source")


@dataclass
class Context:
    dialect: str
    source: Source
    statements: list[Stmt]
    engine_name: str | None = None
    lock_timeout: bool = False
    new_tables: set[str] = field(default_factory=set)
    new_indexes: set[str] = field(default_factory=set)

    def existing(self, table: object) -> bool:
        # Unknown names count as existing.
        return not (isinstance(table, str) and sql.name_key(table) in self.new_tables)


def build_context(
    dialect: str, source: Source, rendering: Rendering, engine_name: str | None, lock_timeout: bool
) -> Context:
    statements: list[Stmt] = []
    counter = 0
    initial = transaction = 0 if rendering.transactional else None
    for emitted in rendering.emitted:
        op = emitted.operation
        origin = "batch" if op is None else "execute" if isinstance(op, ExecuteSQLOp) else "op"
        for text in sql.split_statements(emitted.sql):
            parsed = sql.parse(text)
            if parsed.kind == "commit":
                transaction = None
            elif parsed.kind == "begin":
                counter += 1
                transaction = counter
            else:
                line = emitted.line or 1
                statements.append(Stmt(parsed, line, emitted.lines, origin, op, transaction))
    calls = source.upgrade_calls(engine_name)
    if rendering.error is not None or rendering.note is not None:
        reached = rendering.error_line or 0
        for call in calls:
            sqltext = call.arg(0, "sqltext")
            if call.method == "execute" and call.line > reached and isinstance(sqltext, str):
                statements.extend(
                    Stmt(sql.parse(text), call.line, (call.line,), "source", None, initial)
                    for text in sql.split_statements(sqltext)
                )
    context = Context(dialect, source, statements, engine_name, lock_timeout)
    for p in (stmt.parsed for stmt in statements):
        if p.kind == "create_table" and p.table:
            context.new_tables.add(sql.name_key(p.table))
        if p.kind == "create_index" and p.index:
            context.new_indexes.add(sql.name_key(p.index))
    for call in calls:
        table = call.arg(0, "table_name")
        if call.method == "create_table" and isinstance(table, str):
            context.new_tables.add(sql.name_key(table))
    return context


Hits = Iterator[tuple[int, str]]
Check = Callable[[Context], Iterable[tuple[int, str]]]
CHECKS: dict[str, Check] = {}


def _check(rule: str) -> Callable[[Check], Check]:
    return lambda function: CHECKS.setdefault(rule, function)


def _show(name: object) -> str:
    return name.replace('"', "").replace("`", "") if isinstance(name, str) else "?"


def _alterations(ctx: Context) -> Iterator[tuple[Stmt, sql.Action]]:
    for s in ctx.statements:
        if s.parsed.kind == "alter_table" and ctx.existing(s.parsed.table):
            yield from ((s, a) for a in s.parsed.actions)


# --- PostgreSQL: locks ---------------------------------------------------------------------


@_check("require-concurrent-index-creation")
def _index_not_concurrent(ctx: Context) -> Hits:
    for s in ctx.statements:
        p = s.parsed
        if p.kind == "create_index" and not p.concurrently and ctx.existing(p.table):
            yield (
                s.line,
                f"CREATE INDEX {_show(p.index)} without CONCURRENTLY blocks writes to "
                f"{_show(p.table)} while the index builds",
            )


@_check("require-concurrent-index-deletion")
def _drop_index_not_concurrent(ctx: Context) -> Hits:
    for s in ctx.statements:
        p = s.parsed
        if (
            p.kind == "drop_index"
            and not p.concurrently
            and ctx.existing(p.table)
            and not (p.index and sql.name_key(p.index) in ctx.new_indexes)
        ):
            yield (
                s.line,
                f"DROP INDEX {_show(p.index)} without CONCURRENTLY locks its table against "
                "reads and writes until running queries finish",
            )


@_check("ban-concurrent-index-creation-in-transaction")
def _concurrent_in_transaction(ctx: Context) -> Hits:
    for s in ctx.statements:
        p = s.parsed
        if p.concurrently and s.transaction is not None:
            verb = "CREATE" if p.kind == "create_index" else "DROP"
            yield (
                s.line,
                f"{verb} INDEX CONCURRENTLY {_show(p.index)} runs inside the revision's "
                "transaction, which PostgreSQL refuses: put it in "
                "op.get_context().autocommit_block()",
            )


def _not_valid(ctx: Context, kind: str, what: str) -> Hits:
    added: dict[str, int | None] = {}
    for s, a in _alterations(ctx):
        if a.kind == "add_constraint" and a.detail == kind:
            if not re.search(r"\bNOT\s+VALID\b", a.text, re.I):
                label = f"{kind} {_show(a.name)}" if a.name else kind
                yield (
                    s.line,
                    f"adding {label} on {_show(s.parsed.table)} without NOT VALID checks every "
                    f"row while {what}",
                )
            elif a.name:
                added[sql.name_key(a.name)] = s.transaction
        elif a.kind == "validate_constraint" and a.name:
            where = added.get(sql.name_key(a.name), -1)
            if where is not None and where == s.transaction:
                yield (
                    s.line,
                    f"VALIDATE CONSTRAINT {_show(a.name)} runs in the transaction that added "
                    "it, so the ADD's lock is held for the whole scan: validate it in a later "
                    "revision",
                )


@_check("adding-foreign-key-constraint")
def _foreign_key(ctx: Context) -> Hits:
    return _not_valid(ctx, "foreign key", "holding a lock that blocks writes to both tables")


@_check("constraint-missing-not-valid")
def _check_constraint(ctx: Context) -> Hits:
    what = "holding an ACCESS EXCLUSIVE lock that blocks reads and writes"
    return _not_valid(ctx, "check", what)


@_check("disallowed-unique-constraint")
def _unique_constraint(ctx: Context) -> Hits:
    for s, a in _alterations(ctx):
        if (
            a.kind == "add_constraint"
            and a.detail == "unique"
            and not re.search(r"\bUSING\s+INDEX\s+(?!TABLESPACE)", a.text, re.I)
        ):
            yield (
                s.line,
                f"adding unique constraint {_show(a.name or '?')} builds its index on "
                f"{_show(s.parsed.table)} under a lock that blocks reads and writes",
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
def _column_type(ctx: Context) -> Hits:
    for s, a in _alterations(ctx):
        op = s.operation
        if a.kind == "alter_type" and not (
            isinstance(op, AlterColumnOp) and _no_rewrite(op.existing_type, op.modify_type)
        ):
            table = _show(s.parsed.table)
            yield (
                s.line,
                f"changing {table}.{_show(a.name)} to {a.detail} rewrites {table} under a lock "
                "that blocks reads and writes",
            )


@_check("adding-required-field")
def _required_field(ctx: Context) -> Hits:
    for s, a in _alterations(ctx):
        if a.kind == "add_column" and sql.add_column_is_required(a):
            table = _show(s.parsed.table)
            if ctx.dialect in ("mysql", "mariadb"):
                effect = "fills the existing rows with the type's implicit default (0, '')"
            else:
                effect = f"fails as soon as {table} has rows"
            yield (
                s.line,
                f"adding NOT NULL column {table}.{_show(a.name)} without a default {effect}",
            )


@_check("adding-not-nullable-field")
def _set_not_null(ctx: Context) -> Hits:
    validated: set[str] = set()
    for s, a in _alterations(ctx):
        table = sql.name_key(s.parsed.table or "")
        if a.kind == "validate_constraint":
            validated.add(table)
        elif a.kind == "set_not_null" and table not in validated:
            yield (
                s.line,
                f"SET NOT NULL on {_show(s.parsed.table)}.{_show(a.name)} scans the table "
                "under an ACCESS EXCLUSIVE lock (no CHECK constraint was validated first)",
            )


_LOCKING_KINDS = {"alter_table", "create_index", "drop_index", "drop_table", "rename_table"}


@_check("require-timeout-settings")
def _timeout(ctx: Context) -> Hits:
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
            table, what = p.table or "?", p.kind.replace("_", " ").upper()
        else:
            continue
        if table is None or session or (local is not None and local == s.transaction):
            continue
        yield (
            s.line,
            f"{what} on {_show(table)} runs without a lock_timeout ({why}): while it waits "
            "for its lock, every query on the table queues behind it",
        )
        return


# --- MySQL and MariaDB ---------------------------------------------------------------------


@_check("ban-copying-alter")
def _copying_alter(ctx: Context) -> Hits:
    server = "MariaDB" if ctx.dialect == "mariadb" else "MySQL"
    checks_off = False
    for s in ctx.statements:
        p = s.parsed
        checks_off = checks_off or p.kind == "foreign_key_checks_off"
        if p.kind != "alter_table" or not ctx.existing(p.table):
            continue
        if {a.detail for a in p.actions if a.kind == "algorithm"} & {"INPLACE", "INSTANT"}:
            continue  # the server refuses the ALTER rather than copy the table
        table = _show(p.table)
        copies = f"makes {server} copy {table} (ALGORITHM=COPY); writes wait until it ends"
        for a in p.actions:
            if a.kind == "modify_column":
                yield from _modify_column(ctx, s, table, a.name, copies)
            elif a.kind == "add_constraint" and a.detail == "foreign key" and not checks_off:
                yield (
                    s.line,
                    f"adding foreign key {_show(a.name or '?')} while foreign_key_checks is on "
                    f"{copies}",
                )
            elif a.kind == "drop_primary_key" and not any(
                b.kind == "add_constraint" and b.detail == "primary key" for b in p.actions
            ):
                yield s.line, f"DROP PRIMARY KEY without a new one {copies}"
            elif a.kind == "convert_charset":
                yield s.line, f"CONVERT TO CHARACTER SET {copies}"


def _modify_column(ctx: Context, s: Stmt, table: str, name: str | None, copies: str) -> Hits:
    column = f"{table}.{_show(name)}"
    op = s.operation
    if isinstance(op, AlterColumnOp):
        # Alembic restates the whole column for any change; only a new type copies.
        if op.modify_type is not None:
            yield s.line, f"changing the type of {column} {copies}"
    elif s.origin == "batch":
        for call in ctx.source.calls_in_block(s.line):
            if call.method == "alter_column" and "type_" in call.keywords:
                column = f"{table}.{_show(call.arg(0, 'column_name'))}"
                yield call.line, f"changing the type of {column} {copies}"
    elif s.hand_written:
        yield (
            s.line,
            f"MODIFY/CHANGE of {column} {copies} when the column's type changes (add "
            "ALGORITHM=INPLACE, LOCK=NONE to have the server refuse instead)",
        )


# --- All databases: what the author wrote --------------------------------------------------


def _calls(ctx: Context, method: str) -> Iterator[OpCall]:
    return (c for c in ctx.source.upgrade_calls(ctx.engine_name) if c.method == method)


def _hand_lines(ctx: Context) -> Iterator[tuple[int, sql.Statement]]:
    return ((s.line, s.parsed) for s in ctx.statements if s.hand_written)


@_check("ban-drop-table")
def _drop_table(ctx: Context) -> Hits:
    tables = [(c.line, c.arg(0, "table_name")) for c in _calls(ctx, "drop_table")]
    tables += [(line, p.table) for line, p in _hand_lines(ctx) if p.kind == "drop_table"]
    for line, table in tables:
        if ctx.existing(table):
            yield line, f"dropping table {_show(table)} breaks deployed code that still queries it"


@_check("ban-drop-column")
def _drop_column(ctx: Context) -> Hits:
    columns = [(c.line, *c.table_column()) for c in _calls(ctx, "drop_column")]
    for line, p in _hand_lines(ctx):
        columns += [(line, p.table, a.name) for a in p.actions if a.kind == "drop_column"]
    for line, table, column in columns:
        if ctx.existing(table):
            yield (
                line,
                f"dropping column {_show(table)}.{_show(column)} breaks deployed code whose "
                "models still select it",
            )


@_check("renaming-column")
def _rename_column(ctx: Context) -> Hits:
    renames = [
        (c.line, *c.table_column(), c.keywords["new_column_name"])
        for c in _calls(ctx, "alter_column")
        if c.keywords.get("new_column_name") is not None
    ]
    for line, p in _hand_lines(ctx):
        renames += [
            (line, p.table, a.name, a.new_name)
            for a in p.actions
            if a.kind == "rename_column"
            or (a.kind == "modify_column" and a.new_name and a.new_name != a.name)
        ]
    for line, table, old, new in renames:
        yield (
            line,
            f"renaming {_show(table)}.{_show(old)} to {_show(new)} breaks deployed code that "
            "still uses the old name",
        )


@_check("renaming-table")
def _rename_table(ctx: Context) -> Hits:
    renames = [
        (c.line, c.arg(0, "old_table_name"), c.arg(1, "new_table_name"))
        for c in _calls(ctx, "rename_table")
    ]
    for line, p in _hand_lines(ctx):
        if p.kind == "rename_table":
            renames.append((line, p.table, p.new_name))
        renames += [(line, p.table, a.new_name) for a in p.actions if a.kind == "rename_table"]
    for line, old, new in renames:
        yield (
            line,
            f"renaming table {_show(old)} to {_show(new)} breaks deployed code that still "
            "queries the old name",
        )


@_check("unbatched-data-change")
def _data_change(ctx: Context) -> Hits:
    for s in ctx.statements:
        p = s.parsed
        if (
            s.hand_written
            and p.kind == "data_change"
            and not ctx.source.in_loop(s.lines)
            and not re.search(r"\bLIMIT\s+\d+", p.sql, re.I)
        ):
            yield (
                s.line,
                f"{p.sql.split()[0].upper()} in one statement changes every matching row at "
                "once and holds their locks until the revision commits",
            )


@_check("irreversible-downgrade")
def _irreversible(ctx: Context) -> Hits:
    functions = ctx.source.functions
    if "downgrade" not in functions and "upgrade" in functions:
        yield (
            functions["upgrade"].line,
            "the revision has no downgrade(): it cannot be rolled back",
        )
        return
    for function in ctx.source.downgrades_with(ctx.engine_name):
        upgrade = functions.get("upgrade" + function.name[len("downgrade") :])
        if function.body == "empty" and not (upgrade and upgrade.body == "empty"):
            yield function.line, f"{function.name}() is empty: the revision cannot be rolled back"
        elif function.body == "raises":
            yield (
                function.line,
                f"{function.name}() raises (line {function.raise_line}): the revision cannot "
                "be rolled back",
            )
