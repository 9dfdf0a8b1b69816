"""Render a revision's ``upgrade()`` as SQL, offline, with the source line behind each statement.

The revision is imported as a module of its own and run under Alembic's ``EnvironmentContext``
(``as_sql=True``) with an output buffer that walks the stack to the revision file's frame on
every write: that line is the statement's origin. Wrapping ``invoke`` records which operation
wrote it. Nothing touches a database, so a revision that reads rows stops with an error, which
is reported, not raised. ``alembic.op`` is one proxy per process: never render while a
migration runs in the same process.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType, TracebackType
from typing import Any, TextIO, cast

from alembic.config import Config
from alembic.operations import MigrateOperation, Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .._errors import ConfigurationError, one_line, scrub

_counter = itertools.count()


@dataclass(frozen=True)
class Emitted:
    """One write of SQL, with the revision file's lines on the stack (innermost first) and the
    operation invoked (``None`` for a batch block's flush or an autocommit block's COMMIT)."""

    sql: str
    lines: tuple[int, ...]
    operation: MigrateOperation | None

    @property
    def line(self) -> int | None:
        return self.lines[0] if self.lines else None


@dataclass(frozen=True)
class Rendering:
    """What rendering produced: ``error`` says why it stopped early, ``note`` why it was not
    attempted; ``line_map[i]`` is the revision line behind line ``i + 1`` of ``sql``."""

    emitted: tuple[Emitted, ...]
    transactional: bool
    error: str | None = None
    error_line: int | None = None
    note: str | None = None

    @property
    def sql(self) -> str:
        return "".join(f"{e.sql};\n\n" for e in self.emitted)

    @property
    def line_map(self) -> list[int]:
        return [e.line or 0 for e in self.emitted for _ in range(e.sql.count("\n") + 2)]


class _Buffer:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.operation: MigrateOperation | None = None
        self.emitted: list[Emitted] = []

    def write(self, text: str) -> int:
        if sql := text.strip().rstrip(";").strip():
            frame: FrameType | None = inspect.currentframe()
            lines = []
            while frame is not None:
                if frame.f_code.co_filename == self.filename:
                    lines.append(frame.f_lineno)
                frame = frame.f_back
            self.emitted.append(Emitted(sql, tuple(lines), self.operation))
        return len(text)

    def flush(self) -> None:
        pass


class LoadError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_revision(path: Path) -> ModuleType:
    """Import a revision file as a fresh module (not in ``sys.modules``), as Alembic does."""
    name = f"_versioning_lint_revision_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise LoadError(f"{path.name} cannot be imported as a Python module", None)
    module = importlib.util.module_from_spec(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        line = _failing_line(exc, module.__file__ or str(path))
        raise LoadError(f"importing {path.name} failed: {describe(exc)}", line) from None
    return module


def render_revision(
    path: Path, *, dialect: str, engine_name: str | None = None, x_args: Sequence[str] = ()
) -> Rendering:
    """Render a revision file's ``upgrade()`` offline for ``dialect``, with ``x_args`` as its
    ``-x`` arguments; raises only for an unknown dialect, never for a broken revision."""
    transactional = transactional_ddl(dialect)
    try:
        module = load_revision(path)
    except LoadError as exc:
        return Rendering((), transactional, error=str(exc), error_line=exc.line)
    upgrade = getattr(module, "upgrade", None)
    if not callable(upgrade):
        return Rendering((), transactional, error=f"{path.name} has no upgrade() function")
    args: tuple[str, ...] = ()
    if _takes_argument(upgrade):
        if engine_name is None:
            note = "multi-database revision: its SQL is checked only with an engine name"
            return Rendering((), transactional, note=note)
        args = (engine_name,)
    filename = getattr(module, "__file__", None) or str(path)
    buffer = _Buffer(filename)
    # Alembic's public classes, reading no configuration: ``get_x_argument()`` reads the
    # command-line options, and constructing a script directory reads no revision file.
    config = Config(cmd_opts=argparse.Namespace(x=list(x_args), tag=None))
    environment = EnvironmentContext(config, ScriptDirectory(str(path.parent)), as_sql=True)
    failure: BaseException | None = None
    with warnings.catch_warnings(), environment:
        # Only write() and flush() are called on it; the annotation asks for a whole TextIO.
        output = cast("TextIO", buffer)
        environment.configure(dialect_name=dialect, output_buffer=output, literal_binds=True)
        with Operations.context(environment.get_context()) as operations:
            warnings.simplefilter("ignore")
            _record_operations(operations, buffer)
            try:
                upgrade(*args)
            except (Exception, SystemExit) as exc:
                # Caught inside the contexts so that they remove their proxies as usual.
                failure = exc
    if failure is None:
        return Rendering(tuple(buffer.emitted), transactional)
    return Rendering(
        tuple(buffer.emitted),
        transactional,
        error=f"upgrade() cannot run offline for {dialect}: {describe(failure)}",
        error_line=_failing_line(failure, filename),
    )


@functools.cache
def transactional_ddl(dialect: str) -> bool:
    """Whether Alembic wraps revisions in a transaction on ``dialect``; raises
    :class:`ConfigurationError` for a name SQLAlchemy has no dialect for."""
    try:
        context = MigrationContext.configure(
            dialect_name=dialect, opts={"as_sql": True, "output_buffer": _Buffer("")}
        )
    except Exception as exc:
        raise ConfigurationError(
            f"cannot lint for database dialect {dialect!r}: {describe(exc)}"
        ) from None
    return bool(context.impl.transactional_ddl)


def _record_operations(operations: Operations, buffer: _Buffer) -> None:
    """Note which operation is running while Alembic writes, by wrapping ``invoke`` (every
    ``op.*`` directive goes through it)."""
    invoke: Callable[[MigrateOperation], Any] = operations.invoke

    def recording_invoke(operation: MigrateOperation) -> Any:
        outer, buffer.operation = buffer.operation, operation
        try:
            return invoke(operation)
        finally:
            buffer.operation = outer

    setattr(operations, "invoke", recording_invoke)  # noqa: B010 (mypy: methods are read-only)


def _takes_argument(function: Callable[..., object]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in parameters
    )


def _failing_line(exc: BaseException, filename: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException) -> str:
    """An exception as one line, with any database password masked."""
    text = one_line(exc, 300)
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
