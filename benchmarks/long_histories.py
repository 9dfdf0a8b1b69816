"""Long histories: baselines against replay, and the pytest plugin's per-test databases.

These scenarios compare Flask-Versioning with itself, not with the peers: the question is how
much a baseline, a cloned template or a rolled-back transaction saves over replaying every
revision, so both sides run the same package on the same revision files, alternating run by
run like every other scenario. ``ours`` is the fast path (from a baseline, a clone, a
transaction); ``replay`` is the same app replaying the chain.

The plugin's cases are timed inside one process (a probe script that calls
``flask_versioning.testing.templates`` directly), because that is where a test pays for its
database: process start and imports are paid once per session, not per test.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from .apps import LABELS, OURS, BenchApp, Step, plan_chain, revisions_for_tables
from .databases import schema_problem, sqlite_url
from .scenarios import (
    BACKEND_LABELS,
    POSTGRESQL,
    SQLITE,
    Case,
    Context,
    Run,
    ToolResult,
    _alternate,
)
from .scenarios import SCENARIOS as BASE_SCENARIOS
from .scenarios import TARGETS as BASE_TARGETS

REPLAY = "replay"
LABELS.setdefault(REPLAY, "Flask-Versioning, replay")
HISTORY_PROBE = "history_probe.py"
WORKER = "bench"
"""The worker name the probe gives the plugin's templates (``<db>_fvtpl_bench_<project>``)."""

# Runs in the app's directory with the app's environment (BENCH_DATABASE_URL unused: every
# database is named on the command line). Prints one BENCH_RESULT line with the median of the
# timed iterations; checks what it made outside the timed part.
_HISTORY_PROBE = '''\
"""Per-test databases, timed in-process; written by benchmarks/long_histories.py."""

import json
import os
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

import benchapp
from flask_versioning.testing.templates import Templates

mode, url, iterations, expected = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
admin = os.environ.get("BENCH_ADMIN_URL", "")


def factory(database_url):
    os.environ["BENCH_DATABASE_URL"] = database_url
    return benchapp.create_app()


def dispose(app):
    with app.app_context():
        benchapp.db.engine.dispose()


def tables(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        return len(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def check(database_url):
    found = tables(database_url)
    if found < expected:
        sys.exit(f"{database_url}: {found} tables, expected at least {expected}")


def server(statement):
    engine = sa.create_engine(admin, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


timings = []
if mode == "replay":
    base = sa.make_url(url)
    for index in range(iterations):
        if base.get_backend_name() == "sqlite":
            path = Path(base.database).with_name(f"replay-{os.getpid()}-{index}.db")
            target = base.set(database=str(path)).render_as_string(hide_password=False)
        else:
            name = f"{base.database}_r{os.getpid()}_{index}"
            target = base.set(database=name).render_as_string(hide_password=False)
        t0 = time.perf_counter()
        if base.get_backend_name() != "sqlite":
            server(f"CREATE DATABASE {name}")
        app = factory(target)
        with app.app_context():
            benchapp.tool.upgrade()
        dispose(app)
        t1 = time.perf_counter()
        check(target)
        t2 = time.perf_counter()
        if base.get_backend_name() == "sqlite":
            path.unlink()
        else:
            server(f"DROP DATABASE {name} WITH (FORCE)")
        timings.append(t1 - t0 + time.perf_counter() - t2)
else:
    templates = Templates(factory, url, "bench", rootdir=Path.cwd(), reuse=True)
    template = templates.template(None)
    if mode == "clone":
        for _ in range(iterations):
            t0 = time.perf_counter()
            context = template.clone()
            database = context.__enter__()
            t1 = time.perf_counter()
            check(database.url)
            t2 = time.perf_counter()
            context.__exit__(None, None, None)
            timings.append(t1 - t0 + time.perf_counter() - t2)
    else:
        # An untimed first test that commits a row through db.session: it must be gone after.
        with template.transaction():
            benchapp.db.session.execute(sa.text("INSERT INTO t0001 (id, name) VALUES (1, 'x')"))
            benchapp.db.session.commit()
        engine = sa.create_engine(template.url, poolclass=sa.NullPool)
        with engine.connect() as connection:
            left = connection.exec_driver_sql("SELECT count(*) FROM t0001").scalar_one()
        engine.dispose()
        if left:
            sys.exit(f"transaction mode left {left} row(s) behind")
        query = mode == "transaction_query"
        for _ in range(iterations):
            t0 = time.perf_counter()
            with template.transaction():
                if query:
                    benchapp.db.session.execute(sa.text("SELECT 1"))
            timings.append(time.perf_counter() - t0)
    templates.close()
print(
    "BENCH_RESULT "
    + json.dumps({"seconds": statistics.median(timings), "iterations": float(len(timings))}),
    flush=True,
)
'''


