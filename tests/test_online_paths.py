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
import select
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import MYSQL_URL, POSTGRES_URL, _admin_engine, version_rows
from test_online_locks import _base, _columns, _make_app, _rows, _write

from flask_versioning import DDLTimeout, MigrationFailed, VersioningError

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
