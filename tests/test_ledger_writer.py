"""The history ledger's writer: a step and its row commit together, or the step fails.

The ledger is only worth having if it cannot silently miss a step: a row the database refuses
(no INSERT permission, a table changed by hand) fails the step, rolls it back with its record,
and says in one line what to grant; an app that cannot grant it turns the ledger off on
purpose. A crash in the middle of a run leaves the version table, the schema and the ledger
agreeing, whatever the commits of the earlier steps waited for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from conftest import FLASK, POSTGRES_URL, FlaskProject, table_names, version_rows
from flask import Flask

from flask_versioning import (
    ConfigurationError,
    HistoryWriteError,
    MigrationFailed,
    Versioning,
)

REVISION = '''"""{table}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("{table}")
'''


def write_chain(versions: Path, count: int = 3) -> None:
    """Revisions r1..r<count>, each creating table t<n>."""
    versions.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        down = f"r{n - 1}" if n > 1 else None
        text = REVISION.format(rev=f"r{n}", down=down, table=f"t{n}")
        (versions / f"r{n}_t{n}.py").write_text(text)


def make_app(root: Path, url: str, **config: object) -> tuple[Flask, Versioning]:
    app = Flask("ledgerapp", root_path=str(root))
    app.testing = True  # an unprotected environment: these tests are about the ledger
    app.config["VERSIONING_DATABASE_URL"] = url
    app.config.update(config)
    return app, Versioning(app)


def ledger_revisions(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT revision FROM versioning_history WHERE direction = 'upgrade' ORDER BY id"
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def admin(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(backend: str, database_url: str) -> str:
    if backend != "postgresql":
        pytest.skip("permissions on the ledger are a PostgreSQL role's")
    return database_url


@pytest.fixture
def reader_role(postgres_url: str) -> Iterator[str]:
    """A login role that may read the ledger but not write it, and do everything else a
    migration needs (create tables in ``public``, write the version table)."""
    role = f"fv_reader_{uuid.uuid4().hex[:8]}"
    admin(POSTGRES_URL, f"CREATE ROLE {role} LOGIN")
    try:
        yield role
    finally:
        admin(postgres_url, f"DROP OWNED BY {role}")
        admin(POSTGRES_URL, f"DROP ROLE {role}")


def test_a_role_that_cannot_insert_into_the_ledger_fails_at_the_first_step(
    tmp_path: Path, postgres_url: str, reader_role: str
) -> None:
    write_chain(tmp_path / "migrations" / "versions")
    owner_app, owner = make_app(tmp_path, postgres_url)
    with owner_app.app_context():
        owner.upgrade("r1")
    admin(
        postgres_url,
        f"GRANT USAGE, CREATE ON SCHEMA public TO {reader_role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON alembic_version TO {reader_role}",
        f"GRANT SELECT ON versioning_history TO {reader_role}",
    )
    role_url = sa.make_url(postgres_url).set(username=reader_role, password=None)
    url = role_url.render_as_string(hide_password=False)
    app, versioning = make_app(tmp_path, url)

    def unchanged() -> None:
        assert version_rows(postgres_url) == ["r1"]
        assert "t2" not in table_names(postgres_url)
        assert ledger_revisions(postgres_url) == ["r1"]

    # The API: the first step fails, rolled back with its record, and the message says why,
    # which revision, where the database stands and what to grant.
    with app.app_context(), pytest.raises(MigrationFailed) as failed:
        versioning.upgrade()
    message = str(failed.value)
    assert "\n" not in message
    assert f"GRANT INSERT ON versioning_history TO {reader_role}" in message
    assert "revision r2 failed" in message
    assert "its changes were rolled back; the database is at r1" in message
    assert "VERSIONING_HISTORY = False" in message
    assert isinstance(failed.value.cause, HistoryWriteError)
    unchanged()

    # The command line: exit 1, the same one line, no traceback.
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: revision r2 failed")
    assert f"GRANT INSERT ON versioning_history TO {reader_role}" in lines[-1]
    assert "Traceback" not in result.output
    unchanged()

    # Plain Alembic on the app's configuration runs the same env.py and fails the same way.
    with app.app_context(), pytest.raises(HistoryWriteError, match="GRANT INSERT ON"):
        alembic.command.upgrade(versioning.alembic_config(), "heads")
    unchanged()

    # Granting INSERT alone is not enough on PostgreSQL: the id comes from a sequence, and
    # the message names that grant next.
    admin(postgres_url, f"GRANT INSERT ON versioning_history TO {reader_role}")
    with app.app_context(), pytest.raises(MigrationFailed) as failed:
        versioning.upgrade()
    assert f"GRANT USAGE ON SEQUENCE versioning_history_id_seq TO {reader_role}" in str(
        failed.value
    )
    unchanged()

    admin(postgres_url, f"GRANT USAGE ON SEQUENCE versioning_history_id_seq TO {reader_role}")
    with app.app_context():
        assert versioning.upgrade().after == ("r3",)
    assert ledger_revisions(postgres_url) == ["r1", "r2", "r3"]


def test_an_app_that_cannot_grant_turns_the_ledger_off(
    tmp_path: Path, postgres_url: str, reader_role: str
) -> None:
    write_chain(tmp_path / "migrations" / "versions")
    owner_app, owner = make_app(tmp_path, postgres_url)
    with owner_app.app_context():
        owner.upgrade("r1")
    admin(
        postgres_url,
        f"GRANT USAGE, CREATE ON SCHEMA public TO {reader_role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON alembic_version TO {reader_role}",
    )
    url = (
        sa.make_url(postgres_url)
        .set(username=reader_role, password=None)
        .render_as_string(hide_password=False)
    )
    app, _ = make_app(tmp_path, url, VERSIONING_HISTORY=False)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert version_rows(postgres_url) == ["r3"]
    assert ledger_revisions(postgres_url) == ["r1"]  # written while it was on, then not


def test_a_ledger_changed_by_hand_fails_the_step_on_every_backend(
    tmp_path: Path, backend: str, database_url: str
) -> None:
    write_chain(tmp_path / "migrations" / "versions")
    app, versioning = make_app(tmp_path, database_url)
    with app.app_context():
        versioning.upgrade("r1")
    admin(database_url, "ALTER TABLE versioning_history RENAME COLUMN host TO machine")

    with app.app_context(), pytest.raises(MigrationFailed) as failed:
        versioning.upgrade()
    message = str(failed.value)
    assert "revision r2 failed" in message
    assert "give the table back the columns it was made with" in message
    assert "VERSIONING_HISTORY = False" in message
    # The step's version row and ledger row are rolled back on every backend; its DDL only
    # where the backend rolls DDL back, and the message says which.
    assert version_rows(database_url) == ["r1"]
    if backend == "postgresql":
        assert "its changes were rolled back; the database is at r1" in message
        assert "t2" not in table_names(database_url)
    else:
        assert "cannot roll back DDL, so part of it may be applied" in message
        assert "the version table says r1" in message


def test_history_off_creates_no_ledger(tmp_path: Path, database_url: str) -> None:
    write_chain(tmp_path / "migrations" / "versions")
    app, _ = make_app(tmp_path, database_url, VERSIONING_HISTORY="false")
    assert app.extensions["versioning"].settings.keeps_history is False
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert version_rows(database_url) == ["r3"]
    assert "versioning_history" not in table_names(database_url)


def test_history_setting_is_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VERSIONING_HISTORY must be True, False"):
        make_app(tmp_path, "sqlite://", VERSIONING_HISTORY="maybe")


# A revision that stops where the test can kill the process: it writes $LEDGER_TEST_STARTED,
# then waits for $LEDGER_TEST_GO, a file the test creates only for the second run. On
# PostgreSQL its table is created first, inside the step's transaction; elsewhere DDL commits
# by itself, so the table comes after the wait.
BLOCKING = '''"""t2, waiting"""
import os
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    transactional = op.get_bind().dialect.name == "postgresql"
    if transactional:
        op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))
    Path(os.environ["LEDGER_TEST_STARTED"]).write_text("started")
    while not Path(os.environ["LEDGER_TEST_GO"]).exists():
        time.sleep(0.02)
    if not transactional:
        op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("t2")
