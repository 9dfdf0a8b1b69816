"""Test fixtures: a fresh database per test on SQLite, PostgreSQL and MariaDB.

Point the suite at other servers with environment variables (an admin URL whose user may create
and drop databases):

- ``VERSIONING_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
- ``VERSIONING_TEST_MYSQL_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306/test``)
- ``VERSIONING_TEST_BACKENDS`` (default ``sqlite,postgresql,mariadb``) to choose backends.

A server that cannot be reached skips its tests on a developer's machine and fails them when
``CI`` is set, so a broken service never passes unnoticed.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import subprocess
import sys
import tempfile
import traceback
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "VERSIONING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("VERSIONING_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = [
    b.strip()
    for b in os.environ.get("VERSIONING_TEST_BACKENDS", "sqlite,postgresql,mariadb").split(",")
    if b.strip()
]
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
_unreachable: dict[str, str] = {}


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _server_database(backend: str) -> Iterator[str]:
    if backend not in BACKENDS:
        # A test that names its backends itself still follows VERSIONING_TEST_BACKENDS:
        # make test-fast asks for SQLite only.
        pytest.skip(f"{backend} is not among the backends (VERSIONING_TEST_BACKENDS)")
    admin_url = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
    if backend in _unreachable:
        _fail_or_skip(backend, _unreachable[backend])
    name = f"fv_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        _unreachable[backend] = str(exc).splitlines()[0]
        engine.dispose()
        _fail_or_skip(backend, _unreachable[backend])
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        engine.dispose()


def _fail_or_skip(backend: str, reason: str) -> NoReturn:
    """Skip a test whose server is unreachable, or fail it under CI, where it must be there."""
    message = f"{backend} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test: ``sqlite``, ``postgresql`` or ``mariadb``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to a new, empty database on the backend under test, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    yield from _server_database(backend)


@pytest.fixture
def second_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Another new, empty database on the same backend, for apps with several databases."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    yield from _server_database(backend)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL to a new SQLite file, for tests whose point does not depend on the backend."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def table_names(url: str) -> set[str]:
    """The tables that exist in the database at ``url``, read with a fresh connection."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def version_rows(url: str, table: str = "alembic_version") -> list[str]:
    """The revision ids stored in the version table at ``url``, sorted."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(sa.text(f"SELECT version_num FROM {table}")))
    finally:
        engine.dispose()


# -- apps on disk, driven through real `flask` processes ---------------------------------------

# The one definition of these for the whole suite: other test modules import them from here
# (pytest puts tests/ on sys.path) rather than keeping copies that drift apart.

# The `flask` command of the environment running the tests.
FLASK = str(Path(sys.executable).with_name("flask"))

# The app most command-line tests run: Flask-SQLAlchemy on $DATABASE_URL, with the models
# named in $TEST_MODELS (default "user"), every VERSIONING_* variable copied into the config
# as a string, and $TEST_CONFIG_JSON (an object) for settings that are not strings.
APP_SOURCE = """
import json
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()
MODELS = os.environ.get("TEST_MODELS", "user").split(",")

if "user" in MODELS:

    class User(db.Model):
        __tablename__ = "users"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(50), nullable=False)

if "post" in MODELS:

    class Post(db.Model):
        __tablename__ = "posts"
        __table_args__ = (
            sa.UniqueConstraint("slug", name="uq_posts_slug"),
            sa.CheckConstraint("score >= 0", name="ck_posts_score"),
        )
        id = sa.Column(sa.Integer, primary_key=True)
        slug = sa.Column(sa.String(80), nullable=False)
        title = sa.Column(sa.String(200), nullable=False, index=True)
        score = sa.Column(sa.Integer, nullable=False, server_default="0")


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    app.config.update(json.loads(os.environ.get("TEST_CONFIG_JSON", "{}")))
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""


# Set VERSIONING_TEST_PROCESSES=1 to run every command in a real `flask` process, as a user
# does; by default a command runs in the test's own process, which is many times faster.
ALWAYS_PROCESSES = os.environ.get("VERSIONING_TEST_PROCESSES", "") not in ("", "0")


def _in_process_possible(args: Sequence[str]) -> bool:
    """Whether ``flask <args>`` can run inside the test process: not a server (``run``,
    ``shell``), and not a tenant run in worker processes (``--jobs``), which forks."""
    if any(a in ("run", "shell") for a in args[:3]):
        return False
    return not any(a == "--jobs" or a.startswith("--jobs=") for a in args)


