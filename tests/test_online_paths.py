"""The lock timeout, its retries and the one-line blocker message hold on every path.

One matrix per server: the Python API, the in-process CLI, the automatic upgrade at start, the
Apply button of the pending page, tenants with ``--jobs 2`` (forked worker processes) and plain
``alembic.command.upgrade`` on ``versioning.alembic_config()``. The pytest plugin, whose path
is a pytest session of its own, is driven below the matrix.

The blocker is a process of its own with a real connection, holding a lock on ``accounts`` in an
open transaction. It lets go on evidence only: told to by the test once the migration gave up,
or, when a retry is under test, on the byte the migration's own "lock not granted" log record
writes into a pipe, from whatever process (a forked tenant worker too) ran the step.
"""

from __future__ import annotations

import html
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import MYSQL_URL, POSTGRES_URL, _admin_engine, version_rows
from test_online_locks import _base, _columns, _make_app, _rows, _write

from flask_versioning import DDLTimeout, MigrationFailed, VersioningError

pytest_plugins = ["pytester"]

#: The blocker: connects, opens a transaction reading ``accounts`` (a lock the ``ALTER TABLE``
#: of the step conflicts with), prints its server pid, and rolls back when a byte arrives on
#: the retry pipe or a line on standard input, then prints ``released by <what>``.
BLOCKER = """
import os, select, sys
import sqlalchemy as sa

url, heard = sys.argv[1], int(sys.argv[2])
engine = sa.create_engine(url, poolclass=sa.NullPool)
with engine.connect() as connection:
    pid_sql = (
        "SELECT pg_backend_pid()" if connection.dialect.name == "postgresql"
        else "SELECT connection_id()"
    )
    pid = connection.exec_driver_sql(pid_sql).scalar_one()
    connection.rollback()
    connection.exec_driver_sql("SELECT count(*) FROM accounts WHERE name <> 'blocker'").all()
    print(pid, flush=True)
    ready, _, _ = select.select([sys.stdin, heard], [], [])
    connection.rollback()
    print("released by", "the retry" if heard in ready else "the test", flush=True)
    sys.stdin.read()
engine.dispose()
"""


class Blocker:
    """The blocking process; ``heard`` is the write end of its retry pipe."""

    def __init__(self, url: str) -> None:
        self.read_end, self.heard = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", BLOCKER, url, str(self.read_end)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            pass_fds=(self.read_end,),
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdout, self.stdin = self.process.stdout, self.process.stdin
        self.pid = int(self.stdout.readline())  # printed once the lock is held
        self.released = ""

    def release(self) -> str:
        """Let go (if it has not yet) and say who made it."""
        if not self.released:
            self.stdin.write("release\n")
            self.stdin.flush()
            self.released = self.stdout.readline().strip()
        return self.released

    def close(self) -> None:
        if self.process.poll() is None:
            self.release()
            self.stdin.close()
            self.process.wait(60)
        self.stdout.close()
        os.close(self.read_end)
        os.close(self.heard)


@pytest.fixture
def server_url(database_url: str, backend: str) -> str:
    if backend == "sqlite":
        pytest.skip("SQLite has no lock queue: the settings do nothing there")
    return database_url


@pytest.fixture
def blocker(server_url: str) -> Iterator[Callable[[], Blocker]]:
    made: list[Blocker] = []

    def make() -> Blocker:
        made.append(Blocker(server_url))
        return made[-1]

    yield make
    for b in made:
        b.close()