def _skip_unless_ours(ctx: Context) -> Callable[[str], str | None]:
    """Both sides are ours, so both sit out when the package cannot be imported."""
    return lambda tool: ctx.skip_reason(OURS)


def _skipped(case: Case, tools: Sequence[str], problem: str) -> Case:
    case.notes.append(f"skipped: {problem}")
    for tool in tools:
        case.tools[tool] = ToolResult(tool, skipped=f"skipped: {problem}")
    return case


def _sizes(ctx: Context) -> tuple[int, ...]:
    return ctx.settings.upgrade_sizes


def baseline_upgrade(ctx: Context) -> list[Case]:
    """A whole ``flask db upgrade`` process making an empty database at head, ours from a
    baseline of the head revision (written once per backend with ``flask db baseline``,
    untimed) against the same app with no baselines, replaying every revision. The baseline
    side must print "Loaded baseline" and the replay side must not; the schema is checked
    afterwards on both. MariaDB is not in the harness (it has no MariaDB service helper)."""
    cases: list[Case] = []
    size = max(_sizes(ctx))
    steps = plan_chain(size)
    apps: dict[str, BenchApp] = {}
    written: set[str] = set()
    tools = [OURS, REPLAY]
    for backend in (SQLITE, POSTGRESQL):
        tables = len({step.table for step in steps})
        case = Case(
            "baseline_upgrade",
            f"N={size} ({tables} tables), {BACKEND_LABELS[backend]}",
            "whole `flask db upgrade` process, empty database to head; ours: from a baseline"
            " of the head revision, replay: every revision (s)",
            size=size,
        )
        problem = ctx.backend_problem(backend)
        if problem:
            cases.append(_skipped(case, tools, problem))
            continue

        def setup(tool: str, backend: str = backend) -> BenchApp:
            if tool not in apps:
                apps[tool] = ctx.workspace.build(OURS, steps, tag=f"{tool}-n{size}")
            app = apps[tool]
            if tool == OURS and backend not in written:
                url = ctx.new_database(backend, app)
                try:
                    outcome = app.flask(["db", "baseline"], url)
                finally:
                    ctx.drop_database(backend, url)
                if not outcome.ok:
                    raise RuntimeError(f"`flask db baseline`: {outcome.error()}")
                written.add(backend)
            return app

        def measure(tool: str, app: BenchApp, backend: str = backend) -> Run:
            url = ctx.new_database(backend, app)
            try:
                outcome = app.flask(["db", "upgrade"], url)
                if not outcome.ok:
                    return Run(None, False, outcome.error())
                loaded = "Loaded baseline" in outcome.stdout + outcome.stderr
                if loaded != (tool == OURS):
                    said = "loaded a baseline" if loaded else "did not load a baseline"
                    return Run(outcome.seconds, False, f"exit 0 but {said}")
                wrong = schema_problem(url, steps)
                if wrong:
                    return Run(outcome.seconds, False, f"exit 0 but {wrong}")
                return Run(outcome.seconds, True)
            finally:
                ctx.drop_database(backend, url)

        cases.append(_alternate(ctx, case, tools, setup, measure, skip=_skip_unless_ours(ctx)))
    return cases


def _probe_app(ctx: Context, steps: Sequence[Step]) -> BenchApp:
    """Our app for ``steps`` (no baselines), with the probe script beside it."""
    app = ctx.fresh_app(OURS, steps)
    (app.root / HISTORY_PROBE).write_text(_HISTORY_PROBE)
    return app


