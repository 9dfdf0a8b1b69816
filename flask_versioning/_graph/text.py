"""The graph as text, Mermaid and Graphviz DOT.

Text reads like ``git log --graph``: one line per revision, newest first. Each lane takes two
columns: the lane (``|``, ``*`` on its revision's line) and the gap on its right, where ``/``
and ``\\`` show a move of one step; a longer move takes one line per step.

In Mermaid (for a README or a pull request) and DOT, arrows run from a down revision to the
revision built on it, as ``upgrade`` does; databases are extra nodes on a dashed line, revisions
left out by ``last`` one "older revisions" node. All user text passes through one escaping
function per format: nothing from a revision file can end a string, open a tag or start an
entity.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from .model import BASE, Graph, Layout, Move, Node


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


MESSAGE_WIDTH = 60
#: Mermaid's ``maxEdges`` default, a secure setting no diagram can raise: a longer diagram
#: shows "Syntax error" on GitHub, so the output then opens with a comment saying so.
MERMAID_MAX_LINKS = 500
_MERMAID_PLAIN = frozenset(string.ascii_letters + string.digits + " .,:_-/()'!?+=")


def _title(graph: Graph, revision: str) -> str:
    node = graph.nodes[revision]
    words = [revision, *describe(graph, node), *(f"[{label}]" for label in node.branch_labels)]
    return clean(" ".join(words))


def _marked(graph: Graph, layout: Layout) -> list[tuple[str, str]]:
    """(revision, database names) for each shown revision that has databases on it."""
    shown = (row.node.revision for row in layout.rows)
    return [(r, ", ".join(map(clean, graph.marks[r]))) for r in shown if graph.marks.get(r)]


def _omitted_children(layout: Layout) -> list[str]:
    """Shown revisions with a down revision among the omitted ones, in row order."""
    return list(dict.fromkeys(edge.child for edge in layout.edges if edge.omitted))


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label, all but plain characters as ``#code;``: Mermaid decodes
    them after parsing, so quotes, ``<``, ``&``, ``$`` and backticks are shown, not interpreted."""
    return "".join(c if c in _MERMAID_PLAIN else f"#{ord(c)};" for c in text)


def render_mermaid(graph: Graph, layout: Layout) -> str:
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for row in layout.rows:
        base = "r_" + re.sub(r"\W", "_", row.node.revision, flags=re.ASCII)
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        taken.add(name)
        ids[row.node.revision] = name
    lines = ["flowchart BT"]
    for row in layout.rows:
        label = mermaid_text(_title(graph, row.node.revision))
        if row.node.message.strip():
            label += "<br>" + mermaid_text(shorten(row.node.message, MESSAGE_WIDTH))
        lines.append(f'  {ids[row.node.revision]}["{label}"]')
    for edge in layout.edges:
        if not edge.omitted:
            lines.append(f"  {ids[edge.parent]} --> {ids[edge.child]}")
    if layout.omitted:
        note = omitted_note(layout.omitted, graph, ids)
        lines.append(f'  older[["{mermaid_text(note)}"]]')
        lines.extend(f"  older -.-> {ids[child]}" for child in _omitted_children(layout))
    databases = []
    for number, (revision, names) in enumerate(_marked(graph, layout), 1):
        databases.append(f"d_{number}")
        lines.append(f'  d_{number}(["{mermaid_text(names)}"])')
        lines.append(f"  {ids[revision]} -.- d_{number}")
    for number, note in enumerate(elsewhere_notes(graph), 1):
        databases.append(f"e_{number}")
        lines.append(f'  e_{number}(["{mermaid_text(note)}"])')
    links = sum(" --> " in line or " -.- " in line or " -.-> " in line for line in lines)
    if links > MERMAID_MAX_LINKS:
        lines.insert(
            1,
            f"%% {links} links: Mermaid draws at most {MERMAID_MAX_LINKS} unless configured;"
            " show fewer revisions (--last)",
        )
    heads = [ids[row.node.revision] for row in layout.rows if graph.is_head(row.node.revision)]
    lines.append("  classDef head stroke-width:3px")
    lines.append("  classDef database fill:#ddf4ff,stroke:#0969da,color:#0a3069")
    if heads:
        lines.append(f"  class {','.join(heads)} head")
    if databases:
        lines.append(f"  class {','.join(databases)} database")
    return "\n".join(lines) + "\n"


def dot_text(text: str) -> str:
    """A DOT double-quoted string that Graphviz shows exactly as ``text``: no ``\\N`` from a
    message, and ``&`` escaped because Graphviz decodes HTML entities even in plain labels."""
    escaped = clean(text).replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_dot(graph: Graph, layout: Layout) -> str:
    lines = [
        "digraph revisions {",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica",'
        " fontsize=10];",
        "  edge [arrowsize=0.6];",
    ]
    for row in layout.rows:
        revision = row.node.revision
        label = dot_text(_title(graph, revision))
        if row.node.message.strip():
            label = label[:-1] + "\\n" + dot_text(shorten(row.node.message, MESSAGE_WIDTH))[1:]
        style = ', penwidth=2, fillcolor="#dafbe1"' if graph.is_head(revision) else ""
        lines.append(f"  {dot_text(revision)} [label={label}{style}];")
    for edge in layout.edges:
        if not edge.omitted:
            lines.append(f"  {dot_text(edge.parent)} -> {dot_text(edge.child)};")
    shown = {row.node.revision for row in layout.rows}
    taken = set(shown)

    def fresh(name: str) -> str:
        while name in taken:
            name += "'"
        taken.add(name)
        return dot_text(name)

    if layout.omitted:
        older = fresh("older revisions")
        note = dot_text(omitted_note(layout.omitted, graph, shown))
        lines.append(f"  {older} [label={note}, shape=plaintext, style=solid];")
        lines.extend(
            f"  {older} -> {dot_text(child)} [style=dashed];" for child in _omitted_children(layout)
        )
    database = '[label={}, shape=cylinder, fillcolor="#ddf4ff", color="#0969da"]'
    for number, (revision, names) in enumerate(_marked(graph, layout), 1):
        node = fresh(f"database {number}")
        lines.append(f"  {node} {database.format(dot_text(names))};")
        lines.append(f'  {node} -> {dot_text(revision)} [style=dashed, dir=none, color="#0969da"];')
        lines.append(f"  {{ rank=same; {node}; {dot_text(revision)}; }}")
    for number, note in enumerate(elsewhere_notes(graph), 1):
        lines.append(f"  {fresh(f'elsewhere {number}')} {database.format(dot_text(note))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
