"""Optional: squawk's findings on a revision's rendered SQL (PostgreSQL only).

squawk (the ``squawk-cli`` package on PyPI) is never a dependency: :func:`squawk_executable`
says whether it is installed. It is run as ``squawk --reporter json --stdin-filepath PATH``
with the SQL on standard input; its JSON is a list of objects with ``rule_name``, ``message``,
``help``, ``level`` and a 0-based ``line`` in the SQL, which ``line_map`` turns back into the
revision's line. squawk exits 1 when it finds something, so only other exit codes are errors.
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
    """The path of the ``squawk`` executable, or ``None`` when it is not installed.

    Looked up on ``PATH``, then beside the running Python: ``pip install squawk-cli`` in a
    virtual environment puts it there, and the environment need not be activated.
    """
    return shutil.which("squawk") or shutil.which("squawk", path=str(Path(sys.executable).parent))


def squawk_findings(
    sql: str,
    path: Path,
    *,
    line_map: Sequence[int] | None = None,
    transactional: bool = True,
    executable: str | None = None,
) -> list[Finding]:
    """Run squawk on ``sql`` and return its findings as ``squawk/<rule>`` errors.

    ``path`` is the revision the SQL came from; ``line_map[i]`` is the revision line behind
    line ``i + 1`` of ``sql``. With ``transactional``, the SQL is wrapped in BEGIN/COMMIT as
    Alembic runs it, so squawk sees an autocommit block's COMMIT/BEGIN pair in context.
    Raises :class:`VersioningError` when squawk is missing or fails.
    """
    program = executable or squawk_executable()
    if program is None:
        raise VersioningError("squawk is not installed; install it with: pip install squawk-cli")
    offset = 0
    if transactional:
        sql, offset = f"BEGIN;\n{sql}COMMIT;\n", 1
    env = {**os.environ, "SQUAWK_DISABLE_GITHUB_ANNOTATIONS": "1"}
    try:
        result = subprocess.run(
            [program, "--reporter", "json", "--stdin-filepath", str(path)],
            input=sql,
            capture_output=True,
            text=True,
            env=env,
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
        line = 1
        if line_map and 0 <= sql_line < len(line_map):
            line = line_map[sql_line] or 1
        message = str(violation.get("message", "")).strip()
        help_text = str(violation.get("help") or "").strip()
        findings.append(
            Finding(
                rule=SQUAWK_PREFIX + str(violation.get("rule_name", "unknown")),
                severity="error",
                path=path,
                line=line,
                message=message,
                recipe=f"{help_text}\n{_RECIPE}" if help_text else _RECIPE,
            )
        )
    return findings
