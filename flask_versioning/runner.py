"""The work behind every command, over Alembic's public entry points.

Each function takes a :class:`Database` (one database of the app, with its script directory)
and returns data; nothing here prints. Alembic's own errors are turned into
:mod:`flask_versioning.errors` with one-line messages, and anything that changes the schema or
the version table runs under the cross-process migration lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from . import errors, layout
from .environment import (
    DATABASE_KEY,
    EMPTY_KEY,
    ENGINE_NAMES_KEY,
    RECORDER_KEY,
    SKIP_EMPTY_KEY,
    TOGETHER_KEY,
    StepRecorder,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.migration import MigrationInfo
    from alembic.script import Script, ScriptDirectory

    from .settings import Settings

_SAFE_REV_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_RELATIVE = re.compile(r"^[+-]\d+$")


@dataclasses.dataclass(frozen=True)
class AppliedRevision:
    """One revision a command applied, reverted or stamped."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    direction: Literal["upgrade", "downgrade", "stamp"]
    duration: float


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """What ``upgrade``, ``downgrade`` or ``stamp`` did to one database."""

    database: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    steps: tuple[AppliedRevision, ...] = ()
    #: The generated SQL in offline (``sql=True``) mode; nothing touched the database then.
    sql: str | None = None


@dataclasses.dataclass(eq=False)
class Database:
    """One database of the app: where it is, its models and its script directory."""

    name: str
    settings: Settings
    metadata: sa.MetaData | None
    directory: Path
    get_engine: Callable[[], sa.Engine] | None = None
    url_override: str | None = None
    #: The bind key (``None`` for the default database).
    bind: str | None = None
    #: In Flask-Migrate's multidb layout (one directory whose revisions take ``engine_name``):
    #: the name passed for this database, ``""`` for the default. ``None`` otherwise.
    engine_name: str | None = None
    #: Every engine name of the multidb layout, for the revision template.
    engine_names: tuple[str, ...] = ()
    _own_engine: sa.Engine | None = dataclasses.field(default=None, repr=False)

    def engine(self) -> sa.Engine:
        """The engine migrations run on: the app's own, or one made for an explicit URL."""
        if self.url_override is None and self.get_engine is not None:
            return self.get_engine()
        if self._own_engine is None:
            if self.url_override is None:
                raise errors.ConfigurationError(
                    f"no database configured for {self.name!r}: use Flask-SQLAlchemy(-Lite) "
                    "or set SQLALCHEMY_DATABASE_URI or VERSIONING_DATABASE_URL"
                )
            # NullPool: migrations are rare, and a pooled connection made before a server
            # forks its workers must never be shared between them.
            self._own_engine = sa.create_engine(self.url_override, poolclass=sa.NullPool)
        return self._own_engine

    @property
    def url(self) -> sa.URL:
        if self.url_override is not None:
            return sa.make_url(self.url_override)
        return self.engine().url

    def configure_options(self) -> dict[str, Any]:
        """Options for ``context.configure()``: our defaults, then the app's own."""
        s = self.settings
        options: dict[str, Any] = {
            "target_metadata": self.metadata,
            "version_table": s.version_table,
            "version_table_schema": s.version_table_schema,
            "compare_type": True,
            "compare_server_default": True,
            "transaction_per_migration": True,
        }
        options.update(s.context)
        return options

    def alembic_config(
        self,
        *,
        x_args: Sequence[str] | None = None,
        stdout: io.TextIOBase | None = None,
        output_buffer: io.StringIO | None = None,
    ) -> Config:
        """A standard Alembic ``Config`` for this database's script directory."""
        from argparse import Namespace

        from alembic.config import Config

        config = Config(
            stdout=stdout or io.StringIO(),  # type: ignore[arg-type]
            output_buffer=output_buffer,
            cmd_opts=Namespace(x=list(x_args or ()), quiet=True),
        )
        if layout.has_foreign_env(self.directory):
            # Another tool's env.py (e.g. Flask-Migrate's): run ours, read the same revisions.
            config.set_main_option("script_location", _escape(layout.delegate_directory()))
            config.set_main_option("path_separator", "os")
            config.set_main_option("version_locations", _escape(self.directory / "versions"))
        else:
            config.set_main_option("script_location", _escape(self.directory))
        if self.engine_name is not None:
            config.attributes[ENGINE_NAMES_KEY] = list(self.engine_names)
        if self.settings.file_template:
            config.set_main_option("file_template", _escape(self.settings.file_template))
        hooks = self.settings.post_write_hooks
        if hooks:
            for key, value in hooks.items():
                config.set_section_option("post_write_hooks", key, _escape(value))
        config.attributes[DATABASE_KEY] = self
        return config


