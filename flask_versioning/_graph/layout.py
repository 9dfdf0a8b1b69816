"""Where each revision and each line goes: rows newest first, lanes assigned as ``git log --graph``.

A lane carries one edge (child -> down revision) from the child's row to the down revision's.
Two lanes waiting for one down revision both run on and join just above it, as a branch point
looks in ``git log --graph`` (``|/``). When a lane ends, the lanes right of it move left, so
the picture stays as narrow as the history allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Graph, Node

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
