"""The generated ``env.py`` under tools other than ``flask db``: plain Alembic, inside and
outside an app context, and the app's own ``context.configure()`` callbacks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from conftest import version_rows
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

ALEMBIC = str(Path(sys.executable).with_name("alembic"))


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Flask, SQLAlchemy]] = []

    def make(url: str, **config: Any) -> tuple[Flask, Versioning]:
        app = Flask("envtest", root_path=str(tmp_path))
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        app.config.update(config)
        db = SQLAlchemy(app)
        made.append((app, db))
        return app, Versioning(app, db)

    yield make
    for app, db in made:
        with app.app_context():
            db.engine.dispose()


def test_alembic_with_its_own_config_finds_the_app(make_app: Any, database_url: str) -> None:
    app, versioning = make_app(database_url)
    with app.app_context():
        (script,) = versioning.revision("first")
        # A Config built by hand, as a script or another tool would: only the directory.
        config = Config()
        config.set_main_option("script_location", str(versioning.database().directory))
        command.upgrade(config, "heads")
    assert version_rows(database_url) == [script.revision]


@pytest.mark.process
def test_plain_alembic_outside_the_app_is_told_what_to_do(make_app: Any, tmp_path: Path) -> None:
    app, versioning = make_app(f"sqlite:///{tmp_path / 'app.db'}")
    with app.app_context():
        versioning.revision("first")
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    proc = subprocess.run(
        [ALEMBIC, "upgrade", "head"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "this env.py belongs to Flask-Versioning" in proc.stdout + proc.stderr
    assert (
        not (tmp_path / "app.db").exists() or version_rows(f"sqlite:///{tmp_path / 'app.db'}") == []
    )


def test_the_apps_on_version_apply_runs_alongside_the_progress(
    make_app: Any, sqlite_url: str
) -> None:
    seen: list[str] = []

    def on_version_apply(*, step: Any, **kw: Any) -> None:
        seen.append(step.up_revision_id)

    app, versioning = make_app(
        sqlite_url, VERSIONING_CONTEXT={"on_version_apply": on_version_apply}
    )
    with app.app_context():
        (first,) = versioning.revision("first")
        (second,) = versioning.revision("second")
        progress: list[str] = []
        result = versioning.upgrade(progress=lambda step: progress.append(step.revision))
    assert seen == [first.revision, second.revision]
    assert progress == seen
    assert [s.revision for s in result.steps] == seen
