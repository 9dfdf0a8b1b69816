"""Which databases an app has (databases.py): the configurations that must be refused with a
clear message, and the less common ways of handing Versioning its engines and models.

Refusals are checked through the Python API (the message a user reads) and, for ``--bind``,
through a real ``flask`` process (exit code, one line, no traceback). Accepted configurations
are checked by migrating real databases.
"""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import run_flask, table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy_lite import SQLAlchemy as LiteSQLAlchemy

from flask_versioning import ConfigurationError, Versioning


def _app(tmp_path: Path, **config: object) -> Flask:
    app = Flask("dbapp", root_path=str(tmp_path))
    app.config["VERSIONING_ENV"] = "development"
    app.config.update(config)
    return app


def _notes() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def _discover_error(app: Flask) -> str:
    versioning: Versioning = app.extensions["versioning"].extension
    with app.app_context(), pytest.raises(ConfigurationError) as info:
        versioning.databases()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_flask_sqlalchemy_bind_called_default_is_refused(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'a.db'}",
        SQLALCHEMY_BINDS={"default": f"sqlite:///{tmp_path / 'b.db'}"},
    )
    db = SQLAlchemy(app)
    Versioning(app, db)
    assert _discover_error(app) == (
        "a bind may not be called 'default': that name means the default database"
    )
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    assert not (tmp_path / "migrations").exists()


@pytest.mark.parametrize("name", ["../escape", "with space", "a" * 65, ".hidden"])
def test_a_bind_name_that_cannot_name_a_directory_is_refused(tmp_path: Path, name: str) -> None:
    app = _app(
        tmp_path,
        VERSIONING_DATABASE_URL={
            "default": f"sqlite:///{tmp_path / 'a.db'}",
            name: f"sqlite:///{tmp_path / 'b.db'}",
        },
    )
    Versioning(app, metadata=_notes())
    assert _discover_error(app) == (
        f"database name {name!r} cannot name a directory: use letters, digits, '_', '-' or '.'"
    )
    assert not (tmp_path / "migrations").exists()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {"default": sa.MetaData(), "users": "models"},
            "metadata['users'] must be a sqlalchemy.MetaData, not str",
        ),
        ([sa.MetaData()], "metadata must be a sqlalchemy.MetaData or a dict of them, not list"),
    ],
    ids=["dict-with-a-string", "a-list"],
)
def test_metadata_of_the_wrong_type_is_refused(
    tmp_path: Path, metadata: object, message: str
) -> None:
    app = _app(tmp_path, VERSIONING_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    Versioning(app, metadata=metadata)  # type: ignore[arg-type]
    assert _discover_error(app) == message


def test_versioning_binds_naming_an_unknown_bind_lists_the_known_ones(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        VERSIONING_DATABASE_URL={
            "default": f"sqlite:///{tmp_path / 'a.db'}",
            "users": f"sqlite:///{tmp_path / 'u.db'}",
        },
        VERSIONING_BINDS=["users", "archive"],
    )
    Versioning(app, metadata=_notes())
    assert _discover_error(app) == (
        "VERSIONING_BINDS names unknown database(s) 'archive' (the app has: users)"
    )
    app = _app(
        tmp_path,
        VERSIONING_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}",
        VERSIONING_BINDS="users",
    )
    Versioning(app, metadata=_notes())
    assert _discover_error(app) == (
        "VERSIONING_BINDS names unknown database(s) 'users' (the app has: no binds)"
    )


