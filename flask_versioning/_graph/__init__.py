"""The revision graph as a picture: text, Mermaid, DOT or SVG (``flask db graph``, status page).

Nothing here knows about Flask or a database: the caller builds a :class:`Graph` from Alembic's
``Script`` objects (:func:`nodes_from_scripts`) and the databases' current revisions, and
:func:`render` returns a string. Every format comes from one layout (:func:`.model.lay_out`),
so they agree.

The SVG is drawn by our own code, never by Graphviz: it is faster than a ``dot`` process per
call (``benchmarks/RESULTS.md``), it is the text graph drawn with shapes (Graphviz arranges
nodes its own way, differently between its versions), and there is nothing to install. Who
prefers Graphviz's layout pipes ``--format dot`` into ``dot -Tsvg``.
"""

from __future__ import annotations

from typing import Literal

from .._errors import VersioningError
from .model import BASE, Graph, Node, lay_out, nodes_from_scripts, nodes_from_tuples
from .svg import render_svg
from .text import render_dot, render_mermaid, render_text

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
_RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot, "svg": render_svg}


def render(graph: Graph, fmt: Format, *, last: int | None = None) -> str:
    """Draw ``graph`` in ``fmt``; with ``last``, only the newest ``last`` revisions (in the
    order the text shows), saying how many older ones were left out."""
    if last is not None and last < 1:
        raise VersioningError(f"--last must be 1 or more, not {last}")
    layout = lay_out(graph, last)
    if fmt not in _RENDERERS:
        raise VersioningError(f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](graph, layout)
