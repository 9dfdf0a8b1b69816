"""Ctrl-C during ``flask db upgrade`` and ``downgrade``: the statement the server was running
for the migration is cancelled there (a client that goes away does not stop MariaDB, nor
PostgreSQL until it next writes), and the command says where each database stands.

A real ``flask`` process gets SIGINT while a revision blocks in the server (``pg_sleep`` /
``SLEEP``); the test waits until the server shows that statement running, never for a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import APP_SOURCE, FLASK, table_names, version_rows

# Ctrl-C sent to a real process.
pytestmark = pytest.mark.process

SERVER_BACKENDS = [
    b
    for b in ("postgresql", "mariadb")
    if b in os.environ.get("VERSIONING_TEST_BACKENDS", "sqlite,postgresql,mariadb")
]

REVISION = '''"""{message}"""
import os

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def _block(direction):
    if os.environ.get("BLOCK") == direction:
        dialect = op.get_bind().dialect.name
        op.execute("SELECT pg_sleep(600)" if dialect == "postgresql" else "SELECT SLEEP(600)")


def upgrade():
{up}


def downgrade():
{down_body}
'''

REVISIONS = [
    (
        "a1",
        None,
        "marks",
        "    op.create_table('marks', sa.Column('id', sa.Integer, primary_key=True), "
        "sa.Column('note', sa.String(20)))",
        "    op.drop_table('marks')",
    ),
    (
        "b2",
        "a1",
        "first mark",
        "    op.execute(\"INSERT INTO marks (id, note) VALUES (1, 'b2')\")\n    _block('upgrade')",
        "    op.execute('DELETE FROM marks WHERE id = 1')\n    _block('downgrade')",
    ),
    (
        "c3",
        "b2",
        "second mark",
        "    op.execute(\"INSERT INTO marks (id, note) VALUES (2, 'c3')\")",
        "    op.execute('DELETE FROM marks WHERE id = 2')",
    ),
]


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP_SOURCE)
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    for rev, down, message, up, down_body in REVISIONS:
        (versions / f"{rev}_rev.py").write_text(
            REVISION.format(rev=rev, down=down, message=message, up=up, down_body=down_body)
        )
    return tmp_path


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": url, "VERSIONING_ENV": "development"}
    env.pop("FLASK_DEBUG", None)
    env.update(extra)
    return env


def _sleeping(url: str) -> list[tuple[object, ...]]:
    """The server's rows for a sleeping statement in the test's database."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    name = engine.url.database
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                query = (
                    "SELECT pid, state FROM pg_stat_activity WHERE datname = :db "
                    "AND query LIKE 'SELECT pg_sleep(600)%' AND pid <> pg_backend_pid()"
                )
            else:
                query = (
                    "SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE DB = :db "
                    "AND INFO LIKE 'SELECT SLEEP(600)%'"
                )
            return [tuple(row) for row in conn.execute(sa.text(query), {"db": name})]
    finally:
        engine.dispose()


