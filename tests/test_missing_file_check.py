"""The missing-revision-file check before every use of Alembic costs next to nothing when the
history is complete: it answers from the heads cache, and leaves one for the next process when
there was none. A file removed after the cache was written is still named, in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import version_rows
from test_bad_input_more import MISSING, make_app

from flask_versioning import RevisionError

CACHE = Path("migrations", "versions", "__pycache__", "flask_versioning-heads.json")


def _config_in_a_new_process(root: Path, url: str) -> subprocess.CompletedProcess[str]:
    """``alembic_config()`` as the first thing a fresh process does with the app."""
    script = (
        "import sqlalchemy as sa\n"
        "from flask import Flask\n"
        "from flask_versioning import Versioning\n"
        f"app = Flask('badinput', root_path={str(root)!r})\n"
        f"app.config['SQLALCHEMY_DATABASE_URI'] = {url!r}\n"
        "versioning = Versioning(app, metadata=sa.MetaData())\n"
        "with app.app_context():\n"
        "    versioning.alembic_config()\n"
        "print('config ok')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120
    )


@pytest.mark.process
def test_a_complete_history_leaves_the_heads_cache_for_the_next_process(
    tmp_path: Path, sqlite_url: str
) -> None:
    make_app(tmp_path, sqlite_url, "aaa001", "aaa002", "aaa003")
    (tmp_path / CACHE).unlink(missing_ok=True)
    proc = _config_in_a_new_process(tmp_path, sqlite_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "config ok"
    assert json.loads((tmp_path / CACHE).read_text())["heads"] == ["aaa003"]


@pytest.mark.process
def test_a_file_removed_after_the_cache_was_written_is_named(
    tmp_path: Path, sqlite_url: str
) -> None:
    app, versioning = make_app(tmp_path, sqlite_url, "aaa001", "aaa002", "aaa003")
    with app.app_context():
        versioning.upgrade()
    assert _config_in_a_new_process(tmp_path, sqlite_url).returncode == 0
    assert (tmp_path / CACHE).exists()  # the check could answer from it, until:
    (path,) = (tmp_path / "migrations" / "versions").glob("aaa002_*.py")
    path.unlink()

    proc = _config_in_a_new_process(tmp_path, sqlite_url)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"flask_versioning.RevisionError: {MISSING}"
    with app.app_context(), pytest.raises(RevisionError) as caught:
        versioning.alembic_config()
    assert str(caught.value) == MISSING
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {MISSING}"]
    assert version_rows(sqlite_url) == ["aaa003"]
