"""``flask db status``, ``flask db validate`` and the fast read-only commands.

Real ``flask`` processes on real databases: what a user reads in the output, the exit codes
scripts and init containers rely on, the JSON shape, and that ``current``, ``heads`` and
``status`` answer without importing Alembic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from conftest import FlaskProject, version_rows
from flask import Flask

from flask_versioning import HistoryMismatch, Versioning

REVISION = '''"""{message}

Revision ID: {revision}
"""
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = {depends!r}


def upgrade():
    op.create_table("t_{revision}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("t_{revision}")
'''


def write_revision(
    versions: Path,
    revision: str,
    down: str | tuple[str, ...] | None,
    *,
    labels: str | None = None,
    depends: str | None = None,
    name: str | None = None,
) -> Path:
    versions.mkdir(parents=True, exist_ok=True)
    path = versions / (name or f"{revision}_create.py")
    path.write_text(
        REVISION.format(
            message=f"create t_{revision}",
            revision=revision,
            down=down,
            labels=labels,
            depends=depends,
        )
    )
    return path


def write_chain(versions: Path, count: int, start: int = 1) -> list[str]:
    revisions = [f"r{n:03d}" for n in range(start, start + count)]
    down = f"r{start - 1:03d}" if start > 1 else None
    for revision in revisions:
        write_revision(versions, revision, down)
        down = revision
    return revisions


def revision_lines(output: str) -> dict[str, str]:
    """The status lines of each revision, by revision id."""
    lines: dict[str, str] = {}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("    ") and words and words[0].startswith("r0"):
            lines[words[0]] = " ".join(words[1:])
    return lines


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- status -------------------------------------------------------------------------------------


def test_status_revision_by_revision(project: FlaskProject) -> None:
    write_chain(project.versions, 3)
    project.db("upgrade", "r002")

    proc = project.db("status")
    out = proc.stdout
    assert "current: r002\n" in out
    assert "heads: r003\n" in out
    assert "environment: development (declared), recorded 2" in out
    assert f"on {socket.gethostname()}" in out
    assert "protected: no" in out
    assert "revisions: 2 applied, 1 pending" in out
    lines = revision_lines(out)
    assert list(lines) == ["r001", "r002", "r003"]  # oldest first
    assert lines["r001"].startswith("applied 2")
    assert lines["r001"].endswith("ms, development create t_r001")
    assert lines["r003"] == "pending create t_r003"

    proc = project.db("status", "--check", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: the default database is not up to date: 1 pending (r003)"
    )

    data = json.loads(project.db("status", "--format", "json").stdout)
    assert data["version"] == 1 and data["up_to_date"] is False
    [database] = data["databases"]
    assert database["name"] == "default" and database["bind"] is None
    assert database["current"] == ["r002"] and database["heads"] == ["r003"]
    assert database["ledger"] == "ok" and database["error"] is None
    assert database["recorded"]["environment"] == "development"
    assert database["protected_by"] is None
    first, second, third = database["revisions"]
    assert [r["state"] for r in database["revisions"]] == ["applied", "applied", "pending"]
    assert first["message"] == "create t_r001" and first["down_revisions"] == []
    assert second["down_revisions"] == ["r001"]
    assert first["applied"]["direction"] == "upgrade"
    assert first["applied"]["environment"] == "development"
    assert first["applied"]["at"].endswith("Z") and first["applied"]["duration_ms"] >= 0
    r001 = project.versions / "r001_create.py"
    assert first["checksum"] == first["recorded_checksum"] == sha256(r001)
    assert third["applied"] is None and third["recorded_checksum"] is None

    project.db("upgrade")
    assert project.db("status", "--check").returncode == 0


def test_changed_and_missing_files(project: FlaskProject) -> None:
    write_chain(project.versions, 3)
    project.db("upgrade")
    with (project.versions / "r002_create.py").open("a") as f:
        f.write("# edited after it was applied\n")
    (project.versions / "r003_create.py").unlink()

    out = project.db("status").stdout
    lines = revision_lines(out)
    assert lines["r001"].startswith("applied 2")
    assert lines["r002"].startswith("applied, file changed since (applied 2")
    assert lines["r003"].startswith("applied, file missing (applied 2")
    assert "revisions: 1 applied, 1 changed, 1 missing" in out

    proc = project.db("validate", check=False)
    assert proc.returncode == 1
    assert "r002: applied, file changed since" in proc.stdout
    assert "r003: applied, file missing" in proc.stdout
    assert proc.stderr.strip() == (
        "Error: applied revision(s) changed or missing: r002, r003; review them, then run "
        "'flask db validate --repair'"
    )
    check = project.db("status", "--check", check=False)
    assert check.returncode == 1
    assert "1 changed (r002); 1 missing (r003)" in check.stderr

    proc = project.db("validate", "--repair")
    assert "Recorded 2 revision(s) as reviewed" in proc.stdout
    assert project.db("validate").stdout.strip() == "Every applied revision matches its file."
    lines = revision_lines(project.db("status", "--check").stdout)
    assert lines["r002"].startswith("applied 2")
    assert "file missing" in lines["r003"] and "reviewed 2" in lines["r003"]


def test_a_long_history_shows_the_recent_revisions(sqlite_project: FlaskProject) -> None:
    write_chain(sqlite_project.versions, 14)
    sqlite_project.db("upgrade", "r013")
    with (sqlite_project.versions / "r002_create.py").open("a") as f:
        f.write("# edited\n")

    out = sqlite_project.db("status").stdout
    assert "... 2 earlier revisions applied, files unchanged (--all lists them)" in out
    lines = revision_lines(out)
    # The problem, the last ten unremarkable applied revisions, the pending one.
    assert list(lines) == ["r002", *(f"r{n:03d}" for n in range(4, 15))]
    assert lines["r014"].startswith("pending")

    out = sqlite_project.db("status", "--all").stdout
    assert "earlier revisions" not in out
    assert list(revision_lines(out)) == [f"r{n:03d}" for n in range(1, 15)]


def test_an_unreachable_database_is_one_line(sqlite_project: FlaskProject) -> None:
    write_chain(sqlite_project.versions, 1)
    url = "postgresql+psycopg://fv:s3cret@127.0.0.1:9/nowhere"
    for args in (("status",), ("status", "--format", "json"), ("validate",)):
        proc = sqlite_project.db(*args, check=False, DATABASE_URL=url)
        assert proc.returncode == 1, proc
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith(
            "Error: cannot use the database at postgresql+psycopg://fv:***@127.0.0.1:9/nowhere: "
        )
        assert "s3cret" not in proc.stdout + proc.stderr
    data = json.loads(
        sqlite_project.db("status", "--format", "json", check=False, DATABASE_URL=url).stdout
    )
    assert data["databases"][0]["error"].startswith("cannot use the database at")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.NullPool)


def test_a_damaged_ledger_is_said_in_one_line(project: FlaskProject, backend: str) -> None:
    write_chain(project.versions, 2)
    project.db("upgrade")
    engine = _engine(project.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE versioning_history")

    out = project.db("status").stdout
    assert "environment: unknown (no history ledger)" in out
    assert revision_lines(out) == {
        "r001": "applied (not recorded in the history ledger) create t_r001",
        "r002": "applied (not recorded in the history ledger) create t_r002",
    }
    assert project.db("validate").returncode == 0

    # A new step makes a new ledger, which marks what it finds as applied before history.
    write_chain(project.versions, 1, start=3)
    project.db("upgrade")
    lines = revision_lines(project.db("status").stdout)
    assert lines["r001"] == "applied before the history ledger existed create t_r001"
    assert lines["r003"].startswith("applied 2")
    assert project.db("validate").returncode == 0  # never a false alarm

    # Edited by hand: a column gone.
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE versioning_history DROP COLUMN checksum")
    engine.dispose()
    proc = project.db("status")
    assert "Traceback" not in proc.stderr
    damaged = [line for line in proc.stdout.splitlines()[1:] if "cannot be read" in line]
    assert damaged[0] == "  environment: unknown (the history ledger cannot be read)"
    assert damaged[1].startswith("  protected: unknown (the history ledger cannot be read")
    assert damaged[2].startswith(
        "  the history ledger (versioning_history) cannot be read and was ignored "
        "(protection unknown): "
    )
    assert set(revision_lines(proc.stdout)) == {"r001", "r002", "r003"}
    proc = project.db("validate", check=False)
    assert proc.returncode == 1
    assert "the history ledger (versioning_history) cannot be read" in proc.stderr


def test_values_edited_by_hand(sqlite_project: FlaskProject) -> None:
    write_chain(sqlite_project.versions, 1)
    sqlite_project.db("upgrade")
    engine = _engine(sqlite_project.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE versioning_history SET finished_at = 'last tuesday'")
    engine.dispose()
    proc = sqlite_project.db("status")
    assert "Traceback" not in proc.stderr
    assert "the history ledger (versioning_history) cannot be read and was ignored" in proc.stdout
    assert revision_lines(proc.stdout)["r001"].startswith("applied (not recorded")


def test_several_databases(tmp_path: Path) -> None:
    app = Flask("several", root_path=str(tmp_path))
    app.config["VERSIONING_ENV"] = "development"
    app.config["VERSIONING_DATABASE_URL"] = {
        "default": f"sqlite:///{tmp_path / 'main.db'}",
        "users": f"sqlite:///{tmp_path / 'users.db'}",
    }
    versioning = Versioning(app)
    write_chain(tmp_path / "migrations" / "versions", 2)
    write_chain(tmp_path / "migrations" / "binds" / "users" / "versions", 1)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "--bind", "users"]).exit_code == 0

    result = runner.invoke(args=["db", "status"])
    assert result.exit_code == 0, result.output
    assert "default: sqlite:///" in result.output and "users: sqlite:///" in result.output
    assert "revisions: 2 pending" in result.output and "revisions: 1 applied" in result.output
    result = runner.invoke(args=["db", "status", "--bind", "users", "--check"])
    assert result.exit_code == 0 and "default:" not in result.output
    result = runner.invoke(args=["db", "status", "--check"])
    assert result.exit_code == 1
    assert "the default database is not up to date: 2 pending (r001, r002)" in result.output

    with app.app_context():
        default, users = versioning.status()
        assert [r.state for r in default.revisions] == ["pending", "pending"]
        assert users.current == ("r001",) and users.up_to_date
        assert [s.database for s in versioning.status(bind="users")] == ["users"]
        assert versioning.heads(bind="users") == ["r001"]


# -- Alembic stays unloaded ---------------------------------------------------------------------

# Runs the flask command in-process and reports afterwards whether Alembic was ever imported.
WRAPPER = """
import sys