def run_flask(
    args: list[str], *, cwd: Path, env: Mapping[str, str], process: bool = False
) -> subprocess.CompletedProcess[str]:
    """``flask <args>`` in ``cwd`` with exactly ``env``: in this process where it can be (see
    :func:`run_flask_in_process`), else (``process``, ``VERSIONING_TEST_PROCESSES=1``, a
    server or ``--jobs``) in a real process."""
    if process or ALWAYS_PROCESSES or not _in_process_possible(args):
        return subprocess.run(
            [FLASK, *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return run_flask_in_process(args, cwd=cwd, env=env)


def run_flask_in_process(
    args: list[str], *, cwd: Path, env: Mapping[str, str], merged: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``flask <args>`` in this process, as a real ``flask`` process would run it.

    What a process would start afresh is made fresh: the environment is exactly ``env``, the
    working directory is ``cwd``, ``sys.argv`` names the ``flask`` script (the automatic
    upgrade reads it), the project's modules are imported anew and its engines are disposed of
    afterwards. An exception that escapes the command is printed to standard error with its
    traceback and exits 1, as Python does, so tests that look for a traceback still see it.
    Whatever the command sets in ``os.environ`` (``--debug``, a ``.flaskenv``) is undone.

    With ``merged``, the command writes to file descriptors 1 and 2, both one file, as a
    terminal shows them (``2>&1``): the output of the processes it starts (a post-write hook)
    lands among its own lines in the order they were written. The result's ``stdout`` holds
    everything and its ``stderr`` is empty.
    """
    from flask import has_app_context
    from flask.cli import ScriptInfo
    from flask.globals import app_ctx

    for name in _project_modules(cwd):
        sys.modules.pop(name, None)
    saved_path = list(sys.path)
    saved_argv = sys.argv
    saved_cwd = os.getcwd()
    saved_environ = dict(os.environ)
    info = ScriptInfo()
    saved_logging = _logging_state()
    saved_context = app_ctx._get_current_object() if has_app_context() else None
    os.chdir(cwd)
    sys.argv = [FLASK, *args]
    saved_alembic_defaults = _alembic_stdout_follows_sys()
    try:
        # Warnings print, as in a process of its own, instead of failing the test as the
        # suite's own code does (filterwarnings = error).
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _warning_to_stderr
            if merged:
                code, stdout, stderr = _invoke_on_descriptors(args, env, info)
            else:
                code, stdout, stderr = _invoke_with_runner(args, env, info)
    finally:
        _restore_alembic_defaults(saved_alembic_defaults)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        sys.argv = saved_argv
        sys.path[:] = saved_path
        _restore_logging(saved_logging)
        # An app context the command left pushed ends with its process. (Click before 8.2
        # never closes the contexts of shell completion, and Flask's group pushes one there.)
        while has_app_context() and app_ctx._get_current_object() is not saved_context:
            app_ctx.pop()
        _dispose(info)
        for name in _project_modules(cwd):
            sys.modules.pop(name, None)
    return subprocess.CompletedProcess(["flask", *args], code, stdout, stderr)


def _traceback(exc_info: Any) -> str:
    return "Traceback (most recent call last):\n" + "".join(
        traceback.format_exception(*exc_info)[1:]
    )


def _invoke_with_runner(args: list[str], env: Mapping[str, str], info: Any) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of the command, through click's runner."""
    from click.testing import CliRunner
    from flask.cli import cli as flask_cli

    unset = {key: None for key in os.environ if key not in env}
    try:  # click < 8.2 mixes standard error into the output unless told not to
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(flask_cli, args, env={**unset, **env}, obj=info, prog_name="flask")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        return 1, result.stdout, result.stderr + _traceback(result.exc_info)
    return result.exit_code, result.stdout, result.stderr


def _invoke_on_descriptors(
    args: list[str], env: Mapping[str, str], info: Any
) -> tuple[int, str, str]:
    """Exit code and interleaved output of the command, written to descriptors 1 and 2."""
    from flask.cli import cli as flask_cli

    sys.stdout.flush()
    sys.stderr.flush()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_fds = os.dup(1), os.dup(2)
    os.environ.clear()
    os.environ.update(env)
    with tempfile.TemporaryFile() as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        stream = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True
        )
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), stream, stream
        try:
            flask_cli.main(args, prog_name="flask", obj=info)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                stream.write(f"{exc.code}\n")
                code = 1
        except Exception:
            stream.write(_traceback(sys.exc_info()))
            code = 1
        finally:
            stream.flush()
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
        out.seek(0)
        return code, out.read().decode("utf-8", "replace"), ""


def _warning_to_stderr(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print a warning to the command's standard error, as Python does in a process."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time of writing."""

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _alembic_stdout_follows_sys() -> tuple[Any, ...] | None:
    """Make a :class:`alembic.config.Config` built without ``stdout`` print to the command's
    standard output. Its default is the ``sys.stdout`` of the moment Alembic was imported (in
    a test run, pytest's capture), so Flask-Migrate's ``current`` and ``history``, which build
    their ``Config`` without one, would print where the runner never looks; in a process of
    their own that default is the process's standard output. Returns what to restore."""
    from alembic.config import Config

    defaults = Config.__init__.__defaults__
    if defaults is None:
        return None
    names = Config.__init__.__code__.co_varnames[: Config.__init__.__code__.co_argcount]
    index = names[-len(defaults) :].index("stdout")
    Config.__init__.__defaults__ = (
        *defaults[:index],
        _CurrentStdout(),
        *defaults[index + 1 :],
    )
    return defaults


def _restore_alembic_defaults(defaults: tuple[Any, ...] | None) -> None:
    from alembic.config import Config

    if defaults is not None:
        Config.__init__.__defaults__ = defaults


# The package under test and the suite itself are never imported anew, even when a command
# runs in the repository's own directory (example_app).
# Nor are the installed packages, even when the virtual environment sits in the repository.
_KEEP = tuple(
    [
        str(Path(__file__).resolve().parent.parent / name) + os.sep
        for name in ("flask_versioning", "tests")
    ]
    + [os.path.realpath(prefix) + os.sep for prefix in {sys.prefix, sys.base_prefix}]
)


@functools.cache
def _realpath(file: str) -> str:
    """``os.path.realpath``, remembered: every command looks at every loaded module's file
    twice, and resolving the same few hundred paths anew each time costs more than the
    command itself."""
    return os.path.realpath(file)


def _project_modules(cwd: Path) -> list[str]:
    """The modules imported from the project's directory (``app``, its models...), which a
    new process would import afresh."""
    root = str(cwd.resolve()) + os.sep
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = _realpath(file)
        if path.startswith(root) and not path.startswith(_KEEP):
            names.append(name)
    if "app" in sys.modules and "app" not in names:
        names.append("app")
    return names


def _logging_state() -> dict[str, tuple[Any, ...]]:
    """Every logger's handlers, level and switches: a command may configure logging for its
    process (Flask-Migrate's ``env.py`` runs ``fileConfig``), which must not outlive it here."""
    loggers: list[logging.Logger] = [logging.root]
    loggers += [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return {
        logger.name: (
            logger,
            list(logger.handlers),
            logger.level,
            logger.disabled,
            logger.propagate,
        )
        for logger in loggers
    }


def _restore_logging(saved: dict[str, tuple[Any, ...]]) -> None:
    for logger, handlers, level, disabled, propagate in saved.values():
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.disabled = disabled
        logger.propagate = propagate
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name not in saved:
            logger.handlers.clear()
            logger.setLevel(logging.NOTSET)
            logger.disabled = False
            logger.propagate = True


def _dispose(info: Any) -> None:
    """Close the connections the command's app opened, as the end of a process would."""
    app = getattr(info, "_loaded_app", None)
    if app is None:
        return
    with app.app_context():
        for extension in app.extensions.values():
            try:
                engines = getattr(extension, "engines", None)
                for engine in list(engines.values()) if engines else ():
                    engine.dispose()
            except Exception:  # an app whose engines cannot even be listed opened none
                pass


@dataclasses.dataclass
class FlaskProject:
    """An app module in a temporary directory, with a way to run ``flask`` on it."""

    path: Path
    database_url: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def migrations(self) -> Path:
        return self.path / "migrations"

    @property
    def versions(self) -> Path:
        return self.migrations / "versions"

    def flask(
        self, *args: str, check: bool = True, process: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``flask <args>`` on the app; with ``check``, fail on a non-zero exit.

        The command runs inside this process (see :func:`run_flask_in_process`) unless
        ``process`` is set, the command needs one of its own (``run``, ``--jobs``), or
        ``VERSIONING_TEST_PROCESSES=1`` asks for real processes everywhere. Both ways give
        the same exit code, standard output and standard error.
        """
        full_env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": self.database_url}
        full_env.pop("FLASK_DEBUG", None)
        # A developer's checkout: "production" (the default without debug) would refuse
        # downgrade base and stamp over history. Tests about environments override this.
        full_env.setdefault("VERSIONING_ENV", "development")
        full_env.update(self.env)
        full_env.update(env)
        proc = run_flask(list(args), cwd=self.path, env=full_env, process=process)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"flask {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def db(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        return self.flask("db", *args, check=check, **env)

    def revision_files(self) -> list[Path]:
        return sorted(self.versions.glob("*.py")) if self.versions.exists() else []


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> FlaskProject:
    """A Flask-SQLAlchemy app on disk, on the backend under test."""
    (tmp_path / "app.py").write_text(APP_SOURCE)
    return FlaskProject(tmp_path, database_url)


@pytest.fixture
def sqlite_project(tmp_path: Path, sqlite_url: str) -> FlaskProject:
    """The same app on SQLite only, for behaviour that does not depend on the backend."""
    (tmp_path / "app.py").write_text(APP_SOURCE)
    return FlaskProject(tmp_path, sqlite_url)
