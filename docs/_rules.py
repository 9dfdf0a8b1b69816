"""The lint rule reference, written from the linter's own rule objects at build time.

``lint-rules.md`` includes ``_generated/rules.inc``, which this extension writes from
:data:`flask_versioning._lint.RULES` when the build starts: every rule's id, severity,
databases, what it catches and what to do instead. A rule added, renamed or reworded in the code
shows up in the docs on the next build, so the reference cannot drift from the linter. The file
is not committed (``docs/_generated/`` is build output, like the layers picture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "_generated" / "rules.inc"


def render() -> str:
    """The reference as Markdown: a summary table, then one section per rule."""
    from flask_versioning._lint import RULES

    lines = [
        "| Rule | Severity | Databases | What it catches |",
        "| ---- | -------- | --------- | --------------- |",
    ]
    for rule in RULES.values():
        summary = rule.summary.replace("|", "\\|")
        lines.append(f"| `{rule.id}` | {rule.severity} | {rule.dialect_label} | {summary} |")
    for rule in RULES.values():
        lines += [
            "",
            f"## `{rule.id}`",
            "",
            f"**Severity:** {rule.severity}. **Databases:** {rule.dialect_label}.",
            "",
            rule.summary,
            "",
            *_recipe(rule.recipe),
            "",
            "Reviewed and safe? Say why on the line, and the finding goes:",
            "",
            "```text",
            f"# versioning: ignore[{rule.id}] <why it is safe here>",
            "```",
        ]
    return "\n".join(lines) + "\n"


def _recipe(recipe: str) -> list[str]:
    """The recipe's prose as paragraphs, its indented lines (code) as Python blocks."""
    out: list[str] = ["**Instead:**"]
    code: list[str] = []

    def flush() -> None:
        if code:
            out.extend(["", "```python", *code, "```", ""])
            code.clear()

    for line in recipe.splitlines():
        if line.startswith("    "):
            code.append(line[4:])
        else:
            flush()
            out.append(line)
    flush()
    return out


def _write(app: Any) -> None:
    OUTPUT.parent.mkdir(exist_ok=True)
    text = render()
    if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
        OUTPUT.write_text(text, encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _write)
    return {"parallel_read_safe": True}
