"""Count the round trips a whole ``flask db upgrade`` makes to PostgreSQL, per tool.

Wall time on a shared machine measures the machine as much as the tools; the number of times a
process waits for the server does not. Each tool's app (the same revision files as
``fresh_upgrade``) upgrades an empty database once, with libpq's protocol trace switched on in
the ``flask`` process by a ``sitecustomize`` module this script writes; a round trip is one
``ReadyForQuery`` the server sent (one per simple query, one per ``Sync`` of the extended
protocol; the start of a connection is not traced).

    python -m benchmarks.round_trips --sizes 10,100,1000

Needs psycopg 3 (``postgresql+psycopg``) and the server of ``VERSIONING_BENCH_POSTGRES_URL``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .apps import MIGRATION_TOOLS, Workspace, plan_chain
from .databases import Postgres

# Imported by every Python process whose path holds its folder: the ``flask`` process traces
# each psycopg connection it opens into $BENCH_PQ_TRACE.
_HOOK = """\
import os

if os.environ.get("BENCH_PQ_TRACE"):
    import psycopg
    from psycopg import pq

    _connect = psycopg.Connection.connect.__func__

    def _traced(cls, *args, **kwargs):
        conn = _connect(cls, *args, **kwargs)
        out = open(os.environ["BENCH_PQ_TRACE"], "a")
        out.write("#connect\\n")
        out.flush()
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        conn._bench_trace = out
        return conn

    psycopg.Connection.connect = classmethod(_traced)
    psycopg.connect = psycopg.Connection.connect
"""


def count(trace: Path) -> tuple[int, int]:
    """Round trips (``ReadyForQuery`` from the server, after the connection's start) and
    connections in a libpq trace."""
    lines = trace.read_text().splitlines() if trace.exists() else []
    trips = sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery\t" in line)
    connections = sum(1 for line in lines if line == "#connect")
    return trips, connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10,100,1000", help="revision counts (default: %(default)s)"
    )
    parser.add_argument("--tools", default=",".join(MIGRATION_TOOLS), help="tools to count")
    args = parser.parse_args()
    server = Postgres.from_environment()
    if server.problem:
        raise SystemExit(server.problem)
    sizes = [int(size) for size in args.sizes.split(",")]
    tools = [tool for tool in args.tools.split(",") if tool]
    with tempfile.TemporaryDirectory(prefix="fv-round-trips-") as tmp:
        root = Path(tmp)
        hook = root / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(_HOOK)
        workspace = Workspace(root / "apps", 900.0)
        print("| Revisions | Tool | Round trips | Per revision | Connections |")
        print("|---|---|---|---|---|")
        for size in sizes:
            steps = plan_chain(size)
            for tool in tools:
                app = workspace.build(tool, steps, tag=f"n{size}")
                url = server.create()
                trace = root / f"{tool}-{size}.trace"
                try:
                    outcome = app.flask(
                        ["db", "upgrade"],
                        url,
                        {"BENCH_PQ_TRACE": str(trace), "PYTHONPATH": _path(hook, app.env(url))},
                    )
                finally:
                    server.drop(url)
                if not outcome.ok:
                    raise SystemExit(f"{tool}, N={size}: {outcome.error()}")
                trips, connections = count(trace)
                print(f"| {size} | {tool} | {trips} | {trips / max(size, 1):.2f} | {connections} |")


def _path(hook: Path, env: dict[str, str]) -> str:
    return f"{hook}:{env['PYTHONPATH']}"


if __name__ == "__main__":
    main()