def _marks(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return [
                (int(r[0]), str(r[1]))
                for r in conn.execute(sa.text("SELECT id, note FROM marks ORDER BY id"))
            ]
    finally:
        engine.dispose()


@pytest.fixture
def interrupt() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def run(args: list[str], cwd: Path, env: dict[str, str], url: str) -> tuple[int, str, str]:
        """Start ``flask db <args>``, wait until the server runs its sleep, send SIGINT."""
        proc = subprocess.Popen(
            [FLASK, "db", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        deadline = time.monotonic() + 120  # a guard against a hang, not an ordering
        while not any(state in ("active", "Query") for _, state in _sleeping(url)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the revision never reached the server"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_ctrl_c_during_upgrade_cancels_the_statement_and_says_where_it_stands(
    app_dir: Path, database_url: str, backend: str, interrupt: object
) -> None:
    code, out, err = interrupt(  # type: ignore[operator]
        ["upgrade"], app_dir, _env(database_url, BLOCK="upgrade"), database_url
    )
    assert code == 1, out + err
    assert _sleeping(database_url) == []  # the server no longer runs it
    assert "Applied a1 (marks)" in out
    assert "Applied b2" not in out
    assert "Interrupted (Ctrl-C): no database was started after it." in out
    (line,) = [x for x in out.splitlines() if x.strip().startswith("default")]
    assert "interrupted (Ctrl-C) during revision b2" in line
    if backend == "postgresql":
        assert "its changes were rolled back; the database is at a1" in line
    else:
        assert "cannot roll back DDL, so part of it may be applied" in line
        assert "the version table says a1" in line
    assert "kept: a1" in line
    assert "Aborted!" not in out + err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Error: 1 of 1 database failed: default"
    # a1 stays; b2's insert went with its transaction.
    assert version_rows(database_url) == ["a1"]
    assert _marks(database_url) == []


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_ctrl_c_during_downgrade_cancels_the_statement_and_says_where_it_stands(
    app_dir: Path, database_url: str, backend: str, interrupt: object
) -> None:
    done = subprocess.run(
        [FLASK, "db", "upgrade"], cwd=app_dir, env=_env(database_url), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    code, out, err = interrupt(  # type: ignore[operator]
        ["downgrade", "base"], app_dir, _env(database_url, BLOCK="downgrade"), database_url
    )
    assert code == 1, out + err
    assert _sleeping(database_url) == []
    assert "Reverted c3 (second mark)" in out
    (line,) = [x for x in out.splitlines() if x.strip().startswith("default")]
    assert "interrupted (Ctrl-C) during revision b2" in line and "kept: c3" in line
    assert "Traceback" not in err
    assert version_rows(database_url) == ["b2"]
    assert _marks(database_url) == [(1, "b2")]  # b2's delete was rolled back


# -- several databases, in one process: each says where it stands -----------------------------

STOP_REVISION = '''"""{message}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY)")
    if {stop}:
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a revision


def downgrade():
    op.drop_table("{table}")
'''


def test_ctrl_c_on_the_second_of_three_databases(tmp_path: Path) -> None:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_versioning import MigrationInterrupted, Versioning

    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("default", "users", "audit")}
    app = Flask("three", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = urls["default"]
    app.config["SQLALCHEMY_BINDS"] = {"users": urls["users"], "audit": urls["audit"]}
    app.config["VERSIONING_ENV"] = "development"
    db = SQLAlchemy(app)
    versioning = Versioning(app, db)
    folders = {
        "default": tmp_path / "migrations",
        "users": tmp_path / "migrations" / "binds" / "users",
        "audit": tmp_path / "migrations" / "binds" / "audit",
    }
    for name, folder in folders.items():
        (folder / "versions").mkdir(parents=True, exist_ok=True)
        for rev, down, stop in ((f"{name}1", None, False), (f"{name}2", f"{name}1", True)):
            text = STOP_REVISION.format(
                message=rev, rev=rev, down=down, table=f"t_{rev}", stop=stop and name == "users"
            )
            (folder / "versions" / f"{rev}_rev.py").write_text(text)

    try:
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 1, result.output
        assert "Interrupted (Ctrl-C): no database was started after it." in result.output
        lines = {
            line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")
        }
        assert "base -> default2 (" in lines["default"] and "2 revisions)" in lines["default"]
        assert "interrupted (Ctrl-C) during revision users2" in lines["users"]
        # SQLite's driver commits DDL as it runs: the line does not claim a rollback.
        assert "cannot roll back DDL, so part of it may be applied" in lines["users"]
        assert "kept: users1 (now at users1)" in lines["users"]
        assert "not run: interrupted (Ctrl-C)" in lines["audit"]
        assert result.output.splitlines()[-1] == (
            "Error: 1 of 3 databases failed: users; 1 not run: audit"
        )
        assert version_rows(urls["default"]) == ["default2"]
        assert version_rows(urls["users"]) == ["users1"]
        assert table_names(urls["audit"]) == set()

        # In Python: a KeyboardInterrupt that says the same.
        with app.app_context(), pytest.raises(MigrationInterrupted) as stopped:
            versioning.upgrade(bind="users")
        assert stopped.value.database == "users"
        assert stopped.value.revision == "users2"
        assert stopped.value.current == ("users1",)
        assert isinstance(stopped.value, KeyboardInterrupt)
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
