"""Apps with several databases (Flask-SQLAlchemy binds): one history and version table each."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _server_database, run_flask, table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import ConfigurationError, Versioning


def _make_app(
    tmp_path: Path, url: str, users_url: str | None, *, with_accounts: bool = True, **config: object
) -> tuple[Flask, Versioning, SQLAlchemy]:
    db = SQLAlchemy()

    class Thing(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "things"
        id = sa.Column(sa.Integer, primary_key=True)

    if with_accounts:

        class Account(db.Model):  # type: ignore[name-defined,misc]
            __bind_key__ = "users"
            __tablename__ = "accounts"
            id = sa.Column(sa.Integer, primary_key=True)
            email = sa.Column(sa.String(100), nullable=False)

    app = Flask("multiapp", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["VERSIONING_ENV"] = "development"
    if users_url is not None:
        app.config["SQLALCHEMY_BINDS"] = {"users": users_url}
    app.config.update(config)
    db.init_app(app)
    return app, Versioning(app, db), db


@pytest.fixture
def two(
    tmp_path: Path, database_url: str, second_database_url: str
) -> Iterator[tuple[Flask, Versioning]]:
    app, versioning, db = _make_app(tmp_path, database_url, second_database_url)
    with app.app_context():
        yield app, versioning
        for engine in db.engines.values():
            engine.dispose()


def test_each_database_has_its_own_history_and_version_table(
    two: tuple[Flask, Versioning], database_url: str, second_database_url: str
) -> None:
    app, versioning = two
    assert versioning.databases() == [None, "users"]

    main = versioning.migrate("things")
    users = versioning.migrate("accounts", bind="users")
    assert main is not None and users is not None
    root = Path(app.root_path) / "migrations"
    assert Path(main.path).parent == root / "versions"
    assert Path(users.path).parent == root / "binds" / "users" / "versions"
    # Autogenerate compares each database with its own models only.
    main_text = Path(main.path).read_text()
    users_text = Path(users.path).read_text()
    assert "'things'" in main_text and "accounts" not in main_text
    assert "'accounts'" in users_text and "things" not in users_text
    assert (root / "binds" / "users" / "env.py").is_file()

    versioning.upgrade()
    assert table_names(database_url) == {"alembic_version", "versioning_history", "things"}
    assert "accounts" not in table_names(second_database_url)
    versioning.upgrade(bind="users")
    assert table_names(second_database_url) == {"alembic_version", "versioning_history", "accounts"}
    assert version_rows(database_url) == [main.revision]
    assert version_rows(second_database_url) == [users.revision]
    assert versioning.current() == [main.revision]
    assert versioning.current(bind="users") == [users.revision]
    assert [s.revision for s in versioning.history(bind="users")] == [users.revision]
    assert versioning.check().differences == () and versioning.check(bind="users").differences == ()

    result = versioning.downgrade("base", bind="users")
    assert result.database == "users" and result.after == ()
    assert table_names(second_database_url) == {"alembic_version", "versioning_history"}
    assert version_rows(database_url) == [main.revision]


def test_unknown_bind_is_a_clear_error(two: tuple[Flask, Versioning]) -> None:
    _, versioning = two
    with pytest.raises(ConfigurationError, match=r"unknown database 'nope' \(this app has: "):
        versioning.current(bind="nope")


def test_versioning_binds_limits_the_managed_databases(tmp_path: Path, sqlite_url: str) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    app, versioning, db = _make_app(tmp_path, sqlite_url, other, VERSIONING_BINDS=[])
    with app.app_context():
        assert versioning.databases() == [None]
        db.engine.dispose()
    app, versioning, db = _make_app(tmp_path, sqlite_url, other, VERSIONING_BINDS=["nope"])
    with app.app_context(), pytest.raises(ConfigurationError, match="VERSIONING_BINDS"):
        versioning.databases()


def test_adding_a_database_later_leaves_old_revisions_alone(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    app, versioning, db = _make_app(tmp_path, database_url, None, with_accounts=False)
    with app.app_context():
        first = versioning.migrate("things")
        assert first is not None
        versioning.upgrade()
        db.engine.dispose()
    before = {p: p.read_bytes() for p in (tmp_path / "migrations").rglob("*") if p.is_file()}

    app, versioning, db = _make_app(tmp_path, database_url, second_database_url)
    with app.app_context():
        assert versioning.migrate("nothing new") is None
        added = versioning.migrate("accounts", bind="users")
        assert added is not None and added.down_revision is None
        versioning.upgrade(bind="users")
        assert versioning.current() == [first.revision]
        assert versioning.current(bind="users") == [added.revision]
        for engine in db.engines.values():
            engine.dispose()
    for path, content in before.items():
        assert path.read_bytes() == content
    assert "accounts" in table_names(second_database_url)
    assert "accounts" not in table_names(database_url)


# -- the commands, through real `flask` processes ----------------------------------------------

APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()


class Thing(db.Model):
    __tablename__ = "things"
    id = sa.Column(sa.Integer, primary_key=True)


class Account(db.Model):
    __bind_key__ = "users"
    __tablename__ = "accounts"
    id = sa.Column(sa.Integer, primary_key=True)
    email = sa.Column(sa.String(100), nullable=False)
    if os.environ.get("TEST_NAME_COLUMN"):
        name = sa.Column(sa.String(50))


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config["SQLALCHEMY_BINDS"] = {"users": os.environ["USERS_URL"]}
    app.config["VERSIONING_ENV"] = "development"
    db.init_app(app)
    Versioning(app, db)
    return app
"""