from flask.cli import main

code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] == "alembic"})
print("alembic imported: " + ("yes" if loaded else "no"), file=sys.stderr)
sys.exit(code)
"""


def run_wrapped(project: FlaskProject, *args: str) -> subprocess.CompletedProcess[str]:
    (project.path / "wrapped.py").write_text(WRAPPER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(FLASK_APP="app", DATABASE_URL=project.database_url, VERSIONING_ENV="development")
    proc = subprocess.run(
        [sys.executable, "wrapped.py", *args],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc
    return proc


@pytest.mark.process
def test_read_only_commands_do_not_import_alembic(sqlite_project: FlaskProject) -> None:
    write_chain(sqlite_project.versions, 3)
    sqlite_project.db("upgrade")

    # The first run fills the heads cache from the files, read as text; later runs read it.
    for _ in range(2):
        proc = run_wrapped(sqlite_project, "db", "current")
        assert (proc.stdout, proc.stderr) == ("r003 (head)\n", "alembic imported: no\n")
    proc = run_wrapped(sqlite_project, "db", "heads")
    assert (proc.stdout, proc.stderr) == ("r003 (head)\n", "alembic imported: no\n")
    proc = run_wrapped(sqlite_project, "db", "status")
    assert "r003  applied" in proc.stdout and proc.stderr == "alembic imported: no\n"
    proc = run_wrapped(sqlite_project, "db", "validate")
    assert proc.stderr == "alembic imported: no\n"

    # The wrapper itself can see Alembic when it is loaded: -v needs Alembic's objects.
    proc = run_wrapped(sqlite_project, "db", "heads", "-v")
    assert "Rev: r003 (head)" in proc.stdout and proc.stderr == "alembic imported: yes\n"


def _alembic_heads(versioning: Versioning) -> str:
    """``alembic heads`` as Alembic's own objects print it, in its order."""
    script = ScriptDirectory.from_config(versioning.alembic_config())
    return "".join(
        script.get_revision(head).cmd_format(False, include_branches=True, tree_indicators=False)
        + "\n"
        for head in script.get_heads()
    )


