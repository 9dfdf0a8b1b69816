"""Moving a real project from Flask-Migrate: its folder carries ``[post_write_hooks]`` in
``alembic.ini`` and ``transaction_per_migration=False`` in ``env.py``, as real projects' do.

- used as it is (``VERSIONING_DIRECTORY`` pointing at it), the hooks still format new files;
- ``flask db adopt`` prints the exact settings that keep both;
- with every revision in one transaction, a failure names the revision that failed and says
  that nothing was kept (the steps before it were rolled back with it), on PostgreSQL;
- Flask-Migrate's own autogenerate, run on a database migrated here with
  ``include_name=flask_versioning.include_name``, proposes no drop of our tables.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import FLASK, table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")

REVISION = '''"""{message}"""
import os

import sqlalchemy as sa
from alembic import op

revision = '{rev}'
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    if os.environ.get("FAIL") == "{rev}-up":
        op.execute("SELECT * FROM no_such_table")
{up}


def downgrade():
    if os.environ.get("FAIL") == "{rev}-down":
        op.execute("SELECT * FROM no_such_table")
{down_body}
'''

REVISIONS = [
    (
        "a1",
        None,
        "marks",
        "    op.create_table('marks', sa.Column('id', sa.Integer, primary_key=True))",
        "    op.drop_table('marks')",
    ),
    (
        "b2",
        "a1",
        "first mark",
        "    op.execute('INSERT INTO marks (id) VALUES (1)')",
        "    op.execute('DELETE FROM marks WHERE id = 1')",
    ),
    (
        "c3",
        "b2",
        "second mark",
        "    op.execute('INSERT INTO marks (id) VALUES (2)')",
        "    op.execute('DELETE FROM marks WHERE id = 2')",
    ),
]


def flask_migrate_folder(directory: Path) -> Path:
    """A folder made by Flask-Migrate's ``init`` (its templates, through Alembic), then given
    what real projects add: a ruff hook, one transaction per run, three revisions."""
    from alembic import command
    from flask_migrate import Config

    config = Config()
    config.set_main_option("script_location", str(directory))
    config.config_file_name = str(directory / "alembic.ini")
    command.init(config, str(directory), template="flask")
    assert RUFF is not None, "ruff is part of the lint extra"
    with (directory / "alembic.ini").open("a") as ini:
        ini.write(
            "\n[post_write_hooks]\n"
            "hooks = ruff_format\n"
            "ruff_format.type = exec\n"
            f"ruff_format.executable = {RUFF}\n"
            "ruff_format.options = format --no-cache REVISION_SCRIPT_FILENAME\n"
        )
    env_py = directory / "env.py"
    text = env_py.read_text()
    assert "**conf_args" in text
    env_py.write_text(text.replace("**conf_args", "transaction_per_migration=False,\n**conf_args"))
    for rev, down, message, up, down_body in REVISIONS:
        (directory / "versions" / f"{rev}_rev.py").write_text(
            REVISION.format(rev=rev, down=down, message=message, up=up, down_body=down_body)
        )
    return directory


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Flask, SQLAlchemy]] = []

    def make(url: str, **config: Any) -> tuple[Flask, Versioning]:
        app = Flask("myapp", root_path=str(tmp_path / "myapp"))
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        app.config["VERSIONING_ENV"] = "development"
        app.config.update(config)
        db = SQLAlchemy(app)
        made.append((app, db))
        return app, Versioning(app, db)

    yield make
    for app, db in made:
        with app.app_context():
            db.engine.dispose()


# -- the folder used as it is -----------------------------------------------------------------


def test_an_untouched_folder_keeps_running_its_post_write_hooks(
    tmp_path: Path, sqlite_url: str, make_app: Any
) -> None:
    folder = flask_migrate_folder(tmp_path / "migrations")
    app, _ = make_app(sqlite_url, VERSIONING_DIRECTORY=str(folder))
    result = app.test_cli_runner().invoke(args=["db", "revision", "-m", "formatted"])
    assert result.exit_code == 0, result.output
    (new,) = set(folder.glob("versions/*_formatted.py"))
    text = new.read_text()
    # Flask-Migrate's template writes revision = '...'; ruff format, the hook, makes it "...".
    assert re.search(r'^revision = "\w+"$', text, re.M), text
    assert "revision = '" not in text
    assert "transaction_per_migration=False" in (folder / "env.py").read_text()  # untouched


# -- adopt --------------------------------------------------------------------------------------


def test_adopt_prints_the_settings_that_keep_the_hooks_and_the_transaction(
    tmp_path: Path, sqlite_url: str, make_app: Any
) -> None:
    folder = flask_migrate_folder(tmp_path / "migrations")
    app, _ = make_app(sqlite_url)
    result = app.test_cli_runner().invoke(args=["db", "adopt", str(folder)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("Note: ")]
    (hooks_note,) = [n for n in notes if "post_write_hooks" in n]
    (transaction_note,) = [n for n in notes if "transaction_per_migration" in n]
    assert "alembic.ini has [post_write_hooks] (ruff_format)" in hooks_note
    assert 'VERSIONING_CONTEXT = {"transaction_per_migration": False}' in transaction_note
    assert transaction_note.startswith("Note: env.py sets transaction_per_migration = False")

    # The setting printed is the one to paste: with it, new revisions are formatted again.
    setting = hooks_note.split("set VERSIONING_POST_WRITE_HOOKS = ", 1)[1]
    hooks = ast.literal_eval(setting)
    assert hooks["ruff_format.executable"] == RUFF
    adopted = tmp_path / "myapp" / "migrations"
    assert not (adopted / "alembic.ini").exists()
    app, _ = make_app(sqlite_url, VERSIONING_POST_WRITE_HOOKS=hooks)
    result = app.test_cli_runner().invoke(args=["db", "revision", "-m", "formatted"])
    assert result.exit_code == 0, result.output
    (new,) = set(adopted.glob("versions/*_formatted.py"))
    assert re.search(r'^revision = "\w+"$', new.read_text(), re.M)


# -- one transaction for every step -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"])
def test_one_transaction_downgrade_names_the_failing_revision_and_keeps_nothing(
    tmp_path: Path,
    database_url: str,
    make_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = flask_migrate_folder(tmp_path / "migrations")
    app, _ = make_app(
        database_url,
        VERSIONING_DIRECTORY=str(folder),
        VERSIONING_CONTEXT={"transaction_per_migration": False},
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert version_rows(database_url) == ["c3"]

    monkeypatch.setenv("FAIL", "a1-down")
    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 1
    # c3 and b2 were reverted, then a1 failed, all in one transaction: none was kept, and
    # nothing claims otherwise.
    assert "Reverted" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: revision a1 failed: ProgrammingError:"), error
    assert (
        "its changes were rolled back, and so were those of c3, b2, which ran before it in the "
        "same transaction: nothing was kept; the database is at c3)" in error
    )
    assert version_rows(database_url) == ["c3"]
    assert _marks(database_url) == [1, 2]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_one_transaction_upgrade_names_the_failing_revision_and_keeps_nothing(
    tmp_path: Path,
    database_url: str,
    make_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = flask_migrate_folder(tmp_path / "migrations")
    app, _ = make_app(
        database_url,
        VERSIONING_DIRECTORY=str(folder),
        VERSIONING_CONTEXT={"transaction_per_migration": False},
    )
    monkeypatch.setenv("FAIL", "c3-up")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    assert "Applied" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: revision c3 failed: ProgrammingError:"), error
    assert (
        "and so were those of a1, b2, which ran before it in the same transaction: nothing "
        "was kept; the database is at base (no revision))" in error
    )
    assert "marks" not in table_names(database_url)

    # Without the failure the same run reports each step, once they are committed.
    monkeypatch.delenv("FAIL")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    applied = [line.split()[1] for line in result.output.splitlines() if line.startswith("Applied")]
    assert applied == ["a1", "b2", "c3"]
    assert version_rows(database_url) == ["c3"]


def _marks(url: str) -> list[int]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(sa.text("SELECT id FROM marks ORDER BY id"))]
    finally:
        engine.dispose()


# -- both tools side by side --------------------------------------------------------------------

SIDE_BY_SIDE_APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Mark(db.Model):
    __tablename__ = "marks"
    id = sa.Column(sa.Integer, primary_key=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    if os.environ.get("FILTER"):
        from flask_versioning import include_name

        Migrate(app, db, include_name=include_name)
    else:
        Migrate(app, db)
    return app
"""