def _escape(value: object) -> str:
    # Config values go through ConfigParser interpolation, where "%" is special.
    return str(value).replace("%", "%%")


# -- the script directory ---------------------------------------------------------------------


def ensure_directory(database: Database) -> bool:
    """Create the script directory with our ``env.py`` and template if missing.

    Returns ``True`` when anything was written. An existing ``env.py`` is never overwritten.
    """
    directory = database.directory
    written = False
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    import shutil  # here, not at the top: the start-up path never writes files
    from importlib import resources

    templates = resources.files("flask_versioning") / "templates"
    for source, target in (("env.py.txt", "env.py"), ("script.py.mako", "script.py.mako")):
        path = directory / target
        if not path.exists():
            with resources.as_file(templates / source) as src:
                shutil.copyfile(src, path)
            written = True
    return written


def script_directory(database: Database, config: Config | None = None) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    ensure_directory(database)
    with translate_errors(database):
        return ScriptDirectory.from_config(config or database.alembic_config())


# -- errors -----------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@contextlib.contextmanager
def translate_errors(database: Database, action: str = "this command") -> Iterator[None]:
    """Turn Alembic's and SQLAlchemy's errors into ours, with one-line messages."""
    from alembic.script.revision import MultipleHeads, RevisionError
    from alembic.util import CommandError

    try:
        yield
    except errors.VersioningError:
        raise
    except (CommandError, RevisionError) as exc:
        cause = exc if isinstance(exc, MultipleHeads) else exc.__cause__
        if isinstance(cause, MultipleHeads):
            raise errors.MultipleHeadsError(cause.heads, action) from exc
        message = _one_line(exc)
        if message.startswith("Multiple heads are present"):
            heads = script_heads(database)
            raise errors.MultipleHeadsError(heads, action) from exc
        if message == "Target database is not up to date.":
            message = (
                "the database is not at the head revision(s): run 'flask db upgrade' first, "
                "then autogenerate"
            )
        raise errors.RevisionError(message) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError):
            raise errors.DatabaseError(
                f"cannot use the database at {errors.mask_url(database.url)}: "
                f"{_one_line(exc.orig) if exc.orig else _one_line(exc)}"
            ) from exc
        raise
    except (SyntaxError, ImportError) as exc:
        where = getattr(exc, "filename", None) or ""
        raise errors.RevisionError(
            f"a revision file cannot be loaded{f' ({where})' if where else ''}: "
            f"{type(exc).__name__}: {_one_line(exc)}"
        ) from exc


def script_heads(database: Database) -> list[str]:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(database.alembic_config()).get_heads()


# -- reading ----------------------------------------------------------------------------------


def current(database: Database) -> list[str]:
    """The revision ids recorded in the database's version table (empty at base)."""
    from alembic.migration import MigrationContext

    s = database.settings
    with translate_errors(database), database.engine().connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": s.version_table, "version_table_schema": s.version_table_schema},
        )
        return list(context.get_current_heads())


def heads(database: Database) -> list[Script]:
    script = script_directory(database)
    with translate_errors(database):
        return [script.get_revision(rev) for rev in script.get_heads()]


def branches(database: Database) -> list[Script]:
    script = script_directory(database)
    with translate_errors(database):
        return [s for s in script.walk_revisions() if s.is_branch_point]


def history(database: Database, rev_range: str | None = None) -> list[Script]:
    """Revisions newest first, optionally limited to ``base:head`` style ranges."""
    script = script_directory(database)
    base = head = None
    if rev_range:
        if ":" not in rev_range:
            raise errors.RevisionError(
                f"history range {rev_range!r} must be '[start]:[end]', e.g. 'base:head' or '-3:'"
            )
        base, head = (part or None for part in rev_range.split(":", 1))
    with translate_errors(database):
        # Like Alembic: "current" is the database's revision; a relative start such as "-3"
        # counts back from the end of the range, which Alembic resolves itself.
        if base == "current":
            base = _current_or_base(database)
        if head == "current":
            head = _current_or_base(database)
        return list(script.walk_revisions(base=base or "base", head=head or "heads"))


