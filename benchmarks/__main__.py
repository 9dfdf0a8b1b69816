"""Command line: ``python -m benchmarks [--smoke] [--scenario NAME] [--runs N] ...``.

Exits non-zero when any of Flask-Versioning's runs fails, so ``--smoke`` in CI catches a
broken command or a regression that makes a run crash. Failures of Flask-Migrate and
Flask-Alembic are recorded in the report but never fail the run: they are what is being
compared against, not what is being tested.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .apps import LABELS, MIGRATION_TOOLS, OURS, Workspace
from .databases import Postgres
from .fleet import keep_fleet_section
from .long_histories import ALL_SCENARIOS as SCENARIOS
from .report import collect_environment, console_summary, load_average, render
from .scenarios import (
    BACKEND_LABELS,
    POSTGRESQL,
    Case,
    Context,
    OursStatus,
    Settings,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _names(value: str, allowed: Sequence[str], what: str) -> list[str]:
    """Split a comma-separated option and reject unknown names with the list of known ones."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none given)'};"
            f" choose from {', '.join(allowed)}"
        )
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options; defaults give the full comparison the issue asks for."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare Flask-Versioning with Flask-Migrate and Flask-Alembic.",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and one run, for CI: checks that everything runs, numbers are noise;"
        " prints the report and writes it to a temporary directory, not RESULTS.md",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        type=lambda v: _names(v, list(SCENARIOS), "scenario"),
        help=f"run only these scenarios (repeat or comma-separate): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--runs", type=int, metavar="N", help="timed runs per tool and case (default 5; smoke 1)"
    )
    parser.add_argument(
        "--tools",
        default=",".join(MIGRATION_TOOLS),
        type=lambda v: _names(v, list(MIGRATION_TOOLS), "tool"),
        help="migration tools to compare (default: ours,migrate,alembic)",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKEND_LABELS),
        type=lambda v: _names(v, list(BACKEND_LABELS), "backend"),
        help="database backends (default: sqlite,postgresql); PostgreSQL admin URL from"
        " VERSIONING_BENCH_POSTGRES_URL",
    )
    parser.add_argument("--output", type=Path, help=f"report path (default {DEFAULT_OUTPUT})")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up runs")
    parser.add_argument(
        "--require-ours",
        action="store_true",
        help="fail instead of skipping when flask_versioning cannot be imported",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary app directories")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected scenarios, write the report, and say whether our side held up."""
    args = parse_args(argv)
    scenarios = [name for group in args.scenario or [list(SCENARIOS)] for name in group]
    scenarios = list(dict.fromkeys(scenarios))
    backends = tuple(args.backends)
    if args.smoke:
        settings = Settings.for_smoke(args.runs or 1, backends)
    else:
        settings = Settings.full(args.runs or 5, backends)
    if args.no_warmup:
        settings = dataclasses.replace(settings, warmup=False)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = dt.datetime.now(dt.UTC)
    load_before = load_average()
    clock = time.perf_counter()
    ours = OursStatus.probe(settings.timeout)
    log(
        "Flask-Versioning: "
        + ("available" if ours.available else str(ours.reason))
        + ("" if not ours.available or ours.bulk_insert else " (no bulk_insert yet)")
    )
    postgres = Postgres.from_environment() if POSTGRESQL in backends else None
    if postgres is not None:
        log(f"PostgreSQL: {postgres.version or postgres.problem}")

    root = Path(tempfile.mkdtemp(prefix="fv-bench-"))
    cases: list[Case] = []
    try:
        ctx = Context(
            settings=settings,
            workspace=Workspace(root, settings.timeout),
            ours=ours,
            postgres=postgres,
            tools=tuple(args.tools),
            log=log,
        )
        for name in scenarios:
            log(f"== {name}")
            cases += SCENARIOS[name](ctx)
    finally:
        if args.keep:
            log(f"apps kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    env = collect_environment(
        started=started,
        seconds=time.perf_counter() - clock,
        command=shlex.join(
            ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]
        ),
        settings=settings,
        ours=ours,
        postgres=postgres,
        tools=tuple(args.tools),
        load_before=load_before,
    )
    markdown = render(cases, env)
    output = args.output
    if output is None and args.smoke:
        output = Path(tempfile.mkdtemp(prefix="fv-bench-smoke-")) / "RESULTS.md"
    output = output or DEFAULT_OUTPUT
    output.write_text(keep_fleet_section(markdown, output))
    print(markdown if args.smoke else console_summary(cases))
    log(f"report written to {output}")
    return _exit_status(cases, ours, postgres, require_ours=args.require_ours, log=log)


def _exit_status(
    cases: Sequence[Case],
    ours: OursStatus,
    postgres: Postgres | None,
    *,
    require_ours: bool,
    log: Callable[[str], None],
) -> int:
    """1 if any of our runs failed (or ours was required but missing), else 0.

    An unreachable PostgreSQL only fails the run in CI, matching the test suite: on a
    developer's machine it is a missing service, in CI it is a broken one.
    """
    status = 0
    for case in cases:
        result = case.tools.get(OURS)
        if result is not None and result.failed:
            log(f"FAILED: {LABELS[OURS]} in {case.scenario} [{case.name}]")
            status = 1
    if require_ours and not ours.available:
        log(f"FAILED: {ours.reason}")
        status = 1
    if IN_CI and postgres is not None and postgres.problem:
        log(f"FAILED: {postgres.problem} (CI is set)")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
