"""``flask db edit`` opens revision files in ``$EDITOR``.

The "editor" here is a small script that records the file it was given and marks the file, so
the test sees exactly what a user's editor would have been handed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import APP_SOURCE, run_flask

EDITOR = """\
#!/bin/sh
echo "$1" >> "$(dirname "$0")/opened.txt"
echo "# edited" >> "$1"
"""


class Project:
    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "app.py").write_text(APP_SOURCE)
        self.editor = path / "editor.sh"
        self.editor.write_text(EDITOR)
        self.editor.chmod(0o755)

    def flask(
        self, *args: str, editor: str | None = None, path: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
        env["DATABASE_URL"] = f"sqlite:///{self.path / 'app.db'}"
        env.pop("VISUAL", None)
        env["EDITOR"] = editor if editor is not None else str(self.editor)
        if path is not None:
            env["PATH"] = path
        # The editor is a process of its own; the command runs in this one.
        return run_flask(list(args), cwd=self.path, env=env)

    def opened(self) -> list[str]:
        log = self.path / "opened.txt"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def _revision(project: Project, message: str) -> Path:
    proc = project.flask("db", "revision", "-m", message)
    assert proc.returncode == 0, proc.stderr
    (path,) = project.path.glob(f"migrations/versions/*_{message}.py")
    return path


def test_edit_opens_the_named_revision(project: Project) -> None:
    first = _revision(project, "first")
    second = _revision(project, "second")
    proc = project.flask("db", "edit", "head")
    assert proc.returncode == 0, proc.stderr
    assert project.opened() == [str(second)]
    assert second.read_text().endswith("# edited\n")
    assert not first.read_text().endswith("# edited\n")


def test_edit_defaults_to_the_current_revision(project: Project) -> None:
    first = _revision(project, "first")
    _revision(project, "second")
    assert project.flask("db", "upgrade", "+1").returncode == 0
    proc = project.flask("db", "edit")
    assert proc.returncode == 0, proc.stderr
    assert project.opened() == [str(first)]


def test_edit_at_base_says_there_is_nothing_to_edit(project: Project) -> None:
    _revision(project, "first")
    proc = project.flask("db", "edit")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: no revision to edit: the database is at base"
    assert project.opened() == []


def test_edit_of_an_unknown_revision_is_one_line(project: Project) -> None:
    _revision(project, "first")
    proc = project.flask("db", "edit", "nosuchrev")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: ") and "nosuchrev" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_missing_editor_is_a_one_line_error(project: Project) -> None:
    path = _revision(project, "first")
    before = path.read_text()
    # Without $EDITOR, Alembic tries the usual editors on PATH; leave it none to find.
    bare_path = str(Path(sys.executable).parent)
    proc = project.flask("db", "edit", "head", editor="/nonexistent/editor", path=bare_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot open an editor for ")
    assert "set $EDITOR" in lines[0]
    assert "Traceback" not in proc.stderr
    assert path.read_text() == before