def test_versioning_binds_as_one_name_manages_only_that_bind(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    third = f"sqlite:///{tmp_path / 'third.db'}"
    users = sa.MetaData()
    sa.Table("accounts", users, sa.Column("id", sa.Integer, primary_key=True))
    app = _app(
        tmp_path,
        VERSIONING_DATABASE_URL={
            None: database_url,
            "users": second_database_url,
            "archive": third,
        },
        VERSIONING_BINDS="users",
    )
    versioning = Versioning(app, metadata={"default": _notes(), "users": users})
    with app.app_context():
        assert versioning.databases() == [None, "users"]
        with pytest.raises(ConfigurationError, match=r"unknown database 'archive'"):
            versioning.current(bind="archive")
        assert versioning.migrate("accounts", bind="users") is not None
        versioning.upgrade(bind="users")
        assert (tmp_path / "migrations" / "binds" / "users" / "versions").is_dir()
        assert not (tmp_path / "migrations" / "binds" / "archive").exists()
    assert table_names(second_database_url) == {"alembic_version", "versioning_history", "accounts"}
    assert table_names(database_url) == set()
    assert not (tmp_path / "third.db").exists()


def test_versioning_database_url_dict_may_add_a_bind_flask_sqlalchemy_lacks(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    """A URL for a bind Flask-SQLAlchemy does not know still adds a database (no models)."""
    db = SQLAlchemy()

    class Thing(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "things"
        id = sa.Column(sa.Integer, primary_key=True)

    app = _app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=database_url,
        VERSIONING_DATABASE_URL={"reports": second_database_url},
    )
    db.init_app(app)
    versioning = Versioning(app, db)
    with app.app_context():
        assert versioning.databases() == [None, "reports"]
        # No models for the extra bind: autogenerate sees nothing to create, not an error.
        assert versioning.migrate("reports", bind="reports") is None
        script = versioning.revision("empty", bind="reports")[0]
        versioning.upgrade(bind="reports")
        assert versioning.migrate("things") is not None
        versioning.upgrade()
        db.engine.dispose()
    assert version_rows(second_database_url) == [script.revision]
    assert table_names(second_database_url) == {"alembic_version", "versioning_history"}
    assert "things" in table_names(database_url)


def test_flask_sqlalchemy_lite_without_a_default_engine(tmp_path: Path, sqlite_url: str) -> None:
    users = sa.MetaData()
    sa.Table("accounts", users, sa.Column("id", sa.Integer, primary_key=True))
    app = _app(tmp_path, SQLALCHEMY_ENGINES={"users": sqlite_url})
    lite = LiteSQLAlchemy(app)
    versioning = Versioning(app, metadata={"users": users})
    with app.app_context():
        assert versioning.databases() == [None, "users"]
        with pytest.raises(ConfigurationError) as info:
            versioning.upgrade()
        assert str(info.value) == ("the SQLAlchemy extension has no engine for database 'default'")
        assert versioning.migrate("accounts", bind="users") is not None
        versioning.upgrade(bind="users")
        for engine in lite.engines.values():
            engine.dispose()
    assert table_names(sqlite_url) == {"alembic_version", "versioning_history", "accounts"}


def test_an_object_with_an_engine_and_metadata_is_used_as_is(
    tmp_path: Path, database_url: str
) -> None:
    """Any holder with ``engine`` and ``metadata`` attributes (a hand-made app context)."""
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    holder = types.SimpleNamespace(engine=engine, metadata=_notes())
    app = _app(tmp_path)
    versioning = Versioning(app, holder)
    with app.app_context():
        assert versioning.databases() == [None]
        script = versioning.migrate("notes")
        assert script is not None and "'notes'" in Path(script.path).read_text()
        versioning.upgrade()
    engine.dispose()
    assert table_names(database_url) == {"alembic_version", "versioning_history", "notes"}
    assert version_rows(database_url) == [script.revision]


def test_sqlalchemy_database_uri_given_as_a_url_object(tmp_path: Path, database_url: str) -> None:
    """Plain SQLAlchemy: a ``sqlalchemy.URL`` (password included) works like its string."""
    app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=sa.make_url(database_url))
    versioning = Versioning(app, metadata=_notes())
    with app.app_context():
        assert versioning.migrate("notes") is not None
        versioning.upgrade()
    assert "notes" in table_names(database_url)


def test_no_database_at_all_is_a_clear_error(tmp_path: Path) -> None:
    app = _app(tmp_path)
    versioning = Versioning(app, metadata=_notes())
    with app.app_context(), pytest.raises(ConfigurationError) as info:
        versioning.upgrade()
    assert "no database configured for 'default'" in str(info.value)


BIND_APP = """
import os

import sqlalchemy as sa
from flask import Flask

from flask_versioning import Versioning

main, users = sa.MetaData(), sa.MetaData()
sa.Table("notes", main, sa.Column("id", sa.Integer, primary_key=True))
sa.Table("accounts", users, sa.Column("id", sa.Integer, primary_key=True))


def create_app():
    app = Flask(__name__)
    app.config["VERSIONING_ENV"] = "development"
    app.config["VERSIONING_DATABASE_URL"] = {
        "default": os.environ["DATABASE_URL"],
        "users": os.environ["USERS_URL"],
    }
    Versioning(app, metadata={"default": main, "users": users})
    return app
"""


def test_bind_option_on_the_command_line(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    (tmp_path / "app.py").write_text(BIND_APP)
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": database_url,
        "USERS_URL": second_database_url,
    }
    env.pop("FLASK_DEBUG", None)

    def db(*args: str) -> subprocess.CompletedProcess[str]:
        return run_flask(["db", *args], cwd=tmp_path, env=env)

    proc = db("upgrade", "--bind", "nope")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "unknown database 'nope' (this app has: default, users)" in proc.stderr
    assert table_names(database_url) == set() and table_names(second_database_url) == set()

    proc = db("migrate", "-m", "accounts", "--bind", "users")
    assert proc.returncode == 0, proc.stderr
    proc = db("upgrade", "--bind", "users")
    assert proc.returncode == 0, proc.stderr
    assert table_names(second_database_url) == {"alembic_version", "versioning_history", "accounts"}
    assert table_names(database_url) == set()
    # --bind default names the default database.
    proc = db("migrate", "-m", "notes", "--bind", "default")
    assert proc.returncode == 0, proc.stderr
    assert db("upgrade", "--bind", "default").returncode == 0
    assert table_names(database_url) == {"alembic_version", "versioning_history", "notes"}
