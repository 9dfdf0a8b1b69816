"""What the linter reports (:class:`Finding`) and how a project tunes it (:class:`LintConfig`).

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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

from .._errors import ConfigurationError
from .rules import RULES, SEVERITIES, SQUAWK_PREFIX, Severity

Setting = Severity | Literal["off"]
_SETTINGS: tuple[Setting, ...] = (*SEVERITIES, "off")
_CHOICES = "'error', 'warning', 'info' or 'off'"


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

    def as_dict(self) -> dict[str, object]:
        """The finding as JSON-ready data, the path as a string."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class LintConfig:
    """Per-rule severities chosen by the project (see the module docstring), and what the
    linter cannot read from a revision: whether the run around it sets a lock timeout."""

    rules: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    #: Whether the revisions run with the lock timeout and retries ``env.py`` sets
    #: (``VERSIONING_DDL_LOCK_TIMEOUT`` not ``None``): ``require-timeout-settings`` then flags
    #: only a revision that lifts it. When ``False`` (no app says how its revisions run), any
    #: DDL without a ``lock_timeout`` of its own is flagged.
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

    def enabled(self, rule: str) -> bool:
        return self.rules.get(rule) != "off"


def suggest(rule: object) -> str:
    """``" (did you mean 'x'?)"`` for a near miss of a rule id, else ``""``."""
    close = difflib.get_close_matches(rule, list(RULES), n=1) if isinstance(rule, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""
