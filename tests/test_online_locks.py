"""Lock timeouts with retries on every migration step, on real servers.

The blocking transaction is the test's own connection; the test waits on evidence (the
retry's log record, the server's lock tables), never on the clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import DDLTimeout, MigrationFailed, Versioning, VersioningError

REVISION = '''"""add note

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op
{imports}
revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None

{decorator}
def upgrade():
{body}


def downgrade():
    op.drop_column("accounts", "note")
'''

ADD_NOTE = """    op.add_column("accounts", sa.Column("note", sa.String(20)))
    op.execute("INSERT INTO accounts (name) VALUES ('added by the migration')")"""


def _make_app(root: Path, url: str, **config: Any) -> tuple[Flask, Versioning, SQLAlchemy]:
    db = SQLAlchemy()

    class Account(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "accounts"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(40), nullable=False)

    app = Flask("onlineapp", root_path=str(root))
    app.testing = True
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # The revisions here are written by hand, without recording them in versions/HEADS.
    app.config["VERSIONING_LINEAR_HISTORY"] = False
    app.config.update(config)
    db.init_app(app)
    return app, Versioning(app, db), db


@pytest.fixture
def server_url(database_url: str, backend: str) -> str:
    if backend == "sqlite":
        pytest.skip("SQLite has no lock queue: the settings do nothing there")
    return database_url


def _base(root: Path, url: str) -> str:
    """An app at its first revision (the accounts table, one row); returns that revision."""
    app, versioning, db = _make_app(root, url)
    with app.app_context():
        script = versioning.migrate("accounts")
        assert script is not None
        versioning.upgrade()
        db.engine.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (name) VALUES ('first')"))
    engine.dispose()
    return script.revision


def _write(root: Path, down: str, body: str = ADD_NOTE, decorator: str = "") -> str:
    # Longer than any generated id, so never equal to ``down``, whatever it starts with.
    rev = "b2" + down
    imports = "from flask_versioning.online import timeouts\n" if decorator else ""
    text = REVISION.format(rev=rev, down=down, body=body, decorator=decorator, imports=imports)
    (root / "migrations" / "versions" / f"{rev}_add_note.py").write_text(text)
    return rev


class Blocker:
    """The test's own transaction, holding a lock on ``accounts`` until released."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        self.connection = self.engine.connect()
        name = self.connection.dialect.name
        pid_sql = "SELECT pg_backend_pid()" if name == "postgresql" else "SELECT connection_id()"
        self.pid = int(self.connection.exec_driver_sql(pid_sql).scalar_one())
        self.connection.rollback()
        self.connection.exec_driver_sql("SELECT count(*) FROM accounts WHERE name <> 'blocker'")

    def release(self) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()

    def close(self) -> None:
        self.release()
        self.connection.close()
        self.engine.dispose()


@pytest.fixture
def blocker(server_url: str) -> Iterator[Any]:
    made: list[Blocker] = []

    def make() -> Blocker:
        made.append(Blocker(server_url))
        return made[-1]

    yield make
    for b in made:
        b.close()


def _columns(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns("accounts")]
    finally:
        engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


FAST = {"VERSIONING_DDL_LOCK_RETRIES": 1, "VERSIONING_DDL_RETRY_DELAY": 0.01}


def _upgrade_by(path: str, root: Path, url: str, config: dict[str, Any]) -> str:
    """Upgrade through one path; return the one line the user sees."""
    if path == "autoupgrade":
        with pytest.raises(VersioningError) as caught:
            _make_app(root, url, VERSIONING_AUTO_UPGRADE=True, **config)
        return str(caught.value)
    app, versioning, db = _make_app(root, url, **config)
    with app.app_context():
        try:
            if path == "api":
                with pytest.raises(MigrationFailed) as failed:
                    versioning.upgrade()
                assert isinstance(failed.value.cause, DDLTimeout)
                return str(failed.value)
            if path == "cli":
                result = app.test_cli_runner().invoke(args=["db", "upgrade"])
                assert result.exit_code == 1
                assert "Traceback" not in result.output
                lines = [line for line in result.output.splitlines() if line.startswith("Error")]
                assert len(lines) == 1, result.output
                return lines[0]
            from alembic import command

            with pytest.raises(DDLTimeout) as timed_out:
                command.upgrade(versioning.alembic_config(), "heads")
            return str(timed_out.value)
        finally:
            db.engine.dispose()


@pytest.mark.parametrize("path", ["api", "cli", "alembic", "autoupgrade"])
def test_a_step_blocked_past_its_retries_names_the_blocker(
    path: str, tmp_path: Path, server_url: str, blocker: Any, backend: str
) -> None:
    first = _base(tmp_path, server_url)
    second = _write(tmp_path, first)
    holder = blocker()

    message = _upgrade_by(path, tmp_path, server_url, FAST)

    assert f"pid {holder.pid} " in message
    if backend == "postgresql":  # MariaDB keeps no last statement of an idle session
        assert "SELECT count(*) FROM accounts WHERE name <> 'blocker'" in message
    assert "idle in transaction" in message
    assert "not granted in 2 attempts" in message
    assert "VERSIONING_DDL_LOCK_RETRIES" in message
    if path != "alembic":  # the API's paths also say where the database stands
        assert second in message and first in message
    holder.release()
    assert version_rows(server_url) == [first]
    assert "note" not in _columns(server_url)
    assert _rows(server_url, "SELECT count(*) FROM accounts") == [(1,)]


def test_a_retried_step_applies_once(
    tmp_path: Path, server_url: str, blocker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = _base(tmp_path, server_url)
    second = _write(tmp_path, first)
    holder = blocker()
    retried = threading.Event()

    class Heard(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("lock not granted"):
                retried.set()

    handler = Heard()
    logging.getLogger("flask_versioning").addHandler(handler)
    logging.getLogger("flask_versioning").setLevel(logging.INFO)
    app, versioning, db = _make_app(
        tmp_path, server_url, VERSIONING_DDL_LOCK_RETRIES=200, VERSIONING_DDL_RETRY_DELAY=0.05
    )
    outcome: list[Any] = []

    def run() -> None:
        with app.app_context():
            try:
                outcome.append(versioning.upgrade())
            except Exception as exc:  # reported by the assertion below
                outcome.append(exc)

    worker = threading.Thread(target=run)
    try:
        worker.start()
        assert retried.wait(60), "the migration never reported a retry"
        holder.release()  # the lock is free now: the next attempt gets it
        worker.join(60)
    finally:
        logging.getLogger("flask_versioning").removeHandler(handler)
        holder.release()
        worker.join(60)
        with app.app_context():
            db.engine.dispose()

    result = outcome[0]
    assert not isinstance(result, Exception), result
    assert result.after == (second,)
    assert [s.revision for s in result.steps] == [second]
    assert "note" in _columns(server_url)
    assert _rows(
        server_url, "SELECT count(*) FROM accounts WHERE name = 'added by the migration'"
    ) == [(1,)]
    assert _rows(
        server_url,
        f"SELECT count(*) FROM versioning_history WHERE revision = '{second}' "
        "AND direction = 'upgrade'",
    ) == [(1,)]


def test_a_revision_sets_its_own_retries(tmp_path: Path, server_url: str, blocker: Any) -> None:
    first = _base(tmp_path, server_url)
    _write(tmp_path, first, decorator="@timeouts(retries=0)")
    holder = blocker()
    message = _upgrade_by("api", tmp_path, server_url, {"VERSIONING_DDL_RETRY_DELAY": 0.01})
    assert "not granted in 1 attempt " in message
    assert f"pid {holder.pid} " in message


def test_the_statement_timeout_stops_a_long_step_and_a_revision_lifts_it(
    tmp_path: Path, server_url: str, backend: str
) -> None:
    first = _base(tmp_path, server_url)
    sleep = "SELECT pg_sleep(1)" if backend == "postgresql" else "SELECT SLEEP(1)"
    body = f'    op.execute("{sleep}")\n' + ADD_NOTE
    second = _write(tmp_path, first, body=body)
    config = {"VERSIONING_DDL_STATEMENT_TIMEOUT": 0.05}
    message = _upgrade_by("api", tmp_path, server_url, config)
    assert "statement timeout (0.05 s)" in message
    assert "@timeouts(statement=None)" in message
    assert version_rows(server_url) == [first]

    _write(tmp_path, first, body=body, decorator="@timeouts(statement=None)")
    app, versioning, db = _make_app(tmp_path, server_url, **config)
    with app.app_context():
        assert versioning.upgrade().after == (second,)
        db.engine.dispose()
    assert "note" in _columns(server_url)


@pytest.mark.parametrize("in_transaction", [False, True])
def test_the_connection_gets_its_own_timeouts_back(
    tmp_path: Path, server_url: str, in_transaction: bool
) -> None:
    """The app's pooled connection must not keep a migration's short lock timeout, and a
    connection handed over inside its owner's transaction keeps that transaction."""
    first = _base(tmp_path, server_url)
    _write(tmp_path, first)
    app, versioning, db = _make_app(tmp_path, server_url)
    engine = sa.create_engine(server_url, pool_size=1, max_overflow=0)
    name = engine.dialect.name
    sql = (
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        if name == "postgresql"
        else "SELECT @@session.lock_wait_timeout, @@session.max_statement_time"
    )
    with engine.connect() as conn:
        before = tuple(conn.exec_driver_sql(sql).one())
    with app.app_context():
        app.config["VERSIONING_DATABASE_URL"] = None
        from alembic import command

        config = versioning.alembic_config()
        with engine.connect() as conn:
            if in_transaction:
                conn.exec_driver_sql("SELECT 1").all()
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
            assert conn.in_transaction() == in_transaction
            conn.commit()
        db.engine.dispose()
    with engine.connect() as conn:
        assert tuple(conn.exec_driver_sql(sql).one()) == before
    engine.dispose()
    assert "note" in _columns(server_url)
    assert table_names(server_url) >= {"accounts"}