@pytest.mark.parametrize("layout", ["linear", "branches", "labels", "depends_on", "merge"])
def test_heads_prints_what_alembic_prints(tmp_path: Path, sqlite_url: str, layout: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 2)
    if layout == "branches":  # two heads, files in an order that is not the ids' order
        write_revision(versions, "r00z", "r001", name="a_first_file.py")
        write_revision(versions, "r00a", "r001", name="b_second_file.py")
    elif layout == "labels":
        write_revision(versions, "r003", "r002", labels="feature")
        write_revision(versions, "r004", "r003")
    elif layout == "depends_on":
        write_revision(versions, "r003", None, depends="r002")
    elif layout == "merge":
        write_revision(versions, "r003", "r001")
        write_revision(versions, "r004", ("r002", "r003"))
    app = Flask("heads", root_path=str(tmp_path))
    app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    versioning = Versioning(app)
    result = app.test_cli_runner().invoke(args=["db", "heads"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert result.output == _alembic_heads(versioning)
        expected = {
            "linear": "r002 (head)\n",
            "branches": "r00z (head)\nr00a (head)\nr002 (head)\n",
            "labels": "r004 (feature) (head)\n",
            "depends_on": "r002 (effective head)\nr003 (head)\n",
            "merge": "r004 (head)\n",
        }[layout]
        assert result.output == expected
        assert versioning.heads() == sorted(line.split()[0] for line in expected.splitlines())


def test_current_marks_heads(tmp_path: Path, sqlite_url: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 2)
    write_revision(versions, "r003", "r001")
    app = Flask("current", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=sqlite_url, VERSIONING_ENV="development")
    Versioning(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "r002"]).exit_code == 0
    assert runner.invoke(args=["db", "current"]).output == "r002 (head)\n"
    result = runner.invoke(args=["db", "current", "--check-heads"])
    assert result.exit_code == 1
    assert "not at all heads (missing: r003)" in result.output
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    assert runner.invoke(args=["db", "current"]).output == ""


# -- validation at start --------------------------------------------------------------------------


def _start(tmp_path: Path, url: str, **config: object) -> Flask:
    app = Flask("startapp", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development", **config)
    Versioning(app)
    return app


def test_validate_on_start(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_chain(tmp_path / "migrations" / "versions", 2)
    _start(tmp_path, database_url, VERSIONING_AUTO_UPGRADE=True)
    assert version_rows(database_url) == ["r002"]
    _start(tmp_path, database_url, VERSIONING_VALIDATE_ON_START="refuse")  # all is well

    with (tmp_path / "migrations" / "versions" / "r001_create.py").open("a") as f:
        f.write("# edited\n")
    write_chain(tmp_path / "migrations" / "versions", 1, start=3)
    with pytest.raises(HistoryMismatch) as info:
        _start(
            tmp_path,
            database_url,
            VERSIONING_VALIDATE_ON_START="refuse",
            VERSIONING_AUTO_UPGRADE=True,
        )
    assert info.value.revisions == ("r001",)
    assert str(info.value) == (
        "the default database has applied revisions whose files changed or vanished since: "
        "r001 (file changed since); review them, then record them with 'flask db validate "
        "--repair' (VERSIONING_VALIDATE_ON_START = 'refuse')"
    )
    assert version_rows(database_url) == ["r002"]  # refused before upgrading

    caplog.set_level(logging.INFO, logger="flask_versioning")
    _start(tmp_path, database_url, VERSIONING_VALIDATE_ON_START="log", VERSIONING_AUTO_UPGRADE=True)
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "r001 (file changed since)" in error.message
    assert "(VERSIONING_VALIDATE_ON_START = 'log')" in error.message
    assert version_rows(database_url) == ["r003"]


def test_validate_on_start_leaves_flask_db_alone(sqlite_project: FlaskProject) -> None:
    write_chain(sqlite_project.versions, 1)
    sqlite_project.db("upgrade")
    with (sqlite_project.versions / "r001_create.py").open("a") as f:
        f.write("# edited\n")
    refuse = {"VERSIONING_VALIDATE_ON_START": "refuse"}
    proc = sqlite_project.flask("routes", check=False, **refuse)
    assert proc.returncode != 0
    assert "r001 (file changed since)" in proc.stderr
    sqlite_project.db("validate", "--repair", **refuse)
    sqlite_project.flask("routes", **refuse)


def test_branches_are_listed_in_the_order_they_were_applied(
    tmp_path: Path, sqlite_url: str
) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 1)
    write_revision(versions, "r002a", "r001")
    write_revision(versions, "r002b", "r001")
    write_revision(versions, "r003", ("r002a", "r002b"))
    write_revision(versions, "r004", "r003", depends="r002b")
    app = Flask("branches", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=sqlite_url, VERSIONING_ENV="development")
    versioning = Versioning(app)
    with app.app_context():
        versioning.upgrade("r002b")
        versioning.upgrade("r002a")
        [found] = versioning.status()
        assert [(r.revision, r.state) for r in found.revisions] == [
            ("r001", "applied"),
            ("r002b", "applied"),
            ("r002a", "applied"),
            ("r003", "pending"),
            ("r004", "pending"),
        ]
        assert found.heads == ("r004",) and set(found.current) == {"r002a", "r002b"}
        assert found.revisions[3].down_revisions == ("r002a", "r002b")


def test_a_file_only_alembic_can_read(tmp_path: Path, sqlite_url: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    write_chain(versions, 2)
    (versions / "r003_computed.py").write_text(
        '"""computed"""\nrevision = "r00" + "3"\ndown_revision = "r002"\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    app = Flask("computed", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=sqlite_url, VERSIONING_ENV="development")
    versioning = Versioning(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "r002"]).exit_code == 0
    result = runner.invoke(args=["db", "status"])
    assert result.exit_code == 0, result.output
    lines = revision_lines(result.output)
    assert lines["r002"].startswith("applied 2") and lines["r003"] == "pending computed"
    assert runner.invoke(args=["db", "heads"]).output == "r003 (head)\n"
    with app.app_context():
        assert versioning.heads() == ["r003"]


UNUSUAL = {
    # Alembic's own current template: annotations, Union types, a docstring with two parts.
    "a1_annotated.py": '''"""add accounts

Revision ID: a1
Revises:
"""
from typing import Sequence, Union

revision: str = "a1"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ("accounts",)
depends_on: Union[str, Sequence[str], None] = None
''',
    # Values over several lines, comments, a string in parentheses, CRLF line endings.
    "a2_multiline.py": (
        '"""merge\\r\\n\\r\\nthe rest"""\r\nrevision = ("a2")  # the id\r\n'
        'down_revision = (\r\n    "a1",\r\n    "b1",\r\n)\r\nbranch_labels = None\r\n'
        "depends_on = ['b1']\r\n"
    ),
    # No docstring first; a backslash in the message; a single-quoted docstring.
    "b1_plain.py": (
        "# -*- coding: utf-8 -*-\n'''tab\\\\tsep'''\nrevision = 'b1'\ndown_revision = None\n"
    ),
    "c1_nodoc.py": "import os\nrevision = 'c1'\ndown_revision = 'a2'\n",
}


def test_files_read_as_text_agree_with_alembic(tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from flask_versioning._alembic.heads import plain_heads
    from flask_versioning._alembic.revision_files import read_revision_files

    versions = tmp_path / "versions"
    versions.mkdir()
    for name, text in UNUSUAL.items():
        (versions / name).write_bytes(text.encode())
    files = read_revision_files([versions])
    assert files is not None
    config = Config()
    config.set_main_option("script_location", str(tmp_path))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions))
    script = ScriptDirectory.from_config(config)
    by_alembic = {s.revision: s for s in script.walk_revisions()}
    assert [f.revision for f in files] == ["a1", "a2", "b1", "c1"]
    for file in files:
        theirs = by_alembic[file.revision]
        assert file.message == theirs.doc, file.revision
        assert file.down_revisions == theirs._versioned_down_revisions
        assert file.path == Path(theirs.path)
    assert files[0].branch_labels == ("accounts",) and files[1].depends_on == ("b1",)
    assert plain_heads(files) is None  # labels and dependencies: Alembic decides
    assert script.get_heads() == ["c1"]
