"""``VERSIONING_AUTO_UPGRADE``: the database brought to head when the app is created.

Most tests start real processes, because what matters happens between processes: several of
them starting at once, one killed in the middle of a migration, one holding the lock while
another waits, the ``flask`` command deciding not to upgrade.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FLASK, table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import MigrationFailed, MultipleHeadsError, Versioning
from flask_versioning._autoupgrade import skip_reason
from flask_versioning._locking import migration_lock

# App starts in processes of their own: concurrent starts, kills, the reloader.
pytestmark = pytest.mark.process

LOCK_KEY = "flask_versioning:alembic_version"

# The app as a user writes it: Flask-SQLAlchemy, configured from the environment the way
# Flask's ``from_prefixed_env`` does it (``APP_VERSIONING_LOCK=false`` is the boolean).
AUTOAPP_SOURCE = """
import logging
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

logging.basicConfig(
    level=logging.INFO,
    format="%(process)d run_main=" + os.environ.get("WERKZEUG_RUN_MAIN", "-")
    + " %(levelname)s %(name)s: %(message)s",
)
db = SQLAlchemy()
versioning = Versioning()


def create_app():
    logging.getLogger("autoapp").info("creating the app")
    app = Flask(__name__)
    app.config["VERSIONING_AUTO_UPGRADE"] = True
    app.config.from_prefixed_env("APP")
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

# Imports the app once, forks ``count`` processes and releases them together from a barrier:
# every process reaches ``create_app()`` at the same instant. Forking after the imports keeps
# eight processes affordable on a small machine; each then opens its own connections.
SPAWNER_SOURCE = """
import multiprocessing
import sys

import alembic.command  # what an upgrader needs, loaded once before forking

import autoapp


def work(barrier):
    barrier.wait(timeout=60)
    autoapp.create_app()


if __name__ == "__main__":
    count = int(sys.argv[1])
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count)
    workers = [context.Process(target=work, args=(barrier,)) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    codes = [worker.exitcode for worker in workers]
    print("exit codes:", codes)
    sys.exit(0 if codes == [0] * count else 1)
"""

# Creates the app once: a process start without the barrier.
START_SOURCE = "import autoapp\nautoapp.create_app()\n"

# A project's own command-line script built on Flask's CLI.
MANAGE_SOURCE = """
from flask.cli import FlaskGroup

import autoapp

cli = FlaskGroup(create_app=autoapp.create_app)

if __name__ == "__main__":
    cli()
"""

REVISION_SOURCE = '''\
"""create {table}"""
import os
import time

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None

# Lets a test see whether this file was imported at all.
if os.environ.get("TEST_IMPORT_LOG"):
    with open(os.environ["TEST_IMPORT_LOG"], "a") as log:
        log.write(revision + "\\n")


def upgrade():
{before}    op.create_table({table!r}, sa.Column("id", sa.Integer, primary_key=True))
{after}

def downgrade():
    op.drop_table({table!r})
'''

# Before its DDL, a "slow" revision says it started, then waits until it is killed; only in
# the process whose environment asks for it.
SLOW = """\
    if os.environ.get("TEST_SLOW_DIR"):
        open(os.path.join(os.environ["TEST_SLOW_DIR"], "started"), "w").close()
        time.sleep(300)
"""


def write_revision(
    versions: Path,
    revision: str,
    down: str | tuple[str, ...] | None,
    *,
    slow: bool = False,
    fail: str | None = None,
) -> None:
    """Write a revision creating table ``t_<revision>``; ``fail`` makes it raise afterwards."""
    table = f"t_{revision}"
    after = ""
    if fail == "raise":
        after = f"    raise RuntimeError('boom in {revision}')\n"
    elif fail == "sql":
        after = "    op.execute('SELECT * FROM no_such_table')\n"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / f"{revision}_create_{table}.py").write_text(
        REVISION_SOURCE.format(
            table=table, revision=revision, down=down, before=SLOW if slow else "", after=after
        )
    )


