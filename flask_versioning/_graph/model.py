"""What a revision graph is made of (revisions, their down revisions, marked databases), and
where each revision and each line goes.

The renderers never see Alembic: a :class:`Node` carries only what a picture shows, and the
checks (unknown down revision, cycle, duplicate) run once here, not in every renderer.

Rows run newest first, lanes assigned as ``git log --graph``. A lane carries one edge (child ->
down revision) from the child's row to the down revision's. Two lanes waiting for one down
revision both run on and join just above it, as a branch point looks there (``|/``). When a
lane ends, the lanes right of it move left, so the picture stays as narrow as the history
allows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from .._errors import RevisionError

if TYPE_CHECKING:
    from alembic.script import Script

DownRevision: TypeAlias = "str | Sequence[str] | None"

#: Alembic's name for "no revision applied": a database marked here stands below every revision.
BASE = "base"


@dataclass(frozen=True, slots=True)
class Node:
    """One revision as the picture shows it; being a head or a branch point depends on the
    other revisions, so :class:`Graph` answers those."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str = ""
    branch_labels: tuple[str, ...] = ()

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1


def _down(value: DownRevision) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def nodes_from_scripts(scripts: Iterable[Script]) -> list[Node]:
    """Nodes from Alembic ``Script`` objects, ``depends_on`` left out as ``alembic history``
    does. Branch labels as the file declares them: Alembic copies each label onto every
    revision of its branch, and a label on every row says nothing."""
    nodes = []
    for script in scripts:
        module = getattr(script, "module", None)
        declared = getattr(module, "branch_labels", None) if module is not None else None
        labels = _down(declared) if module is not None else tuple(script.branch_labels)
        nodes.append(
            Node(script.revision, _down(script.down_revision), script.doc, tuple(sorted(labels)))
        )
    return nodes


def nodes_from_tuples(rows: Iterable[tuple[str, DownRevision, str]]) -> list[Node]:
    """Nodes from ``(revision, down_revision, message)`` tuples, ``down_revision`` as in a file."""
    return [Node(revision, _down(down), message) for revision, down, message in rows]


class Graph:
    """A checked revision history and the databases standing on it.

    ``marks`` maps a revision to the names of the databases at it. A database at a revision not
    in the history (upgraded from another branch of the code) or at :data:`BASE` is kept in
    :attr:`elsewhere`, so the picture says so instead of failing. ``notes`` are printed under
    the picture, such as a database that could not be read.
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        marks: Mapping[str, Sequence[str]] | None = None,
        notes: Iterable[str] = (),
    ) -> None:
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.revision in self.nodes:
                raise RevisionError(f"revision {node.revision} appears twice in the history")
            self.nodes[node.revision] = node
        self.children: dict[str, list[str]] = {revision: [] for revision in self.nodes}
        for node in self.nodes.values():
            for down in node.down_revisions:
                if down not in self.children:
                    raise RevisionError(
                        f"revision {node.revision} names down revision {down}, "
                        "which is not in the history"
                    )
                self.children[down].append(node.revision)
        self.marks: dict[str, tuple[str, ...]] = {}
        self.elsewhere: dict[str, tuple[str, ...]] = {}
        for revision, names in (marks or {}).items():
            if names:
                target = self.marks if revision in self.nodes else self.elsewhere
                target[revision] = (names,) if isinstance(names, str) else tuple(names)
        self.notes: tuple[str, ...] = tuple(notes)
        self.generation = self._generations()

    def _generations(self) -> dict[str, int]:
        """Longest distance from a base per revision; fails on a cycle. Kahn's walk from the
        bases, smallest id first so the numbering is deterministic."""
        waiting = {revision: len(node.down_revisions) for revision, node in self.nodes.items()}
        ready = [revision for revision, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        generation: dict[str, int] = {}
        while ready:
            revision = heapq.heappop(ready)
            downs = self.nodes[revision].down_revisions
            generation[revision] = 1 + max((generation[d] for d in downs), default=0)
            for child in self.children[revision]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        if len(generation) < len(self.nodes):
            stuck = sorted(set(self.nodes) - set(generation))
            raise RevisionError(f"the history has a cycle through {', '.join(stuck[:5])}")
        return generation

    @property
    def heads(self) -> list[str]:
        """Revisions nothing builds on, the deepest first."""
        heads = [revision for revision, children in self.children.items() if not children]
        return sorted(heads, key=lambda revision: (-self.generation[revision], revision))

    def is_head(self, revision: str) -> bool:
        return not self.children[revision]

    def is_branch_point(self, revision: str) -> bool:
        return len(self.children[revision]) > 1

    def order(self) -> list[str]:
        """Every revision after all its children (``git log --topo-order``), the most recently
        readied first to keep each line of work together; heads deepest first, a merge's first
        down revision before its others."""
        waiting = {revision: len(children) for revision, children in self.children.items()}
        stack = list(reversed(self.heads))
        order: list[str] = []
        while stack:
            revision = stack.pop()
            order.append(revision)
            for down in reversed(self.nodes[revision].down_revisions):
                waiting[down] -= 1
                if waiting[down] == 0:
                    stack.append(down)
        return order


#: A lane's index before and after a transition between two rows.
Move = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Row:
    """One revision's line: its lane, how many lanes cross it, and how lanes move around it."""

    node: Node
    column: int
    lanes: int
    #: Before the line: lanes waiting for this revision join its column (empty: none move).
    converge: tuple[Move, ...]
    #: After the line: a merge opens lanes, a base closes one (empty: none move).
    spread: tuple[Move, ...]


