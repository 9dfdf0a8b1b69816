"""What users install: the sdist and wheel ``python -m build`` makes, in a fresh environment.

The wheel must carry everything the package reads at run time (the ``env.py`` and revision
templates, ``py.typed``) and pull in its dependencies; the sdist must carry the tests and docs so
that distributors can run them. Both are checked by building for real, once per test session,
and installing the wheel into a new virtual environment without this project's packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

# Builds and installs the package in a new virtual environment.
pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}"
    return proc.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point a child at this project's venv."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("FLASK_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``: an sdist, then a wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_wheel_ships_py_typed_and_templates(dist: Path) -> None:
    with zipfile.ZipFile(_one(dist, "*.whl")) as wheel:
        names = set(wheel.namelist())
    for name in (
        "flask_versioning/__init__.py",
        "flask_versioning/py.typed",
        "flask_versioning/templates/env.py.txt",
        "flask_versioning/templates/script.py.mako",
        "flask_versioning/web/templates/pending.html",
        "flask_versioning/web/templates/status.html",
    ):
        assert name in names, f"{name} is missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "docs/"))]


def test_sdist_ships_tests_and_docs(dist: Path) -> None:
    with tarfile.open(_one(dist, "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for name in (
        "pyproject.toml",
        "README.md",
        "CHANGES.md",
        "flask_versioning/py.typed",
        "tests/conftest.py",
        "tests/test_docs.py",
        "docs/conf.py",
        "docs/index.md",
        "docs/configuration.md",
    ):
        assert name in names, f"{name} is missing from the sdist"
    assert not [n for n in names if n.startswith("docs/_build")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_installs_and_runs_in_a_fresh_virtualenv(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    wheel = _one(dist, "*.whl")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        cwd=tmp_path,
        env=_clean_env(),
    )
    # The fresh environment sees the installed wheel, not this checkout.
    where = _run(
        [str(python), "-c", "import flask_versioning; print(flask_versioning.__file__)"],
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert str(env_dir) in where and str(ROOT) not in where

    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(
        "from flask import Flask\n"
        "from flask_sqlalchemy import SQLAlchemy\n"
        "from flask_versioning import Versioning\n\n"
        "app = Flask(__name__)\n"
        "app.config['SQLALCHEMY_DATABASE_URI'] = 'sqlite:///app.db'\n"
        "db = SQLAlchemy(app)\n"
        "versioning = Versioning(app, db)\n"
    )
    flask = str(env_dir / "bin" / "flask")
    out = _run([flask, "db", "--help"], cwd=project, env=_clean_env())
    for command in ("upgrade", "downgrade", "revision", "migrate", "history", "current"):
        assert command in out
    # The templates come from the installed wheel: a revision can be written and applied.
    out = _run([flask, "db", "revision", "-m", "first"], cwd=project, env=_clean_env())
    assert "Generated" in out
    assert "run_migrations()" in (project / "migrations" / "env.py").read_text()
    out = _run([flask, "db", "upgrade"], cwd=project, env=_clean_env())
    assert "(first)" in out and "The database is now at" in out
