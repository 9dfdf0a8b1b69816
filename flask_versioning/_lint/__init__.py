"""The migration linter: finds operations in revision files that are unsafe on a live database.

Independent of the Flask app: :func:`lint_revision` takes a revision file and a SQLAlchemy
dialect name and returns findings; the commands pick the files, read ``VERSIONING_LINT`` and
print. :data:`RULES` lists every rule for the docs.
"""

from __future__ import annotations

from .engine import lint_revision
from .findings import Finding, LintConfig, exit_code, format_findings, format_text, summary
from .render import render_revision
from .rules import RULES

__all__ = [
    "RULES",
    "Finding",
    "LintConfig",
    "exit_code",
    "format_findings",
    "format_text",
    "lint_revision",
    "render_revision",
    "summary",
]
