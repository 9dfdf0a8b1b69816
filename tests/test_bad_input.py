"""Bad input: one line on stderr, a non-zero exit, no traceback, no password, no damage."""

from __future__ import annotations

import os

import pytest
from conftest import APP_SOURCE, POSTGRES_URL, FlaskProject, table_names, version_rows


def _assert_one_line_error(proc: object, *needles: str) -> str:
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode != 0  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def chain(project: FlaskProject) -> FlaskProject:
    project.db("revision", "-m", "one", "--rev-id", "aaa111")
    project.db("revision", "-m", "two", "--rev-id", "aaa222")
    project.db("upgrade")
    return project


def test_unknown_and_ambiguous_revisions(chain: FlaskProject) -> None:
    _assert_one_line_error(chain.db("upgrade", "nope", check=False), "nope")
    _assert_one_line_error(chain.db("downgrade", "nope", check=False), "nope")
    _assert_one_line_error(chain.db("show", "nope", check=False), "nope")
    _assert_one_line_error(chain.db("upgrade", "aaa", check=False), "aaa")  # ambiguous prefix
    _assert_one_line_error(chain.db("stamp", "nope", check=False), "nope")
    _assert_one_line_error(chain.db("downgrade", "-5", check=False))
    # nothing moved
    assert version_rows(chain.database_url) == ["aaa222"]


def test_history_range_must_have_a_colon(sqlite_project: FlaskProject) -> None:
    _assert_one_line_error(sqlite_project.db("history", "-r", "base", check=False), "[start]:[end]")


def test_unreachable_database_masks_the_password(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path))
    (path / "app.py").write_text(APP_SOURCE)
    # A port nothing listens on, with a password that must never be printed.
    url = "postgresql+psycopg://scott:tiger-secret@127.0.0.1:1/nowhere"
    project = FlaskProject(path, url)
    for args in (("current",), ("upgrade",), ("current", "-v")):
        proc = project.db(*args, check=False)
        line = _assert_one_line_error(proc, "cannot use the database at")
        assert "tiger-secret" not in proc.stderr + proc.stdout
        assert "scott:***@127.0.0.1:1/nowhere" in line


def test_wrong_password_is_masked_in_driver_messages(tmp_path: object) -> None:
    from pathlib import Path

    import sqlalchemy as sa

    path = Path(str(tmp_path))
    (path / "app.py").write_text(APP_SOURCE)
    # Database that does not exist on the real server: the driver's error comes back.
    url = sa.make_url(POSTGRES_URL).set(password="hunter2", database="fv_missing_db")
    project = FlaskProject(path, url.render_as_string(hide_password=False))
    proc = project.db("upgrade", check=False)
    assert proc.returncode == 1
    assert "hunter2" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_missing_models(tmp_path: object, sqlite_url: str) -> None:
    from pathlib import Path

    path = Path(str(tmp_path))
    (path / "app.py").write_text(
        "from flask import Flask\n"
        "from flask_versioning import Versioning\n"
        "import os\n"
        "app = Flask(__name__)\n"
        "app.config['SQLALCHEMY_DATABASE_URI'] = os.environ['DATABASE_URL']\n"
        "Versioning(app)\n"
    )
    project = FlaskProject(path, sqlite_url)
    _assert_one_line_error(project.db("migrate", check=False), "models")
    _assert_one_line_error(project.db("check", check=False), "models")
    # Without models, hand-written revisions still work.
    project.db("revision", "-m", "by hand")
    project.db("upgrade")
    assert len(version_rows(sqlite_url)) == 1


def test_message_cannot_escape_the_directory(sqlite_project: FlaskProject) -> None:
    sqlite_project.db("revision", "-m", "../../x")
    files = sqlite_project.revision_files()
    assert len(files) == 1
    assert files[0].parent == sqlite_project.versions
    assert not list(sqlite_project.path.parent.glob("*x.py"))


@pytest.mark.parametrize("rev_id", ["../evil", "a b", "x;y", "", "a" * 65])
def test_unsafe_rev_id_is_refused(sqlite_project: FlaskProject, rev_id: str) -> None:
    proc = sqlite_project.db("revision", "-m", "x", "--rev-id", rev_id, check=False)
    _assert_one_line_error(proc, "--rev-id")
    assert sqlite_project.revision_files() == []


def test_version_path_must_stay_inside(sqlite_project: FlaskProject) -> None:
    proc = sqlite_project.db(
        "revision", "-m", "x", "--version-path", "../../elsewhere", check=False
    )
    _assert_one_line_error(proc, "--version-path")


def test_multiple_heads_where_one_is_needed(sqlite_project: FlaskProject) -> None:
    p = sqlite_project
    p.db("revision", "-m", "root", "--rev-id", "root")
    p.db("revision", "-m", "a", "--rev-id", "heada", "--head", "root")
    p.db("revision", "-m", "b", "--rev-id", "headb", "--head", "root", "--splice")
    line = _assert_one_line_error(p.db("upgrade", "head", check=False), "heada", "headb")
    assert "flask db merge" in line
    _assert_one_line_error(p.db("revision", "-m", "c", check=False), "heada", "headb")
    assert table_names(p.database_url) <= {"alembic_version"}


def test_traceback_flag_shows_the_traceback(sqlite_project: FlaskProject) -> None:
    proc = sqlite_project.db("--traceback", "upgrade", "nope", check=False)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_failing_revision_says_where_the_database_stands(project: FlaskProject) -> None:
    project.db("revision", "-m", "good", "--rev-id", "good01")
    bad = project.versions / "bad01_bad.py"
    bad.write_text(
        '"""bad"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n"
        "revision = 'bad01'\ndown_revision = 'good01'\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n"
        "    op.create_table('half', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute('SELECT * FROM no_such_table')\n"
        "def downgrade():\n"
        "    op.drop_table('half')\n"
    )
    project.db("init", "--linear")  # written by hand: record it in versions/HEADS
    proc = project.db("upgrade", check=False)
    line = _assert_one_line_error(proc, "revision bad01 failed", "good01")
    assert "Applied good01" in proc.stdout
    assert version_rows(project.database_url) == ["good01"]
    if project.database_url.startswith("postgresql"):
        assert "rolled back" in line
        assert "half" not in table_names(project.database_url)
    else:
        assert "cannot roll back DDL" in line


def test_no_password_in_verbose_current(project: FlaskProject) -> None:
    if not project.database_url.startswith("postgresql"):
        pytest.skip("trust auth accepts any password only on the PostgreSQL server")
    import sqlalchemy as sa

    url = sa.make_url(project.database_url).set(password="s3cret-pw")
    project.database_url = url.render_as_string(hide_password=False)
    out = project.db("current", "-v").stdout
    assert "s3cret-pw" not in out
    assert "***" in out


def test_environment_is_clean() -> None:
    # The walkthroughs rely on FLASK_DEBUG being unset in child processes.
    assert "FLASK_APP" not in os.environ