def _flask(
    path: Path, main: str, users: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": main, "USERS_URL": users, **env}
    full.pop("FLASK_DEBUG", None)
    return run_flask(["db", *args], cwd=path, env=full)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _walk_through_the_commands(tmp_path: Path, main: str, users: str) -> None:
    (tmp_path / "app.py").write_text(APP)

    out = _ok(_flask(tmp_path, main, users, "migrate", "-m", "start"))
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[default] Generated ") and "/migrations/versions/" in lines[0]
    assert lines[1].startswith("[users] Generated ") and "/binds/users/versions/" in lines[1]

    out = _ok(_flask(tmp_path, main, users, "upgrade"))
    assert "[default] Applied " in out and "[users] Applied " in out
    assert table_names(main) == {"alembic_version", "versioning_history", "things"}
    assert table_names(users) == {"alembic_version", "versioning_history", "accounts"}

    out = _ok(_flask(tmp_path, main, users, "current"))
    (main_rev,) = version_rows(main)
    (users_rev,) = version_rows(users)
    assert out.splitlines() == [f"[default] {main_rev} (head)", f"[users] {users_rev} (head)"]
    out = _ok(_flask(tmp_path, main, users, "check"))
    assert out.count("No differences") == 2

    # A model change on one database: only that one gets a revision, and check names it.
    proc = _flask(tmp_path, main, users, "check", TEST_NAME_COLUMN="1")
    assert proc.returncode == 1 and "[users]   add column accounts.name " in proc.stdout
    out = _ok(_flask(tmp_path, main, users, "migrate", "-m", "name", TEST_NAME_COLUMN="1"))
    assert "[default] No changes" in out and "[users] Generated " in out
    out = _ok(_flask(tmp_path, main, users, "upgrade", "--bind", "users", TEST_NAME_COLUMN="1"))
    assert "[default]" not in out and "[users] Applied " in out

    # A revision id names its database without --bind.
    out = _ok(_flask(tmp_path, main, users, "downgrade", users_rev))
    assert out.startswith("[users] Reverted ") and "[default]" not in out
    assert version_rows(users) == [users_rev] and version_rows(main) == [main_rev]

    out = _ok(_flask(tmp_path, main, users, "history", "--bind", "users"))
    assert len(out.splitlines()) == 2 and all(
        line.startswith("[users] ") for line in out.splitlines()
    )

    out = _ok(_flask(tmp_path, main, users, "downgrade", "base", "--bind", "default"))
    assert out.startswith("[default] Reverted ")
    assert table_names(main) == {
        "alembic_version",
        "versioning_history",
    } and "accounts" in table_names(users)

    proc = _flask(tmp_path, main, users, "upgrade", "--bind", "nope")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().startswith("Error: unknown database 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1


# The same walk-through runs on PostgreSQL with a MariaDB bind below; SQLite here.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_commands_act_on_every_database(
    database_url: str, second_database_url: str, tmp_path: Path
) -> None:
    _walk_through_the_commands(tmp_path, database_url, second_database_url)


@pytest.fixture
def postgres_and_mariadb() -> Iterator[tuple[str, str]]:
    pg = _server_database("postgresql")
    my = _server_database("mariadb")
    try:
        yield next(pg), next(my)
    finally:
        pg.close()
        my.close()


def test_postgresql_with_a_mariadb_bind(
    postgres_and_mariadb: tuple[str, str], tmp_path: Path
) -> None:
    main, users = postgres_and_mariadb
    _walk_through_the_commands(tmp_path, main, users)
