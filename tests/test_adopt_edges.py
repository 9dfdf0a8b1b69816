"""``Versioning.adopt`` / ``flask db adopt`` beyond the happy path of test_flask_migrate.py.

Folders are laid out the way Flask-Migrate leaves them (env.py, alembic.ini, README,
script.py.mako, versions/), written by hand so each test controls exactly one oddity. What is
checked is what a user sees: which files moved, which stayed byte for byte, the refusal
messages (with nothing changed on disk), the notes about alembic.ini options, and that the
adopted folder really migrates a database.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FLASK, table_names, version_rows
from flask import Flask

from flask_versioning import AdoptError, Versioning

FOREIGN_ENV = "from flask import current_app\n# Flask-Migrate's env.py\nmigrate = None\n"
SINGLE_README = "Single-database configuration for Flask.\n"
MULTI_README = "Multi-database configuration for Flask.\n"
SINGLE_MAKO = '"""${message}"""\nrevision = ${repr(up_revision)}\n'
MULTI_MAKO = '"""${message}"""\ndef upgrade(engine_name):\n    pass\n'

REVISION = '''"""create notes

Revision ID: aaa111
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "aaa111"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("notes")
'''


def _folder(path: Path, *, ini: str | None = None, readme: str = SINGLE_README) -> Path:
    """A Flask-Migrate style folder at ``path`` with one revision; returns ``path``."""
    (path / "versions").mkdir(parents=True)
    (path / "versions" / "aaa111_create_notes.py").write_text(REVISION)
    (path / "env.py").write_text(FOREIGN_ENV)
    (path / "script.py.mako").write_text(SINGLE_MAKO)
    (path / "README").write_text(readme)
    if ini is not None:
        (path / "alembic.ini").write_text(ini)
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Flask, Versioning]]:
    """A plain-SQLAlchemy app whose configured directory is ``<tmp>/pkg/migrations``."""
    flask_app = Flask("adoptapp", root_path=str(tmp_path / "pkg"))
    flask_app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    flask_app.config["VERSIONING_ENV"] = "development"
    versioning = Versioning(flask_app, metadata=sa.MetaData())
    with flask_app.app_context():
        yield flask_app, versioning


def test_a_folder_without_versions_is_refused(
    tmp_path: Path, app: tuple[Flask, Versioning]
) -> None:
    _, versioning = app
    source = tmp_path / "migrations"
    source.mkdir()
    (source / "env.py").write_text(FOREIGN_ENV)
    with pytest.raises(AdoptError, match="is not a migrations folder: it has no versions/"):
        versioning.adopt(source)
    assert _files(source) == {"env.py": FOREIGN_ENV.encode()}
    assert not (tmp_path / "pkg").exists()


def test_a_non_empty_target_is_refused(tmp_path: Path, app: tuple[Flask, Versioning]) -> None:
    flask_app, versioning = app
    source = _folder(tmp_path / "migrations")
    before = _files(source)
    target = Path(flask_app.root_path) / "migrations"
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(AdoptError, match=r"already exists and is not empty.*nothing was changed"):
        versioning.adopt(source)
    assert _files(source) == before
    assert _files(target) == {"mine.txt": b"keep me"}


def test_a_target_inside_the_source_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    source = _folder(tmp_path / "migrations")
    before = _files(source)
    flask_app = Flask("adoptapp", root_path=str(tmp_path))
    flask_app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    flask_app.config["VERSIONING_DIRECTORY"] = str(source / "inner")
    versioning = Versioning(flask_app, metadata=sa.MetaData())
    with flask_app.app_context(), pytest.raises(AdoptError, match="into its own subdirectory"):
        versioning.adopt(source)
    assert _files(source) == before
    assert not (source / "inner").exists()


def test_moving_keeps_every_file_byte_for_byte_and_drops_caches(
    tmp_path: Path, app: tuple[Flask, Versioning]
) -> None:
    flask_app, versioning = app
    source = _folder(tmp_path / "migrations")
    (source / "versions" / "helper.txt").write_bytes(b"\x00\xffraw bytes\r\n")
    (source / "versions" / "__pycache__").mkdir()
    (source / "versions" / "__pycache__" / "aaa111.cpython-311.pyc").write_bytes(b"stale")
    (source / "old.pyc").write_bytes(b"stale")
    revision_bytes = (source / "versions" / "aaa111_create_notes.py").read_bytes()
    target = Path(flask_app.root_path) / "migrations"
    # Leftovers of an interrupted earlier attempt, and an empty destination directory.
    staging = target.with_name(".migrations.adopting")
    staging.mkdir(parents=True)
    (staging / "junk").write_text("half copied")
    target.mkdir()

    result = versioning.adopt(source)

    assert not source.exists() and not staging.exists()
    assert result.source == source.resolve() and result.directory == target.resolve()
    assert [p.name for p in result.revisions] == ["aaa111_create_notes.py"]
    assert (target / "versions" / "aaa111_create_notes.py").read_bytes() == revision_bytes
    assert (target / "versions" / "helper.txt").read_bytes() == b"\x00\xffraw bytes\r\n"
    assert not (target / "versions" / "__pycache__").exists()
    assert not (target / "old.pyc").exists() and not (target / "junk").exists()
    # The user's single-database template is theirs and is kept; env.py becomes ours.
    assert (target / "script.py.mako").read_text() == SINGLE_MAKO
    assert "flask_versioning" in (target / "env.py").read_text()
    assert result.replaced == ("env.py",)
    assert result.removed == ("README",) and not (target / "README").exists()
    assert result.notes == ()


def test_in_place_adoption_keeps_a_readme_that_is_not_flask_migrates(
    tmp_path: Path, sqlite_url: str
) -> None:
    source = _folder(tmp_path / "migrations", readme="Our own notes about migrations.\n")
    (source / "script.py.mako").unlink()
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "env.cpython-311.pyc").write_bytes(b"stale")
    flask_app = Flask("adoptapp", root_path=str(tmp_path))
    flask_app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    flask_app.config["VERSIONING_ENV"] = "development"
    versioning = Versioning(flask_app, metadata=sa.MetaData())
    with flask_app.app_context():
        result = versioning.adopt(source)
        assert result.source == result.directory == source.resolve()
        assert result.removed == ()
        assert (source / "README").read_text() == "Our own notes about migrations.\n"
        assert not (source / "__pycache__").exists()
        # A missing template is supplied, so `flask db revision` works afterwards.
        assert "${message}" in (source / "script.py.mako").read_text()
        versioning.upgrade()
        scripts = versioning.revision("second")
        assert [s.down_revision for s in scripts] == ["aaa111"]
    assert version_rows(sqlite_url) == ["aaa111"]
    assert "notes" in table_names(sqlite_url)


INI_WITH_OPTIONS = """\
[alembic]
script_location = migrations
file_template = %%(year)d_%%(rev)s_%%(slug)s
version_table = schema_history
sqlalchemy.url = postgresql://scott:tiger@db/app

[loggers]
keys = root
"""


def test_alembic_ini_options_are_reported_with_the_key_to_use(
    tmp_path: Path, app: tuple[Flask, Versioning]
) -> None:
    flask_app, versioning = app
    source = _folder(tmp_path / "migrations", ini=INI_WITH_OPTIONS)
    result = versioning.adopt(source)
    assert result.notes == (
        "alembic.ini set file_template = %%(year)d_%%(rev)s_%%(slug)s: "
        "set VERSIONING_FILE_TEMPLATE",
        "alembic.ini set version_table = schema_history: set VERSIONING_VERSION_TABLE",
        "alembic.ini set sqlalchemy.url = postgresql://scott:tiger@db/app: it is not carried over",
    )
    assert "alembic.ini" in result.removed
    assert not (Path(flask_app.root_path) / "migrations" / "alembic.ini").exists()


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("[loggers]\nkeys = root\n", ()),
        ("[alembic]\nscript_location = migrations\n", ()),
        (
            "[alembic]\nfile_template = a\nfile_template = b\n",
            ("alembic.ini could not be read (",),
        ),
    ],
    ids=["no-alembic-section", "only-script-location", "unreadable"],
)
def test_alembic_ini_without_options_to_report(
    tmp_path: Path, app: tuple[Flask, Versioning], ini: str, expected: tuple[str, ...]
) -> None:
    _, versioning = app
    result = versioning.adopt(_folder(tmp_path / "migrations", ini=ini))
    assert len(result.notes) == len(expected)
    for note, start in zip(result.notes, expected, strict=True):
        assert note.startswith(start) and note.endswith("; check it by hand")
        assert "\n" not in note
    assert result.removed == ("alembic.ini", "README")


@pytest.mark.process
def test_adopt_command_prints_the_notes(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "app.py").write_text(
        "import sqlalchemy as sa\nfrom flask import Flask\n"
        "from flask_versioning import Versioning\n"
        "import os\n\n\ndef create_app():\n    app = Flask(__name__)\n"
        "    app.config['VERSIONING_DATABASE_URL'] = os.environ['DATABASE_URL']\n"
        "    app.config['VERSIONING_DIRECTORY'] = 'adopted'\n"
        "    Versioning(app, metadata=sa.MetaData())\n    return app\n"
    )
    _folder(tmp_path / "migrations", ini=INI_WITH_OPTIONS)
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": sqlite_url}
    env.pop("FLASK_DEBUG", None)
    proc = subprocess.run(
        [FLASK, "db", "adopt"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Moved {(tmp_path / 'migrations').resolve()} to {tmp_path / 'adopted'}"
    assert "Kept 1 revision file(s) unchanged." in lines
    assert "Removed alembic.ini (not used by Flask-Versioning)." in lines
    assert (
        "Note: alembic.ini set version_table = schema_history: set VERSIONING_VERSION_TABLE"
        in lines
    )
    assert (
        "Note: alembic.ini set sqlalchemy.url = postgresql://scott:tiger@db/app: "
        "it is not carried over"
    ) in lines

    # Missing source: click's one-line usage error, exit 2, nothing created.
    proc = subprocess.run(
        [FLASK, "db", "adopt", "nowhere"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "'nowhere' does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nowhere").exists()


MULTIDB_REVISION = '''"""notes in both

Revision ID: bbb222
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "bbb222"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade_():
    op.drop_table("notes")


def upgrade_users():
    op.create_table("accounts", sa.Column("id", sa.Integer, primary_key=True))


def downgrade_users():
    op.drop_table("accounts")
'''


def test_a_multidb_folder_gets_our_multidb_template_and_still_migrates(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    source = tmp_path / "migrations"
    (source / "versions").mkdir(parents=True)
    (source / "versions" / "bbb222_notes.py").write_text(MULTIDB_REVISION)
    (source / "env.py").write_text(FOREIGN_ENV + "engine_name = None\n")
    (source / "script.py.mako").write_text(MULTI_MAKO)
    (source / "README").write_text(MULTI_README)
    flask_app = Flask("adoptapp", root_path=str(tmp_path / "pkg"))
    flask_app.config["VERSIONING_DATABASE_URL"] = {
        "default": database_url,
        "users": second_database_url,
    }
    flask_app.config["VERSIONING_ENV"] = "development"
    versioning = Versioning(flask_app, metadata=sa.MetaData())
    with flask_app.app_context():
        result = versioning.adopt(source)
        assert result.replaced == ("env.py", "script.py.mako")
        assert result.removed == ("README",)
        mako = (result.directory / "script.py.mako").read_text()
        assert "engine_name" in mako and mako != MULTI_MAKO
        assert (result.directory / "versions" / "bbb222_notes.py").read_text() == MULTIDB_REVISION
        # Both databases run the same revision with their own engine_name.
        assert versioning.databases() == [None, "users"]
        versioning.upgrade()
        versioning.upgrade(bind="users")
        for database in versioning.state.databases():
            database.engine().dispose()
    assert "notes" in table_names(database_url) and "accounts" not in table_names(database_url)
    assert "accounts" in table_names(second_database_url)
    assert version_rows(database_url) == version_rows(second_database_url) == ["bbb222"]
