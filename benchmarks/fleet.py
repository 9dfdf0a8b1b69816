"""Tenants: one command on 50 PostgreSQL schemas plus 10 PostgreSQL databases.

Its own entry point, ``python -m benchmarks.fleet [--runs N] [--smoke]``: no other tool runs
on tenants, so there is nothing to alternate with. It measures, in whole ``flask`` processes:

- from empty, 20 revisions per tenant: ``flask db upgrade --all-tenants --jobs 4`` against
  ``--jobs 1`` (target: at least 1.6 times faster, on a machine whose two cores cap any
  CPU-bound speed-up at 2);
- every tenant already at head: the same command (every tenant skipped) against one
  ``flask db current`` (target: at most 1.5 times as long);
- the parent process's peak memory (``ru_maxrss``, its own, not the workers') from empty with
  10 and with 60 tenants (target: flat).

The report section goes into ``RESULTS.md`` between the markers below, replacing the previous
one (a full ``python -m benchmarks`` run keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from .apps import REPO_ROOT, base_env, plan_chain, run_process, summarize_error, write_chain
from .databases import Postgres

START = "<!-- fleet: start -->"
END = "<!-- fleet: end -->"
#: The graph drawing figures (``python -m benchmarks.graph_render``), kept the same way.
GRAPH_START = "<!-- graph: start -->"
GRAPH_END = "<!-- graph: end -->"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

APP = '''"""Benchmark app with tenants, written by benchmarks/fleet.py."""

import json
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Tenant, Versioning

db = SQLAlchemy()
versioning = Versioning()


@versioning.tenants
def tenants():
    with open(os.environ["BENCH_TENANTS"]) as f:
        return [Tenant(name, url=url, schema=schema) for name, url, schema in json.load(f)]


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BENCH_DATABASE_URL"]
    app.config["VERSIONING_DIRECTORY"] = "versioning"
    db.init_app(app)
    versioning.init_app(app, db)
    return app
'''

# Runs the flask command in this process and reports its own peak memory at the end. The
# guard matters: worker processes started with "spawn" import this file as __mp_main__.
PEAK = """import resource
import runpy
import sys

if __name__ == "__main__":
    sys.argv = ["flask", *sys.argv[1:]]
    code = 0
    try:
        runpy.run_module("flask", run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"BENCH_PEAK_KB {peak}", file=sys.stderr)
    sys.exit(code)
