"""The revision laid out for the checks: rendered statements in order, with source lines.

:func:`build_context` splits what Alembic wrote into statements, follows the transaction each
runs in (an autocommit block writes ``COMMIT`` and ``BEGIN`` around its body), and adds the
literal SQL of ``op.execute`` calls that offline rendering did not reach. It also collects the
tables and indexes the revision creates, which lock rules leave alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alembic.operations import MigrateOperation
from alembic.operations.ops import ExecuteSQLOp

from . import sql
from .render import Rendering
from .source import Source


@dataclass(frozen=True)
class Stmt:
    """One rendered statement in the order the revision emits it.

    ``origin``: ``"op"`` (an ``op.*`` directive), ``"execute"`` (SQL handed to ``op.execute``),
    ``"batch"`` (written when a batch block ends) or ``"source"`` (the literal SQL of an
    ``op.execute`` call that offline rendering did not reach). ``transaction`` numbers the
    transaction it runs in, ``None`` outside one.
    """

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
    """What every check reads: the statements, the source view, and what the revision creates."""

    dialect: str
    source: Source
    statements: list[Stmt]
    engine_name: str | None = None
    #: Whether the run sets a lock timeout around the revision (``LintConfig.lock_timeout``).
    lock_timeout: bool = False
    new_tables: set[str] = field(default_factory=set)
    new_indexes: set[str] = field(default_factory=set)

    def existing(self, table: object) -> bool:
        """Whether ``table`` existed before this revision (unknown names count as existing)."""
        return not (isinstance(table, str) and sql.name_key(table) in self.new_tables)


def build_context(
    dialect: str,
    source: Source,
    rendering: Rendering,
    engine_name: str | None = None,
    *,
    lock_timeout: bool = False,
) -> Context:
    """Lay the rendered SQL out as statements; add ``op.execute`` literals rendering missed."""
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
