"""Shell completion of ``flask db`` through Click's mechanism, as a shell would ask for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLASK = str(Path(sys.executable).with_name("flask"))

APP = """\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_versioning import Versioning

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///app.db"
db = SQLAlchemy(app)
versioning = Versioning(app, db)
"""


def _complete(cwd: Path, shell: str, words: str, cword: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["_FLASK_COMPLETE"] = f"{shell}_complete"
    env.update(COMP_WORDS=words, COMP_CWORD=str(cword), FLASK_APP="app")
    proc = subprocess.run(
        [FLASK], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout.splitlines()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def test_bash_completes_command_names(project: Path) -> None:
    assert _complete(project, "bash", "flask db up", 2) == ["plain,upgrade"]
    offered = _complete(project, "bash", "flask db ", 2)
    for name in ("upgrade", "downgrade", "revision", "migrate", "history", "current"):
        assert f"plain,{name}" in offered


def test_bash_completes_a_commands_options(project: Path) -> None:
    offered = _complete(project, "bash", "flask db downgrade --", 3)
    assert {"plain,--sql", "plain,--tag"} <= set(offered)


def test_zsh_completion_carries_help(project: Path) -> None:
    lines = _complete(project, "zsh", "flask db hea", 2)
    assert lines[:3] == ["plain", "heads", "Show the head revisions."]


def test_the_bash_script_is_generated(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["_FLASK_COMPLETE"] = "bash_source"
    proc = subprocess.run(
        [FLASK], cwd=project, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "complete -o nosort -F _flask_completion flask" in proc.stdout