def write_chain(versions: Path, count: int, *, start: int = 1, **special: str) -> list[str]:
    """``count`` revisions ``r001``, ``r002``, ... each on top of the previous one.

    ``special`` maps a revision id to ``"slow"``, ``"raise"`` or ``"sql"``.
    """
    revisions = [f"r{n:03d}" for n in range(start, start + count)]
    down = f"r{start - 1:03d}" if start > 1 else None
    for revision in revisions:
        kind = special.get(revision)
        fail = kind if kind in ("raise", "sql") else None
        write_revision(versions, revision, down, slow=kind == "slow", fail=fail)
        down = revision
    return revisions


def tables(url: str) -> set[str]:
    return {t for t in table_names(url) if t.startswith("t_")}


class AutoApp:
    """The app module in a temporary directory, and ways to start processes on it."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self.versions = path / "migrations" / "versions"
        (path / "autoapp.py").write_text(AUTOAPP_SOURCE)
        (path / "spawner.py").write_text(SPAWNER_SOURCE)
        (path / "start.py").write_text(START_SOURCE)
        (path / "manage.py").write_text(MANAGE_SOURCE)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WERKZEUG_"))}
        env.update(
            APP_SQLALCHEMY_DATABASE_URI=self.url,
            XDG_CACHE_HOME=str(self.path / "user-cache"),
            PYTHONPATH=str(self.path),
        )
        env.update(extra)
        return env

    def start(self, **env: str) -> subprocess.CompletedProcess[str]:
        """One process creating the app."""
        return self.run("start.py", **env)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.path,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=self.path,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def flask(self, *args: str, program: str = FLASK) -> subprocess.CompletedProcess[str]:
        command = [FLASK] if program == FLASK else [sys.executable, "-m", "flask"]
        return subprocess.run(
            [*command, *args],
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The heads cache falls back to the user's cache directory: keep it inside the test.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture
def auto(tmp_path: Path, database_url: str) -> AutoApp:
    return AutoApp(tmp_path, database_url)


def make_app(tmp_path: Path, url: str, **config: object) -> Flask:
    """An app created in this process with auto-upgrade on (plain SQLAlchemy, own engine)."""
    app = Flask("autoapp", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_AUTO_UPGRADE=True, **config)
    Versioning(app)
    return app


def _failure(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


# -- many processes at once -------------------------------------------------------------------


def _drop_everything(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def test_eight_processes_starting_at_once(auto: AutoApp) -> None:
    head = write_chain(auto.versions, 20)[-1]
    for round_ in range(3):
        proc = auto.run("spawner.py", "8")
        assert proc.returncode == 0, f"round {round_}: {_failure(proc)}"
        assert "exit codes: [0, 0, 0, 0, 0, 0, 0, 0]" in proc.stdout
        # Exactly one process migrated; the seven others found the work done.
        logs = proc.stderr
        assert logs.count("upgraded the default database from base to r020 (20 revisions)") == 1
        assert logs.count("nothing to do") == 7, logs
        assert tables(auto.url) == {f"t_r{n:03d}" for n in range(1, 21)}
        assert version_rows(auto.url) == [head]
        _drop_everything(auto.url)


# -- the fast path ----------------------------------------------------------------------------


def test_at_head_no_revision_file_is_imported(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 5)
    imported = tmp_path / "imported.log"
    monkeypatch.setenv("TEST_IMPORT_LOG", str(imported))
    caplog.set_level(logging.INFO, logger="flask_versioning")

    make_app(tmp_path, database_url)  # behind: the locked path, which loads every revision
    assert set(imported.read_text().split()) == {"r001", "r002", "r003", "r004", "r005"}
    assert version_rows(database_url) == ["r005"]
    cache = versions / "__pycache__" / "flask_versioning-heads.json"
    assert cache.is_file()

    imported.unlink()
    caplog.clear()
    make_app(tmp_path, database_url)  # at head: answered from the cache and one SELECT
    assert not imported.exists()
    assert "the default database is at r005, nothing to do" in caplog.text

    # A fresh container: no cache, and the revisions' folder cannot be written to.
    shutil.rmtree(versions / "__pycache__")
    (versions / "__pycache__").write_text("not a directory")
    make_app(tmp_path, database_url)
    assert not imported.exists()
    assert list((tmp_path / "user-cache" / "flask-versioning").glob("heads-*.json"))

    # A new revision changes the fingerprint: the cache cannot hide it.
    write_chain(versions, 1, start=6)
    caplog.clear()
    make_app(tmp_path, database_url)
    assert version_rows(database_url) == ["r006"]
    assert "upgraded the default database from r005 to r006 (1 revision)" in caplog.text


def test_the_heads_cache_follows_the_files(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 3)
    make_app(tmp_path, sqlite_url)
    caplog.set_level(logging.DEBUG, logger="flask_versioning")

    def start() -> str:
        caplog.clear()
        make_app(tmp_path, sqlite_url)
        return caplog.text

    assert "heads of the default database: r003 (source: cache)" in start()
    # Editing a revision that is not a head cannot hide a missing revision: the cache stands.
    with (versions / "r001_create_t_r001.py").open("a") as f:
        f.write("# a comment\n")
    assert "r003 (source: cache)" in start()
    # Editing a head is noticed.
    with (versions / "r003_create_t_r003.py").open("a") as f:
        f.write("# a comment\n")
    assert "r003 (source: parsed)" in start()
    # A new file: a branch off r001, so r003 and r004 are both heads, and both are applied.
    write_revision(versions, "r004", "r001")
    log = start()
    assert "r003, r004 (source: parsed)" in log
    assert version_rows(sqlite_url) == ["r003", "r004"]

    # A revision id that only running the file can tell: Alembic computes the heads, once.
    (versions / "r005_merge.py").write_text(
        'revision = "r00" + "5"\ndown_revision = ("r003", "r004")\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    assert "r005 (source: imported)" in start()
    assert version_rows(sqlite_url) == ["r005"]
    assert "r005 (source: cache)" in start()


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["raise", "sql"])
def test_a_failing_revision_stops_app_creation(
    tmp_path: Path, database_url: str, backend: str, how: str
) -> None:
    write_chain(tmp_path / "migrations" / "versions", 3, r002=how)
    with pytest.raises(MigrationFailed) as info:
        make_app(tmp_path, database_url)
    message = str(info.value)
    assert message.startswith("revision r002 failed: ")
    assert info.value.revision == "r002" and info.value.current == ("r001",)
    if how == "raise":
        assert "RuntimeError: boom in r002" in message
    else:
        assert "no_such_table" in message
    assert version_rows(database_url) == ["r001"]
    assert "t_r001" in tables(database_url) and "t_r003" not in tables(database_url)
    if backend == "postgresql":
        assert "its changes were rolled back; the database is at r001" in message
        assert "t_r002" not in tables(database_url)
    else:
        assert "cannot roll back DDL" in message and "the version table says r001" in message


def test_on_error_log_lets_the_app_start(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_chain(tmp_path / "migrations" / "versions", 3, r002="raise")
    caplog.set_level(logging.INFO, logger="flask_versioning")
    app = make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_ON_ERROR="log")
    assert "versioning" in app.extensions
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "auto-upgrade of the default database failed, starting anyway" in errors[0].message
    assert "revision r002 failed: RuntimeError: boom in r002" in errors[0].message
    assert version_rows(database_url) == ["r001"]


# -- multiple heads ---------------------------------------------------------------------------


def test_multiple_heads(tmp_path: Path, database_url: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 1)
    write_revision(versions, "r002a", "r001")
    write_revision(versions, "r002b", "r001")

    with pytest.raises(MultipleHeadsError) as info:
        make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="head")
    assert "multiple heads are present (r002a, r002b)" in str(info.value)
    assert "VERSIONING_AUTO_UPGRADE_TARGET = 'head'" in str(info.value)
    assert tables(database_url) == set()

    make_app(tmp_path, database_url)  # the default target, "heads", takes every branch
    assert version_rows(database_url) == ["r002a", "r002b"]
    assert tables(database_url) == {"t_r001", "t_r002a", "t_r002b"}

    # Joined again by a merge revision: one head, which "head" may name.
    write_revision(versions, "r003", ("r002a", "r002b"))
    make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="head")
    assert version_rows(database_url) == ["r003"]


def test_a_fixed_target(tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    write_chain(tmp_path / "migrations" / "versions", 3)
    caplog.set_level(logging.INFO, logger="flask_versioning")
    make_app(tmp_path, sqlite_url, VERSIONING_AUTO_UPGRADE_TARGET="r002")
    assert version_rows(sqlite_url) == ["r002"]
    caplog.clear()
    make_app(tmp_path, sqlite_url, VERSIONING_AUTO_UPGRADE_TARGET="r002")
    assert "is at r002, nothing to do" in caplog.text


# -- the lock ---------------------------------------------------------------------------------


def test_a_killed_migrator_does_not_leave_the_lock_behind(auto: AutoApp) -> None:
    write_chain(auto.versions, 3, r002="slow")
    signals = auto.path / "signals"
    signals.mkdir()
    first = auto.popen("start.py", TEST_SLOW_DIR=str(signals))
    try:
        deadline = time.monotonic() + 60
        while not (signals / "started").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the slow revision never started"
            time.sleep(0.01)
        # r001 is applied; r002 is running, holding the lock.
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    assert version_rows(auto.url) == ["r001"]  # it died in the middle, lock in hand

    # Its death freed the lock: the next process gets it and finishes the job. The server
    # notices the death on its own schedule; the long timeout measures nothing, it only
    # bounds how long a lock left behind takes to fail the test (as a LockTimeout).
    second = auto.start(APP_VERSIONING_LOCK_TIMEOUT="60")
    assert second.returncode == 0, _failure(second)
    assert "upgraded the default database from r001 to r003 (2 revisions)" in second.stderr
    assert version_rows(auto.url) == ["r003"]
    assert tables(auto.url) == {"t_r001", "t_r002", "t_r003"}


@contextlib.contextmanager
def held_lock(url: str) -> Iterator[None]:
    """Hold the migration lock of the database at ``url`` from this process."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key=LOCK_KEY, timeout=10):
            yield
    finally:
        engine.dispose()


