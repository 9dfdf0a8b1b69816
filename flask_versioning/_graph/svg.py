"""The graph as a standalone SVG: no Graphviz, no script, no fonts to fetch.

The text graph drawn with shapes: a circle per revision, curves where a lane moves. Text widths
are estimated from a monospace font (0.6 em per character), enough to place tags. Text starts
right of the widest row, as ids that zigzag with the lanes are hard to scan. Class names carry
a ``fvg-`` prefix because an inline SVG's ``<style>`` applies to the whole page.
"""

from __future__ import annotations

from html import escape

from .model import Edge, Graph, Layout
from .text import clean, describe, elsewhere_notes, omitted_note, shorten

ROW = 24
LANE = 14
PAD = 12
FONT = 12
SMALL = 10
CHAR = 0.6
MESSAGE_WIDTH = 72
COLOURS = ("#0969da", "#1a7f37", "#8250df", "#bf3989", "#bc4c00", "#0a7d85", "#9a6700")
STYLE = (
    ".fvg-edge{fill:none;stroke-width:2}"
    ".fvg-id{fill:#1f2328}.fvg-head{font-weight:bold}"
    ".fvg-word{fill:#59636e;font-size:10px}.fvg-msg{fill:#59636e}"
    ".fvg-note{fill:#59636e;font-style:italic}"
    ".fvg-tag text{font-size:10px}.fvg-label rect{fill:#fff8c5;stroke:#d4a72c}"
    ".fvg-headtag rect{fill:#dafbe1;stroke:#1a7f37}"
    ".fvg-db rect{fill:#0969da}.fvg-db text{fill:#ffffff;font-weight:bold}"
)


def _x(lane: float) -> float:
    return PAD + LANE * lane + LANE / 2


def _y(row: float) -> float:
    return PAD + ROW * row + ROW / 2


def _text(value: str) -> str:
    return escape(clean(value), quote=True)


def _edge(edge: Edge) -> str:
    (row, lane), *rest = edge.points
    path = [f"M{_x(lane):g} {_y(row):g}"]
    for next_row, next_lane in rest:
        if next_lane == lane:
            path.append(f"V{_y(next_row):g}")
        else:
            top, bottom = _y(row), _y(next_row)
            middle = (top + bottom) / 2
            x = _x(next_lane)
            path.append(f"C{_x(lane):g} {middle:g} {x:g} {middle:g} {x:g} {bottom:g}")
        row, lane = next_row, next_lane
    colour = COLOURS[max(lane for _, lane in edge.points) % len(COLOURS)]
    return f'<path class="fvg-edge" stroke="{colour}" d="{"".join(path)}"/>'


def _tag(x: float, y: float, text: str, kind: str) -> tuple[str, float]:
    """A rounded tag with ``text`` whose left edge is at ``x``; returns it and its width."""
    width = len(clean(text)) * SMALL * CHAR + 8
    svg = (
        f'<g class="fvg-tag fvg-{kind}"><rect x="{x:g}" y="{y - 8:g}" width="{width:g}" '
        f'height="15" rx="4"/><text x="{x + 4:g}" y="{y + 3.5:g}">{_text(text)}</text></g>'
    )
    return svg, width


def render_svg(graph: Graph, layout: Layout) -> str:
    body = [_edge(edge) for edge in layout.edges]
    right = 0.0
    text_left = PAD + LANE * max(layout.width, 1) + 6.0
    for number, row in enumerate(layout.rows):
        node, y = row.node, _y(number)
        head = graph.is_head(node.revision)
        colour = COLOURS[row.column % len(COLOURS)]
        cx = _x(row.column)
        parts = [f"<g><title>{_text(f'{node.revision}: {node.message}')}</title>"]
        if node.revision in graph.marks:
            parts.append(f'<circle cx="{cx:g}" cy="{y:g}" r="8" fill="none" stroke="#0969da"/>')
        fill = "#ffffff" if node.is_merge else colour
        radius = 6 if head else 4.5
        parts.append(
            f'<circle cx="{cx:g}" cy="{y:g}" r="{radius:g}" fill="{fill}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        x = text_left
        kind = "fvg-id fvg-head" if head else "fvg-id"
        parts.append(f'<text class="{kind}" x="{x:g}" y="{y + 4:g}">{_text(node.revision)}</text>')
        x += len(clean(node.revision)) * FONT * CHAR + 6
        tags = [(name, "db") for name in graph.marks.get(node.revision, ())]
        tags += [("head", "headtag")] if head else []
        tags += [(label, "label") for label in node.branch_labels]
        for text, tag_kind in tags:
            tag, width = _tag(x, y, text, tag_kind)
            parts.append(tag)
            x += width + 4
        words = " ".join(w.strip("()") for w in describe(graph, node) if w != "(head)")
        if words:
            parts.append(f'<text class="fvg-word" x="{x:g}" y="{y + 4:g}">{_text(words)}</text>')
            x += len(words) * SMALL * CHAR + 6
        message = shorten(node.message, MESSAGE_WIDTH)
        if message:
            parts.append(f'<text class="fvg-msg" x="{x:g}" y="{y + 4:g}">{_text(message)}</text>')
            x += len(message) * FONT * CHAR
        parts.append("</g>")
        body.append("".join(parts))
        right = max(right, x)
    notes = []
    if layout.omitted:
        shown = (row.node.revision for row in layout.rows)
        notes.append(f"\u2026 {omitted_note(layout.omitted, graph, shown)}")
    if not layout.rows:
        notes.append("no revisions")
    notes.extend(elsewhere_notes(graph))
    for number, note in enumerate(notes, len(layout.rows)):
        x = text_left
        body.append(f'<text class="fvg-note" x="{x:g}" y="{_y(number) + 4:g}">{_text(note)}</text>')
        right = max(right, x + len(note) * FONT * CHAR)
    width = round(right + PAD)
    height = round(PAD * 2 + ROW * (len(layout.rows) + len(notes)))
    opening = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="ui-monospace, SFMono-Regular, Menlo, '
        f'Consolas, monospace" font-size="{FONT}" role="img" aria-label="Revision graph">'
        f"<title>Revision graph</title><style>{STYLE}</style>"
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
    )
    return "\n".join([opening, *body, "</svg>"]) + "\n"