@pytest.mark.process
def test_flask_migrate_autogenerate_with_include_name_drops_none_of_our_tables(
    tmp_path: Path, sqlite_url: str, make_app: Any
) -> None:
    folder = flask_migrate_folder(tmp_path / "migrations")
    app, versioning = make_app(sqlite_url, VERSIONING_DIRECTORY=str(folder))

    @versioning.seed("development")
    def one_mark(session: Any) -> None:
        session.execute(sa.text("INSERT INTO marks (id) VALUES (9)"))

    with app.app_context():
        versioning.upgrade()
        versioning.run_seeds()
    assert {"versioning_history", "versioning_seeds"} <= table_names(sqlite_url)
    (tmp_path / "app.py").write_text(SIDE_BY_SIDE_APP)
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": sqlite_url}
    env.pop("FLASK_DEBUG", None)

    def autogenerate(**extra: str) -> tuple[str, str | None]:
        """Flask-Migrate's ``flask db migrate``: its output and the file it wrote, if any."""
        proc = subprocess.run(
            [FLASK, "db", "migrate", "-m", "side by side"],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        found = list(folder.glob("versions/*_side_by_side.py"))
        text = found[0].read_text() if found else None
        for path in found:
            path.unlink()
        return output, text

    # Flask-Migrate's own env.py, unfiltered, would drop our ledger: the test can fail.
    _, text = autogenerate()
    assert text is not None
    # (The folder's ruff hook formats the file: either quote.)
    for table in ("versioning_history", "versioning_seeds"):
        assert re.search(rf"op\.drop_table\(['\"]{table}['\"]\)", text), text
    # With the filter, nothing differs: Flask-Migrate writes no revision at all.
    output, text = autogenerate(FILTER="1")
    assert text is None
    assert "No changes in schema detected." in output