'''


@pytest.mark.process
def test_a_killed_upgrade_leaves_version_table_schema_and_ledger_agreeing(
    project: FlaskProject, tmp_path: Path
) -> None:
    write_chain(project.versions)
    (project.versions / "r2_t2.py").write_text(BLOCKING)
    started, go = tmp_path / "started", tmp_path / "go"
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": project.database_url,
        "VERSIONING_ENV": "development",
        "LEDGER_TEST_STARTED": str(started),
        "LEDGER_TEST_GO": str(go),
    }
    env.pop("FLASK_DEBUG", None)
    proc = subprocess.Popen(
        [FLASK, "db", "upgrade"],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists():  # the evidence that r1 is committed and r2 is running
            assert proc.poll() is None, "flask db upgrade ended before r2 began"
            assert time.monotonic() < deadline, "r2 never began"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    url = project.database_url
    assert version_rows(url) == ["r1"]
    assert "t1" in table_names(url) and "t2" not in table_names(url)
    assert ledger_revisions(url) == ["r1"]

    # The next run starts where the database says it stands, and finishes.
    go.write_text("go")
    project.env.update(LEDGER_TEST_STARTED=str(started), LEDGER_TEST_GO=str(go))
    project.db("upgrade")
    assert version_rows(url) == ["r3"]
    assert {"t1", "t2", "t3"} <= table_names(url)
    assert ledger_revisions(url) == ["r1", "r2", "r3"]


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_sqlite_keeps_its_journal_mode(tmp_path: Path, mode: str) -> None:
    # Steps commit in WAL mode with synchronous = NORMAL; the file is given back as it was,
    # checkpointed, with nothing left in a log beside it.
    path = tmp_path / "app.db"
    url = f"sqlite:///{path}"
    admin(url, f"PRAGMA journal_mode = {mode}")
    write_chain(tmp_path / "migrations" / "versions")
    app, versioning = make_app(tmp_path, url)
    with app.app_context():
        assert versioning.upgrade().after == ("r3",)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == mode
    finally:
        engine.dispose()
    if mode == "delete":
        assert not (tmp_path / "app.db-wal").exists()
    assert ledger_revisions(url) == ["r1", "r2", "r3"]


# A step whose last act fails: a deferred foreign key is checked by the step's COMMIT, which
# on PostgreSQL travels with the ledger's row.
DEFERRED = '''"""t2, with a row its deferred foreign key refuses at commit"""
import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "t2",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent", sa.Integer),
    )
    op.create_foreign_key(
        "t2_parent", "t2", "t1", ["parent"], ["id"], deferrable=True, initially="DEFERRED"
    )
    op.execute("INSERT INTO t2 (id, parent) VALUES (1, 42)")


