"""The graph as text, like ``git log --graph``: one line per revision, newest first.

Each lane takes two columns: the lane (``|``, ``*`` on its revision's line) and the gap on its
right, where ``/`` and ``\\`` show a move of one step; a longer move takes one line per step.
"""

from __future__ import annotations

from collections.abc import Iterable

from .layout import Layout, Move
from .model import BASE, Graph, Node


def clean(text: str) -> str:
    """One line of printable text, whitespace runs made one space: a revision message cannot
    move the cursor, recolour a terminal or break the one-line-per-revision shape."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())


def shorten(text: str, width: int) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def describe(graph: Graph, node: Node) -> list[str]:
    """The words after a revision id, in ``alembic history``'s terms. ``(base)`` matters in
    text: a base followed by another history's head would otherwise read as one line."""
    words = {
        "(base)": not node.down_revisions,
        "(head)": graph.is_head(node.revision),
        "(branchpoint)": graph.is_branch_point(node.revision),
        "(mergepoint)": node.is_merge,
    }
    return [word for word, applies in words.items() if applies]


def elsewhere_notes(graph: Graph) -> list[str]:
    """One sentence per database that stands on no revision of this history, then the notes."""
    notes = []
    for revision, names in graph.elsewhere.items():
        who = ", ".join(clean(name) for name in names)
        if revision == BASE:
            notes.append(f"{who}: no revision applied")
        else:
            notes.append(f"{who}: at {clean(revision)}, which is not in this history")
    notes.extend(clean(note) for note in graph.notes)
    return notes


def omitted_note(count: int, graph: Graph, shown: Iterable[str]) -> str:
    """How many older revisions ``last`` left out, and which databases stand among them."""
    visible = set(shown)
    marked = [
        f"{', '.join(clean(n) for n in names)} at {clean(revision)}"
        for revision, names in graph.marks.items()
        if revision not in visible
    ]
    plural = "revision" if count == 1 else "revisions"
    note = f"{count} older {plural} not shown"
    return "; ".join([note, *marked])


def _steps(moves: tuple[Move, ...]) -> list[str]:
    """The lines that take every lane from its place before a transition to its place after."""
    places = [list(move) for move in moves]
    lines = []
    while any(now != goal for now, goal in places):
        chars = [" "] * (2 * max(max(p) for p in places) + 2)
        for place in places:
            now, goal = place
            if now == goal:
                chars[2 * now] = "|"
            elif goal < now:
                chars[2 * now - 1] = "/"
                place[0] = now - 1
            else:
                chars[2 * now + 1] = "\\"
                place[0] = now + 1
        lines.append("".join(chars).rstrip())
    return lines


def render_text(graph: Graph, layout: Layout) -> str:
    lines: list[str] = []
    for row in layout.rows:
        lines.extend(_steps(row.converge))
        lanes = " ".join("*" if i == row.column else "|" for i in range(row.lanes))
        node = row.node
        words = [clean(node.revision), *describe(graph, node)]
        words += [f"[{clean(label)}]" for label in node.branch_labels]
        message = clean(node.message)
        if message:
            words.append(message)
        names = graph.marks.get(node.revision)
        if names:
            words.append(" <- " + ", ".join(clean(name) for name in names))
        lines.append(f"{lanes} {' '.join(words)}")
        lines.extend(_steps(row.spread))
    if layout.omitted:
        lanes = " ".join("~" * layout.open_lanes)
        note = omitted_note(layout.omitted, graph, (row.node.revision for row in layout.rows))
        lines.append(f"{lanes} ({note})" if lanes else f"({note})")
    if not layout.rows:
        lines.append("(no revisions)")
    lines.extend(f"({note})" for note in elsewhere_notes(graph))
    return "\n".join(lines) + "\n"
