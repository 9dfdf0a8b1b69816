"""What a revision graph is made of: revisions, their down revisions, and marked databases.

The renderers never see Alembic: a :class:`Node` carries only what a picture shows, and the
checks (unknown down revision, cycle, duplicate) run once here, not in every renderer.
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
