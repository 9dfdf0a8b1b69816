"""The revision graph as a picture: text, Mermaid, DOT or SVG (``flask db graph``, status page).

Nothing here knows about Flask or a database: the caller builds a :class:`Graph` from Alembic's
``Script`` objects (:func:`nodes_from_scripts`) and the databases' current revisions, and
:func:`render` returns a string. Every format comes from one layout (:mod:`.layout`), so the
text, the SVG and the order of the Mermaid and DOT output agree.

Why the SVG is drawn by our own code and never by Graphviz, even when ``dot`` is installed:

- Speed. Drawing in-process is several times faster than ``dot -Tsvg``, which also pays a
  process start on every call (``python -m benchmarks.graph_render``; the figures are in
  ``benchmarks/RESULTS.md``). Both meet the one-second goal for 1,000 revisions; only ours
  leaves room for a status page that draws one graph per database.
- One picture. The SVG is the text graph drawn with shapes, the same rows and lanes a
  developer already reads in ``flask db graph``; Graphviz arranges nodes its own way and its
  output changes between its versions, which makes screenshots and tests drift.
- Nothing to install or detect: the status page works the same on every machine, offline,
  and there is no "install Graphviz" hint to print. Whoever prefers Graphviz's layout pipes
  ``--format dot`` into ``dot -Tsvg``, which is what the DOT format is for.
"""

from __future__ import annotations

from typing import Literal

from .._errors import VersioningError
from .layout import lay_out
from .markup import render_dot, render_mermaid
from .model import BASE, Graph, Node, nodes_from_scripts, nodes_from_tuples
from .svg import render_svg
from .text import render_text

__all__ = [
    "BASE",
    "FORMATS",
    "Format",
    "Graph",
    "Node",
    "nodes_from_scripts",
    "nodes_from_tuples",
    "render",
]

Format = Literal["text", "mermaid", "dot", "svg"]
FORMATS: tuple[Format, ...] = ("text", "mermaid", "dot", "svg")


def render(graph: Graph, fmt: Format, *, last: int | None = None) -> str:
    """Draw ``graph`` in ``fmt``; with ``last``, only the newest ``last`` revisions.

    "Newest" is the order the text shows (children before their down revisions, heads
    first), and every format says how many older revisions it left out.
    """
    if last is not None and last < 1:
        raise VersioningError(f"--last must be 1 or more, not {last}")
    layout = lay_out(graph, last)
    if fmt == "text":
        return render_text(graph, layout)
    if fmt == "mermaid":
        return render_mermaid(graph, layout)
    if fmt == "dot":
        return render_dot(graph, layout)
    if fmt == "svg":
        return render_svg(graph, layout)
    raise VersioningError(f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}")