class _Templates:
    """The base databases a case's probes name, and the plugin's templates made from them,
    removed when the case is over (the templates outlive each probe on purpose: reused)."""

    def __init__(self, ctx: Context, backend: str) -> None:
        self.ctx = ctx
        self.backend = backend
        self.made: list[str] = []

    def base(self, app: BenchApp) -> str:
        if self.backend == POSTGRESQL:
            assert self.ctx.postgres is not None
            url = self.ctx.postgres.create()
        else:
            url = sqlite_url(app.root / f"tests-{uuid.uuid4().hex[:8]}.db")
        self.made.append(url)
        return url

    def template_urls(self, base: str) -> list[str]:
        """The plugin's templates made from ``base``: named after it, the worker and the
        project (a hash the plugin computes), so they are found by their common prefix."""
        url = sa.make_url(base)
        if self.backend == SQLITE:
            path = Path(url.database or "")
            found = sorted(path.parent.glob(f"{path.stem}_fvtpl_{WORKER}_*.db"))
            names = [str(p) for p in found]
        else:
            assert self.ctx.postgres is not None
            engine = sa.create_engine(self.ctx.postgres.admin_url, poolclass=sa.NullPool)
            try:
                with engine.connect() as connection:
                    names = list(
                        connection.execute(
                            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                            {"p": f"{url.database}_fvtpl_{WORKER}_%"},
                        ).scalars()
                    )
            finally:
                engine.dispose()
        return [url.set(database=name).render_as_string(hide_password=False) for name in names]

    def close(self) -> None:
        for base in self.made:
            for template in self.template_urls(base):
                key = hashlib.sha256(template.encode()).hexdigest()[:16]
                sidecar = Path(tempfile.gettempdir()) / "flask_versioning_tests" / f"{key}.json"
                sidecar.unlink(missing_ok=True)
                self.ctx.drop_database(self.backend, template)
            self.ctx.drop_database(self.backend, base)


def _probe_run(ctx: Context, app: BenchApp, mode: str, url: str, count: int, tables: int) -> Run:
    extra = {}
    if ctx.postgres is not None:
        extra["BENCH_ADMIN_URL"] = ctx.postgres.admin_url
    outcome = app.probe(HISTORY_PROBE, url, mode, url, str(count), str(tables), extra_env=extra)
    data = outcome.result()
    if not outcome.ok or data is None:
        return Run(None, False, outcome.error())
    return Run(data["seconds"], True, note=f"median of {int(data['iterations'])} per process")


def _clone_or_replay(
    ctx: Context,
    owned: _Templates,
    shared: dict[str, str],
    size: int,
    tables: int,
    tool: str,
    app: BenchApp,
) -> Run:
    """One run of ``clone_per_test``: a probe timing clones of one reused template, or one
    timing replays (a single one per process at N=1000, where each takes seconds)."""
    smoke = ctx.settings.smoke
    if tool == OURS:
        if "base" not in shared:
            shared["base"] = owned.base(app)
        return _probe_run(ctx, app, "clone", shared["base"], 1 if smoke else 5, tables)
    count = 1 if smoke or size >= 1000 else 3
    return _probe_run(ctx, app, "replay", owned.base(app), count, tables)


def clone_per_test(ctx: Context) -> list[Case]:
    """The plugin's clone mode against replay, per test, in-process: ours is
    ``Template.clone()`` entered and exited (copy the template, make the app, drop the copy),
    the template made beforehand and reused; replay is create an empty database, make the
    app, ``versioning.upgrade()``, drop it. Each run is one process timing several such
    tests and reporting their median; the tables are counted after each, outside the clock."""
    cases: list[Case] = []
    tools = [OURS, REPLAY]
    for backend in (SQLITE, POSTGRESQL):
        for size in _sizes(ctx):
            steps = plan_chain(size)
            tables = len({step.table for step in steps})
            case = Case(
                "clone_per_test",
                f"N={size} ({tables} tables), {BACKEND_LABELS[backend]}",
                "one test's database in-process; ours: clone of the template + drop,"
                " replay: empty database + upgrade() + drop (s, median per test)",
                size=size,
            )
            problem = ctx.backend_problem(backend)
            if problem:
                cases.append(_skipped(case, tools, problem))
                continue
            owned = _Templates(ctx, backend)
            try:
                _alternate(
                    ctx,
                    case,
                    tools,
                    lambda tool, steps=steps: _probe_app(ctx, steps),
                    partial(_clone_or_replay, ctx, owned, {}, size, tables),
                    skip=_skip_unless_ours(ctx),
                )
            finally:
                owned.close()
            if not ctx.settings.warmup:
                case.notes.append(
                    "No warm-up: the first clone run also made the template (untimed)."
                )
            cases.append(case)
    return cases