@dataclass(frozen=True, slots=True)
class Edge:
    """A line from a revision down to one of its down revisions: (row, lane) ``points`` from
    the child's row to the down revision's (or the row after the last shown), with the rows
    either side of each change of lane."""

    child: str
    parent: str
    points: tuple[tuple[int, int], ...]
    omitted: bool


@dataclass(frozen=True, slots=True)
class Layout:
    rows: tuple[Row, ...]
    edges: tuple[Edge, ...]
    #: Revisions left out by ``last``.
    omitted: int
    #: Lanes that run on below the last row, into the omitted revisions.
    open_lanes: int
    #: The most lanes any row has.
    width: int


class _Track:
    """An edge being laid out: where it is now and where its lane changed so far."""

    __slots__ = ("child", "lane", "parent", "points")

    def __init__(self, child: str, parent: str, row: int, lane: int) -> None:
        self.child = child
        self.parent = parent
        self.lane = lane
        self.points = [(row, lane)]

    def at(self, row: int, lane: int) -> None:
        if lane != self.lane:
            if self.points[-1][0] != row - 1:
                self.points.append((row - 1, self.lane))
            self.points.append((row, lane))
            self.lane = lane

    def end(self, row: int, lane: int, *, omitted: bool = False) -> Edge:
        if lane == self.lane:
            self.points.append((row, lane))
        self.at(row, lane)
        return Edge(self.child, self.parent, tuple(self.points), omitted)


def lay_out(graph: Graph, last: int | None = None) -> Layout:
    """Rows in :meth:`Graph.order`, the newest ``last`` of them when given."""
    order = graph.order()
    shown = order if last is None else order[:last]
    lanes: list[_Track | None] = []
    rows: list[Row] = []
    edges: list[Edge] = []
    for number, revision in enumerate(shown):
        node = graph.nodes[revision]
        waiting = [i for i, track in enumerate(lanes) if track and track.parent == revision]
        converge: tuple[Move, ...] = ()
        if not waiting:
            column = len(lanes)
            lanes.append(None)
        else:
            column = waiting[0]
            joining = set(waiting[1:])
            ending = [lanes[i] for i in waiting]
            if joining:
                kept: list[_Track | None] = []
                moves = []
                for i, track in enumerate(lanes):
                    if i in joining:
                        moves.append((i, column))
                    else:
                        moves.append((i, len(kept)))
                        kept.append(track)
                converge = tuple(moves)
                lanes = kept
            for track in ending:
                assert track is not None
                edges.append(track.end(number, column))
            lanes[column] = None
        for i, track in enumerate(lanes):
            if track is not None:
                track.at(number, i)
        count = len(lanes)
        downs = node.down_revisions
        lanes[column : column + 1] = [_Track(revision, d, number, column) for d in downs]
        moves = [(i, i) for i in range(column)]
        moves += [(column, column + j) for j in range(len(downs))]
        moves += [(i, i + len(downs) - 1) for i in range(column + 1, count)]
        spread = tuple(moves) if any(a != b for a, b in moves) else ()
        rows.append(Row(node, column, count, converge, spread))
    for i, track in enumerate(lanes):
        assert track is not None
        edges.append(track.end(len(shown), i, omitted=True))
    width = max((row.lanes for row in rows), default=0)
    return Layout(tuple(rows), tuple(edges), len(order) - len(shown), len(lanes), width)
