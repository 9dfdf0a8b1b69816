"""What the linter reports (:class:`Finding`) and how a project tunes it (:class:`LintConfig`).

``VERSIONING_LINT`` configuration
---------------------------------
A dict with one key, ``"rules"``, mapping a rule id to the severity it should have, or to
``"off"`` to stop checking it::

    VERSIONING_LINT = {
        "rules": {
            "ban-drop-column": "warning",        # report, but do not fail the run
            "ban-drop-table": "off",             # tables here are dropped by hand
        },
    }

Severities are ``"error"`` (fails the run: exit code 1), ``"warning"`` and ``"info"`` (shown,
never failing). Rules not named keep their default severity. Ids are those of
:data:`.rules.RULES`; findings from squawk are named ``squawk/<squawk's rule>`` and can be set
the same way (squawk's own rule names are not checked here, as they change between squawk
versions). ``None`` or ``{}`` means all defaults. Anything else is a
:class:`~flask_versioning.ConfigurationError` with a one-line message.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

from .._errors import ConfigurationError
from .rules import RULES, SEVERITIES, SQUAWK_PREFIX, Severity

Setting = Severity | Literal["off"]
_SETTINGS: tuple[Setting, ...] = (*SEVERITIES, "off")


@dataclass(frozen=True)
class Finding:
    """One problem in one revision file.

    ``path`` is the revision file as given to the linter, ``line`` its 1-based line (the first
    line of the statement the problem is in), ``recipe`` what to do instead.
    """

    rule: str
    severity: Severity
    path: Path
    line: int
    message: str
    recipe: str = ""

    def as_dict(self) -> dict[str, object]:
        """The finding as JSON-ready data (``rule``, ``severity``, ``path``, ``line``,
        ``message``, ``recipe``)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": str(self.path),
            "line": self.line,
            "message": self.message,
            "recipe": self.recipe,
        }


@dataclass(frozen=True)
class LintConfig:
    """Per-rule severities chosen by the project (see the module docstring), and what the
    linter cannot read from a revision: whether the run around it sets a lock timeout."""

    rules: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    #: Whether the revisions run with the lock timeout and retries ``env.py`` sets
    #: (``VERSIONING_DDL_LOCK_TIMEOUT`` not ``None``): ``require-timeout-settings`` then flags
    #: only a revision that lifts it. ``False``, the linter's own default when no app says
    #: how its revisions run: any DDL without a ``lock_timeout`` of its own is flagged.
    lock_timeout: bool = False

    @classmethod
    def from_setting(cls, value: object, *, lock_timeout: bool = False) -> LintConfig:
        """Read the ``VERSIONING_LINT`` value; raise :class:`ConfigurationError` if it is bad.
        ``lock_timeout``: see the attribute of that name."""
        if value is None:
            return cls(lock_timeout=lock_timeout)
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                "VERSIONING_LINT must be a dict such as "
                f"{{'rules': {{'ban-drop-column': 'warning'}}}}, not {value!r}"
            )
        unknown = [key for key in value if key != "rules"]
        if unknown:
            raise ConfigurationError(
                f"VERSIONING_LINT has an unknown key {unknown[0]!r}; the only key is 'rules'"
            )
        rules = value.get("rules") or {}
        if not isinstance(rules, Mapping):
            raise ConfigurationError(
                "VERSIONING_LINT['rules'] must map rule ids to 'error', 'warning', 'info' or "
                f"'off', not {rules!r}"
            )
        parsed: dict[str, Setting] = {}
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
                    f"VERSIONING_LINT['rules'][{rule!r}] must be 'error', 'warning', 'info' or "
                    f"'off', not {setting!r}"
                )
            parsed[rule] = cast(Setting, setting)
        return cls(MappingProxyType(parsed), lock_timeout=lock_timeout)

    def severity(self, rule: str, default: Severity) -> Severity | None:
        """The severity a finding of ``rule`` gets; ``None`` when the rule is off."""
        setting = self.rules.get(rule, default)
        return None if setting == "off" else setting

    def enabled(self, rule: str) -> bool:
        return self.rules.get(rule) != "off"


def suggest(rule: object) -> str:
    """``" (did you mean 'x'?)"`` for a near miss of a rule id, else ``""``."""
    if not isinstance(rule, str):
        return ""
    close = difflib.get_close_matches(rule, list(RULES), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