def test_lock_timeout_names_the_lock(auto: AutoApp) -> None:
    write_chain(auto.versions, 2)
    # This process holds the lock for the whole run of the other one.
    with held_lock(auto.url):
        started = time.monotonic()
        proc = auto.start(APP_VERSIONING_LOCK_TIMEOUT="1")
        elapsed = time.monotonic() - started
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("flask_versioning.LockTimeout: could not acquire the migration")
    assert f"lock {LOCK_KEY!r}" in last
    assert "VERSIONING_LOCK_TIMEOUT" in last
    # It gave up only after the timeout. Both checks are lower bounds the lock guarantees;
    # how much longer it took depends on the machine's load, so nothing bounds it from above.
    waited = re.search(r"after waiting (\d+\.\d) s", last)
    assert waited is not None, last
    assert float(waited[1]) >= 1
    assert elapsed >= 1
    assert tables(auto.url) == set()


def test_lock_switched_off(auto: AutoApp) -> None:
    head = write_chain(auto.versions, 2)[-1]
    # Another process holds the lock; with VERSIONING_LOCK = False it is not even asked for.
    with held_lock(auto.url):
        proc = auto.start(APP_VERSIONING_LOCK="false", APP_VERSIONING_LOCK_TIMEOUT="0")
    assert proc.returncode == 0, _failure(proc)
    assert version_rows(auto.url) == [head]