class RetryHeard(logging.Handler):
    """Writes a byte into the blocker's pipe for every retry the migration logs."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("lock not granted"):
            os.write(self.fd, b"r")


class Site:
    """The database at ``first``, a revision ``second`` that alters ``accounts`` on disk, and
    for tenants a second database (``globex``) beside the blocked one (``acme``)."""

    def __init__(self, root: Path, url: str, other_url: str | None) -> None:
        self.root, self.url, self.other_url = root, url, other_url or ""
        self.first = _base(root, url)
        self.second = _write(root, self.first)
        if other_url is None:
            return
        app, versioning, db = _make_app(root, other_url)
        with app.app_context():
            versioning.upgrade(self.first)
            db.engine.dispose()


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, server_url: str) -> Site:
    tenants = request.node.callspec.params.get("path") == "tenants"
    other = request.getfixturevalue("second_database_url") if tenants else None
    return Site(tmp_path, server_url, other)


# -- the paths: each upgrades, and returns the one line the user saw, or "" on success ------------


def _api(site: Site, config: dict[str, Any]) -> str:
    app, versioning, db = _make_app(site.root, site.url, **config)
    with app.app_context():
        try:
            result = versioning.upgrade()
        except MigrationFailed as exc:
            assert isinstance(exc.cause, DDLTimeout)
            return str(exc)
        finally:
            db.engine.dispose()
    assert [s.revision for s in result.steps] == [site.second]
    return ""


def _cli(site: Site, config: dict[str, Any]) -> str:
    app, _, db = _make_app(site.root, site.url, **config)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    with app.app_context():
        db.engine.dispose()
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        return ""
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("Error")]
    return line


def _autoupgrade(site: Site, config: dict[str, Any]) -> str:
    try:
        app, _, db = _make_app(site.root, site.url, VERSIONING_AUTO_UPGRADE=True, **config)
    except VersioningError as exc:
        return str(exc)
    with app.app_context():
        db.engine.dispose()
    return ""


def _web(site: Site, config: dict[str, Any]) -> str:
    app, _, db = _make_app(site.root, site.url, DEBUG=True, **config)
    app.testing = False  # the pages answer only outside testing mode
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503
    match = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True))
    assert match is not None
    response = client.post("/_versioning/apply", data={"token": match.group(1), "next": "/"})
    with app.app_context():
        db.engine.dispose()
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    if response.status_code == 200:
        return ""
    assert response.status_code == 500
    error = re.search(r'<p class="error" id="error">(.*?)</p>', text, re.DOTALL)
    assert error is not None, text
    return html.unescape(error.group(1))


def _tenants(site: Site, config: dict[str, Any]) -> str:
    app, versioning, db = _make_app(site.root, site.url, **config)
    versioning.tenants(lambda: {"acme": site.url, "globex": site.other_url})
    result = app.test_cli_runner().invoke(
        args=["db", "upgrade", "--all-tenants", "--jobs", "2", "--no-progress"]
    )
    with app.app_context():
        db.engine.dispose()
    assert "Traceback" not in result.output
    assert version_rows(site.other_url) == [site.second]  # the other tenant is not held up
    if result.exit_code == 0:
        return ""
    assert result.exit_code == 1, result.output
    # The summary's line for the tenant that failed (the progress line above says the same).
    [line] = [line for line in result.output.splitlines() if line.startswith("  acme ")]
    assert result.output.rstrip().endswith("Error: 1 of 2 tenants failed: acme"), result.output
    return line


def _alembic(site: Site, config: dict[str, Any]) -> str:
    app, versioning, db = _make_app(site.root, site.url, **config)
    with app.app_context():
        try:
            command.upgrade(versioning.alembic_config(), "heads")
        except DDLTimeout as exc:
            return str(exc)
        finally:
            db.engine.dispose()
    return ""


PATHS = {
    "api": _api,
    "cli": _cli,
    "autoupgrade": _autoupgrade,
    "web": _web,
    "tenants": _tenants,
    "alembic": _alembic,
}

FAST = {"VERSIONING_DDL_LOCK_RETRIES": 1, "VERSIONING_DDL_RETRY_DELAY": 0.01}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_step_blocked_past_its_retries_names_the_blocker_and_where_the_database_is(
    path: str, site: Site, blocker: Callable[[], Blocker], backend: str
) -> None:
    holder = blocker()

    message = PATHS[path](site, FAST)

    assert holder.release() == "released by the test"
    assert "\n" not in message and "Traceback" not in message
    assert "not granted in 2 attempts" in message, message
    assert f"pid {holder.pid} (user {sa.make_url(site.url).username}, " in message
    assert "idle in transaction, for " in message
    if backend == "postgresql":  # MariaDB keeps no last statement of an idle session
        assert "SELECT count(*) FROM accounts WHERE name <> 'blocker'" in message
    assert "VERSIONING_DDL_LOCK_RETRIES" in message
    if path != "alembic":  # plain Alembic raises the timeout itself; every other path says where
        assert f"revision {site.second} failed" in message, message
        assert site.first in message.rpartition(site.second)[2], message
    # Where the message says: the step rolled back (PostgreSQL) or never ran (MariaDB).
    assert version_rows(site.url) == [site.first]
    assert "note" not in _columns(site.url)
    assert _rows(site.url, "SELECT count(*) FROM accounts") == [(1,)]
    assert _rows(
        site.url, "SELECT count(*) FROM versioning_history WHERE direction = 'upgrade'"
    ) == [(1,)]


@pytest.mark.parametrize("path", list(PATHS))
def test_a_retried_step_applies_once(path: str, site: Site, blocker: Callable[[], Blocker]) -> None:
    holder = blocker()
    logger = logging.getLogger("flask_versioning")
    handler, level = RetryHeard(holder.heard), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        message = PATHS[path](
            site, {"VERSIONING_DDL_LOCK_RETRIES": 50, "VERSIONING_DDL_RETRY_DELAY": 0.2}
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    assert message == ""
    # The migration waited, gave up, said so, and only then did the lock come free.
    assert holder.release() == "released by the retry"
    assert version_rows(site.url) == [site.second]
    assert "note" in _columns(site.url)
    added = "SELECT count(*) FROM accounts WHERE name = 'added by the migration'"
    assert _rows(site.url, added) == [(1,)]
    history = (
        "SELECT count(*) FROM versioning_history WHERE direction = 'upgrade' "
        f"AND revision = '{site.second}'"
    )
    assert _rows(site.url, history) == [(1,)]


# -- the pytest plugin: a user's test session migrating its template database ----------------------

PLUGIN_APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()


class Account(db.Model):
    __tablename__ = "accounts"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(40), nullable=False)
    note = sa.Column(sa.String(20))


def create_app(url):
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        TESTING=True,
        VERSIONING_LINEAR_HISTORY=False,
        VERSIONING_DDL_LOCK_RETRIES=int(os.environ["TEST_RETRIES"]),
        VERSIONING_DDL_RETRY_DELAY=0.01 if os.environ["TEST_RETRIES"] == "1" else 0.2,
    )
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

#: The user's conftest. The template database is made (dropped and created) by the plugin
#: itself, so the blocker can only come in between: a second connection opened just before the
#: step's ALTER TABLE is sent, reading ``accounts`` in a transaction it keeps open. It lets go
#: when the migration logs a retry (TEST_RETRIES above 1), else when the session ends.
PLUGIN_CONFTEST = """
import logging
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app

