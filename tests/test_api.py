"""The Python API: the same operations as the commands, returning data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import table_names, version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import (
    ConfigurationError,
    RevisionError,
    Versioning,
    VersioningError,
)
from flask_versioning._types import AppliedRevision


def _make_app(tmp_path: Path, url: str, **config: object) -> tuple[Flask, Versioning, SQLAlchemy]:
    db = SQLAlchemy()

    class Thing(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "things"
        id = sa.Column(sa.Integer, primary_key=True)
        label = sa.Column(sa.String(40), nullable=False, unique=True)

    app = Flask("testapp", root_path=str(tmp_path))
    app.testing = True  # not "production", where downgrade base and stamp are refused
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.update(config)
    db.init_app(app)
    versioning = Versioning(app, db)
    return app, versioning, db


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[Flask, Versioning]]:
    app, versioning, db = _make_app(tmp_path, database_url)
    with app.app_context():
        yield app, versioning
        db.engine.dispose()


def test_round_trip_through_the_api(api: tuple[Flask, Versioning], database_url: str) -> None:
    app, versioning = api
    script = versioning.migrate("create things")
    assert script is not None and script.doc == "create things"
    assert Path(script.path).parent == Path(app.root_path) / "migrations" / "versions"
    with pytest.raises(RevisionError, match="flask db upgrade"):
        versioning.migrate("before upgrading")

    seen: list[AppliedRevision] = []
    started = time.perf_counter()
    result = versioning.upgrade(progress=seen.append)
    elapsed = time.perf_counter() - started
    assert result.before == () and result.after == (script.revision,)
    assert [s.revision for s in seen] == [script.revision]
    assert seen[0].message == "create things" and seen[0].direction == "upgrade"
    assert 0 < seen[0].duration <= elapsed  # seconds, measured inside the call
    assert "things" in table_names(database_url)

    assert versioning.current() == [script.revision]
    assert versioning.heads() == [script.revision]
    assert [h.revision for h in versioning.history()] == [script.revision]
    assert versioning.show("head")[0].revision == script.revision
    assert versioning.show("current")[0].revision == script.revision
    assert versioning.check().differences == ()
    assert versioning.branches() == []
    assert versioning.migrate("again") is None  # nothing changed: no file
    assert len(versioning.history()) == 1

    result = versioning.downgrade("base")
    assert result.after == () and result.steps[0].direction == "downgrade"
    assert "things" not in table_names(database_url)
    with pytest.raises(RevisionError, match="not up to date"):
        versioning.check()


def test_offline_sql_returns_text_and_leaves_the_database(
    api: tuple[Flask, Versioning], database_url: str
) -> None:
    _, versioning = api
    versioning.revision("by hand", rev_id="hand01")
    result = versioning.upgrade(sql=True)
    assert result.sql is not None and "hand01" in result.sql
    assert result.steps == ()
    if "alembic_version" in table_names(database_url):
        assert version_rows(database_url) == []
    assert versioning.current() == []


def test_stamp_and_merge(api: tuple[Flask, Versioning], database_url: str) -> None:
    _, versioning = api
    versioning.revision("root", rev_id="root")
    versioning.revision("a", rev_id="a1", head="root")
    versioning.revision("b", rev_id="b1", head="root", splice=True)
    assert versioning.heads() == ["a1", "b1"]
    assert [b.revision for b in versioning.branches()] == ["root"]
    assert versioning.stamp("heads").after == ("a1", "b1")
    merged = versioning.merge(message="join", rev_id="m1")
    assert set(merged.down_revision or ()) == {"a1", "b1"}
    assert versioning.upgrade().after == ("m1",)
    assert versioning.stamp("root", purge=True).after == ("root",)
    assert version_rows(database_url) == ["root"]
    with pytest.raises(RevisionError, match="only one head"):
        versioning.merge()


def test_alembic_config_runs_plain_alembic_commands(
    api: tuple[Flask, Versioning], database_url: str
) -> None:
    from alembic import command

    _, versioning = api
    versioning.migrate("create things", rev_id="things01")
    command.upgrade(versioning.alembic_config(), "head")
    assert version_rows(database_url) == ["things01"]
    command.downgrade(versioning.alembic_config(), "base")
    assert version_rows(database_url) == []


def test_alembic_config_uses_a_given_connection(tmp_path: Path, sqlite_url: str) -> None:
    from alembic import command

    app, versioning, db = _make_app(tmp_path, sqlite_url)
    other = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{other}", poolclass=sa.NullPool)
    with app.app_context():
        versioning.migrate("create things", rev_id="things01")
        config = versioning.alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        db.engine.dispose()
    engine.dispose()
    assert "things" in table_names(f"sqlite:///{other}")
    assert "things" not in table_names(sqlite_url)


def test_application_logging_is_left_alone(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning, db = _make_app(tmp_path, sqlite_url)
    logger = logging.getLogger("myapp.audit")
    root_handlers = list(logging.getLogger().handlers)
    root_level = logging.getLogger().level
    with app.app_context():
        versioning.migrate("create things")
        versioning.upgrade()
        versioning.current()
        versioning.downgrade()
        db.engine.dispose()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "history"]).exit_code == 0
    assert logger.disabled is False
    assert logging.getLogger().handlers == root_handlers
    assert logging.getLogger().level == root_level


def test_plain_sqlalchemy_metadata_and_url_override(tmp_path: Path, sqlite_url: str) -> None:
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app = Flask("plain", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///ignored-when-overridden.db"
    app.config["VERSIONING_DATABASE_URL"] = sqlite_url
    versioning = Versioning(app, metadata=metadata, directory="db_revisions")
    with app.app_context():
        script = versioning.migrate("notes")
        assert script is not None
        assert Path(script.path).is_relative_to(tmp_path / "db_revisions")
        versioning.upgrade()
        assert versioning.check().differences == ()
        versioning.database().engine().dispose()
    assert "notes" in table_names(sqlite_url)


def test_factory_pattern_keeps_apps_apart(tmp_path: Path) -> None:
    versioning = Versioning(directory="revs")
    apps = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        app = Flask(name, root_path=str(root))
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{root / 'app.db'}"
        versioning.init_app(app)
        apps.append(app)
    with apps[0].app_context():
        versioning.revision("only in one", rev_id="one01")
        versioning.upgrade()
    with apps[1].app_context():
        assert versioning.heads() == []
        assert versioning.current() == []
    assert (tmp_path / "one" / "revs" / "versions" / "one01_only_in_one.py").exists()
    assert list((tmp_path / "two" / "revs" / "versions").glob("*.py")) == []


def test_init_creates_the_directory_once(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning, _ = _make_app(tmp_path, sqlite_url)
    with app.app_context():
        path = versioning.init()
        env = path / "env.py"
        assert env.exists() and (path / "script.py.mako").exists() and (path / "versions").is_dir()
        env.write_text(env.read_text() + "# my note\n")
        versioning.init()
        assert env.read_text().endswith("# my note\n")


def test_configuration_errors_are_clear(tmp_path: Path, sqlite_url: str) -> None:
    app = Flask("bad", root_path=str(tmp_path))
    app.config["VERSIONING_LOCK_TIMEOUT"] = "soon"
    with pytest.raises(ConfigurationError, match="VERSIONING_LOCK_TIMEOUT"):
        Versioning(app)
    app2 = Flask("twice", root_path=str(tmp_path))
    versioning = Versioning(app2)
    with pytest.raises(ConfigurationError, match="already registered"):
        versioning.init_app(app2)
    assert issubclass(ConfigurationError, VersioningError)


def test_extra_context_options_reach_alembic(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning, db = _make_app(tmp_path, sqlite_url, VERSIONING_VERSION_TABLE="schema_history")
    with app.app_context():
        versioning.migrate("create things", rev_id="t1")
        versioning.upgrade()
        db.engine.dispose()
    assert version_rows(sqlite_url, "schema_history") == ["t1"]
    assert "alembic_version" not in table_names(sqlite_url)


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("0", False), ("true", True)])
def test_flags_spelled_as_text(tmp_path: Path, text: str, expected: bool) -> None:
    # Values from environment variables arrive as text: "false" must not mean on.
    app = Flask("flags", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    app.config["VERSIONING_LOCK"] = text
    versioning = Versioning(app)
    with app.app_context():
        assert versioning.settings.lock is expected
    bad = Flask("badflag", root_path=str(tmp_path))
    bad.config["VERSIONING_AUTO_UPGRADE"] = "maybe"
    with pytest.raises(ConfigurationError, match="VERSIONING_AUTO_UPGRADE"):
        Versioning(bad)


def test_history_ranges_like_alembic(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning, db = _make_app(tmp_path, sqlite_url, VERSIONING_ENV="development")
    with app.app_context():
        for i in range(1, 5):
            versioning.revision(f"r{i}", rev_id=f"r{i}")
        versioning.upgrade("r3")
        assert [s.revision for s in versioning.history("current:")] == ["r4", "r3"]
        assert [s.revision for s in versioning.history(":current")] == ["r3", "r2", "r1"]
        # relative starts are resolved by Alembic itself, as "alembic history -r-2:current"
        assert [s.revision for s in versioning.history("-2:current")] == ["r3", "r2"]
        assert [s.revision for s in versioning.history("r2:r3")] == ["r3", "r2"]
        with pytest.raises(RevisionError, match=r"\[start\]:\[end\]"):
            versioning.history("r2")
        db.engine.dispose()
