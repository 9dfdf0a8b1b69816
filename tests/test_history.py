"""The applied-history ledger and the protection that follows the database.

Every test drives real ``flask`` processes (or ``alembic.command`` itself) against a real
database and then reads the ledger table directly: the rows are what the feature is.
"""

from __future__ import annotations

import configparser
import datetime
import getpass
import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from conftest import FlaskProject, table_names, version_rows
from flask import Flask
from test_autoupgrade import AutoApp
from test_autoupgrade import write_chain as write_auto_chain

from flask_versioning import Versioning, __version__
from flask_versioning._alembic.revision_files import checksum
from flask_versioning._errors import mask_url

# The app a user writes: Flask-SQLAlchemy, a seed for production and development and one for
# development only, configured from VERSIONING_* environment variables.
APP_SOURCE = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()


class Color(db.Model):
    __tablename__ = "colors"
    name = sa.Column(sa.String(20), primary_key=True)


@versioning.seed("production", "development")
def reference_colors(session):
    session.merge(Color(name="black"))


@versioning.seed("development")
def sample_colors(session):
    session.merge(Color(name="sample"))


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

# The revisions of the seed tutorial: data guarded by an -x argument, as in docs/seeds.md.
FIRST = '''"""colors"""
import sqlalchemy as sa
from alembic import context, op

revision = "r001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    colors = op.create_table("colors", sa.Column("name", sa.String(20), primary_key=True))
    if context.get_x_argument(as_dictionary=True).get("seed") == "true":
        op.bulk_insert(colors, [{"name": "red"}, {"name": "green"}])


def downgrade():
    op.drop_table("colors")
'''

SECOND = '''"""shapes"""
import sqlalchemy as sa
from alembic import op

revision = "r002"
down_revision = "r001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("shapes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("shapes")
'''

THIRD = SECOND.replace("r002", "r003").replace('"r001"', '"r002"').replace("shapes", "sizes")


@pytest.fixture
def app_project(project: FlaskProject) -> FlaskProject:
    (project.path / "app.py").write_text(APP_SOURCE)
    project.versions.mkdir(parents=True)
    (project.versions / "r001_colors.py").write_text(FIRST)
    (project.versions / "r002_shapes.py").write_text(SECOND)
    return project


def ledger(url: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        table = sa.Table("versioning_history", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.id))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def colors(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return sorted(conn.exec_driver_sql("SELECT name FROM colors").scalars())
    finally:
        engine.dispose()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- what a row holds -----------------------------------------------------------------------------


@pytest.mark.process
def test_every_step_is_recorded(app_project: FlaskProject) -> None:
    url = app_project.database_url
    # Real processes: each row records the pid of the command that wrote it.
    app_project.db("upgrade", process=True)
    app_project.db("downgrade", "-1", process=True)
    app_project.db("stamp", "r002", process=True)

    rows = ledger(url)
    assert [(r["direction"], r["revision"]) for r in rows] == [
        ("upgrade", "r001"),
        ("upgrade", "r002"),
        ("downgrade", "r002"),
        ("stamp", "r002"),
    ]
    first = app_project.versions / "r001_colors.py"
    second = app_project.versions / "r002_shapes.py"
    assert [r["checksum"] for r in rows] == [sha256(first), sha256(second), sha256(second), None]
    for row in rows:
        assert row["environment"] == "development"
        assert bool(row["declared"]) and not bool(row["protected"])
        assert row["host"] == socket.gethostname()
        assert row["os_user"] == getpass.getuser()
        assert row["tool_version"] == __version__
        assert isinstance(row["pid"], int) and row["pid"] != os.getpid()
        started, finished = row["started_at"], row["finished_at"]
        assert isinstance(started, datetime.datetime) and isinstance(finished, datetime.datetime)
        assert started <= finished
        assert abs(finished - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)) < (
            datetime.timedelta(hours=1)
        )  # stored in UTC, whatever the machine's zone
        # The step's own time: a row written without it holds 0.
        assert float(row["duration_ms"]) > 0  # type: ignore[arg-type]
    # One process per command: the upgrade's two steps share a pid, the others have theirs.
    pids = [r["pid"] for r in rows]
    assert pids[0] == pids[1] and len({pids[1], pids[2], pids[3]}) == 3