def _current_or_base(database: Database) -> str:
    heads_now = current(database)
    if len(heads_now) > 1:
        raise errors.MultipleHeadsError(heads_now, "a history range with 'current'")
    return heads_now[0] if heads_now else "base"


def show(database: Database, revision: str) -> list[Script]:
    script = script_directory(database)
    with translate_errors(database):
        if revision == "current":
            return [script.get_revision(r) for r in current(database)]
        found = script.get_revisions(revision)
    if not found:
        raise errors.RevisionError(f"no revision matches {revision!r}")
    return [s for s in found if s is not None]


# -- changing the database --------------------------------------------------------------------


@contextlib.contextmanager
def _lock(database: Database) -> Iterator[None]:
    """Hold the cross-process migration lock, unless the app turned it off."""
    s = database.settings
    if not s.lock:
        yield
        return
    from .locking import migration_lock

    with contextlib.ExitStack() as stack:
        with translate_errors(database):  # the lock's connection is the first one made
            stack.enter_context(
                migration_lock(
                    database.engine(),
                    key=f"flask_versioning:{s.version_table}",
                    timeout=s.lock_timeout,
                )
            )
        yield


def _steps(recorder: StepRecorder) -> tuple[AppliedRevision, ...]:
    out = []
    for step, elapsed in recorder.steps:
        direction: Literal["upgrade", "downgrade", "stamp"] = (
            "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        )
        revs = step.up_revision_ids if step.up_revision_ids else (step.up_revision_id or "base",)
        script = step.up_revision
        out.append(
            AppliedRevision(
                revision=", ".join(revs),
                down_revisions=tuple(step.down_revision_ids),
                message=getattr(script, "doc", None) or "",
                direction=direction,
                duration=elapsed,
            )
        )
    return tuple(out)


def _is_transactional(database: Database) -> bool:
    from alembic.ddl.impl import DefaultImpl

    impl = DefaultImpl.get_by_dialect(database.engine().dialect)
    return bool(impl.transactional_ddl)


def _in_progress(database: Database, target: str, now: Sequence[str], direction: str) -> str | None:
    """Best guess at the revision that was running when a command failed."""
    try:
        script = script_directory(database)
        if direction == "downgrade":
            return now[0] if len(now) == 1 else None
        lower = tuple(now) if now else None
        upper = target if not _RELATIVE.match(target) else "heads"
        candidates = list(script.iterate_revisions(upper, lower))
        return candidates[-1].revision if candidates else None
    except Exception:
        return None


def _migrate(
    database: Database,
    command_name: Literal["upgrade", "downgrade", "stamp"],
    target: str | Sequence[str],
    *,
    sql: bool,
    tag: str | None,
    x_args: Sequence[str] | None,
    progress: Callable[[AppliedRevision], None] | None,
    purge: bool = False,
) -> MigrationResult:
    from alembic import command

    buffer = io.StringIO() if sql else None
    config = database.alembic_config(x_args=x_args, output_buffer=buffer)
    # Not loaded here: Alembic's command builds its own ScriptDirectory and imports every
    # revision file before the first one runs (a broken file still fails before any change);
    # loading them here as well doubled that cost, a third of a second at 1,000 revisions.
    script_directory(database, config)

    def report(step: MigrationInfo, elapsed: float) -> None:
        if progress is not None:
            progress(_steps(_single(step, elapsed))[0])

    recorder = StepRecorder(report)
    config.attributes[RECORDER_KEY] = recorder
    action = f"'{command_name} {target if isinstance(target, str) else ' '.join(target)}'"

    if sql:
        with translate_errors(database, action):
            _run_command(command, command_name, config, target, sql=True, tag=tag, purge=purge)
        return MigrationResult(
            database.name, (), (), sql=buffer.getvalue() if buffer is not None else ""
        )

    with _lock(database):
        before = tuple(current(database))
        try:
            with translate_errors(database, action):
                _run_command(command, command_name, config, target, sql=False, tag=tag, purge=purge)
        except (errors.RevisionError, errors.DatabaseError) as exc:
            # Alembic's refusals (an unknown target) come before any revision runs and are
            # right as they are; a database error once migrations began is a revision's SQL
            # failing, or the connection dropping under it: say which revision, with its cause.
            if recorder.steps or (recorder.began and isinstance(exc, errors.DatabaseError)):
                cause = exc.__cause__ if exc.__cause__ is not None else exc
                raise _failure(database, target, command_name, recorder, cause) from exc
            raise
        except Exception as exc:
            raise _failure(database, target, command_name, recorder, exc) from exc
        after = tuple(current(database))
    return MigrationResult(database.name, before, after, _steps(recorder))


def _single(step: MigrationInfo, elapsed: float) -> StepRecorder:
    recorder = StepRecorder()
    recorder.steps.append((step, elapsed))
    return recorder


def _run_command(
    command: Any,
    name: str,
    config: Config,
    target: str | Sequence[str],
    *,
    sql: bool,
    tag: str | None,
    purge: bool,
) -> None:
    if name == "stamp":
        command.stamp(config, target, sql=sql, tag=tag, purge=purge)
    else:
        getattr(command, name)(config, target, sql=sql, tag=tag)


def _failure(
    database: Database,
    target: str | Sequence[str],
    direction: str,
    recorder: StepRecorder,
    exc: BaseException | None,
) -> errors.MigrationFailed:
    try:
        now: list[str] | None = current(database)
    except errors.VersioningError:
        now = None  # unknown, not "base": the message must not guess where the database is
    target_text = target if isinstance(target, str) else "heads"
    revision = None if now is None else _in_progress(database, target_text, now, direction)
    cause = exc if exc is not None else RuntimeError("failed")
    return errors.MigrationFailed(revision, now, cause, transactional=_is_transactional(database))


def upgrade(
    database: Database,
    target: str = "heads",
    *,
    sql: bool = False,
    tag: str | None = None,
    x_args: Sequence[str] | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
) -> MigrationResult:
    return _migrate(database, "upgrade", target, sql=sql, tag=tag, x_args=x_args, progress=progress)


def downgrade(
    database: Database,
    target: str = "-1",
    *,
    sql: bool = False,
    tag: str | None = None,
    x_args: Sequence[str] | None = None,
    progress: Callable[[AppliedRevision], None] | None = None,
) -> MigrationResult:
    if sql and ":" not in target:
        raise errors.RevisionError(
            "downgrade with --sql needs a range '<from>:<to>', e.g. 'head:base'"
        )
    return _migrate(
        database, "downgrade", target, sql=sql, tag=tag, x_args=x_args, progress=progress
    )


def stamp(
    database: Database,
    revisions: Sequence[str] = ("heads",),
    *,
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
    x_args: Sequence[str] | None = None,
) -> MigrationResult:
    return _migrate(
        database,
        "stamp",
        list(revisions),
        sql=sql,
        tag=tag,
        x_args=x_args,
        progress=None,
        purge=purge,
    )


# -- writing revision files -------------------------------------------------------------------


def _check_rev_id(rev_id: str | None) -> None:
    if rev_id is not None and not _SAFE_REV_ID.match(rev_id):
        raise errors.RevisionError(
            f"--rev-id {rev_id!r} is not a safe identifier: use 1-64 letters, digits or '_'"
        )


def _labels(label: str | Sequence[str] | None) -> str | list[str] | None:
    return label if label is None or isinstance(label, str) else list(label)


def _as_scripts(result: Any) -> list[Script]:
    if result is None:
        return []
    if isinstance(result, list):
        return [s for s in result if s is not None]
    return [result]


def revision(
    database: Database,
    message: str | None = None,
    *,
    autogenerate: bool = False,
    sql: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | Sequence[str] | None = None,
    version_path: str | None = None,
    rev_id: str | None = None,
    depends_on: str | Sequence[str] | None = None,
    allow_empty: bool = True,
    x_args: Sequence[str] | None = None,
    together: Sequence[Database] = (),
) -> list[Script]:
    """Write a new revision file; with ``autogenerate``, compare the models to the database.

    With ``allow_empty=False`` an autogenerate that finds no change writes nothing and
    returns an empty list. ``together`` lists every database of a multidb layout directory:
    one revision file then holds the changes of all of them.
    """
    from alembic import command

    _check_rev_id(rev_id)
    if autogenerate and any(d.metadata is None for d in (*together, database)):
        raise errors.ConfigurationError(
            "autogenerate needs the app's models: pass a Flask-SQLAlchemy db or metadata= "
            "to Versioning"
        )
    if version_path is not None:
        version_path = str(_inside(database, version_path))
    buffer = io.StringIO() if sql else None
    config = database.alembic_config(x_args=x_args, output_buffer=buffer)
    script_directory(database, config)
    config.attributes[SKIP_EMPTY_KEY] = autogenerate and not allow_empty
    if together:
        config.attributes[TOGETHER_KEY] = list(together)
    with translate_errors(database, "'revision'"):
        result = command.revision(
            config,
            message=message,
            autogenerate=autogenerate,
            sql=sql,
            head=head,
            splice=splice,
            branch_label=_labels(branch_label),
            version_path=version_path,
            rev_id=rev_id,
            depends_on=depends_on,  # type: ignore[arg-type]  # Alembic takes a list too
        )
    if config.attributes.get(EMPTY_KEY):
        return []
    return _as_scripts(result)


def _inside(database: Database, path: str) -> Path:
    resolved = (database.directory / path).resolve()
    root = database.directory.resolve()
    if resolved != root and root not in resolved.parents:
        raise errors.RevisionError(
            f"--version-path {path!r} must be inside the migrations directory {root}"
        )
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved


def merge(
    database: Database,
    revisions: Sequence[str] = ("heads",),
    *,
    message: str | None = None,
    branch_label: str | Sequence[str] | None = None,
    rev_id: str | None = None,
) -> Script:
    from alembic import command

    _check_rev_id(rev_id)
    config = database.alembic_config()
    script = script_directory(database, config)
    with translate_errors(database, "'merge'"):
        if list(revisions) == ["heads"] and len(script.get_heads()) < 2:
            raise errors.RevisionError("there is only one head: nothing to merge")
        result = command.merge(
            config,
            list(revisions),
            message=message,
            branch_label=_labels(branch_label),
            rev_id=rev_id,
        )
    if result is None:
        raise errors.RevisionError("nothing to merge")
    return result


def edit(database: Database, revision: str = "current") -> list[Path]:
    """Open the revision file(s) in ``$EDITOR``; returns the paths opened."""
    from alembic.util import CommandError, open_in_editor

    if revision == "current":
        scripts = [script_directory(database).get_revision(r) for r in current(database)]
    else:
        scripts = show(database, revision)
    if not scripts:
        raise errors.RevisionError("no revision to edit: the database is at base")
    paths = [Path(s.path) for s in scripts]
    for path in paths:
        try:
            open_in_editor(str(path))
        except (OSError, CommandError) as exc:  # Alembic wraps a missing editor in CommandError
            raise errors.VersioningError(
                f"cannot open an editor for {path.name} (set $EDITOR): {_one_line(exc)}"
            ) from exc
    return paths


def check(database: Database) -> list[Any]:
    """The differences between the models and the database (empty when they match)."""
    from alembic.autogenerate import produce_migrations
    from alembic.runtime.environment import EnvironmentContext

    if database.metadata is None:
        raise errors.ConfigurationError(
            "check needs the app's models: pass a Flask-SQLAlchemy db or metadata= to Versioning"
        )
    config = database.alembic_config()
    script = script_directory(database, config)
    with translate_errors(database, "'check'"):
        behind = set(script.get_heads()) - set(current(database))
    if behind:
        raise errors.RevisionError(
            f"the database is not up to date (missing {', '.join(sorted(behind))}): "
            "run 'flask db upgrade' before checking the models"
        )
    diffs: list[Any] = []

    def compare(rev: Any, context: Any) -> list[Any]:
        migration = produce_migrations(context, database.metadata)  # type: ignore[arg-type]
        for ops in migration.upgrade_ops_list:
            diffs.extend(ops.as_diffs())
        return []

    with (
        translate_errors(database, "'check'"),
        EnvironmentContext(config, script, fn=compare, dont_mutate=True),
    ):
        script.run_env()
    return diffs
