"""One database of the app, as Alembic sees it: engine, models, script directory, and a
standard Alembic ``Config`` built without an ``alembic.ini``. Every operation acts on one."""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from .. import _errors as errors
from . import layout
from .drivers import check_url, sync_url
from .environment import DATABASE_KEY, ENGINE_NAMES_KEY
from .errors import translate_errors

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from .._settings import Settings


class StepListener(Protocol):
    """What ``on_version_apply`` calls for each step, after :meth:`begin` at the run's start."""

    #: Set by the environment: each step's transaction must ask for a lazy commit, the run
    #: ending with one that waits for the disk (:func:`.environment.deferred_flush`).
    defer_flush: bool
    #: Set by the environment: this listener is the last thing each step's transaction runs,
    #: so it commits it and begins the next one in the same round trip as its own statement.
    ends_step: bool

    def begin(self) -> None: ...

    def ends_steps_on(self, connection: sa.Connection) -> bool: ...

    def __call__(self, ctx: Any, step: Any, **kw: Any) -> None: ...


#: See :attr:`Database.guard`.
Guard = Callable[["Database", "Config", sa.Connection, Sequence[str], Sequence[Any], bool], None]


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
    #: Makes the listener that records each applied step (the history ledger).
    history: Callable[[Database, Any], StepListener] | None = None
    #: Makes the listener that forgets the seeds whose tables a downgrade step dropped.
    seed_ledger: Callable[[Database], StepListener] | None = None
    #: Raises to refuse an online migration's steps before the first runs (protection), given
    #: the database, ``Config``, connection, revisions before, steps and ``stamp --purge``.
    guard: Guard | None = None
    _own_engine: sa.Engine | None = dataclasses.field(default=None, repr=False)

    def engine(self) -> sa.Engine:
        """The engine migrations run on: the app's own, or one made for an explicit URL; an
        async engine or URL is replaced by a sync engine of our own (:func:`sync_url`)."""
        url: str | sa.URL | None = self.url_override
        if url is None and self.get_engine is not None:
            engine = self.get_engine()
            if not getattr(engine.dialect, "is_async", False):
                return engine
            url = engine.url
        if self._own_engine is None:
            if url is None:
                raise errors.ConfigurationError(
                    f"no database configured for {self.name!r}: use Flask-SQLAlchemy(-Lite) "
                    "or set SQLALCHEMY_DATABASE_URI or VERSIONING_DATABASE_URL"
                )
            check_url(url, "the database URL")
            # NullPool: migrations are rare, and a pooled connection made before a server
            # forks its workers must never be shared between them.
            self._own_engine = sa.create_engine(sync_url(url), poolclass=sa.NullPool)
        return self._own_engine

    @property
    def url(self) -> sa.URL:
        """The URL migrations connect to (a sync driver's, see :func:`sync_url`)."""
        if self.url_override is not None:
            return sync_url(self.url_override)
        return self.engine().url

    def configure_options(self) -> dict[str, Any]:
        """Options for ``context.configure()``: our defaults, then the app's own."""
        return {
            "target_metadata": self.metadata,
            "version_table": self.settings.version_table,
            "version_table_schema": self.settings.version_table_schema,
            "compare_type": True,
            "compare_server_default": True,
            "transaction_per_migration": True,
            **self.settings.context,
        }

    def alembic_config(
        self,
        *,
        x_args: Sequence[str] | None = None,
        stdout: io.TextIOBase | None = None,
        output_buffer: io.StringIO | None = None,
    ) -> Config:
        """A standard Alembic ``Config`` for this database's script directory.

        Every use of Alembic starts here, so a revision file missing from the middle of the
        history is named here, in one line, before Alembic trips over it."""
        from argparse import Namespace

        from alembic.config import Config

        from .heads import refuse_missing_files

        refuse_missing_files(self)
        config = Config(
            stdout=stdout or io.StringIO(),  # type: ignore[arg-type]
            output_buffer=output_buffer,
            cmd_opts=Namespace(x=list(x_args or ()), quiet=True),
        )
        main: dict[str, object] = {"script_location": self.directory}
        foreign = layout.has_foreign_env(self.directory)
        if foreign:
            # Another tool's env.py (e.g. Flask-Migrate's): run ours, read the same revisions.
            main["script_location"] = layout.templates() / "delegate"
            main["path_separator"] = "os"
            main["version_locations"] = self.directory / "versions"
        if self.settings.file_template:
            main["file_template"] = self.settings.file_template
        for key, value in main.items():
            config.set_main_option(key, _escape(value))
        hooks = self.settings.post_write_hooks
        if not hooks and foreign:
            # The folder is used as it is: its alembic.ini's hooks still format new files.
            hooks = layout.ini_hooks(self.directory / "alembic.ini", self.directory)
        for key, value in hooks.items():
            config.set_section_option("post_write_hooks", key, _escape(value))
        if self.engine_name is not None:
            config.attributes[ENGINE_NAMES_KEY] = list(self.engine_names)
        config.attributes[DATABASE_KEY] = self
        return config

    def ensure_directory(self) -> None:
        """Create the script directory with our ``env.py`` and template where missing; one
        created from nothing starts a linear history (:mod:`.heads_file`)."""
        import shutil  # here, not at the top: the start-up path never writes files

        new = self.settings.linear_history and _is_new_directory(self.directory)
        (self.directory / "versions").mkdir(parents=True, exist_ok=True)
        for source, target in (("env.py.txt", "env.py"), ("script.py.mako", "script.py.mako")):
            if not (self.directory / target).exists():
                shutil.copyfile(layout.templates() / source, self.directory / target)
        if new:
            from .heads_file import write_heads_file

            write_heads_file(self.directory, ())

    def script_directory(self, config: Config | None = None) -> ScriptDirectory:
        """Alembic's ``ScriptDirectory`` (the directory created if missing), which imports
        every revision file: paths that only need the heads use :mod:`.heads` instead."""
        from alembic.script import ScriptDirectory

        self.ensure_directory()
        with translate_errors(self):
            return ScriptDirectory.from_config(config or self.alembic_config())

    def script_heads(self) -> list[str]:
        """The heads as Alembic computes them (importing every revision file)."""
        from alembic.script import ScriptDirectory

        with translate_errors(self):
            return ScriptDirectory.from_config(self.alembic_config()).get_heads()


def _escape(value: object) -> str:
    # Config values go through ConfigParser interpolation, where "%" is special.
    return str(value).replace("%", "%%")


def _is_new_directory(directory: Path) -> bool:
    if (directory / "env.py").exists():
        return False
    try:
        return not any(name.endswith(".py") for name in os.listdir(directory / "versions"))
    except (FileNotFoundError, NotADirectoryError):
        return True