def test_line_endings_do_not_change_the_checksum(sqlite_project: FlaskProject) -> None:
    project = sqlite_project
    (project.path / "app.py").write_text(APP_SOURCE)
    project.versions.mkdir(parents=True)
    path = project.versions / "r001_colors.py"
    path.write_text(FIRST)
    lf = checksum(path)
    assert lf == sha256(path)
    project.db("upgrade")
    # A checkout on Windows (core.autocrlf): the same file with CRLF line endings.
    path.write_bytes(FIRST.replace("\n", "\r\n").encode())
    assert checksum(path) == lf
    assert project.db("validate").stdout.strip() == "Every applied revision matches its file."
    assert "file changed" not in project.db("status").stdout
    path.write_bytes(FIRST.replace("colors", "colours").encode())
    assert checksum(path) != lf
    assert project.db("validate", check=False).returncode == 1


@pytest.mark.process
def test_a_database_migrated_before_the_ledger(app_project: FlaskProject, tmp_path: Path) -> None:
    """Plain Alembic with its own generic env.py migrates first; then Flask-Versioning."""
    plain = tmp_path / "plain"
    alembic = str(Path(sys.executable).with_name("alembic"))
    subprocess.run([alembic, "init", str(plain)], check=True, capture_output=True, cwd=tmp_path)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(plain.parent / "alembic.ini")
    ini["alembic"]["script_location"] = str(plain)
    ini["alembic"]["version_locations"] = str(app_project.versions)
    if "version_path_separator" in ini["alembic"]:
        # Alembic 1.13.0 reads the comment its template writes after this value as part of it.
        ini["alembic"]["version_path_separator"] = "os"
    ini["alembic"]["sqlalchemy.url"] = app_project.database_url
    with (tmp_path / "plain.ini").open("w") as f:
        ini.write(f)
    subprocess.run(
        [alembic, "-c", str(tmp_path / "plain.ini"), "upgrade", "r002"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    assert version_rows(app_project.database_url) == ["r002"]
    assert "versioning_history" not in table_names(app_project.database_url)

    (app_project.versions / "r003_sizes.py").write_text(THIRD)
    app_project.db("upgrade")
    rows = ledger(app_project.database_url)
    assert [(r["direction"], r["revision"]) for r in rows] == [
        ("before-history", "r001"),
        ("before-history", "r002"),
        ("upgrade", "r003"),
    ]
    assert rows[0]["checksum"] == sha256(app_project.versions / "r001_colors.py")
    out = app_project.db("status", "--check").stdout
    assert "r001  applied before the history ledger existed  colors" in out
    assert app_project.db("validate").returncode == 0


def test_eight_processes_create_the_ledger_once(tmp_path: Path, database_url: str) -> None:
    auto = AutoApp(tmp_path, database_url)
    write_auto_chain(auto.versions, 20)
    proc = auto.run("spawner.py", "8")
    assert proc.returncode == 0, proc.stderr
    assert "could not record" not in proc.stderr
    rows = ledger(database_url)
    assert [r["revision"] for r in rows] == [f"r{n:03d}" for n in range(1, 21)]
    assert {r["direction"] for r in rows} == {"upgrade"}
    # A served, non-debug start: what it migrated is production's from now on.
    assert {(r["environment"], bool(r["declared"]), bool(r["protected"])) for r in rows} == {
        ("production", False, True)
    }


def test_alembic_command_records_too(tmp_path: Path, database_url: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r001_colors.py").write_text(FIRST)
    (versions / "r002_shapes.py").write_text(SECOND)
    app = Flask("plainapp", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=database_url, VERSIONING_ENV="staging")
    versioning = Versioning(app)
    with app.app_context():
        alembic.command.upgrade(versioning.alembic_config(), "head")
        alembic.command.downgrade(versioning.alembic_config(), "base")
    rows = ledger(database_url)
    assert [(r["direction"], r["revision"], r["environment"]) for r in rows] == [
        ("upgrade", "r001", "staging"),
        ("upgrade", "r002", "staging"),
        ("downgrade", "r002", "staging"),
        ("downgrade", "r001", "staging"),
    ]
    assert rows[0]["checksum"] == sha256(versions / "r001_colors.py")


# -- protection follows the database -------------------------------------------------------------


def test_a_development_shell_pointed_at_production(app_project: FlaskProject, backend: str) -> None:
    if backend == "postgresql":  # trust authentication: a password that must never be shown
        url = sa.make_url(app_project.database_url).set(password="s3cret")
        app_project.database_url = url.render_as_string(hide_password=False)
    url = app_project.database_url
    app_project.db("upgrade", VERSIONING_ENV="production")
    app_project.db("seed", VERSIONING_ENV="production")
    with (app_project.versions / "r002_shapes.py").open("a") as f:
        f.write("# edited after it was applied\n")

    status = app_project.db("status").stdout
    assert "environment: production (declared)" in status
    assert f"protected: yes, recorded by a 'production' app on {socket.gethostname()}" in status

    # The shell says "development"; the database's history says "production".
    recorded = ledger(url)
    assert [(r["direction"], bool(r["protected"])) for r in recorded] == [
        ("upgrade", True),
        ("upgrade", True),
    ]
    refused = [
        ("downgrade", "base"),
        ("stamp", "base"),
        ("seed", "--force"),
        ("reset", "--yes"),
        ("validate", "--repair"),
    ]
    for args in refused:
        proc = app_project.db(*args, check=False, VERSIONING_ENV="development")
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith("Error: refusing to "), line
        # (Flask-SQLAlchemy adds ?charset=utf8mb4 to MySQL URLs.)
        assert re.search(rf"the database at {re.escape(mask_url(url))}(\?\S*)? is protected", line)
        assert re.search(
            rf"its history records a 'production' app on {re.escape(socket.gethostname())} "
            r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(",
            line,
        ), line
        assert "nothing was changed" in line and "--allow-protected" in line
        assert "s3cret" not in proc.stdout + proc.stderr
    assert version_rows(url) == ["r002"]
    assert colors(url) == ["black"]
    assert ledger(url) == recorded

    proc = app_project.db("unprotect", "--yes", VERSIONING_ENV="development")
    assert proc.stdout.strip() == "Protection lifted."
    assert ledger(url)[-1]["direction"] == "unprotect"
    assert "protected: no" in app_project.db("status").stdout
    app_project.db("downgrade", "base", VERSIONING_ENV="development")
    assert version_rows(url) == []


def test_a_plain_app_runs_the_seed_tutorial(app_project: FlaskProject) -> None:
    """No VERSIONING_ENV, no debug flag: Alembic's tutorials work as they do with Alembic."""
    plain = {"VERSIONING_ENV": ""}
    url = app_project.database_url
    app_project.db("upgrade", "-x", "seed=true", **plain)
    assert colors(url) == ["green", "red"]
    proc = app_project.db("seed", **plain)
    # Seed selection keeps its safe default: the production seeds, never development data.
    assert proc.stdout.startswith("Seeded reference_colors (production)")
    assert "sample_colors" not in proc.stdout
    assert colors(url) == ["black", "green", "red"]

    app_project.db("downgrade", "-1", **plain)
    assert version_rows(url) == ["r001"]
    app_project.db("downgrade", "base", **plain)
    assert version_rows(url) == []
    app_project.db("upgrade", **plain)
    app_project.db("stamp", "base", **plain)
    assert version_rows(url) == []
    app_project.db("stamp", "head", **plain)
    app_project.db("seed", "--force", **plain)
    status = app_project.db("status", **plain).stdout
    assert "environment: production (guessed: not declared, no --debug)" in status
    assert "protected: no" in status
