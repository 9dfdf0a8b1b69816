"""Lint one revision file: ``lint_revision(path, dialect=...) -> list[Finding]``.

The file is read twice. As source (:mod:`.source`): its ``op.*`` and ``batch_op.*`` calls,
``downgrade()``, and the ignore comments. As SQL (:mod:`.render`): its ``upgrade()`` run
offline for the dialect, each statement tagged with the source line that emitted it. The checks
(:mod:`.checks`) read both; the engine then maps each hit to the first line of its statement,
drops the ones an ignore comment covers, applies the configured severities, and sorts.

Inline suppression
------------------
``# versioning: ignore[rule-id] reason`` on the statement's line (any line of a multi-line
call), or on comment-only lines right above it, suppresses that rule there; several ids may be
given, comma-separated. Inside ``with op.batch_alter_table(...)`` the comment may be on the
``with`` line or on the call in the block. The reason is required: an ignore without one, or
naming an unknown rule, suppresses nothing and is itself reported as ``invalid-ignore``
(an error), so a typo cannot silently hide a finding.

Failures
--------
A revision that is not valid Python, cannot be imported, or whose ``upgrade()`` cannot run
offline gives one ``revision-not-renderable`` finding at the failing line, never a traceback;
the source-level rules still run, and the literal SQL of ``op.execute`` calls that rendering did
not reach is still checked. Two cases are not failures: a multi-database revision
(``upgrade(engine_name)``) linted without ``engine_name`` gives an ``info`` finding, and on
SQLite a ``batch_alter_table`` block that must recreate its table stops rendering silently
(Alembic needs a live database to reflect it; batch mode is how SQLite revisions are written,
so reporting it would flag every one).

Bad usage (a file that cannot be read, an unknown dialect, squawk asked for but missing) raises
:class:`~flask_versioning.VersioningError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._errors import VersioningError
from .checks import CHECKS
from .context import Hit, build_context
from .findings import Finding, LintConfig, suggest
from .render import LoadError, Rendering, load_revision, render_upgrade, transactional_ddl
from .rules import RULES, SQUAWK_PREFIX
from .source import Source
from .squawk import squawk_executable, squawk_findings

__all__ = ["Finding", "LintConfig", "lint_revision", "render_revision"]


def lint_revision(
    path: Path,
    *,
    dialect: str,
    config: LintConfig | None = None,
    engine_name: str | None = None,
    squawk: bool = False,
    x_args: Sequence[str] = (),
) -> list[Finding]:
    """Check one revision file for operations that are unsafe on a live ``dialect`` database.

    ``dialect`` is a SQLAlchemy dialect name (``engine.dialect.name``: ``postgresql``,
    ``mysql``, ``mariadb``, ``sqlite``...). ``engine_name`` is passed to a multi-database
    revision's ``upgrade(engine_name)``; ``x_args`` are the ``-x`` arguments its
    ``context.get_x_argument()`` sees (none by default). With ``squawk=True`` and a
    PostgreSQL dialect, squawk's findings on the rendered SQL are added (``squawk/<rule>``);
    squawk must be installed.
    Findings are sorted by line; suppressed and ``"off"`` rules are left out.
    """
    config = config or LintConfig()
    transactional_ddl(dialect)  # an unknown dialect is bad usage: raise before reading files
    if squawk and dialect == "postgresql" and squawk_executable() is None:
        raise VersioningError("squawk is not installed; install it with: pip install squawk-cli")
    text = _read(path)
    try:
        source = Source.parse(path, text)
    except SyntaxError as exc:
        hit = Hit(
            "revision-not-renderable",
            exc.lineno or 1,
            f"{path.name} is not valid Python: {exc.msg}",
        )
        return _findings([hit], path, config, None)
    rendering = render_revision(path, dialect=dialect, engine_name=engine_name, x_args=x_args)
    hits = [*_meta_hits(source, rendering, dialect), *_ignore_hits(source)]
    context = build_context(
        dialect, source, rendering, engine_name, lock_timeout=config.lock_timeout
    )
    for rule_id, check in CHECKS.items():
        rule = RULES[rule_id]
        if rule.applies_to(dialect) and config.enabled(rule_id):
            hits.extend(check(context))
    findings = _findings(hits, path, config, source)
    if squawk and dialect == "postgresql" and rendering.emitted:
        found = squawk_findings(
            rendering.sql,
            path,
            line_map=rendering.line_map,
            transactional=rendering.transactional,
        )
        findings.extend(_squawk_kept(found, config, source))
    findings.sort(key=lambda f: (f.line, f.rule))
    return findings


def render_revision(
    path: Path, *, dialect: str, engine_name: str | None = None, x_args: Sequence[str] = ()
) -> Rendering:
    """Import a revision file and render its ``upgrade()`` offline for ``dialect``, with
    ``x_args`` as its ``-x`` arguments.

    ``.sql`` of the result is the SQL script (for ``flask db plan``); ``.error`` says why it
    stopped early, if it did. Never raises for a broken revision, only for an unknown dialect.
    """
    transactional = transactional_ddl(dialect)
    try:
        module = load_revision(path)
    except LoadError as exc:
        return Rendering(path, dialect, (), transactional, error=str(exc), error_line=exc.line)
    return render_upgrade(module, path, dialect, engine_name=engine_name, x_args=x_args)


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
        return [Hit("revision-not-renderable", default_line, rendering.note, severity="info")]
    if rendering.error is None:
        return []
    line = rendering.error_line or default_line
    if dialect == "sqlite" and source.is_batch_header(line):
        return []  # see "Failures" in the module docstring
    return [Hit("revision-not-renderable", line, rendering.error)]


def _ignore_hits(source: Source) -> list[Hit]:
    hits = []
    for ignore in source.ignores:
        if not ignore.rules:
            hits.append(Hit("invalid-ignore", ignore.line, "ignore[] names no rule"))
        for rule in ignore.rules:
            if rule not in RULES and not rule.startswith(SQUAWK_PREFIX):
                hits.append(
                    Hit(
                        "invalid-ignore",
                        ignore.line,
                        f"ignore[{rule}] names an unknown rule{suggest(rule)}; it suppresses "
                        "nothing",
                    )
                )
        if ignore.rules and not ignore.reason:
            hits.append(
                Hit(
                    "invalid-ignore",
                    ignore.line,
                    f"ignore[{', '.join(ignore.rules)}] gives no reason, so it suppresses "
                    "nothing: write why it is safe after the bracket",
                )
            )
    return hits


def _suppressed(rule: str, line: int, source: Source | None) -> bool:
    if source is None or rule == "invalid-ignore":
        return False
    # ignore[ban-drop-column] also covers squawk's finding of the same name.
    names = {rule, rule.removeprefix(SQUAWK_PREFIX)}
    return any(names & set(i.rules) and i.reason for i in source.covering_ignores(line))


def _findings(
    hits: list[Hit], path: Path, config: LintConfig, source: Source | None
) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for hit in hits:
        rule = RULES[hit.rule]
        line = source.anchor(hit.line) if source is not None else hit.line
        severity = config.severity(hit.rule, hit.severity or rule.severity)
        key = (hit.rule, line, hit.message)
        if severity is None or key in seen or _suppressed(hit.rule, line, source):
            continue
        seen.add(key)
        findings.append(Finding(hit.rule, severity, path, line, hit.message, rule.recipe))
    findings.sort(key=lambda f: (f.line, f.rule))
    return findings


def _squawk_kept(found: list[Finding], config: LintConfig, source: Source) -> list[Finding]:
    kept = []
    for finding in found:
        severity = config.severity(finding.rule, finding.severity)
        line = source.anchor(finding.line)
        if severity is not None and not _suppressed(finding.rule, line, source):
            kept.append(
                Finding(finding.rule, severity, finding.path, line, finding.message, finding.recipe)
            )
    return kept
