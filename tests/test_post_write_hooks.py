"""``VERSIONING_POST_WRITE_HOOKS``: Alembic's post-write hooks run on every new revision file."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import write_hooks
from conftest import FlaskProject
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def _app(tmp_path: Path, url: str, hooks: dict[str, str]) -> tuple[Flask, Versioning, Any]:
    app = Flask("hooked", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["VERSIONING_POST_WRITE_HOOKS"] = hooks
    db = SQLAlchemy(app)
    return app, Versioning(app, db), db


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Flask, Any]] = []

    def make(url: str, hooks: dict[str, str]) -> tuple[Flask, Versioning]:
        app, versioning, db = _app(tmp_path, url, hooks)
        made.append((app, db))
        return app, versioning

    yield make
    for app, db in made:
        with app.app_context():
            db.engine.dispose()


def test_ruff_formats_a_new_revision(app_factory: Any, database_url: str) -> None:
    assert RUFF is not None, "ruff is part of the lint extra"
    app, versioning = app_factory(
        database_url,
        {
            "hooks": "ruff_format",
            "ruff_format.type": "exec",
            "ruff_format.executable": RUFF,
            "ruff_format.options": "format --no-cache REVISION_SCRIPT_FILENAME",
        },
    )
    with app.app_context():
        (script,) = versioning.revision("formatted by a hook")
        text = Path(script.path).read_text()
        # The template renders repr() of the ids, single-quoted; ruff format makes them double.
        assert f'revision: str = "{script.revision}"' in text
        assert f"revision: str = '{script.revision}'" not in text
        # Formatting did not break the revision: it applies.
        result = versioning.upgrade()
        assert result.after == (script.revision,)


def test_without_hooks_the_file_is_left_as_rendered(app_factory: Any, sqlite_url: str) -> None:
    app, versioning = app_factory(sqlite_url, {})
    with app.app_context():
        (script,) = versioning.revision("plain")
        assert f"revision: str = '{script.revision}'" in Path(script.path).read_text()


def test_hooks_run_in_order_and_get_their_options(app_factory: Any, sqlite_url: str) -> None:
    calls: list[tuple[str, str]] = []

    @write_hooks.register("versioning_test_stamp")
    def stamp(path: str, options: dict[str, str]) -> None:
        calls.append((options["_hook_name"], options["text"]))
        with open(path, "a") as f:
            f.write(f"# {options['text']}\n")

    app, versioning = app_factory(
        sqlite_url,
        {
            "hooks": "first, second",
            "first.type": "versioning_test_stamp",
            "first.text": "100% first",  # a % needs no escaping
            "second.type": "versioning_test_stamp",
            "second.text": "second",
        },
    )
    with app.app_context():
        (script,) = versioning.revision("stamped")
    assert calls == [("first", "100% first"), ("second", "second")]
    assert Path(script.path).read_text().endswith("# 100% first\n# second\n")


def test_a_hook_that_cannot_run_is_a_one_line_error(sqlite_project: FlaskProject) -> None:
    hooks = {"hooks": "fmt", "fmt.type": "exec", "fmt.executable": "/nonexistent/formatter"}
    proc = sqlite_project.db(
        "revision",
        "-m",
        "first",
        check=False,
        TEST_CONFIG_JSON=json.dumps({"VERSIONING_POST_WRITE_HOOKS": hooks}),
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "/nonexistent/formatter" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    # The revision was written before the hook ran; it stays, unformatted.
    assert len(list(sqlite_project.versions.glob("*_first.py"))) == 1