"""


@dataclass
class Sizes:
    schemas: int
    databases: int
    revisions: int
    small_schemas: int
    small_databases: int
    runs: int


@dataclass
class Bench:
    """The app on disk, its database, and the tenants' databases and schemas."""

    root: Path
    server: Postgres
    app_url: str
    database_urls: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)

    def env(self, tenants_file: Path) -> dict[str, str]:
        return {
            **base_env(),
            "PYTHONPATH": str(REPO_ROOT),
            "FLASK_APP": "benchapp:create_app",
            "BENCH_DATABASE_URL": self.app_url,
            "BENCH_TENANTS": str(tenants_file),
            "VERSIONING_ENV": "benchmark",
        }

    def tenants_file(self, schemas: int, databases: int) -> Path:
        rows = [[f"s{i:03d}", None, self.schemas[i]] for i in range(schemas)]
        rows += [[f"d{i:03d}", self.database_urls[i], None] for i in range(databases)]
        path = self.root / f"tenants-{schemas}-{databases}.json"
        path.write_text(json.dumps(rows))
        return path

    def empty(self) -> None:
        """Every tenant back to nothing: schemas dropped (the run creates them, --create), and
        each tenant database's ``public`` schema dropped and made again. Not ``DROP DATABASE``
        and ``CREATE DATABASE``: each of those makes the server write a checkpoint, whose disk
        writes then go on during the timed run that follows and move it by seconds."""
        engine = sa.create_engine(self.app_url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
        for url in self.database_urls:
            engine = sa.create_engine(url, poolclass=sa.NullPool)
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            engine.dispose()
        # The dropped tables' rows in the system catalogs are cleared out, so that every run
        # starts from catalogs of the same size, and whatever the drops left to write goes to
        # disk now, not during the timed run.
        for url in [self.app_url, *self.database_urls]:
            with engine_for(url) as conn:
                conn.exec_driver_sql("VACUUM")
        with engine_for(self.server.admin_url) as admin:
            admin.exec_driver_sql("CHECKPOINT")

    def at_head(self, tenants_file: Path, head: str) -> str | None:
        """What is wrong, if a tenant is not at ``head``."""
        for name, url, schema in json.loads(tenants_file.read_text()):
            engine = sa.create_engine(url or self.app_url, poolclass=sa.NullPool)
            table = f'"{schema}".alembic_version' if schema else "alembic_version"
            try:
                with engine.connect() as conn:
                    rows = [r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {table}")]
            except sa.exc.DBAPIError as exc:
                return f"{name}: {str(exc).splitlines()[0]}"
            finally:
                engine.dispose()
            if rows != [head]:
                return f"{name} is at {rows}, not {head}"
        return None

    def flask(self, args: Sequence[str], tenants_file: Path, *, peak: bool = False) -> float:
        """Run one ``flask`` process; its wall time (and with ``peak``, also sets
        :attr:`last_peak_kb`)."""
        command = [sys.executable, str(self.root / "peak.py")] if peak else [self.flask_bin]
        outcome = run_process(
            [*command, *args], cwd=self.root, env=self.env(tenants_file), timeout=1800
        )
        if not outcome.ok:
            raise SystemExit(
                f"flask {' '.join(args)} failed: "
                + summarize_error(outcome.stderr or outcome.stdout)
            )
        if peak:
            line = [x for x in outcome.stderr.splitlines() if x.startswith("BENCH_PEAK_KB ")]
            self.last_peak_kb = int(line[-1].split()[1])
        return float(outcome.seconds)

    flask_bin = str(Path(sys.executable).with_name("flask"))
    last_peak_kb = 0


@contextlib.contextmanager
def engine_for(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.2f} s"


def run(sizes: Sizes, log: object = print) -> str:
    server = Postgres.from_environment()
    if server.problem:
        raise SystemExit(server.problem)
    root = Path(tempfile.mkdtemp(prefix="fv-bench-fleet-"))
    (root / "benchapp.py").write_text(APP)
    (root / "peak.py").write_text(PEAK)
    steps = plan_chain(sizes.revisions)
    write_chain(root / "versioning" / "versions", steps)
    head = steps[-1].revision
    bench = Bench(root, server, server.create())
    prefix = f"fvb{uuid.uuid4().hex[:6]}"
    bench.schemas = [f"{prefix}_{i:03d}" for i in range(sizes.schemas)]
    bench.database_urls = [server.create() for _ in range(sizes.databases)]
    say = log if callable(log) else print
    started = time.time()
    load_before = _load()
    try:
        every = bench.tenants_file(sizes.schemas, sizes.databases)
        small = bench.tenants_file(sizes.small_schemas, sizes.small_databases)
        upgrade = ["db", "upgrade", "--all-tenants", "--create", "--no-progress"]
        timings: dict[int, list[float]] = {1: [], 4: []}
        peaks: dict[tuple[int, int], list[int]] = {}
        for run_index in range(sizes.runs):
            for jobs in (1, 4):
                bench.empty()
                seconds = bench.flask([*upgrade, "--jobs", str(jobs)], every, peak=True)
                problem = bench.at_head(every, head)
                if problem:
                    raise SystemExit(f"--jobs {jobs} did not reach head: {problem}")
                timings[jobs].append(seconds)
                peaks.setdefault((jobs, sizes.schemas + sizes.databases), []).append(
                    bench.last_peak_kb
                )
                say(f"run {run_index + 1}: --jobs {jobs}, from empty: {_ms(seconds)}")
        for jobs in (1, 4):
            for _ in range(sizes.runs):
                bench.empty()
                bench.flask([*upgrade, "--jobs", str(jobs)], small, peak=True)
                count = sizes.small_schemas + sizes.small_databases
                peaks.setdefault((jobs, count), []).append(bench.last_peak_kb)
        say("peak memory measured")

        # Everything at head, the app's own database too (current prints its head).
        bench.flask([*upgrade, "--jobs", "4"], every)
        bench.flask(["db", "upgrade"], every)
        skip: list[float] = []
        current: list[float] = []
        for _ in range(max(5, sizes.runs)):
            skip.append(bench.flask(["db", "upgrade", "--all-tenants", "--no-progress"], every))
            current.append(bench.flask(["db", "current"], every))
        say(f"at head: fleet upgrade {_ms(_median(skip))}, current {_ms(_median(current))}")
    finally:
        for url in bench.database_urls:
            server.drop(url)
        server.drop(bench.app_url)
    took = time.time() - started
    load = f"before {load_before}, after {_load()}"
    return _report(sizes, server, timings, peaks, skip, current, took, load)


def _report(
    sizes: Sizes,
    server: Postgres,
    timings: dict[int, list[float]],
    peaks: dict[tuple[int, int], list[int]],
    skip: list[float],
    current: list[float],
    took: float,
    load: str,
) -> str:
    total = sizes.schemas + sizes.databases
    small = sizes.small_schemas + sizes.small_databases
    one, four = _median(timings[1]), _median(timings[4])
    speedup = one / four
    ratio = _median(skip) / _median(current)

    def mb(jobs: int, count: int) -> float:
        return _median(peaks[(jobs, count)]) / 1024

    growth4 = mb(4, total) / mb(4, small)
    growth1 = mb(1, total) / mb(1, small)
    verdict = "met" if speedup >= 1.6 else "missed"
    skip_verdict = "met" if ratio <= 1.5 else "missed"
    flat = "met" if growth4 <= 1.05 else "missed"
    pairs = ", ".join(f"{a / b:.2f}x" for a, b in zip(timings[1], timings[4], strict=True))
    runs = ", ".join(_ms(s) for s in timings[1])
    runs4 = ", ".join(_ms(s) for s in timings[4])
    lines = [
        START,
        "## Tenants (`benchmarks/fleet.py`)",
        "",
        f"{sizes.schemas} PostgreSQL schemas of the app's database plus {sizes.databases} "
        f"PostgreSQL databases, {sizes.revisions} revisions each (tables and columns, as in "
        "the scenarios above), whole `flask` processes. Medians of "
        f"{sizes.runs} runs.",
        "",
        f"- Command: `python -m benchmarks.fleet --runs {sizes.runs}`",
        f"- Ran: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, took {took:.0f} s; "
        f"PostgreSQL {server.version}; Python {platform.python_version()}; "
        f"{_cpus()} CPUs; load average (1, 5, 15 min) {load}",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
        f"| From empty, `--jobs 1` | {_ms(one)} ({runs}) | |",
        f"| From empty, `--jobs 4` | {_ms(four)} ({runs4}) | |",
        f"| Speed-up, `--jobs 4` over `--jobs 1` | {speedup:.3f}x (run by run: {pairs}) "
        f"| >= 1.6x: {verdict} |",
        f"| All {total} at head: `flask db upgrade --all-tenants` | {_ms(_median(skip))} | |",
        f"| One `flask db current` | {_ms(_median(current))} | |",
        f"| Fleet at head ÷ `current` | {ratio:.2f} | <= 1.5: {skip_verdict} |",
        f"| Parent peak memory, `--jobs 4`, {small} → {total} tenants | "
        f"{mb(4, small):.1f} → {mb(4, total):.1f} MB ({growth4:.2f}x) | flat: {flat} |",
        f"| Parent peak memory, `--jobs 1`, {small} → {total} tenants | "
        f"{mb(1, small):.1f} → {mb(1, total):.1f} MB ({growth1:.2f}x) | (for comparison) |",
        "",
        "With `--jobs 1` every tenant runs in the `flask` process itself; with `--jobs 4` "
        "four worker processes (forks of the `flask` process, which has the app and its "
        "imports already) run them "
        "and the parent only hands tenants out, so its memory does not depend on how many "
        "there are. At head, no worker is started: the heads come from the cached reading "
        "of the revision files and each tenant costs one `SELECT` (the 50 schemas over one "
        "connection), where `flask db current` imports Alembic and the revision files to "
        "mark the head. The machine is shared: the run-by-run ratios show how much other "
        "work moved each pair of runs.",
        END,
    ]
    return "\n".join(lines) + "\n"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpus() -> int:
    return os.cpu_count() or 0


def write_section(section: str, path: Path = RESULTS) -> None:
    """Put ``section`` into the report, replacing an earlier one."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def keep_fleet_section(markdown: str, path: Path) -> str:
    """``markdown`` (a full report about to replace ``path``) with the sections that other
    commands write into ``path`` (tenants, and the graph figures written by hand), so that a
    full run of the other scenarios does not drop them."""
    text = path.read_text() if path.exists() else ""
    for start, end in ((START, END), (GRAPH_START, GRAPH_END)):
        if start in text and end in text:
            section = start + text.split(start, 1)[1].split(end, 1)[0] + end + "\n"
            markdown = markdown.rstrip("\n") + "\n\n" + section
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument(
        "--smoke", action="store_true", help="3 schemas, 2 databases, 3 revisions, 1 run"
    )
    parser.add_argument("--output", type=Path, help=f"report path (default {RESULTS})")
    args = parser.parse_args(argv)
    sizes = Sizes(3, 2, 3, 2, 1, 1) if args.smoke else Sizes(50, 10, 20, 8, 2, args.runs)
    section = run(sizes, lambda text: print(text, file=sys.stderr, flush=True))
    print(section)
    if not args.smoke or args.output:
        write_section(section, args.output or RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
