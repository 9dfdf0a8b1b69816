"""Optional: squawk's findings on a revision's rendered SQL (PostgreSQL only).

squawk (``pip install squawk-cli``) is never a dependency. It runs as ``squawk --reporter json
--stdin-filepath PATH`` with the SQL on standard input and prints a list of objects with
``rule_name``, ``message``, ``help``, ``level`` and a 0-based ``line`` in the SQL, which
``line_map`` turns back into the revision's line. It exits 1 when it finds something.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .._errors import VersioningError
from .findings import Finding
from .rules import SQUAWK_PREFIX

_RECIPE = "See squawk's rule reference: https://squawkhq.com/docs/rules"


def squawk_executable() -> str | None:
    """The ``squawk`` executable on ``PATH`` or beside the running Python (where ``pip``
    puts it in a virtual environment that need not be activated); ``None`` if missing."""
    return shutil.which("squawk") or shutil.which("squawk", path=str(Path(sys.executable).parent))


def squawk_findings(
    sql: str,
    path: Path,
    *,
    line_map: Sequence[int] | None = None,
    transactional: bool = True,
    executable: str | None = None,
) -> list[Finding]:
    """Run squawk on ``sql`` (from the revision ``path``) and return its findings as errors.

    ``line_map[i]`` is the revision line behind line ``i + 1`` of ``sql``. With
    ``transactional`` the SQL is wrapped in BEGIN/COMMIT, as Alembic runs it, so squawk sees an
    autocommit block's COMMIT/BEGIN in context. Raises :class:`VersioningError` when squawk is
    missing or fails.
    """
    program = executable or squawk_executable()
    if program is None:
        raise VersioningError("squawk is not installed; install it with: pip install squawk-cli")
    offset = 1 if transactional else 0
    if transactional:
        sql = f"BEGIN;\n{sql}COMMIT;\n"
    try:
        result = subprocess.run(
            [program, "--reporter", "json", "--stdin-filepath", str(path)],
            input=sql,
            capture_output=True,
            text=True,
            env={**os.environ, "SQUAWK_DISABLE_GITHUB_ANNOTATIONS": "1"},
            check=False,
        )
    except OSError as exc:
        raise VersioningError(f"squawk could not be run: {exc}") from None
    if result.returncode not in (0, 1):
        detail = " ".join((result.stderr or result.stdout).split())[:300]
        raise VersioningError(f"squawk failed (exit code {result.returncode}): {detail}")
    try:
        violations = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise VersioningError("squawk printed output that is not JSON") from None
    findings = []
    for violation in violations if isinstance(violations, list) else []:
        sql_line = int(violation.get("line", 0)) - offset
        line = (line_map[sql_line] or 1) if line_map and 0 <= sql_line < len(line_map) else 1
        help_text = str(violation.get("help") or "").strip()
        findings.append(
            Finding(
                rule=SQUAWK_PREFIX + str(violation.get("rule_name", "unknown")),
                severity="error",
                path=path,
                line=line,
                message=str(violation.get("message", "")).strip(),
                recipe=f"{help_text}\n{_RECIPE}" if help_text else _RECIPE,
            )
        )
    return findings
