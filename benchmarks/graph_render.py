"""How long the revision graph takes to draw: ``python -m benchmarks.graph_render``.

The issue asks for 1,000 revisions in well under a second. This prints the median time per
format at 100 and 1,000 revisions for a linear history and for one with branches and merges,
building the :class:`Graph` included (the cost ``flask db graph`` pays after Alembic has read
the files). When Graphviz's ``dot`` is on the PATH it also times ``dot -Tsvg`` on our DOT
output, the alternative to drawing the SVG ourselves. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from functools import partial

from flask_versioning._graph import FORMATS, Format, Graph, Node, render

SIZES = (100, 1000)


def linear(count: int) -> list[Node]:
    return [
        Node(f"r{i:04d}", (f"r{i - 1:04d}",) if i else (), f"revision number {i}")
        for i in range(count)
    ]


def branchy(count: int) -> list[Node]:
    """Exactly ``count`` revisions: every 10th main-line revision opens a three-revision branch
    merged back 5 revisions later; the last ones stay open as extra heads; a branch label."""
    nodes: list[Node] = []
    main = ""
    waiting: list[str] = []
    step = 0
    while len(nodes) < count:
        if step % 10 == 0 and main and count - len(nodes) > 4:
            side = f"s{step:04d}"
            downs: tuple[str, ...] = (main,)
            for part, message in enumerate(("side work", "side work, more", "side work, done")):
                labels = ("side",) if step == 10 and part == 0 else ()
                nodes.append(Node(f"{side}{part}", downs, message, labels))
                downs = (f"{side}{part}",)
            waiting.append(downs[0])
        downs = (main,) if main else ()
        if step % 10 == 5 and waiting and count - len(nodes) > 40:
            downs = (main, waiting.pop())
        main = f"r{step:04d}"
        nodes.append(Node(main, downs, f"revision number {step} with a longer message"))
        step += 1
    return nodes


def timed(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def draw(nodes: list[Node], marks: dict[str, list[str]], fmt: Format) -> str:
    return render(Graph(nodes, marks), fmt)


def graphviz(dot: str, source: str) -> None:
    subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median shown)")
    args = parser.parse_args()
    dot = shutil.which("dot")
    print(f"median of {args.runs} runs, milliseconds")
    print(f"{'history':<10}{'revisions':>10}" + "".join(f"{f:>10}" for f in FORMATS), end="")
    print(f"{'dot -Tsvg':>12}" if dot else "  (Graphviz dot not on PATH: not compared)")
    for shape, build in (("linear", linear), ("branchy", branchy)):
        for size in SIZES:
            nodes = build(size)
            heads = [n.revision for n in nodes][-1:]
            marks = {heads[0]: ["default"], nodes[size // 2].revision: ["analytics"]}
            line = f"{shape:<10}{len(nodes):>10}"
            for fmt in FORMATS:
                seconds = timed(partial(draw, nodes, marks, fmt), args.runs)
                line += f"{seconds * 1000:>10.1f}"
            if dot:
                source = render(Graph(nodes, marks), "dot")
                line += f"{timed(partial(graphviz, dot, source), min(args.runs, 3)) * 1000:>12.1f}"
            print(line)


if __name__ == "__main__":
    main()
