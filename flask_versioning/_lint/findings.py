"""What the linter reports (:class:`Finding`), how a project tunes it (:class:`LintConfig`), and
the findings as text, JSON or GitHub annotations with the exit code they call for (one place, so
that ``flask db lint``, ``migrate`` and ``plan`` print the same thing).

``VERSIONING_LINT`` is ``None`` or a dict with one key, ``"rules"``, mapping a rule id to the
severity it should have (``"error"`` fails the run, ``"warning"`` and ``"info"`` never do) or
to ``"off"``::

    VERSIONING_LINT = {"rules": {"ban-drop-column": "warning", "ban-drop-table": "off"}}

Squawk's findings are named ``squawk/<rule>`` and are set the same way; their names are not
checked, as they change between squawk versions. Anything else is a one-line
:class:`~flask_versioning.ConfigurationError`.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

from .._errors import ConfigurationError
from .rules import RULES, SEVERITIES, SQUAWK_PREFIX, Severity

Setting = Severity | Literal["off"]
_SETTINGS: tuple[Setting, ...] = (*SEVERITIES, "off")
_CHOICES = "'error', 'warning', 'info' or 'off'"
FORMATS = ("text", "json", "github")
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


@dataclass(frozen=True)
class Finding:
    """One problem in one revision file: ``line`` is the first line of its statement,
    ``recipe`` what to do instead."""

    rule: str
    severity: Severity
    path: Path
    line: int
    message: str
    recipe: str = ""


@dataclass(frozen=True)
class LintConfig:
    """Per-rule severities chosen by the project, and whether the revisions run with the lock
    timeout ``env.py`` sets (then ``require-timeout-settings`` flags only a revision that lifts
    it; without one, any DDL lacking a ``lock_timeout`` of its own is flagged)."""

    rules: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    lock_timeout: bool = False

    @classmethod
    def from_setting(cls, value: object, *, lock_timeout: bool = False) -> LintConfig:
        """Read the ``VERSIONING_LINT`` value; raise :class:`ConfigurationError` if it is bad."""
        value = {} if value is None else value
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                "VERSIONING_LINT must be a dict such as "
                f"{{'rules': {{'ban-drop-column': 'warning'}}}}, not {value!r}"
            )
        for key in value:
            if key != "rules":
                raise ConfigurationError(
                    f"VERSIONING_LINT has an unknown key {key!r}; the only key is 'rules'"
                )
        rules = value.get("rules") or {}
        if not isinstance(rules, Mapping):
            raise ConfigurationError(
                f"VERSIONING_LINT['rules'] must map rule ids to {_CHOICES}, not {rules!r}"
            )
        for rule, setting in rules.items():
            if not isinstance(rule, str) or (
                rule not in RULES
                and not (rule.startswith(SQUAWK_PREFIX) and len(rule) > len(SQUAWK_PREFIX))
            ):
                raise ConfigurationError(
                    f"VERSIONING_LINT['rules'] names an unknown rule {rule!r}{suggest(rule)}"
                )
            if setting not in _SETTINGS:
                raise ConfigurationError(
                    f"VERSIONING_LINT['rules'][{rule!r}] must be {_CHOICES}, not {setting!r}"
                )
        parsed = cast("dict[str, Setting]", dict(rules))
        return cls(MappingProxyType(parsed), lock_timeout=lock_timeout)

    def severity(self, rule: str, default: Severity) -> Severity | None:
        """The severity a finding of ``rule`` gets; ``None`` when the rule is off."""
        setting = self.rules.get(rule, default)
        return None if setting == "off" else setting


def suggest(rule: object) -> str:
    """``" (did you mean 'x'?)"`` for a near miss of a rule id, else ``""``."""
    close = difflib.get_close_matches(rule, list(RULES), n=1) if isinstance(rule, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_text(findings: Iterable[Finding], *, recipes: bool = True) -> str:
    """One ``path:line: severity rule: message`` line per finding, the recipe indented below."""
    lines = []
    for f in findings:
        lines.append(f"{f.path}:{f.line}: {f.severity} {f.rule}: {f.message}")
        if recipes and f.recipe:
            lines.extend(f"    {line}" for line in f.recipe.splitlines())
    return "\n".join(lines)


def format_json(findings: Iterable[Finding]) -> str:
    """A JSON list of the findings' fields, the path as a string."""
    return json.dumps([{**asdict(f), "path": str(f.path)} for f in findings], indent=2)


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
