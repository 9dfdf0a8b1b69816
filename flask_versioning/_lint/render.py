"""Render a revision's ``upgrade()`` as SQL, offline, with the source line behind each statement.

How: the revision file is imported as a module of its own, an :class:`EnvironmentContext` is
entered (it installs the ``alembic.context`` proxy, so a revision may call
``context.get_x_argument()`` or ``context.is_offline_mode()`` as it would under ``upgrade``,
with the ``-x`` arguments given, none by default) and configured for the dialect with
``as_sql=True`` (the ``--sql`` mode of Alembic's public API) and an output buffer of ours;
``Operations.context()`` installs the ``alembic.op`` proxy, and ``upgrade()`` is called.
Every statement Alembic writes goes through the buffer, which walks the Python stack to the
revision file's frame: that line is the statement's origin, including for a
``batch_alter_table`` block (its SQL is written when the block ends, at the ``with`` line). The
operation being invoked at the time (``op.execute`` vs ``op.create_index``) is recorded too, by
wrapping ``invoke`` on the :class:`Operations` object that the context hands us.

Nothing touches a database: offline rendering needs no connection, so a revision that reads rows
through ``op.get_bind()`` stops with an error, which is reported, not raised.

``alembic.op`` is one proxy per process (Alembic's design), so rendering must not run while a
migration runs in the same process or thread pool; the commands lint before or after theirs.
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

from .._errors import ConfigurationError, scrub

_counter = itertools.count()


@dataclass(frozen=True)
class Emitted:
    """One write of SQL by Alembic: usually one statement, several for a raw ``op.execute``.

    ``lines`` are the revision file's lines on the Python stack when it was written, innermost
    first (a helper function's line, then the line in ``upgrade()`` that called it).
    ``operation`` is the Alembic operation being invoked, ``None`` for SQL written outside one
    (a batch block's flush, an autocommit block's COMMIT/BEGIN).
    """

    sql: str
    lines: tuple[int, ...]
    operation: MigrateOperation | None

    @property
    def line(self) -> int | None:
        return self.lines[0] if self.lines else None


@dataclass(frozen=True)
class Rendering:
    """What rendering a revision's ``upgrade()`` produced.

    ``transactional`` says whether Alembic runs the revision in a transaction on this dialect
    (its ``transactional_ddl``). ``error`` is one line saying why rendering stopped early
    (``None`` when it ran to the end) and ``error_line`` the revision line it stopped at;
    ``note`` says why it was not attempted (a multi-database revision without an engine name).
    ``sql`` is the rendered script and ``line_map[i]`` the revision line behind its line
    ``i + 1`` (0 where unknown), for tools that report positions in the SQL.
    """

    path: Path
    dialect: str
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
        lines: list[int] = []
        for e in self.emitted:
            lines.extend([e.line or 0] * (e.sql.count("\n") + 2))
        return lines


class _Buffer:
    """The output buffer Alembic writes to: keeps each write with its revision lines."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.operation: MigrateOperation | None = None
        self.emitted: list[Emitted] = []

    def write(self, text: str) -> int:
        sql = text.strip().rstrip(";").strip()
        if sql:
            self.emitted.append(Emitted(sql, _revision_lines(self.filename), self.operation))
        return len(text)

    def flush(self) -> None:
        """Alembic flushes after each statement; there is nothing to flush."""


def _revision_lines(filename: str) -> tuple[int, ...]:
    frame: FrameType | None = inspect.currentframe()
    lines = []
    while frame is not None:
        if frame.f_code.co_filename == filename:
            lines.append(frame.f_lineno)
        frame = frame.f_back
    return tuple(lines)


class LoadError(Exception):
    """The revision file could not be imported; ``line`` is where, when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_revision(path: Path) -> ModuleType:
    """Import a revision file as a fresh module (not added to ``sys.modules``), as Alembic does."""
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


def render_upgrade(
    module: ModuleType,
    path: Path,
    dialect: str,
    *,
    engine_name: str | None = None,
    x_args: Sequence[str] = (),
) -> Rendering:
    """Run ``module.upgrade()`` offline for ``dialect`` and collect what it writes.

    A multi-database revision (``upgrade(engine_name)``) is called with ``engine_name``; without
    one it is not run and the rendering carries a ``note``. ``x_args`` are what
    ``context.get_x_argument()`` returns to the revision (``-x key=value``, in order).
    """
    transactional = transactional_ddl(dialect)
    upgrade = getattr(module, "upgrade", None)
    if not callable(upgrade):
        return Rendering(
            path, dialect, (), transactional, error=f"{path.name} has no upgrade() function"
        )
    args: tuple[str, ...] = ()
    if _takes_argument(upgrade):
        if engine_name is None:
            note = "multi-database revision: its SQL is checked only with an engine name"
            return Rendering(path, dialect, (), transactional, note=note)
        args = (engine_name,)
    # The code's file name as the import system set it (made absolute), to find its frames.
    filename = getattr(module, "__file__", None) or str(path)
    buffer = _Buffer(filename)
    environment = _environment(path, x_args)
    failure: BaseException | None = None
    with warnings.catch_warnings(), environment:
        # Only write() and flush() are called on it; the annotation asks for a whole TextIO.
        output = cast("TextIO", buffer)
        environment.configure(dialect_name=dialect, output_buffer=output, literal_binds=True)
        context = environment.get_context()
        with Operations.context(context) as operations:
            warnings.simplefilter("ignore")
            _record_operations(operations, buffer)
            try:
                upgrade(*args)
            except (Exception, SystemExit) as exc:
                # Caught inside the contexts so that they remove their proxies as usual.
                failure = exc
    emitted = tuple(buffer.emitted)
    if failure is None:
        return Rendering(path, dialect, emitted, transactional)
    return Rendering(
        path,
        dialect,
        emitted,
        transactional,
        error=f"upgrade() cannot run offline for {dialect}: {describe(failure)}",
        error_line=_failing_line(failure, filename),
    )


def _environment(path: Path, x_args: Sequence[str]) -> EnvironmentContext:
    """The environment a revision sees while it renders: offline, with ``x_args`` as ``-x``.

    Built from Alembic's public classes without reading any configuration: a ``Config`` whose
    command-line options hold ``x_args`` (where ``get_x_argument()`` reads them), and the
    revision's folder as the script directory (constructing one reads no revision file).
    """
    config = Config(cmd_opts=argparse.Namespace(x=list(x_args), tag=None))
    script = ScriptDirectory(str(path.parent))
    return EnvironmentContext(config, script, as_sql=True)


@functools.cache
def transactional_ddl(dialect: str) -> bool:
    """Whether Alembic wraps revisions in a transaction on ``dialect``.

    Raises :class:`ConfigurationError` for a name SQLAlchemy has no dialect for.
    """
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
    """Note which operation is running while Alembic writes its SQL.

    ``invoke`` is the public method every ``op.*`` directive goes through; it is replaced on
    this one :class:`Operations` object only, which lives for one rendering.
    """
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
    """The innermost line of ``filename`` in the exception's traceback."""
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
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
