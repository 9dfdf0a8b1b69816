"""Refresh the screenshots in the documentation from the browser tests themselves.

``python docs/_screenshots.py`` runs the SQLite cases of ``tests/test_web_browser.py`` (a real
``flask run --debug`` driven by Debian's Chromium) with their artefact folder pointed at a
temporary directory, and copies the pages they photographed to ``docs/_static/``. The pictures
in the docs are therefore the pages as the tests saw them, never a mock-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "docs" / "_static"
#: Screenshot written by the tests -> the name the docs use.
PICTURES = {
    "pending-page-sqlite.png": "pending-page.png",
    "status-page-sqlite.png": "status-page.png",
}
TESTS = [
    "tests/test_web_browser.py::test_apply_from_the_pending_page[sqlite]",
    "tests/test_web_browser.py::test_status_page_draws_the_graph[sqlite]",
]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fv-shots-") as temp:
        artefacts = Path(temp) / "artifacts"
        # A short base directory: the pages show the SQLite file's path.
        base = Path(temp) / "myapp"
        env = {**os.environ, "VERSIONING_TEST_ARTIFACTS": str(artefacts)}
        command = [sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider"]
        command.append(f"--basetemp={base}")
        status = subprocess.call(command, cwd=ROOT, env=env)
        if status != 0:
            print("the browser tests failed; the screenshots were not changed", file=sys.stderr)
            return status
        STATIC.mkdir(exist_ok=True)
        for source, target in PICTURES.items():
            shutil.copyfile(artefacts / source, STATIC / target)
            print(f"wrote docs/_static/{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
