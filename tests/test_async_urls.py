"""Apps configured with async driver URLs: every command reaches the same database through
the sync driver, and the async driver is never imported (it need not even be installed)."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from conftest import run_flask_in_process, table_names, version_rows

from flask_versioning._alembic.drivers import sync_url

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mariadb": "aiomysql"}

# Plain SQLAlchemy models; the database URL is an async one, as an async app configures it.
APP_SOURCE = """
import os

import sqlalchemy as sa
from flask import Flask

from flask_versioning import Versioning

metadata = sa.MetaData()
sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
)
versioning = Versioning(metadata=metadata)


@versioning.seed("development")
def ada(session):
    session.execute(sa.text("INSERT INTO users (name) VALUES ('ada')"))


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config["VERSIONING_ENV"] = "development"
    versioning.init_app(app)
    return app
"""


class _ImportWatch(importlib.abc.MetaPathFinder):
    """Notes every import of an async driver; finds nothing itself, so the import goes on."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in ASYNC_DRIVERS.values():
            self.seen.append(fullname)
        return None


@contextlib.contextmanager
def watched_imports() -> Iterator[_ImportWatch]:
    """Imports of the async drivers while the block runs, as if none had ever been imported:
    the suite's other tests may have imported them into this process already."""
    loaded = {
        name: module
        for name, module in sys.modules.items()
        if name.partition(".")[0] in ASYNC_DRIVERS.values()
    }
    for name in loaded:
        del sys.modules[name]
    watch = _ImportWatch()
    sys.meta_path.insert(0, watch)
    try:
        yield watch
    finally:
        sys.meta_path.remove(watch)
        for name in [n for n in sys.modules if n.partition(".")[0] in ASYNC_DRIVERS.values()]:
            del sys.modules[name]
        sys.modules.update(loaded)


def async_url(url: str, backend: str) -> str:
    parsed = sa.make_url(url)
    name = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
    return parsed.set(drivername=name.get(backend, "mysql+aiomysql")).render_as_string(
        hide_password=False
    )


def test_sync_url() -> None:
    assert str(sync_url("sqlite+aiosqlite:///app.db")) == "sqlite:///app.db"
    assert str(sync_url("postgresql+asyncpg://u@h/db?ssl=require")) == (
        "postgresql+psycopg://u@h/db?sslmode=require"
    )
    assert str(sync_url("mysql+aiomysql://u@h/db")) == "mysql+pymysql://u@h/db"
    assert str(sync_url("mariadb+asyncmy://u@h/db")) == "mariadb+pymysql://u@h/db"
    assert str(sync_url("postgresql+psycopg://u@h/db")) == "postgresql+psycopg://u@h/db"


def test_every_command_with_an_async_url(tmp_path: Path, database_url: str, backend: str) -> None:
    (tmp_path / "app.py").write_text(APP_SOURCE)
    url = async_url(database_url, backend)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "VERSIONING_"))}
    env.update(FLASK_APP="app", DATABASE_URL=url)

    def db(*args: str) -> str:
        # In this process (always: its imports are the subject), every async driver noted.
        with watched_imports() as watch:
            proc = run_flask_in_process(["db", *args], cwd=tmp_path, env=env)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert watch.seen == [], (args, watch.seen)
        return proc.stdout

    assert db("migrate", "-m", "users").startswith("Generated ")
    [revision] = [p.name.split("_")[0] for p in (tmp_path / "migrations" / "versions").glob("*.py")]
    assert "CREATE TABLE users" in db("upgrade", "--sql")
    assert f"Applied {revision} (users)" in db("upgrade")
    assert db("current") == f"{revision} (head)\n"
    assert db("heads") == f"{revision} (head)\n"
    assert revision in db("history")
    assert "No differences" in db("check")
    assert f"{revision}  applied" in db("status", "--check")
    db("validate")
    assert "Seeded ada (development)" in db("seed")
    db("downgrade", "base")
    assert "users" not in table_names(database_url)
    db("stamp", "head")
    db("stamp", "base")
    assert "ready" in db("prepare")
    assert version_rows(database_url) == [revision]
    assert "Reset the default database" in db("reset", "--yes")
    assert version_rows(database_url) == [revision]


def test_flask_sqlalchemy_lite_with_only_async_engines(tmp_path: Path, sqlite_url: str) -> None:
    pytest.importorskip("aiosqlite")  # Flask-SQLAlchemy-Lite creates its async engines
    from flask import Flask
    from flask_sqlalchemy_lite import SQLAlchemy

    from flask_versioning import Versioning

    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app = Flask("lite", root_path=str(tmp_path))
    app.config["VERSIONING_ENV"] = "development"
    app.config["SQLALCHEMY_ASYNC_ENGINES"] = {
        "default": async_url(sqlite_url, "sqlite"),
        "archive": async_url(f"sqlite:///{tmp_path / 'archive.db'}", "sqlite"),
    }
    db = SQLAlchemy(app)
    Versioning(app, db, metadata={"default": metadata, "archive": sa.MetaData()})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "migrate", "-m", "things"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "things" in table_names(sqlite_url)
    result = runner.invoke(args=["db", "status"])
    assert result.exit_code == 0, result.output
    assert "archive: sqlite:///" in result.output and "default: sqlite:///" in result.output
    with app.app_context():
        for engine in db.async_engines.values():
            engine.sync_engine.dispose()
