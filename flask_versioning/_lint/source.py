"""The revision file read as source: its ``op.*`` calls, its functions and its ignore comments.

Rules about what the author wrote read this view: it sees ``batch_op`` calls and calls that
never ran offline. It also decides which line a finding belongs to and which ignores cover it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

#: The value of an argument that is not a literal in the source (a variable, an f-string).
UNKNOWN = object()


@dataclass(frozen=True)
class OpCall:
    """One ``op.<method>(...)`` or ``batch_op.<method>(...)`` call; arguments are literals
    where the source has one (``sa.text("...")`` counts as its string), else :data:`UNKNOWN`."""

    method: str
    line: int
    function: str
    batch_table: object
    in_batch: bool
    args: tuple[object, ...]
    keywords: Mapping[str, object]

    def arg(self, index: int, keyword: str) -> object:
        if keyword in self.keywords:
            return self.keywords[keyword]
        return self.args[index] if index < len(self.args) else UNKNOWN

    def table_column(self) -> tuple[object, object]:
        # A batch op omits the table.
        if self.in_batch:
            return self.batch_table, self.arg(0, "column_name")
        return self.arg(0, "table_name"), self.arg(1, "column_name")


@dataclass(frozen=True)
class Ignore:
    """A ``# versioning: ignore[rule, ...] reason`` comment."""

    line: int
    rules: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Function:
    """A module-level function; ``body`` is ``"empty"`` (only a docstring, ``pass`` or ``...``),
    ``"raises"`` (a top-level ``raise`` at ``raise_line``) or ``"code"``."""

    name: str
    line: int
    params: int
    body: str
    raise_line: int | None = None
    #: Decorated ``@timeouts(lock=None)`` (or ``lock=0``): runs without a lock timeout.
    lifts_lock: bool = False


_IGNORE = re.compile(r"#\s*versioning:\s*ignore\[(?P<rules>[^\]]*)\](?P<reason>.*)$")


class Source:
    def __init__(self, path: Path, text: str) -> None:
        tree = ast.parse(text, filename=str(path))
        collector = _Collector(_op_names(tree))
        collector.visit(tree)
        self.calls = collector.calls
        self.loop_lines = collector.loop_lines
        self.functions = _functions(tree)
        self.ignores, self._comment_lines = _comments(text)
        self._batch_blocks = collector.batch_blocks
        self._spans = _spans(tree)

    def anchor(self, line: int) -> int:
        """The first line of the innermost statement containing ``line``."""
        return self._span(line)[0]

    def covering_ignores(self, line: int) -> list[Ignore]:
        """Ignores on a line of the innermost statement containing ``line`` (a compound
        statement's header only, but all of a ``batch_alter_table`` block, whose SQL is emitted
        when it ends), or on the comment-only lines right above."""
        start, end = self._span(line)
        lines = set(range(start, self._batch_blocks.get(start, end) + 1))
        above = start - 1
        while above in self._comment_lines:
            lines.add(above)
            above -= 1
        return [ignore for ignore in self.ignores if ignore.line in lines]

    def in_loop(self, lines: Iterable[int]) -> bool:
        return any(line in self.loop_lines for line in lines)

    def is_batch_header(self, line: int) -> bool:
        return self.anchor(line) in self._batch_blocks

    def calls_in_block(self, line: int) -> list[OpCall]:
        """The calls inside the ``batch_alter_table`` block whose statement contains ``line``."""
        start = self.anchor(line)
        end = self._batch_blocks.get(start, start)
        return [c for c in self.calls if start < c.line <= end and c.in_batch]

    def upgrade_calls(self, engine_name: str | None = None) -> list[OpCall]:
        """The calls upgrading runs (for a multi-database revision linted for one engine, not
        other engines' ``upgrade_<name>()``, so a finding is reported once)."""
        return [c for c in self.calls if self.upgrades_with(c.function, engine_name)]

    def upgrades_with(self, function: str, engine_name: str | None) -> bool:
        if _is_downgrade(function):
            return False
        if self._per_engine(engine_name) and function != "upgrade":
            return not function.startswith("upgrade_") or function == f"upgrade_{engine_name}"
        return True

    def downgrades_with(self, engine_name: str | None) -> list[Function]:
        """The downgrade functions that undo what :meth:`upgrade_calls` runs."""
        per_engine = self._per_engine(engine_name)
        return [
            f
            for n, f in self.functions.items()
            if (n == f"downgrade_{engine_name}" if per_engine else _is_downgrade(n))
        ]

    def _per_engine(self, engine_name: str | None) -> bool:
        upgrade = self.functions.get("upgrade")
        return engine_name is not None and upgrade is not None and upgrade.params > 0

    def _span(self, line: int) -> tuple[int, int]:
        # The innermost statement is the containing one that starts last.
        containing = [(start, end) for start, end in self._spans if start <= line <= end]
        return max(containing) if containing else (line, line)


