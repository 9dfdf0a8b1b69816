"""The package's layers, read from the table in ``architecture.md`` and drawn as an SVG.

The same table is what ``tests/test_layers.py`` holds the code to, so the picture in the docs
and the rule the tests enforce cannot disagree. The SVG is written at build time into
``docs/_generated/`` (not committed) by our own code: the build stays offline, with no
JavaScript diagram library and no Graphviz.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE = HERE / "architecture.md"
_ROW = re.compile(r"^\|\s*(?P<layer>\d+)\s*\|(?P<modules>[^|]*)\|(?P<what>.*)\|\s*$")


def read_layers(page: Path = PAGE) -> list[tuple[int, list[str], str]]:
    """``(layer, modules, description)`` for each row of the table, top layer first."""
    rows = []
    for line in page.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            modules = re.findall(r"`([^`]+)`", match["modules"])
            what = re.sub(r"\{[a-z]+\}`~?[\w.]*?(\w+)`", r"\1", match["what"]).strip()
            rows.append((int(match["layer"]), modules, what))
    return rows


def draw(layers: list[tuple[int, list[str], str]]) -> str:
    """A standalone SVG: one band per layer, its modules as boxes, an arrow for the rule."""
    width, band, gap, left = 760, 58, 10, 70
    height = len(layers) * (band + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        '<defs><marker id="a" markerWidth="10" markerHeight="10" refX="5" refY="8" '
        'orient="auto"><path d="M0,0 L10,0 L5,9 z" fill="#555"/></marker></defs>',
        f'<line x1="28" y1="{gap + 6}" x2="28" y2="{height - gap - 12}" stroke="#555" '
        'stroke-width="2" marker-end="url(#a)"/>',
        f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
        'text-anchor="middle" fill="#555">imports point down</text>',
    ]
    for index, (layer, modules, _what) in enumerate(layers):
        y = gap + index * (band + gap)
        parts.append(
            f'<rect x="{left}" y="{y}" width="{width - left - 10}" height="{band}" rx="6" '
            f'fill="hsl({200 + index * 18}, 45%, 92%)" stroke="#8aa"/>'
        )
        parts.append(f'<text x="{left + 12}" y="{y + 34}" font-weight="bold">{layer}</text>')
        x = left + 40
        for module in modules:
            box = 16 + 8 * len(module)
            parts.append(
                f'<rect x="{x}" y="{y + 14}" width="{box}" height="30" rx="4" fill="white" '
                'stroke="#577"/>'
            )
            parts.append(
                f'<text x="{x + box / 2}" y="{y + 34}" text-anchor="middle" '
                f'font-family="monospace">{escape(module)}</text>'
            )
            x += box + 10
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _write(app: Any) -> None:
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    (out / "layers.svg").write_text(draw(read_layers()), encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _write)
    return {"parallel_read_safe": True}
