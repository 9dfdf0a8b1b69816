"""The benchmark scenarios, and the loop that runs the tools in alternation.

Runs alternate between tools (ours, Flask-Migrate, Flask-Alembic, ours, ...) instead of
running all of one tool's runs and then the next's, so that drift on the machine (a busy
neighbour, thermal throttling, a filling page cache) spreads over every tool instead of
landing on whichever ran last. Each run is its own process, so no tool profits from another's
imports or from a previous run's caches, apart from the bytecode of the revision files that a
warm-up run (not counted) compiles, as it would be on any server that has started before.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .apps import (
    ALEMBIC,
    MIGRATE,
    MIGRATION_TOOLS,
    OURS,
    RAW,
    REPO_ROOT,
    SEED_PROBE,
    START_PROBE,
    BenchApp,
    Step,
    Workspace,
    base_env,
    plan_chain,
    revisions_for_tables,
    run_process,
    summarize_error,
)
from .databases import Postgres, count_rows, schema_problem, sqlite_url

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKEND_LABELS = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}


@dataclass(frozen=True)
class Settings:
    """Sizes and repetitions for one harness run; :meth:`smoke` shrinks them for CI."""

    smoke: bool
    runs: int
    warmup: bool
    head_sizes: tuple[int, ...]
    upgrade_sizes: tuple[int, ...]
    #: ``fresh_upgrade`` only: a whole upgrade from empty, down to a small project's size.
    fresh_sizes: tuple[int, ...]
    cli_sizes: tuple[int, ...]
    autogen_tables: int
    concurrency: int
    concurrent_revisions: int
    seed_rows: int
    backends: tuple[str, ...]
    timeout: float

    @classmethod
    def full(cls, runs: int, backends: tuple[str, ...]) -> Settings:
        """The sizes the issue asks for, with a warm-up run per tool before the timed runs."""
        return cls(
            smoke=False,
            runs=runs,
            warmup=True,
            head_sizes=(100, 1000),
            upgrade_sizes=(100, 1000),
            fresh_sizes=(10, 100, 1000),
            cli_sizes=(100, 1000),
            autogen_tables=300,
            concurrency=8,
            concurrent_revisions=20,
            seed_rows=100_000,
            backends=backends,
            timeout=900.0,
        )

    @classmethod
    def for_smoke(cls, runs: int, backends: tuple[str, ...]) -> Settings:
        """Tiny sizes that still exercise every code path, fast enough for every CI run."""
        return cls(
            smoke=True,
            runs=runs,
            warmup=False,
            head_sizes=(5,),
            upgrade_sizes=(5,),
            fresh_sizes=(5,),
            cli_sizes=(5,),
            autogen_tables=10,
            concurrency=3,
            concurrent_revisions=5,
            seed_rows=1000,
            backends=backends,
            timeout=120.0,
        )


@dataclass
class Run:
    """One timed run of one tool. ``seconds`` is ``None`` when a failure made it meaningless."""

    seconds: float | None
    ok: bool
    error: str | None = None
    note: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class ToolResult:
    """Every run of one tool in one case, or the reason the tool was not run."""

    tool: str
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None
    setup_error: str | None = None

    @property
    def timings(self) -> list[float]:
        """The seconds of every run that produced a meaningful time."""
        return [run.seconds for run in self.runs if run.seconds is not None]

    @property
    def median(self) -> float | None:
        """The median time, or ``None`` without any timed run."""
        return statistics.median(self.timings) if self.timings else None

    @property
    def failed(self) -> bool:
        """Whether setup or any run failed (a skipped tool has not failed)."""
        return self.setup_error is not None or any(not run.ok for run in self.runs)


@dataclass
class Case:
    """One row of the comparison: a scenario at one size, on one backend or command."""

    scenario: str
    name: str
    metric: str
    tools: dict[str, ToolResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra_column: str | None = None
    size: int | None = None


@dataclass
class OursStatus:
    """Whether Flask-Versioning can be benchmarked yet, and which optional parts exist."""

    available: bool
    reason: str | None = None
    bulk_insert: bool = False

    @classmethod
    def probe(cls, timeout: float) -> OursStatus:
        """Import the working copy in a fresh interpreter, as the benchmark apps will.

        A subprocess, not an import here, so a half-written package cannot break the harness
        and the check sees exactly the ``PYTHONPATH`` the apps get.
        """
        code = (
            "import flask_versioning as m\n"
            "print('bulk_insert=%s' % callable(getattr(m.Versioning, 'bulk_insert', None)))\n"
        )
        with tempfile.TemporaryDirectory() as cwd:
            outcome = run_process(
                [sys.executable, "-c", code],
                cwd=Path(cwd),
                env={**base_env(), "PYTHONPATH": str(REPO_ROOT)},
                timeout=timeout,
            )
        if not outcome.ok:
            return cls(
                False,
                "`from flask_versioning import Versioning` fails: "
                + summarize_error(outcome.stderr or outcome.stdout),
            )
        return cls(True, None, "bulk_insert=True" in outcome.stdout)


@dataclass
class Context:
    """Everything a scenario needs: settings, the workspace, and what is available."""

    settings: Settings
    workspace: Workspace
    ours: OursStatus
    postgres: Postgres | None
    tools: tuple[str, ...]
    log: Callable[[str], None]
    _head_apps: dict[tuple[str, int, bool], BenchApp] = field(default_factory=dict)
    _fresh_apps: dict[tuple[str, int], BenchApp] = field(default_factory=dict)
    _start_checked: set[Path] = field(default_factory=set)

    def backend_problem(self, backend: str) -> str | None:
        """Why ``backend`` cannot be used in this run, or ``None`` if it can."""
        if backend not in self.settings.backends:
            return f"{BACKEND_LABELS[backend]} was not selected (--backends)"
        if backend == POSTGRESQL:
            if self.postgres is None:
                return "PostgreSQL was not selected (--backends)"
            return self.postgres.problem
        return None

    def new_database(self, backend: str, app: BenchApp) -> str:
        """An empty database for one run: a new SQLite file, or a new PostgreSQL database."""
        if backend == POSTGRESQL:
            assert self.postgres is not None
            return self.postgres.create()
        return sqlite_url(app.root / f"run-{uuid.uuid4().hex[:8]}.db")

    def drop_database(self, backend: str, url: str) -> None:
        """Remove a database made by :meth:`new_database`."""
        if backend == POSTGRESQL:
            assert self.postgres is not None
            self.postgres.drop(url)
        else:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)

    def fresh_app(self, tool: str, steps: Sequence[Step]) -> BenchApp:
        """An app with the chain written but no database of its own, shared across cases."""
        key = (tool, len(steps))
        if key not in self._fresh_apps:
            self._fresh_apps[key] = self.workspace.build(tool, steps, tag=f"n{len(steps)}")
        return self._fresh_apps[key]

    def head_app(
        self,
        tool: str,
        steps: Sequence[Step],
        *,
        with_models: bool = False,
        via_start: bool = False,
    ) -> BenchApp:
        """An app whose own SQLite file has been brought to head, built once per tool and size.

        Shared between scenarios, since nothing timed on it changes a database that is already
        at head. It is migrated by the tool's ``flask db upgrade``, or with ``via_start`` by
        the app's ``start_app()``, which then also counts as :meth:`check_start`.
        """
        key = (tool, len(steps), with_models)
        if key not in self._head_apps:
            tag = f"head{len(steps)}" + ("-models" if with_models else "")
            app = self.workspace.build(tool, steps, with_models=with_models, tag=tag)
            app.database_url = sqlite_url(app.root / "app.db")
            if via_start:
                self._migrate_with_start(app, app.database_url)
                self._start_checked.add(app.root)
            else:
                outcome = app.flask(["db", "upgrade"], app.database_url)
                if not outcome.ok:
                    raise RuntimeError(
                        f"`flask db upgrade` on an empty database: {outcome.error()}"
                    )
                problem = schema_problem(app.database_url, steps)
                if problem:
                    raise RuntimeError(f"`flask db upgrade` exited 0 but {problem}")
            self._head_apps[key] = app
        return self._head_apps[key]

    def check_start(self, app: BenchApp) -> None:
        """Make sure the app's ``start_app()`` really migrates, on an empty SQLite file.

        The timed start runs find the database already at head, where a start that skipped the
        upgrade altogether would look fastest of all; this check keeps such a number out of
        the report. Done once per app.
        """
        if app.root in self._start_checked:
            return
        url = sqlite_url(app.root / "start-check.db")
        try:
            self._migrate_with_start(app, url)
        finally:
            self.drop_database(SQLITE, url)
        self._start_checked.add(app.root)

    def _migrate_with_start(self, app: BenchApp, url: str) -> None:
        """Run ``start_app()`` on the empty database at ``url``; raise unless it ends at head."""
        outcome = app.probe(START_PROBE, url, extra_env={"BENCH_AUTO_UPGRADE": "1"})
        if not outcome.ok:
            raise RuntimeError(f"start on an empty database: {outcome.error()}")
        problem = schema_problem(url, app.steps)
        if problem:
            raise RuntimeError(f"start on an empty database left it short of head: {problem}")

    def skip_reason(self, tool: str, *, needs_bulk_insert: bool = False) -> str | None:
        """Why ``tool`` sits this case out, or ``None`` if it runs."""
        if tool == OURS and not self.ours.available:
            return f"skipped: {self.ours.reason}"
        if tool == OURS and needs_bulk_insert and not self.ours.bulk_insert:
            return "skipped: `Versioning.bulk_insert(table, rows)` does not exist yet"
        return None


def _alternate(
    ctx: Context,
    case: Case,
    tools: Sequence[str],
    setup: Callable[[str], BenchApp],
    measure: Callable[[str, BenchApp], Run],
    *,
    skip: Callable[[str], str | None] | None = None,
) -> Case:
    """Set every tool up, then run them in turn ``settings.runs`` times.

    A setup failure or an exception in a run is recorded against that tool and the others go
    on: one broken tool must not hide the numbers of the rest.
    """
    apps: dict[str, BenchApp] = {}
    for tool in tools:
        result = case.tools[tool] = ToolResult(tool)
        reason = skip(tool) if skip else ctx.skip_reason(tool)
        if reason:
            result.skipped = reason
            continue
        try:
            apps[tool] = setup(tool)
        except Exception as exc:  # recorded, reported, and fatal only for our side
            result.setup_error = f"setup failed: {exc}"
            ctx.log(f"  {case.scenario} [{case.name}] {tool}: {result.setup_error}")

    def attempt(tool: str) -> Run:
        try:
            return measure(tool, apps[tool])
        except Exception as exc:  # a harness-side error still belongs to this run
            return Run(None, False, f"{type(exc).__name__}: {exc}")

    if ctx.settings.warmup:
        for tool in apps:
            warm = attempt(tool)
            if not warm.ok:
                ctx.log(f"  {case.scenario} [{case.name}] {tool} warm-up failed: {warm.error}")
    for index in range(ctx.settings.runs):
        for tool in apps:
            run = attempt(tool)
            case.tools[tool].runs.append(run)
            shown = "-" if run.seconds is None else f"{run.seconds:.3f}s"
            status = "ok" if run.ok else f"FAILED ({run.error})"
            ctx.log(
                f"  {case.scenario} [{case.name}] {tool} run {index + 1}/{ctx.settings.runs}: "
                f"{shown} {status}"
            )
    return case


def _migration_tools(ctx: Context) -> list[str]:
    """The selected migration tools, always in the order ours, Flask-Migrate, Flask-Alembic."""
    return [tool for tool in MIGRATION_TOOLS if tool in ctx.tools]


def start_at_head(ctx: Context) -> list[Case]:
    """App start with the database already at head, timed inside a fresh process.

    Ours is ``create_app()`` with ``VERSIONING_AUTO_UPGRADE=True``; the peers are
    ``create_app()`` followed by their documented upgrade call in an app context. The app
    module is imported before the clock starts, and a second case adds that import back in,
    so a tool cannot look fast by merely moving work into import time. Each app's database is
    first brought to head by that same start code, so a start that never migrates cannot pass.
    A third case deletes every ``__pycache__`` in the script directory before each run: the
    bytecode of revisions and ``env.py`` and the heads cache ours keeps there are then missing.
    """
    cases: list[Case] = []
    for size in ctx.settings.head_sizes:
        steps = plan_chain(size)
        case = Case(
            "start_at_head",
            f"N={size}",
            "create_app() plus bringing the database to head, in-process, module imported (s)",
            size=size,
        )

        def setup(tool: str, steps: list[Step] = steps) -> BenchApp:
            app = ctx.head_app(tool, steps, via_start=True)
            ctx.check_start(app)
            return app

        _alternate(ctx, case, _migration_tools(ctx), setup, _measure_start)
        with_import = Case(
            "start_at_head",
            f"N={size}, import + start",
            "importing the app module (and so the tool) plus the above, in-process (s)",
        )
        for tool, result in case.tools.items():
            with_import.tools[tool] = ToolResult(
                tool,
                [
                    Run(
                        None if run.seconds is None else run.seconds + run.extra.get("import", 0),
                        run.ok,
                        run.error,
                    )
                    for run in result.runs
                ],
                result.skipped,
                result.setup_error,
            )
        own = Case(
            "start_at_head",
            f"N={size}, the tool's own part",
            "only the tool's lines of the above: ours Versioning(app, db) with its auto-upgrade, "
            "the peers their set-up plus upgrade() (s)",
        )
        for tool, result in case.tools.items():
            own.tools[tool] = ToolResult(
                tool,
                [
                    Run(run.extra.get("tool") if run.ok else None, run.ok, run.error)
                    for run in result.runs
                ],
                result.skipped,
                result.setup_error,
            )
        cold = Case(
            "start_at_head",
            f"N={size}, cold",
            "the same start after deleting every __pycache__ in the script directory (bytecode"
            " and any cache a tool keeps there), as in an image built without them (s)",
        )
        _alternate(ctx, cold, _migration_tools(ctx), setup, partial(_measure_start, cold=True))
        cases += [case, own, with_import, cold]
    return cases


def _measure_start(tool: str, app: BenchApp, *, cold: bool = False) -> Run:
    """One timed start on the app's database, which is already at head."""
    if cold:
        for cache in list(app.script_dir.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
    outcome = app.probe(START_PROBE, app.database_url, extra_env={"BENCH_AUTO_UPGRADE": "1"})
    data = outcome.result()
    if not outcome.ok or data is None:
        return Run(None, False, outcome.error())
    return Run(data["start"], True, extra={"import": data["import"], "tool": data["tool"]})


def fresh_upgrade(ctx: Context) -> list[Case]:
    """A whole ``flask db upgrade`` process taking an empty database to head.

    All three tools call the command ``flask db upgrade``. Each run gets a new SQLite file or
    PostgreSQL database, and the schema is checked afterwards.
    """
    cases: list[Case] = []
    for backend in (SQLITE, POSTGRESQL):
        for size in ctx.settings.fresh_sizes:
            steps = plan_chain(size)
            case = Case(
                "fresh_upgrade",
                f"N={size}, {BACKEND_LABELS[backend]}",
                "whole `flask db upgrade` process, empty database to head (s)",
            )
            problem = ctx.backend_problem(backend)
            if problem:
                case.notes.append(f"skipped: {problem}")
                for tool in _migration_tools(ctx):
                    case.tools[tool] = ToolResult(tool, skipped=f"skipped: {problem}")
                cases.append(case)
                continue

            def measure(
                tool: str, app: BenchApp, backend: str = backend, steps: list[Step] = steps
            ) -> Run:
                url = ctx.new_database(backend, app)
                try:
                    outcome = app.flask(["db", "upgrade"], url)
                    if not outcome.ok:
                        return Run(None, False, outcome.error())
                    wrong = schema_problem(url, steps)
                    if wrong:
                        return Run(outcome.seconds, False, f"exit 0 but {wrong}")
                    return Run(outcome.seconds, True)
                finally:
                    ctx.drop_database(backend, url)

            _alternate(
                ctx, case, _migration_tools(ctx), partial(ctx.fresh_app, steps=steps), measure
            )
            cases.append(case)
    return cases


def cli_round_trip(ctx: Context) -> list[Case]:
    """``flask db current`` and ``flask db heads`` as whole processes, database at head.

    A run only counts as good if the output names the head revision, so a command that
    prints nothing useful quickly does not pass. Ours answers both without importing Alembic
    or any revision file (the heads cache, the files read as text, one ``SELECT``); the peers
    load Alembic's revision map, which imports every revision file.
    """
    cases: list[Case] = []
    for size in ctx.settings.cli_sizes:
        steps = plan_chain(size)
        head = steps[-1].revision
        for command in ("current", "heads"):
            case = Case(
                "cli_round_trip",
                f"flask db {command}, N={len(steps)}",
                f"whole `flask db {command}` process, database at head (s)",
                size=size,
            )

            def measure(tool: str, app: BenchApp, command: str = command, head: str = head) -> Run:
                outcome = app.flask(["db", command], app.database_url)
                if not outcome.ok:
                    return Run(None, False, outcome.error())
                if head not in outcome.stdout + outcome.stderr:
                    shown = summarize_error(outcome.stdout + outcome.stderr)
                    return Run(outcome.seconds, False, f"output does not name head {head}: {shown}")
                return Run(outcome.seconds, True)

            cases.append(
                _alternate(
                    ctx,
                    case,
                    _migration_tools(ctx),
                    lambda t, steps=steps: ctx.head_app(t, steps),
                    measure,
                )
            )
    return cases


_AUTOGEN_COMMANDS = {
    OURS: ["db", "migrate"],
    MIGRATE: ["db", "migrate"],
    # Flask-Alembic has no `migrate`; `revision MESSAGE` autogenerates unless --empty is given.
    ALEMBIC: ["db", "revision", "noop"],
}


def _upgrade_is_empty(text: str) -> bool:
    """Whether a generated revision's ``upgrade()`` holds nothing but comments and ``pass``."""
    match = re.search(r"def upgrade\(\)[^:]*:\n(.*?)(?=\ndef |\Z)", text, re.S)
    if not match:
        return False
    body = [line.strip() for line in match.group(1).splitlines()]
    return all(not line or line == "pass" or line.startswith(("#", '"""', "'''")) for line in body)


def _describe_written(text: str) -> str:
    """A note on a revision file an autogenerate run wrote although nothing had changed."""
    note = "wrote a revision file"
    note += " with an empty upgrade()" if _upgrade_is_empty(text) else " WITH CHANGES"
    if re.search(r"^Revises:\s*$", text, re.M):
        note += " as a new root revision (a second head, not on top of the chain)"
    return note


def autogen_noop(ctx: Context) -> list[Case]:
    """Autogenerate with models that already match the database: the answer is "no changes".

    What matters besides the time is whether the tool writes a revision file anyway; that is
    noted per run, and the file is removed so the next run starts from the same chain.
    """
    tables = ctx.settings.autogen_tables
    steps = plan_chain(revisions_for_tables(tables))
    case = Case(
        "autogen_noop",
        f"{tables} tables, N={len(steps)}, SQLite",
        "whole autogenerate process, models already match the database (s)",
    )
    case.notes.append(
        "Commands: ours and Flask-Migrate `flask db migrate`; Flask-Alembic has no `migrate`,"
        " so `flask db revision noop` (autogenerates unless `--empty`)."
    )

    def measure(tool: str, app: BenchApp) -> Run:
        before = set(app.versions_dir.glob("*.py"))
        outcome = app.flask(_AUTOGEN_COMMANDS[tool], app.database_url)
        written = sorted(set(app.versions_dir.glob("*.py")) - before)
        notes = []
        for path in written:
            notes.append(_describe_written(path.read_text()))
            path.unlink()
            for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
                cached.unlink()
        note = "; ".join(notes) if notes else "no revision file written"
        if not outcome.ok:
            return Run(None, False, outcome.error(), note)
        return Run(outcome.seconds, True, note=note)

    return [
        _alternate(
            ctx,
            case,
            _migration_tools(ctx),
            lambda t: ctx.head_app(t, steps, with_models=True),
            measure,
        )
    ]


def concurrent_start(ctx: Context) -> list[Case]:
    """Several processes start the app against one fresh PostgreSQL database at once.

    Each process imports the app, waits at a file barrier until all are ready, then starts
    the app (ours with ``VERSIONING_AUTO_UPGRADE``, peers with their upgrade call). Timed
    from the release to the exit of the last process; failed processes are counted and their
    errors noted (without a lock, peers typically race on creating the same tables).
    """
    count = ctx.settings.concurrency
    steps = plan_chain(ctx.settings.concurrent_revisions)
    case = Case(
        "concurrent_start",
        f"{count} processes, N={len(steps)}, PostgreSQL",
        "wall time from simultaneous start until every process has exited (s)",
        extra_column="failed processes",
    )
    problem = ctx.backend_problem(POSTGRESQL)
    if problem:
        case.notes.append(f"skipped: {problem}")
        for tool in _migration_tools(ctx):
            case.tools[tool] = ToolResult(tool, skipped=f"skipped: {problem}")
        return [case]

    def measure(tool: str, app: BenchApp) -> Run:
        url = ctx.new_database(POSTGRESQL, app)
        try:
            with tempfile.TemporaryDirectory(dir=app.root) as barrier_dir:
                return _race(ctx, app, url, Path(barrier_dir), count, steps)
        finally:
            ctx.drop_database(POSTGRESQL, url)

    return [
        _alternate(ctx, case, _migration_tools(ctx), lambda t: ctx.fresh_app(t, steps), measure)
    ]


def _race(
    ctx: Context, app: BenchApp, url: str, barrier: Path, count: int, steps: Sequence[Step]
) -> Run:
    """Start ``count`` probes, release them together, and collect how they ended."""
    env = app.env(url, {"BENCH_AUTO_UPGRADE": "1", "BENCH_BARRIER_DIR": str(barrier)})
    logs = [(barrier / f"out-{i}.txt", barrier / f"err-{i}.txt") for i in range(count)]
    procs: list[subprocess.Popen[bytes]] = []
    for out, err in logs:
        with out.open("wb") as out_file, err.open("wb") as err_file:
            procs.append(
                subprocess.Popen(
                    app.probe_command(START_PROBE),
                    cwd=app.root,
                    env=env,
                    stdout=out_file,
                    stderr=err_file,
                )
            )
    deadline = time.monotonic() + ctx.settings.timeout
    while len(list(barrier.glob("ready-*"))) + sum(p.poll() is not None for p in procs) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    (barrier / "go").touch()
    start = time.perf_counter()
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - start
    failed = [i for i, proc in enumerate(procs) if proc.returncode != 0]
    errors = sorted({summarize_error(logs[i][1].read_text(errors="replace")) for i in failed})
    wrong = schema_problem(url, steps)
    problems = [f"{len(failed)} of {count} processes failed"] if failed else []
    if wrong:
        problems.append(f"database not at head afterwards: {wrong}")
    return Run(
        wall,
        not problems,
        "; ".join(problems) or None,
        note="; ".join(errors) or None,
        extra={"failed processes": float(len(failed))},
    )


def seeding(ctx: Context) -> list[Case]:
    """Inserting many rows: ``versioning.bulk_insert(table, rows)`` against a plain Core
    executemany (``conn.execute(table.insert(), rows)``), the baseline any helper must beat or
    match. The peers have no seeding helper, so they are not in this comparison. Only the
    insert call is timed; the rows are built before the clock starts, and counted afterwards
    through a fresh connection, so rows left uncommitted count as a failure.
    """
    cases: list[Case] = []
    rows = ctx.settings.seed_rows
    tools = [tool for tool in (OURS, RAW) if tool in ctx.tools or tool == RAW]
    for backend in (SQLITE, POSTGRESQL):
        case = Case(
            "seeding",
            f"{rows:,} rows, {BACKEND_LABELS[backend]}",
            "the insert call alone, in-process, rows built beforehand (s)",
        )
        problem = ctx.backend_problem(backend)
        if problem:
            case.notes.append(f"skipped: {problem}")
            for tool in tools:
                case.tools[tool] = ToolResult(tool, skipped=f"skipped: {problem}")
            cases.append(case)
            continue

        def measure(tool: str, app: BenchApp, backend: str = backend) -> Run:
            url = ctx.new_database(backend, app)
            try:
                outcome = app.probe(SEED_PROBE, url, tool, str(rows))
                data = outcome.result()
                if not outcome.ok or data is None:
                    return Run(None, False, outcome.error())
                stored = count_rows(url, "seed_rows")
                if stored != rows:
                    return Run(data["seconds"], False, f"{stored} rows stored, {rows} expected")
                return Run(data["seconds"], True)
            finally:
                ctx.drop_database(backend, url)

        _alternate(
            ctx,
            case,
            tools,
            lambda t: ctx.fresh_app(t, []),
            measure,
            skip=lambda t: ctx.skip_reason(t, needs_bulk_insert=True),
        )
        cases.append(case)
    return cases


SCENARIOS: dict[str, Callable[[Context], list[Case]]] = {
    "start_at_head": start_at_head,
    "fresh_upgrade": fresh_upgrade,
    "cli_round_trip": cli_round_trip,
    "autogen_noop": autogen_noop,
    "concurrent_start": concurrent_start,
    "seeding": seeding,
}

DESCRIPTIONS = {name: (func.__doc__ or "").strip() for name, func in SCENARIOS.items()}
"""What each scenario measures, shown in the report from the functions' own docstrings."""

TARGETS = {
    "start_at_head": "ours at least 20x faster than each peer at N=1000, and nearly flat"
    " from N=100 to N=1000.",
    "fresh_upgrade": "ours not slower than either peer (median against median), every size"
    " and backend.",
    "cli_round_trip": "ours at most 0.90x the fastest peer's time, each command and size.",
    "autogen_noop": "ours not slower than either peer.",
    "concurrent_start": "ours with 0 failed processes; what the peers do is recorded.",
    "seeding": "ours at least 80% of raw executemany's speed (raw time ÷ ours ≥ 0.8).",
}
"""Goals from the issue, repeated in the report next to the numbers they are about."""