def _is_downgrade(function: str) -> bool:
    return function == "downgrade" or function.startswith("downgrade_")


def _op_names(tree: ast.Module) -> frozenset[str]:
    """Names the module binds to ``alembic.op`` (``op`` unless imported under another name)."""
    names = {"op"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(alias.asname or alias.name for alias in node.names if alias.name == "op")
    return frozenset(names)


class _Collector(ast.NodeVisitor):
    def __init__(self, op_names: frozenset[str]) -> None:
        self.op_names = op_names
        self.function = "<module>"
        self.batch_aliases: dict[str, object] = {}
        self.calls: list[OpCall] = []
        self.loop_lines: set[int] = set()
        self.batch_blocks: dict[int, int] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = self.function
        if outer == "<module>":
            self.function = node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_For(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        for stmt in node.body:
            self.loop_lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
        self.generic_visit(node)

    visit_AsyncFor = visit_For
    visit_While = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        bound: dict[str, object] = {}
        for item in node.items:
            self.visit(item.context_expr)
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "batch_alter_table"
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in self.op_names
            ):
                self.batch_blocks[node.lineno] = node.end_lineno or node.lineno
                if isinstance(item.optional_vars, ast.Name):
                    args, keywords = _call_args(call)
                    bound[item.optional_vars.id] = keywords.get(
                        "table_name", args[0] if args else UNKNOWN
                    )
        saved = self.batch_aliases
        self.batch_aliases = {**saved, **bound}
        for stmt in node.body:
            self.visit(stmt)
        self.batch_aliases = saved

    visit_AsyncWith = visit_With

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            receiver = func.value.id
            if receiver in self.op_names or receiver in self.batch_aliases:
                args, keywords = _call_args(node)
                self.calls.append(
                    OpCall(
                        method=func.attr,
                        line=node.lineno,
                        function=self.function,
                        batch_table=self.batch_aliases.get(receiver),
                        in_batch=receiver in self.batch_aliases,
                        args=args,
                        keywords=MappingProxyType(keywords),
                    )
                )
        self.generic_visit(node)


def _call_args(node: ast.Call) -> tuple[tuple[object, ...], dict[str, object]]:
    keywords = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
    return tuple(_literal(a) for a in node.args), keywords


def _literal(node: ast.expr) -> object:
    """A literal's value; ``sa.text("...")`` gives its string; anything else :data:`UNKNOWN`."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Call) and node.args and _name(node.func) == "text":
        return _literal(node.args[0])
    return UNKNOWN


def _name(func: ast.expr) -> str | None:
    """The name a call's callee ends with: ``timeouts`` for ``x.timeouts`` or ``timeouts``."""
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _functions(tree: ast.Module) -> dict[str, Function]:
    found: dict[str, Function] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
        raises = [stmt for stmt in body if isinstance(stmt, ast.Raise)]
        if all(_is_noop(stmt) for stmt in body):
            kind, raise_line = "empty", None
        elif raises:
            kind, raise_line = "raises", raises[0].lineno
        else:
            kind, raise_line = "code", None
        params = len(node.args.posonlyargs) + len(node.args.args)
        lifts = any(_lifts_lock(decorator) for decorator in node.decorator_list)
        found[node.name] = Function(node.name, node.lineno, params, kind, raise_line, lifts)
    return found


def _lifts_lock(decorator: ast.expr) -> bool:
    """Whether ``decorator`` is ``timeouts(lock=None)`` (imported under any module name)."""
    return (
        isinstance(decorator, ast.Call)
        and _name(decorator.func) == "timeouts"
        and any(
            k.arg == "lock" and isinstance(k.value, ast.Constant) and k.value.value in (None, 0)
            for k in decorator.keywords
        )
    )


def _is_noop(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Pass) or (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is Ellipsis
    )


def _spans(tree: ast.Module) -> list[tuple[int, int]]:
    """(first line, last line of the statement or of a compound statement's header)."""
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(node.lineno, body[0].lineno - 1)
        else:
            end = node.end_lineno or node.lineno
        spans.append((node.lineno, end))
    return spans


def _comments(text: str) -> tuple[list[Ignore], set[int]]:
    ignores: list[Ignore] = []
    comment_lines: set[int] = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return ignores, comment_lines
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        line = token.start[0]
        if not token.line[: token.start[1]].strip():
            comment_lines.add(line)
        if match := _IGNORE.search(token.string):
            rules = tuple(r.strip() for r in match["rules"].split(",") if r.strip())
            ignores.append(Ignore(line, rules, match["reason"].strip().lstrip("-:").strip()))
    return ignores, comment_lines
