"""Lint one revision file: ``lint_revision(path, dialect=...) -> list[Finding]``.

The file is read as source (:mod:`.source`) and as SQL (:mod:`.render`); each hit of the checks
is moved to the first line of its statement, dropped if a ``# versioning: ignore[rule] reason``
comment covers it (one without a reason or naming an unknown rule is an ``invalid-ignore``
error, so a typo cannot hide a finding), and given its configured severity. A revision that
cannot be parsed, imported or rendered offline gives one ``revision-not-renderable`` finding,
never a traceback; bad usage raises :class:`~flask_versioning.VersioningError`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from .._errors import VersioningError
from .checks import CHECKS, build_context
from .findings import Finding, LintConfig, suggest
from .render import Rendering, render_revision, transactional_ddl
from .rules import RULES, SQUAWK_PREFIX, Severity
from .source import Source

_SQUAWK_RECIPE = "See squawk's rule reference: https://squawkhq.com/docs/rules"


class Hit(NamedTuple):
    """A rule firing at a revision line; ``severity`` overrides the rule's default."""

    rule: str
    line: int
    message: str
    severity: Severity | None = None


def lint_revision(
    path: Path,
    *,
    dialect: str,
    config: LintConfig | None = None,
    engine_name: str | None = None,
    squawk: bool = False,
    x_args: Sequence[str] = (),
) -> list[Finding]:
    """Check one revision file for operations that are unsafe on a live ``dialect`` database
    (a SQLAlchemy dialect name), sorted by line.

    ``engine_name`` is passed to a multi-database revision's ``upgrade(engine_name)``;
    ``x_args`` are its ``-x`` arguments. With ``squawk=True`` and PostgreSQL, squawk's findings
    on the rendered SQL are added as ``squawk/<rule>``.
    """
    config = config or LintConfig()
    transactional_ddl(dialect)  # an unknown dialect is bad usage: raise before reading files
    program = squawk_executable() if squawk and dialect == "postgresql" else None
    if squawk and dialect == "postgresql" and program is None:
        raise VersioningError("squawk is not installed; install it with: pip install squawk-cli")
    text = _read(path)
    try:
        source = Source(path, text)
    except SyntaxError as exc:
        message = f"{path.name} is not valid Python: {exc.msg}"
        return _findings([Hit("revision-not-renderable", exc.lineno or 1, message)], path, config)
    rendering = render_revision(path, dialect=dialect, engine_name=engine_name, x_args=x_args)
    hits = [*_meta_hits(source, rendering, dialect), *_ignore_hits(source)]
    context = build_context(dialect, source, rendering, engine_name, config.lock_timeout)
    for rule_id, check in CHECKS.items():
        if RULES[rule_id].applies_to(dialect) and config.rules.get(rule_id) != "off":
            hits.extend(Hit(rule_id, line, message) for line, message in check(context))
    findings = _findings(hits, path, config, source)
    if program and rendering.emitted:
        for f in squawk_findings(program, rendering, path):
            if placed := _placed(f.rule, f.line, f.severity, config, source):
                findings.append(replace(f, line=placed[0], severity=placed[1]))
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VersioningError(f"revision file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VersioningError(f"cannot read revision file {path}: {exc}") from None


def _meta_hits(source: Source, rendering: Rendering, dialect: str) -> list[Hit]:
    upgrade = source.functions.get("upgrade")
    default_line = upgrade.line if upgrade else 1
    if rendering.note is not None:
        return [Hit("revision-not-renderable", default_line, rendering.note, "info")]
    if rendering.error is None:
        return []
    line = rendering.error_line or default_line
    if dialect == "sqlite" and source.is_batch_header(line):
        return []  # recreating the table needs a live database; batch mode is how SQLite works
    return [Hit("revision-not-renderable", line, rendering.error)]


def _ignore_hits(source: Source) -> Iterable[Hit]:
    for ignore in source.ignores:
        if not ignore.rules:
            yield Hit("invalid-ignore", ignore.line, "ignore[] names no rule")
        for rule in ignore.rules:
            if rule not in RULES and not rule.startswith(SQUAWK_PREFIX):
                message = f"ignore[{rule}] names an unknown rule{suggest(rule)}"
                yield Hit("invalid-ignore", ignore.line, f"{message}; it suppresses nothing")
        if ignore.rules and not ignore.reason:
            yield Hit(
                "invalid-ignore",
                ignore.line,
                f"ignore[{', '.join(ignore.rules)}] gives no reason, so it suppresses "
                "nothing: write why it is safe after the bracket",
            )


def _placed(
    rule: str, line: int, default: Severity, config: LintConfig, source: Source | None
) -> tuple[int, Severity] | None:
    """The line a finding belongs to and its severity; ``None`` when off or suppressed."""
    severity = config.severity(rule, default)
    if source is not None:
        line = source.anchor(line)
        # ignore[ban-drop-column] also covers squawk's finding of the same name.
        names = {rule, rule.removeprefix(SQUAWK_PREFIX)}
        ignores = source.covering_ignores(line) if rule != "invalid-ignore" else []
        if any(names & set(i.rules) and i.reason for i in ignores):
            return None
    return None if severity is None else (line, severity)


def _findings(
    hits: Iterable[Hit], path: Path, config: LintConfig, source: Source | None = None
) -> list[Finding]:
    findings: dict[Finding, None] = {}  # a hit found twice is reported once
    for hit in hits:
        rule = RULES[hit.rule]
        if placed := _placed(hit.rule, hit.line, hit.severity or rule.severity, config, source):
            line, severity = placed
            findings[Finding(hit.rule, severity, path, line, hit.message, rule.recipe)] = None
    return sorted(findings, key=lambda f: (f.line, f.rule))


def squawk_executable() -> str | None:
    """The ``squawk`` executable on ``PATH`` or beside the running Python (where ``pip``
    puts it in a virtual environment that need not be activated); ``None`` if missing."""
    return shutil.which("squawk") or shutil.which("squawk", path=str(Path(sys.executable).parent))


def squawk_findings(program: str, rendering: Rendering, path: Path) -> list[Finding]:
    """Run squawk on the revision's rendered SQL and return its findings as errors.

    squawk reads the SQL on standard input (wrapped in BEGIN/COMMIT where Alembic runs a
    transaction, so it sees an autocommit block in context) and prints JSON objects with a line
    in the SQL, which ``rendering.line_map`` turns back into the revision's; it exits 1 when it
    finds something.
    """
    sql, line_map = rendering.sql, rendering.line_map
    offset = 1 if rendering.transactional else 0
    if rendering.transactional:
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
        line = (line_map[sql_line] or 1) if 0 <= sql_line < len(line_map) else 1
        help_text = str(violation.get("help") or "").strip()
        findings.append(
            Finding(
                rule=SQUAWK_PREFIX + str(violation.get("rule_name", "unknown")),
                severity="error",
                path=path,
                line=line,
                message=str(violation.get("message", "")).strip(),
                recipe=f"{help_text}\n{_SQUAWK_RECIPE}" if help_text else _SQUAWK_RECIPE,
            )
        )
    return findings