HERE = Path(__file__).parent
held = {}


@sa.event.listens_for(sa.Engine, "before_cursor_execute")
def block_the_alter(conn, cursor, statement, parameters, context, executemany):
    if held or not statement.startswith("ALTER TABLE accounts ADD"):
        return
    engine = sa.create_engine(conn.engine.url, poolclass=sa.NullPool)
    blocker = engine.connect()
    pid_sql = (
        "SELECT pg_backend_pid()" if blocker.dialect.name == "postgresql"
        else "SELECT connection_id()"
    )
    pid = blocker.exec_driver_sql(pid_sql).scalar_one()
    blocker.rollback()
    blocker.exec_driver_sql("SELECT count(*) FROM accounts WHERE name <> 'blocker'").all()
    held["blocker"] = blocker
    (HERE / "blocker.txt").write_text(f"{pid}\\n")


class ReleaseOnRetry(logging.Handler):
    def emit(self, record):
        blocker = held.get("blocker")
        if record.getMessage().startswith("lock not granted") and os.environ["TEST_RETRIES"] != "1":
            if blocker is not None and blocker.in_transaction():
                blocker.rollback()
                with open(HERE / "blocker.txt", "a") as f:
                    f.write("released by the retry\\n")


logging.getLogger("flask_versioning").addHandler(ReleaseOnRetry())
logging.getLogger("flask_versioning").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def versioning_app_factory():
    return create_app