def transaction_overhead(ctx: Context) -> list[Case]:
    """The plugin's transaction mode, per test, in-process: ``Template.transaction()`` entered
    and exited (connect, begin the outer transaction, bind ``db.session`` with SAVEPOINTs,
    roll back, close), empty and with one ``SELECT 1`` through ``db.session`` (which opens the
    session's SAVEPOINT). Each run is one process timing many tests and reporting their
    median; an untimed first test commits a row that must be gone afterwards."""
    cases: list[Case] = []
    tables = 10 if ctx.settings.smoke else 100
    steps = plan_chain(revisions_for_tables(tables))
    count = 20 if ctx.settings.smoke else 300
    for backend in (SQLITE, POSTGRESQL):
        for mode, label in (("transaction", "empty test"), ("transaction_query", "one query")):
            case = Case(
                "transaction_overhead",
                f"{label}, {tables} tables (N={len(steps)}), {BACKEND_LABELS[backend]}",
                "one test's transaction-mode database in-process, median of"
                f" {count} tests per process (s)",
            )
            problem = ctx.backend_problem(backend)
            if problem:
                cases.append(_skipped(case, [OURS], problem))
                continue
            owned = _Templates(ctx, backend)
            shared: dict[str, str] = {}

            def measure(
                tool: str,
                app: BenchApp,
                owned: _Templates = owned,
                shared: dict[str, str] = shared,
                mode: str = mode,
            ) -> Run:
                if "base" not in shared:
                    shared["base"] = owned.base(app)
                return _probe_run(ctx, app, mode, shared["base"], count, tables)

            try:
                _alternate(ctx, case, [OURS], lambda tool: _probe_app(ctx, steps), measure)
            finally:
                owned.close()
            cases.append(case)
    return cases


def _faster(limit: float, sizes: Sequence[int] | None) -> Callable[[Sequence[Case]], list[str]]:
    """Replay's median divided by ours at least ``limit`` (at the given sizes; ``None``: all);
    other sizes only need ours to be faster."""

    def check(cases: Sequence[Case]) -> list[str]:
        lines = []
        for case in cases:
            ours, replay = case.tools.get(OURS), case.tools.get(REPLAY)
            if ours is None or replay is None or not ours.median or not replay.median:
                lines.append(f"- {case.name}: not checked (no timing for one side).")
                continue
            factor = replay.median / ours.median
            wanted = limit if sizes is None or case.size in sizes else 1.0
            verdict = "met" if factor >= wanted and not ours.failed else "NOT met"
            lines.append(
                f"- {case.name}: ours {factor:.1f}x faster than replay"
                f" (target ≥ {wanted:g}x): {verdict}."
            )
        return lines

    return check


def _baseline_targets(cases: Sequence[Case]) -> list[str]:
    sqlite = [c for c in cases if c.name.endswith("SQLite")]
    postgres = [c for c in cases if c.name.endswith("PostgreSQL")]
    return _faster(4.0, None)(sqlite) + _faster(1.8, None)(postgres)


def _transaction_targets(cases: Sequence[Case]) -> list[str]:
    lines = []
    for case in cases:
        ours = case.tools.get(OURS)
        if ours is None or ours.median is None:
            lines.append(f"- {case.name}: not checked (no timing).")
            continue
        ms = ours.median * 1000
        verdict = "met" if ms <= 5 and not ours.failed else "NOT met"
        lines.append(f"- {case.name}: {ms:.2f} ms per test (target ≤ 5 ms): {verdict}.")
    return lines


SCENARIOS: dict[str, Callable[[Context], list[Case]]] = {
    "baseline_upgrade": baseline_upgrade,
    "clone_per_test": clone_per_test,
    "transaction_overhead": transaction_overhead,
}

TARGETS = {
    "baseline_upgrade": "from a baseline at least 4x faster than replay on SQLite and 1.8x on"
    " PostgreSQL, at N=1000 (replay median ÷ ours).",
    "clone_per_test": "a clone at least 5x faster than in-process replay at N=1000, and faster"
    " at N=100, on SQLite and PostgreSQL.",
    "transaction_overhead": "at most 5 ms of overhead per test.",
}

TARGET_CHECKS: dict[str, Callable[[Sequence[Case]], list[str]]] = {
    "baseline_upgrade": _baseline_targets,
    "clone_per_test": _faster(5.0, (1000,)),
    "transaction_overhead": _transaction_targets,
}

ALL_SCENARIOS = {**BASE_SCENARIOS, **SCENARIOS}
"""Every scenario of the harness, in the order they run by default."""
ALL_DESCRIPTIONS = {name: (func.__doc__ or "").strip() for name, func in ALL_SCENARIOS.items()}
ALL_TARGETS = {**BASE_TARGETS, **TARGETS}
