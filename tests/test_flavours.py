"""Flask-SQLAlchemy, Flask-SQLAlchemy-Lite and plain SQLAlchemy, each with two databases,
go through the same steps on every backend."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import run_flask, table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy_lite import SQLAlchemy as LiteSQLAlchemy

from flask_versioning import ConfigurationError, Versioning


def _tables() -> tuple[sa.MetaData, sa.MetaData]:
    main, users = sa.MetaData(), sa.MetaData()
    sa.Table("things", main, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "accounts",
        users,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
    )
    return main, users


def _app(tmp_path: Path) -> Flask:
    app = Flask("flavour", root_path=str(tmp_path))
    app.config["VERSIONING_ENV"] = "development"
    return app


def flask_sqlalchemy(tmp_path: Path, url: str, users_url: str) -> tuple[Flask, Callable[[], None]]:
    db = SQLAlchemy()

    class Thing(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "things"
        id = sa.Column(sa.Integer, primary_key=True)

    class Account(db.Model):  # type: ignore[name-defined,misc]
        __bind_key__ = "users"
        __tablename__ = "accounts"
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(sa.String(100), nullable=False)

    app = _app(tmp_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_BINDS"] = {"users": users_url}
    db.init_app(app)
    Versioning(app, db)

    def dispose() -> None:
        for engine in db.engines.values():
            engine.dispose()

    return app, dispose


def flask_sqlalchemy_lite(
    tmp_path: Path, url: str, users_url: str
) -> tuple[Flask, Callable[[], None]]:
    main, users = _tables()
    app = _app(tmp_path)
    app.config["SQLALCHEMY_ENGINES"] = {"default": url, "users": users_url}
    db = LiteSQLAlchemy(app)
    Versioning(app, db, metadata={"default": main, "users": users})

    def dispose() -> None:
        for engine in db.engines.values():
            engine.dispose()

    return app, dispose


def plain_sqlalchemy(tmp_path: Path, url: str, users_url: str) -> tuple[Flask, Callable[[], None]]:
    main, users = _tables()
    app = _app(tmp_path)
    app.config["VERSIONING_DATABASE_URL"] = {"default": url, "users": users_url}
    Versioning(app, metadata={None: main, "users": users})
    return app, lambda: None


@pytest.fixture(params=[flask_sqlalchemy, flask_sqlalchemy_lite, plain_sqlalchemy])
def flavour_app(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, second_database_url: str
) -> Iterator[Flask]:
    app, dispose = request.param(tmp_path, database_url, second_database_url)
    with app.app_context():
        yield app
        dispose()


def test_every_flavour_migrates_each_database(
    flavour_app: Flask, database_url: str, second_database_url: str
) -> None:
    versioning: Versioning = flavour_app.extensions["versioning"].extension
    assert versioning.databases() == [None, "users"]
    main = versioning.migrate("things")
    users = versioning.migrate("accounts", bind="users")
    assert main is not None and users is not None
    assert "'things'" in Path(main.path).read_text()
    assert "accounts" not in Path(main.path).read_text()
    assert "'accounts'" in Path(users.path).read_text()
    assert "things" not in Path(users.path).read_text()

    versioning.upgrade()
    versioning.upgrade(bind="users")
    assert table_names(database_url) == {"alembic_version", "versioning_history", "things"}
    assert table_names(second_database_url) == {"alembic_version", "versioning_history", "accounts"}
    assert version_rows(database_url) == [main.revision]
    assert version_rows(second_database_url) == [users.revision]
    assert versioning.check().differences == () and versioning.check(bind="users").differences == ()
    assert versioning.migrate("nothing", bind="users") is None

    versioning.downgrade("base", bind="users")
    assert "accounts" not in table_names(second_database_url)
    assert "things" in table_names(database_url)


def test_metadata_for_a_database_the_app_does_not_have(tmp_path: Path, sqlite_url: str) -> None:
    app = _app(tmp_path)
    app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    Versioning(app, metadata={"default": sa.MetaData(), "archive": sa.MetaData()})
    with app.app_context(), pytest.raises(ConfigurationError, match="no such database"):
        app.extensions["versioning"].extension.current()


LITE_APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy_lite import SQLAlchemy

from flask_versioning import Versioning

metadata = sa.MetaData()
sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_ENGINES"] = {"default": os.environ["DATABASE_URL"]}
    SQLAlchemy(app)
    Versioning(app, metadata=metadata)
    return app
"""


def test_flask_sqlalchemy_lite_through_flask_db(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "app.py").write_text(LITE_APP)
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": sqlite_url}

    def db(*args: str) -> str:
        proc = run_flask(["db", *args], cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    assert "Generated" in db("migrate", "-m", "notes")
    assert "Applied" in db("upgrade")
    assert "notes" in table_names(sqlite_url)
    assert db("current").strip().endswith("(head)")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_schemas_and_a_filtered_table(tmp_path: Path, database_url: str) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA meta")
        conn.exec_driver_sql("CREATE SCHEMA sales")
        conn.exec_driver_sql("CREATE TABLE legacy (id integer primary key)")
    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True), schema="sales")

    def include_name(name: str | None, type_: str, parents: object) -> bool:
        return not (type_ == "table" and name == "legacy")

    app = _app(tmp_path)
    app.config.update(
        VERSIONING_DATABASE_URL=database_url,
        VERSIONING_VERSION_TABLE="history",
        VERSIONING_VERSION_TABLE_SCHEMA="meta",
        VERSIONING_CONTEXT={"include_schemas": True, "include_name": include_name},
    )
    versioning = Versioning(app, metadata=metadata)
    with app.app_context():
        script = versioning.migrate("schemas")
        assert script is not None
        text = Path(script.path).read_text()
        assert "op.create_table('orders'" in text and "schema='sales'" in text
        assert "legacy" not in text and "history" not in text
        versioning.upgrade()
        assert versioning.current() == [script.revision]
        assert sa.inspect(engine).get_table_names(schema="sales") == ["orders"]
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM meta.history").scalars().all()
        assert rows == [script.revision]
        assert versioning.check().differences == ()
        versioning.downgrade("base")
    try:
        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names(schema="meta")) == ["history", "versioning_history"]
        assert inspector.get_table_names(schema="sales") == []
        assert set(inspector.get_table_names()) == {"legacy"}
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM meta.history").scalar() == 0
    finally:
        engine.dispose()