"""

PLUGIN_TESTS = """
import sqlalchemy as sa

from app import Account, db


def test_the_template_has_the_step_once(versioning_db):
    assert db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "r2"
    added = db.session.query(Account).filter_by(name="added by the migration").count()
    assert added == 1
"""

PLUGIN_R1 = """
import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
    )
    op.execute("INSERT INTO accounts (name) VALUES ('first')")


def downgrade():
    op.drop_table("accounts")
"""

PLUGIN_R2 = """
import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"


def upgrade():
    op.add_column("accounts", sa.Column("note", sa.String(20)))
    op.execute("INSERT INTO accounts (name) VALUES ('added by the migration')")


def downgrade():
    op.drop_column("accounts", "note")
"""


@pytest.fixture
def plugin_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A server URL naming a database the user's session names its template after; every
    database made from that name is dropped afterwards."""
    if backend == "sqlite":
        pytest.skip("SQLite has no lock queue: the settings do nothing there")
    admin = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
    name = f"fvddl_{os.getpid()}_{abs(hash(tmp_path)) % 10**6}"
    yield sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = _admin_engine(admin)
    with engine.connect() as connection:
        for (found,) in connection.execute(sa.text(_listing(backend)), {"p": f"{name}%"}).all():
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {found}{force}")
    engine.dispose()


def _listing(backend: str) -> str:
    if backend == "postgresql":
        return "SELECT datname FROM pg_database WHERE datname LIKE :p"
    return "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"


def _template(url: str, backend: str) -> str:
    """The one template database the user's session made from ``url``."""
    engine = _admin_engine(POSTGRES_URL if backend == "postgresql" else MYSQL_URL)
    pattern = f"{sa.make_url(url).database}_fvtpl_%"
    try:
        with engine.connect() as connection:
            [(found,)] = connection.execute(sa.text(_listing(backend)), {"p": pattern}).all()
    finally:
        engine.dispose()
    return sa.make_url(url).set(database=found).render_as_string(hide_password=False)


@pytest.mark.process
@pytest.mark.parametrize("retries", [1, 50])
def test_the_pytest_plugin_keeps_the_promise(
    pytester: pytest.Pytester,
    plugin_url: str,
    retries: int,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEST_RETRIES", str(retries))
    pytester.makepyfile(app=PLUGIN_APP, conftest=PLUGIN_CONFTEST, test_template=PLUGIN_TESTS)
    versions = pytester.path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1.py").write_text(PLUGIN_R1)
    (versions / "r2.py").write_text(PLUGIN_R2)

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--versioning-url={plugin_url}"
    )

    blocker = (pytester.path / "blocker.txt").read_text().splitlines()
    template = _template(plugin_url, backend)
    added = "SELECT count(*) FROM accounts WHERE name = 'added by the migration'"
    if retries > 1:
        result.assert_outcomes(passed=1)
        assert blocker[1:] == ["released by the retry"]
        assert version_rows(template) == ["r2"]
        assert _rows(template, added) == [(1,)]
        return
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    [line] = [line for line in out.splitlines() if "cannot make the test database" in line]
    assert "Traceback" not in out
    assert "revision r2 failed: DDLTimeout: the lock was not granted in 2 attempts" in line
    assert f"pid {blocker[0]} (user {sa.make_url(plugin_url).username}, " in line
    assert "idle in transaction" in line
    # PostgreSQL rolled the step back; MariaDB, which cannot, never ran its ALTER.
    assert re.search(
        r"\((its changes were rolled back; the database is at|this database "
        r"cannot roll back DDL, .*; the version table says) r1\)",
        line,
    ), line
    assert version_rows(template) == ["r1"]
    assert "note" not in _columns(template)
    assert _rows(template, added) == [(0,)]
