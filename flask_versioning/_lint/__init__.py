"""The migration linter: finds operations in revision files that are unsafe on a live database.

Independent of the Flask app: :func:`lint_revision` takes a revision file and a SQLAlchemy
dialect name and returns findings; the commands pick the files, read ``VERSIONING_LINT`` and
print. :data:`RULES` lists every rule for the docs.
"""

from __future__ import annotations

from .engine import lint_revision
from .findings import Finding, LintConfig
from .render import render_revision
from .report import (
    FORMATS,
    exit_code,
    format_findings,
    format_github,
    format_json,
    format_text,
    summary,
)
from .rules import RULES
from .squawk import squawk_executable

__all__ = [
    "FORMATS",
    "RULES",
    "Finding",
    "LintConfig",
    "exit_code",
    "format_findings",
    "format_github",
    "format_json",
    "format_text",
    "lint_revision",
    "render_revision",
    "squawk_executable",
    "summary",
]
