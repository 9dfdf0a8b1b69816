"""Findings as text, JSON or GitHub workflow annotations, and the exit code they call for.

Formatting is kept apart from finding so that ``flask db lint``, ``flask db migrate`` (which
prints the findings for the file it just wrote) and ``flask db plan`` print the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .findings import Finding

FORMATS = ("text", "json", "github")


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


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def format_github(findings: Iterable[Finding]) -> str:
    """GitHub Actions workflow commands: ``::error file=...,line=...,title=...::message``.

    GitHub shows them as annotations on the pull request's diff; the recipe follows the message
    (GitHub keeps the line breaks).
    """
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
    if fmt == "json":
        return format_json(findings)
    if fmt == "github":
        return format_github(findings)
    if fmt == "text":
        return format_text(findings)
    raise ValueError(f"unknown lint output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def summary(findings: Iterable[Finding]) -> str:
    """``"2 errors, 1 warning"``, or ``"no findings"``."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    parts = [
        f"{counts[s]} {s if counts[s] == 1 else s + 's'}"
        for s in ("error", "warning", "info")
        if s in counts
    ]
    return ", ".join(parts) or "no findings"


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is an error, else 0 (warnings and info never fail a run)."""
    return 1 if any(f.severity == "error" for f in findings) else 0
