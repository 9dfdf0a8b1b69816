"""Findings as text, JSON or GitHub workflow annotations, and the exit code they call for.

Kept apart from finding so that ``flask db lint``, ``migrate`` (for the file it just wrote) and
``plan`` print the same thing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from .findings import Finding
from .rules import SEVERITIES

FORMATS = ("text", "json", "github")
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def format_text(findings: Iterable[Finding], *, recipes: bool = True) -> str:
    """One ``path:line: severity rule: message`` line per finding, the recipe indented below."""
    lines = []
    for f in findings:
        lines.append(f"{f.path}:{f.line}: {f.severity} {f.rule}: {f.message}")
        if recipes and f.recipe:
            lines.extend(f"    {line}" for line in f.recipe.splitlines())
    return "\n".join(lines)


def format_json(findings: Iterable[Finding]) -> str:
    """A JSON list of :meth:`Finding.as_dict` objects."""
    return json.dumps([f.as_dict() for f in findings], indent=2)


def format_github(findings: Iterable[Finding]) -> str:
    """GitHub Actions workflow commands (``::error file=...,line=...,title=...::message``),
    which GitHub shows on the pull request's diff; the recipe follows the message."""
    lines = []
    for f in findings:
        text = f"{f.message}\n\n{f.recipe}" if f.recipe else f.message
        lines.append(
            f"::{_GITHUB_LEVEL[f.severity]} file={_property(str(f.path))},line={f.line},"
            f"title={_property(f.rule)}::{_data(text)}"
        )
    return "\n".join(lines)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def format_findings(findings: Iterable[Finding], fmt: str) -> str:
    """Format in ``fmt`` (one of :data:`FORMATS`)."""
    formats = {"text": format_text, "json": format_json, "github": format_github}
    if fmt not in formats:
        raise ValueError(f"unknown lint output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return formats[fmt](findings)


def summary(findings: Iterable[Finding]) -> str:
    """``"2 errors, 1 warning"``, or ``"no findings"``."""
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s}{'s' if counts[s] > 1 else ''}" for s in SEVERITIES if counts[s]]
    return ", ".join(parts) or "no findings"


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is an error, else 0 (warnings and info never fail a run)."""
    return 1 if any(f.severity == "error" for f in findings) else 0
