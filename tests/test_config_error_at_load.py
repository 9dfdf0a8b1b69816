"""A setting the app's factory gets wrong is one line when ``flask`` loads the app, not the
factory's traceback: the error is raised in ``create_app()``, before any command of ours runs."""

from __future__ import annotations

import pytest
from conftest import FlaskProject


@pytest.mark.parametrize("process", [False, True], ids=["in-process", "process"])
def test_a_bad_setting_in_the_factory_is_one_line(
    sqlite_project: FlaskProject, process: bool
) -> None:
    app = sqlite_project.path / "app.py"
    source = app.read_text()
    marker = "app = Flask(__name__)"
    assert marker in source
    app.write_text(
        source.replace(
            marker,
            marker + '\n    app.config["VERSIONING_SAFE_DDL"] = "maybe"',
            1,
        )
    )
    proc = sqlite_project.db("current", check=False, process=process)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: VERSIONING_SAFE_DDL must be True, False or None, not 'maybe'"
    ]
