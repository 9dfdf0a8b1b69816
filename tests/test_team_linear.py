"""The linear-history guard: ``versions/HEADS`` written by the commands that change the heads,
on for new directories only, checked by ``flask db check``, and guarding autogenerate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FlaskProject
from flask import Flask

from flask_versioning import ConfigurationError, RevisionError, Versioning
from flask_versioning._linear.guard import heads_file_problem

FOREIGN_ENV = "# Flask-Migrate's env.py\nfrom flask import current_app\n"
REVISION = '''"""{message}

Revision ID: {rev}
Revises: {down}
Create Date: 2024-01-01 00:00:00

"""
{imports}
revision = {rev!r}
down_revision = {down_value!r}
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
'''


def write_revision(
    versions: Path, rev: str, down: str | None, message: str = "", imports: str = ""
) -> Path:
    path = versions / f"{rev}_{message.replace(' ', '_') or 'r'}.py"
    path.write_text(
        REVISION.format(
            message=message or rev,
            rev=rev,
            down=down or "",
            down_value=down,
            imports=imports,
        )
    )
    return path


def heads_lines(directory: Path) -> list[str]:
    text = (directory / "versions" / "HEADS").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def make_app(root: Path, url: str, **config: object) -> tuple[Flask, Versioning]:
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app = Flask("linearapp", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development", **config)
    return app, Versioning(app, metadata=metadata)


@pytest.fixture
def api(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Flask, Versioning]]:
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        yield app, versioning


def test_a_new_directory_starts_with_an_empty_heads_file(
    api: tuple[Flask, Versioning], tmp_path: Path
) -> None:
    _, versioning = api
    directory = versioning.init()
    heads = directory / "versions" / "HEADS"
    assert heads.is_file()
    assert heads_lines(directory) == []
    assert heads.read_text().startswith("# ")  # says what to do on a conflict
    assert "flask db rebase" in heads.read_text()
    assert heads_file_problem(versioning.database()) is None


def test_revision_migrate_and_merge_rewrite_it(api: tuple[Flask, Versioning]) -> None:
    _, versioning = api
    first = versioning.migrate("create notes")
    assert first is not None
    directory = versioning.init()
    assert heads_lines(directory) == [f"{first.revision} create notes"]
    versioning.upgrade()
    (second,) = versioning.revision("a second\n\nwith a long description")
    assert heads_lines(directory) == [f"{second.revision} a second"]
    (branch,) = versioning.revision("a branch", head=first.revision, splice=True)
    assert heads_lines(directory) == sorted(
        [f"{second.revision} a second", f"{branch.revision} a branch"]
    )
    assert heads_file_problem(versioning.database()) is None
    merged = versioning.merge(message="join")
    assert heads_lines(directory) == [f"{merged.revision} join"]
    # migrate with nothing to write leaves the file alone, byte for byte.
    before = (directory / "versions" / "HEADS").read_bytes()
    versioning.upgrade()
    assert versioning.migrate("nothing") is None
    assert (directory / "versions" / "HEADS").read_bytes() == before


def test_a_stale_file_stops_new_revisions_and_says_what_to_run(
    api: tuple[Flask, Versioning],
) -> None:
    _, versioning = api
    directory = versioning.init()
    versions = directory / "versions"
    write_revision(versions, "aaa111", None, "base")
    versioning.init(linear=True)
    # Two branches each added a revision; the merge kept one side of HEADS.
    write_revision(versions, "bbb222", "aaa111", "add b")
    write_revision(versions, "ccc333", "aaa111", "add c")
    (versions / "HEADS").write_text("bbb222 add b\n")
    problem = heads_file_problem(versioning.database())
    assert problem is not None
    assert "HEADS lists bbb222 (add b)" in problem
    assert "heads are bbb222 (add b), ccc333 (add c)" in problem
    assert "'flask db rebase ccc333' to put it after bbb222" in problem
    before = sorted(p.name for p in versions.iterdir())
    with pytest.raises(RevisionError, match=r"no revision was written: .*flask db rebase ccc333"):
        versioning.revision("on top", head="bbb222")
    with pytest.raises(RevisionError, match="no revision was written"):
        versioning.migrate("on top", head="bbb222")
    assert sorted(p.name for p in versions.iterdir()) == before


def test_conflict_markers_name_both_sides_and_the_incoming_one_to_rebase(
    api: tuple[Flask, Versioning],
) -> None:
    _, versioning = api
    versions = versioning.init() / "versions"
    write_revision(versions, "aaa111", None, "base")
    write_revision(versions, "bbb222", "aaa111", "ours")
    write_revision(versions, "ccc333", "aaa111", "theirs")
    (versions / "HEADS").write_text(
        "# header\n<<<<<<< HEAD\nbbb222 ours\n=======\nccc333 theirs\n>>>>>>> feature\n"
    )
    problem = heads_file_problem(versioning.database())
    assert problem is not None
    assert "still has git's conflict markers" in problem
    assert "'flask db rebase ccc333' to put it after bbb222" in problem


def test_a_file_lost_or_added_by_another_tool_points_to_init_linear(
    api: tuple[Flask, Versioning],
) -> None:
    _, versioning = api
    versions = versioning.init() / "versions"
    write_revision(versions, "aaa111", None, "base")
    (versions / "HEADS").write_text("aaa111 base\n")
    assert heads_file_problem(versioning.database()) is None
    write_revision(versions, "bbb222", "aaa111", "by alembic")
    problem = heads_file_problem(versioning.database())
    assert problem is not None and "HEADS lists aaa111 (base)" in problem
    assert "heads are bbb222 (by alembic)" in problem
    assert "added without rewriting HEADS" in problem and "'flask db init --linear'" in problem
    (versions / "HEADS").write_text("zzz999 gone\n")
    problem = heads_file_problem(versioning.database())
    assert problem is not None and "no revision file has zzz999" in problem
    versioning.init(linear=True)
    assert heads_lines(versions.parent) == ["bbb222 by alembic"]
    assert heads_file_problem(versioning.database()) is None


def test_heads_are_found_without_importing_the_revisions(
    api: tuple[Flask, Versioning],
) -> None:
    _, versioning = api
    versions = versioning.init() / "versions"
    # Importing this file would fail; reading it does not.
    write_revision(versions, "aaa111", None, "base", imports="import module_that_is_missing\n")
    (versions / "HEADS").write_text("bbb222 wrong\n")
    problem = heads_file_problem(versioning.database())
    assert problem is not None and "heads are aaa111 (base)" in problem


def test_an_existing_directory_stays_without_the_file_until_init_linear(
    tmp_path: Path, sqlite_url: str
) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text(FOREIGN_ENV)
    write_revision(migrations / "versions", "aaa111", None, "from flask migrate")
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        versioning.upgrade()
        (script,) = versioning.revision("next")
        assert not (migrations / "versions" / "HEADS").exists()
        assert heads_file_problem(versioning.database()) is None
        versioning.init(linear=True)
        assert heads_lines(migrations) == [f"{script.revision} next"]
    # Our own directory cloned from git (env.py present, HEADS deleted) stays off too.
    (migrations / "versions" / "HEADS").unlink()
    (migrations / "env.py").write_text("from flask_versioning import run_migrations\n")
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        versioning.revision("again")
        assert not (migrations / "versions" / "HEADS").exists()


def test_turned_off_the_file_is_neither_written_nor_read(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url, VERSIONING_LINEAR_HISTORY="false")
    with app.app_context():
        directory = versioning.init()
        assert not (directory / "versions" / "HEADS").exists()
        (directory / "versions" / "HEADS").write_text("stale 1\n")
        versioning.revision("one")
        assert (directory / "versions" / "HEADS").read_text() == "stale 1\n"
        assert heads_file_problem(versioning.database()) is None
        with pytest.raises(ConfigurationError, match="VERSIONING_LINEAR_HISTORY is False"):
            versioning.init(linear=True)
    with pytest.raises(ConfigurationError, match="VERSIONING_LINEAR_HISTORY must be True"):
        make_app(tmp_path, sqlite_url, VERSIONING_LINEAR_HISTORY="sometimes")


# -- through the commands, on every backend ------------------------------------------------------


def _revision_id(output: str) -> str:
    match = re.search(r"versions/([0-9a-f]{12})_", output)
    assert match, output
    return match.group(1)


def test_check_fails_naming_both_sides_and_migrate_refuses(project: FlaskProject) -> None:
    first = _revision_id(project.db("migrate", "-m", "users").stdout)
    project.db("upgrade")
    assert "No differences" in project.db("check").stdout
    # A second head arrives the way a merge brings it: a file git added, HEADS untouched.
    (project.versions / "bbbbbbbbbbbb_other.py").write_text(
        REVISION.format(message="other", rev="bbbbbbbbbbbb", down="", down_value=None, imports="")
    )
    proc = project.db("check", check=False)
    assert proc.returncode == 1
    assert "The models were not compared" in proc.stdout
    (error,) = proc.stderr.splitlines()
    assert error.startswith("Error: migrations/versions/HEADS lists ")
    assert f"{first} (users)" in error and "bbbbbbbbbbbb (other)" in error
    assert "flask db rebase bbbbbbbbbbbb" in error

    before = project.revision_files()
    proc = project.db("migrate", "-m", "more", check=False, TEST_MODELS="user,post")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: no revision was written: ")
    assert "flask db rebase bbbbbbbbbbbb" in proc.stderr and "Traceback" not in proc.stderr
    assert project.revision_files() == before

    out = project.db("check", "--format", "json", check=False).stdout
    assert '"heads_problem": "migrations/versions/HEADS lists' in out


def test_init_linear_guards_a_directory_made_without_it(project: FlaskProject) -> None:
    project.db("migrate", "-m", "users", VERSIONING_LINEAR_HISTORY="0")
    heads = project.versions / "HEADS"
    assert not heads.exists()
    out = project.db("init", "--linear").stdout
    assert "heads recorded in versions/HEADS" in out
    (rev,) = [p.name.split("_")[0] for p in project.revision_files()]
    assert heads.read_text().splitlines()[-1] == f"{rev} users"
    project.db("upgrade")
    assert project.db("check").returncode == 0