# -- processes that must not upgrade ----------------------------------------------------------


# Which command lines upgrade is decided from the command line alone, before any connection:
# one backend shows it.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_flask_db_commands_are_left_alone(auto: AutoApp) -> None:
    write_chain(auto.versions, 3)
    proc = auto.flask("--app", "autoapp", "db", "current")
    assert proc.returncode == 0, _failure(proc)
    assert table_names(auto.url) == set()  # not even a version table

    proc = auto.flask("--app", "autoapp", "routes")  # any other command: the app starts
    assert proc.returncode == 0, _failure(proc)
    assert version_rows(auto.url) == ["r003"]

    proc = auto.flask("-A", "autoapp", "db", "downgrade", "-1", program="python -m flask")
    assert proc.returncode == 0, _failure(proc)
    assert version_rows(auto.url) == ["r002"]

    proc = auto.flask("--app=autoapp", "db", "current", "--verbose")
    assert proc.returncode == 0, _failure(proc)
    assert "r002" in proc.stdout
    assert version_rows(auto.url) == ["r002"]

    proc = auto.run("manage.py", "db", "current")  # the project's own FlaskGroup script
    assert proc.returncode == 0, _failure(proc)
    assert "r002" in proc.stdout
    assert version_rows(auto.url) == ["r002"]
    assert tables(auto.url) == {"t_r001", "t_r002"}


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets and process groups")
def test_the_reloader_parent_does_not_upgrade(tmp_path: Path, sqlite_url: str) -> None:
    auto = AutoApp(tmp_path, sqlite_url)
    write_chain(auto.versions, 2)
    # The server listens on a Unix socket in a directory of this test's own: a free TCP port
    # picked here could be taken by another process before `flask run` binds it, while nothing
    # else can claim this path. (A short directory, as socket paths are limited to ~100 bytes.)
    with tempfile.TemporaryDirectory(prefix="fv-") as sockets:
        address = os.path.join(sockets, "http.sock")
        server = subprocess.Popen(
            [FLASK, "--app", "autoapp", "run", "--reload", "--host", f"unix://{address}"],
            cwd=tmp_path,
            env=auto.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            # The deadline only keeps a server that never comes up from hanging the suite.
            deadline = time.monotonic() + 120
            # The parent binds the socket before the reloader starts the child, so wait for an
            # answer to a request: the child serves only after creating the app (and logging).
            while version_rows_or_none(sqlite_url) != ["r002"] or not _answers(address):
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "the server never came up"
                time.sleep(0.05)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            output = server.communicate(timeout=30)[0]
    created = [line for line in output.splitlines() if "creating the app" in line]
    upgraded = [line for line in output.splitlines() if "auto-upgrade:" in line]
    # Both processes create the app; only the child that serves upgrades.
    assert any("run_main=- " in line for line in created), output
    assert any("run_main=true " in line for line in created), output
    assert len(upgraded) == 1 and "run_main=true " in upgraded[0], output


def _answers(address: str) -> bool:
    """Whether an HTTP request to the Unix socket gets any response (a 404 counts)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(address)
            sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(5, socket.MSG_WAITALL) == b"HTTP/"
        except OSError:
            return False


def version_rows_or_none(url: str) -> list[str] | None:
    try:
        return version_rows(url)
    except sa.exc.DBAPIError:
        return None


@pytest.mark.parametrize(
    ("argv", "skipped"),
    [
        (["/venv/bin/flask", "db", "upgrade"], True),
        (["/venv/bin/flask", "--app", "db", "run"], False),  # an app module named "db"
        (["/venv/bin/flask", "-A", "app", "--debug", "db", "downgrade", "-1"], True),
        (["/venv/lib/python3.11/site-packages/flask/__main__.py", "db", "current"], True),
        (["flask.exe", "--env-file", ".env", "db", "stamp", "head"], True),
        (["/venv/bin/flask"], True),
        (["/venv/bin/flask", "--help"], True),
        (["/venv/bin/flask", "routes"], False),
        (["/venv/bin/gunicorn", "db:create_app()"], False),
        (["/venv/bin/pytest", "db"], False),
        (["manage.py", "db", "upgrade"], False),  # not a flask command line
    ],
)
def test_which_command_lines_skip(argv: list[str], skipped: bool) -> None:
    assert (skip_reason("db", argv) is not None) is skipped


# -- Flask-SQLAlchemy --------------------------------------------------------------------------


def test_with_flask_sqlalchemy_no_connection_is_left_open(
    tmp_path: Path, database_url: str
) -> None:
    """Nothing is left in the app's pool for a forking server's workers to inherit."""
    write_chain(tmp_path / "migrations" / "versions", 2)
    db = SQLAlchemy()
    for _ in range(2):  # behind, then at head
        app = Flask("autoapp", root_path=str(tmp_path))
        app.config.update(SQLALCHEMY_DATABASE_URI=database_url, VERSIONING_AUTO_UPGRADE=True)
        db.init_app(app)
        Versioning(app, db)
        with app.app_context():
            assert db.engine.pool.checkedin() == 0
            db.engine.dispose()
    assert version_rows(database_url) == ["r002"]