def downgrade():
    op.drop_table("t2")
'''


def test_a_step_whose_commit_fails_is_the_steps_failure_not_the_ledgers(
    tmp_path: Path, postgres_url: str
) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions)
    (versions / "r2_t2.py").write_text(DEFERRED)
    app, versioning = make_app(tmp_path, postgres_url)
    applied: list[str] = []
    with app.app_context(), pytest.raises(MigrationFailed) as failed:
        versioning.upgrade(progress=lambda step: applied.append(step.revision))
    message = str(failed.value)
    assert "\n" not in message
    assert "revision r2 failed" in message
    assert "t2_parent" in message  # the constraint that refused the row, not the ledger
    assert "history ledger" not in message
    assert not isinstance(failed.value.cause, HistoryWriteError)
    assert "its changes were rolled back; the database is at r1" in message
    # Told of r1 only: r2 was never committed, so it was never reported as applied.
    assert applied == ["r1"]
    assert version_rows(postgres_url) == ["r1"]
    assert "t2" not in table_names(postgres_url)
    assert ledger_revisions(postgres_url) == ["r1"]

    # The same on the command line: exit 1, one line, no traceback.
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: revision r2 failed")
    assert "Traceback" not in result.output
    assert ledger_revisions(postgres_url) == ["r1"]


# A revision that leaves the step's transaction for a while: CREATE INDEX CONCURRENTLY cannot
# run inside one, so Alembic commits, runs it in autocommit, and begins again.
CONCURRENT = '''"""an index on t1, built concurrently"""
import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))
    with op.get_context().autocommit_block():
        op.create_index("t1_id_concurrently", "t1", ["id"], postgresql_concurrently=True)
    op.add_column("t2", sa.Column("after", sa.Integer))


def downgrade():
    op.drop_index("t1_id_concurrently", table_name="t1")
    op.drop_table("t2")
'''


def test_a_step_with_an_autocommit_block_is_recorded_and_the_next_steps_too(
    tmp_path: Path, postgres_url: str
) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions)
    (versions / "r2_t2.py").write_text(CONCURRENT)
    app, versioning = make_app(tmp_path, postgres_url)
    applied: list[str] = []
    with app.app_context():
        result = versioning.upgrade(progress=lambda step: applied.append(step.revision))
    assert result.after == ("r3",)
    assert applied == ["r1", "r2", "r3"]
    assert version_rows(postgres_url) == ["r3"]
    assert ledger_revisions(postgres_url) == ["r1", "r2", "r3"]
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        inspector = sa.inspect(engine)
        assert "after" in {c["name"] for c in inspector.get_columns("t2")}
        assert "t1_id_concurrently" in {i["name"] for i in inspector.get_indexes("t1")}
    finally:
        engine.dispose()
