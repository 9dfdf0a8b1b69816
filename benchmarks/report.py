"""Render benchmark results as Markdown (``benchmarks/RESULTS.md``).

The report carries everything needed to judge the numbers without rerunning them: the
machine's CPU count, the Python and package versions, the sizes and number of runs, every
failure and skip with its reason, and the spread next to each median, because a median whose
runs differ by 50% does not support a 10% conclusion.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

from .apps import LABELS, OURS, RAW, REPO_ROOT
from .databases import Postgres
from .long_histories import ALL_DESCRIPTIONS as DESCRIPTIONS
from .long_histories import ALL_TARGETS as TARGETS
from .long_histories import TARGET_CHECKS as HISTORY_CHECKS
from .scenarios import Case, OursStatus, Settings, ToolResult

PACKAGES = (
    "Flask",
    "Flask-SQLAlchemy",
    "SQLAlchemy",
    "alembic",
    "Flask-Migrate",
    "Flask-Alembic",
    "psycopg",
)
FLAT_LIMIT = 1.5
"""How much ours may grow from the smallest to the largest chain and still count as flat."""
FINDINGS = REPO_ROOT / "benchmarks" / "FINDINGS.md"
"""Hand-written profiling findings (why a target is or is not met), copied into full reports."""


@dataclass
class Environment:
    """Facts about the machine and the software, gathered once per harness run."""

    started: dt.datetime
    seconds: float
    command: str
    settings: Settings
    ours: OursStatus
    postgres: Postgres | None
    cpu_count: int | None
    usable_cpus: int | None
    python: str
    platform: str
    sqlite: str
    packages: dict[str, str]
    ours_version: str
    tools: tuple[str, ...]
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None


def collect_environment(
    *,
    started: dt.datetime,
    seconds: float,
    command: str,
    settings: Settings,
    ours: OursStatus,
    postgres: Postgres | None,
    tools: tuple[str, ...],
    load_before: tuple[float, float, float] | None,
) -> Environment:
    """Read versions from installed metadata, and ours from the working copy being measured."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform can tell which CPUs this process may use
        usable = None
    return Environment(
        started=started,
        seconds=seconds,
        command=command,
        settings=settings,
        ours=ours,
        postgres=postgres,
        cpu_count=os.cpu_count(),
        usable_cpus=usable,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=platform.platform(),
        sqlite=sqlite3.sqlite_version,
        packages=packages,
        ours_version=_ours_version(),
        tools=tools,
        load_before=load_before,
        load_after=load_average(),
    )


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine shows up in the spread,
    and this says whether there was any."""
    try:
        return os.getloadavg()
    except OSError:  # not available on every platform
        return None


def _ours_version() -> str:
    """``__version__`` of the working copy plus its commit, since ours is not installed."""
    version = "unknown"
    init = REPO_ROOT / "flask_versioning" / "__init__.py"
    if init.exists():
        match = re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.M)
        if match:
            version = match.group(1)
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} (working copy at {commit})"


def seconds_text(value: float | None) -> str:
    """A duration with sensible units: milliseconds below one second."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f} s"


def ratio_text(ours: float | None, peer: float | None) -> str:
    """Ours divided by the peer, with the same fact said as "Nx faster/slower" beside it."""
    if ours is None or peer is None or ours <= 0 or peer <= 0:
        return "—"
    ratio = ours / peer
    if ratio <= 1:
        return f"{ratio:.3f} (ours {peer / ours:.1f}x faster)"
    return f"{ratio:.3f} (ours {ratio:.1f}x slower)"


def _runs_text(result: ToolResult) -> str:
    """How many runs succeeded, or why there were none."""
    if result.skipped:
        return "skipped"
    if result.setup_error:
        return "setup failed"
    good = sum(run.ok for run in result.runs)
    return f"{good}/{len(result.runs)}"


def _notes(result: ToolResult) -> str:
    """Distinct errors and notes of a tool's runs, so repeated messages appear once."""
    seen: list[str] = []
    for text in (result.skipped, result.setup_error):
        if text:
            seen.append(text)
    for run in result.runs:
        for text in (run.error, run.note):
            if text and text not in seen:
                seen.append(text)
    return "; ".join(seen).replace("|", "\\|").replace("\n", " ")


def render_case(case: Case) -> list[str]:
    """One case's table: every tool with median, min, max, spread and the ratio to ours."""
    ours = case.tools.get(OURS)
    ours_median = ours.median if ours else None
    show_ratio = OURS in case.tools and len(case.tools) > 1
    header = ["Tool", "Median", "Min", "Max", "Spread", "Runs ok"]
    header += ["ours ÷ tool"] if show_ratio else []
    if case.extra_column:
        header.append(case.extra_column.capitalize() + " per run")
    header.append("Notes")
    lines = [
        f"#### {case.name}",
        "",
        f"Measured: {case.metric}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for tool, result in case.tools.items():
        timings = result.timings
        median = result.median
        spread = "—"
        if timings and median:
            spread = f"{(max(timings) - min(timings)) / median * 100:.0f}%"
        cells = [
            LABELS[tool],
            seconds_text(median),
            seconds_text(min(timings) if timings else None),
            seconds_text(max(timings) if timings else None),
            spread,
            _runs_text(result),
        ]
        if show_ratio:
            cells.append("—" if tool == OURS else ratio_text(ours_median, median))
        if case.extra_column:
            values = [run.extra.get(case.extra_column) for run in result.runs]
            cells.append(", ".join("—" if v is None else f"{v:g}" for v in values) or "—")
        cells.append(_notes(result))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {note}" for note in case.notes]
    if case.notes:
        lines.append("")
    return lines


def _summary(cases: Sequence[Case]) -> list[str]:
    """One table per set of compared tools (the migration tools; ours against raw inserts),
    so no table is padded with columns that do not apply to most of its rows."""
    groups: dict[tuple[str, ...], list[Case]] = {}
    for case in cases:
        groups.setdefault(tuple(case.tools), []).append(case)
    lines: list[str] = []
    for tools, members in groups.items():
        lines += [*_summary_table(list(tools), members), ""]
    return lines[:-1]


def _summary_table(tools: list[str], cases: Sequence[Case]) -> list[str]:
    """One line per case with every tool's median and ours compared with each other tool."""
    others = [tool for tool in tools if tool != OURS]
    header = ["Scenario", "Case", *(LABELS[tool] for tool in tools)]
    header += [f"ours ÷ {LABELS[tool]}" for tool in others] if OURS in tools else []
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for case in cases:
        medians = {tool: result.median for tool, result in case.tools.items()}
        cells = [case.scenario, case.name]
        for tool in tools:
            result = case.tools.get(tool)
            if result is None:
                cells.append("n/a")
            elif result.skipped:
                cells.append("skipped")
            else:
                failed = " (failures)" if result.failed else ""
                cells.append(seconds_text(medians[tool]) + failed)
        if OURS in tools:
            for tool in others:
                cells.append(
                    ratio_text(medians.get(OURS), medians.get(tool))
                    if tool in case.tools
                    else "n/a"
                )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets(scenario: str, cases: Sequence[Case]) -> list[str]:
    """Check one scenario's goal from the issue against the measured medians."""
    members = [case for case in cases if case.scenario == scenario]
    check = _TARGET_CHECKS.get(scenario)
    return check(members) if check is not None else []


def _start_targets(cases: Sequence[Case]) -> list[str]:
    """App start: at least 20x faster than each peer at the largest N, and nearly flat."""
    head = [c for c in cases if c.size is not None]
    ours = {c.size: c.tools[OURS].median for c in head if OURS in c.tools}
    if not head or not any(value is not None for value in ours.values()):
        return ["Not checked: no timings for ours in `start_at_head` in this run."]
    largest = max(head, key=lambda c: c.size or 0)
    smallest = min(head, key=lambda c: c.size or 0)
    lines = []
    ours_large = largest.tools[OURS].median
    for tool, result in largest.tools.items():
        if tool == OURS or ours_large is None or result.median is None:
            continue
        factor = result.median / ours_large
        verdict = "met" if factor >= 20 else "NOT met"
        lines.append(
            f"- {largest.name}: ours is {factor:.1f}x faster than {LABELS[tool]} "
            f"(target ≥ 20x): {verdict}."
        )
    # The issue's own measure: the time the tool adds (our init_app with its auto-upgrade
    # against the peer's upgrade() call), without Flask's and Flask-SQLAlchemy's shared cost.
    own = next((c for c in cases if c.name == f"{largest.name}, the tool's own part"), None)
    own_ours = own.tools[OURS].median if own is not None and OURS in own.tools else None
    if own is not None and own_ours:
        for tool, result in own.tools.items():
            if tool == OURS or result.median is None:
                continue
            factor = result.median / own_ours
            verdict = "met" if factor >= 20 else "NOT met"
            lines.append(
                f"- {own.name}: what ours adds to a start is {factor:.1f}x less than "
                f"{LABELS[tool]}'s upgrade() (target ≥ 20x): {verdict}."
            )
    ours_small = smallest.tools[OURS].median
    if smallest is not largest and ours_small and ours_large:
        growth = ours_large / ours_small
        verdict = "met" if growth <= FLAT_LIMIT else "NOT met"
        lines.append(
            f"- ours from {smallest.name} to {largest.name}: {growth:.2f}x the time "
            f"(nearly flat, read here as ≤ {FLAT_LIMIT}x): {verdict}."
        )
    return lines


def _ours_against(case: Case, limit: float, *, fastest_only: bool) -> str:
    """``ours ÷ peer`` for each peer (or the fastest), with the verdict against ``limit``."""
    ours = case.tools.get(OURS)
    if ours is None or ours.median is None:
        return f"- {case.name}: not checked (no timing for ours)."
    peers = {
        tool: result.median
        for tool, result in case.tools.items()
        if tool != OURS and result.median is not None and not result.failed
    }
    if not peers:
        return f"- {case.name}: not checked (no successful peer to compare with)."
    if fastest_only:
        tool = min(peers, key=lambda t: peers[t] or 0.0)
        peers = {tool: peers[tool]}
    ratios = {tool: ours.median / median for tool, median in peers.items() if median}
    verdict = "met" if all(r <= limit for r in ratios.values()) else "NOT met"
    against = ", ".join(f"{r:.2f} against {LABELS[t]}" for t, r in ratios.items())
    return f"- {case.name}: ours ÷ peer {against} (target ≤ {limit:.2f}): {verdict}."


def _not_slower(cases: Sequence[Case]) -> list[str]:
    return [_ours_against(case, 1.0, fastest_only=False) for case in cases]


def _ten_percent_faster(cases: Sequence[Case]) -> list[str]:
    return [_ours_against(case, 0.90, fastest_only=True) for case in cases]


def _no_failures(cases: Sequence[Case]) -> list[str]:
    lines = []
    for case in cases:
        for tool, result in case.tools.items():
            if result.skipped:
                lines.append(f"- {case.name}, {LABELS[tool]}: {result.skipped}.")
                continue
            failed = [run.extra.get("failed processes") for run in result.runs]
            total = sum(int(v) for v in failed if v is not None)
            counts = ", ".join("—" if v is None else f"{v:g}" for v in failed) or "no runs"
            if tool == OURS:
                verdict = "met" if total == 0 and not result.failed else "NOT met"
                lines.append(f"- {case.name}, ours: failed processes per run {counts}: {verdict}.")
            else:
                lines.append(
                    f"- {case.name}, {LABELS[tool]}: failed processes per run {counts} "
                    "(recorded, no target)."
                )
    return lines


def _seeding_targets(cases: Sequence[Case]) -> list[str]:
    lines = []
    for case in cases:
        ours, raw = case.tools.get(OURS), case.tools.get(RAW)
        if ours is None or raw is None or not ours.median or not raw.median:
            lines.append(f"- {case.name}: not checked (no timing for ours or raw).")
            continue
        speed = raw.median / ours.median
        verdict = "met" if speed >= 0.8 else "NOT met"
        lines.append(
            f"- {case.name}: ours runs at {speed:.0%} of raw's speed (target ≥ 80%): {verdict}."
        )
    return lines


_TARGET_CHECKS: dict[str, Callable[[Sequence[Case]], list[str]]] = {
    "start_at_head": _start_targets,
    "fresh_upgrade": _not_slower,
    "cli_round_trip": _ten_percent_faster,
    "autogen_noop": _not_slower,
    "concurrent_start": _no_failures,
    "seeding": _seeding_targets,
    **HISTORY_CHECKS,
}


def _load(value: tuple[float, float, float] | None) -> str:
    """A load-average triple, or "unknown"."""
    return "unknown" if value is None else ", ".join(f"{v:.2f}" for v in value)


def render(cases: Sequence[Case], env: Environment) -> str:
    """The whole Markdown report."""
    s = env.settings
    mode = "smoke (tiny sizes, numbers not meaningful)" if s.smoke else "full"
    warmup = " after one untimed warm-up run per tool" if s.warmup else ", no warm-up run"
    cpus = f"{env.cpu_count}"
    if env.usable_cpus is not None and env.usable_cpus != env.cpu_count:
        cpus += f" ({env.usable_cpus} usable by this process)"
    postgres = "not used"
    if env.postgres is not None:
        postgres = env.postgres.version or f"unavailable ({env.postgres.problem})"
    lines = [
        "# Benchmark results",
        "",
        "Flask-Versioning compared with Flask-Migrate and Flask-Alembic on identical apps and"
        " identical revision files. Generated by `benchmarks/`; see `benchmarks/README.md` for"
        " how each scenario is built. Lower times are better; `ours ÷ tool` below 1 means"
        " Flask-Versioning took less time.",
        "",
        f"- Command: `{env.command}` ({mode})",
        f"- Started: {env.started:%Y-%m-%d %H:%M} UTC, took {env.seconds:.0f} s",
        f"- Runs per tool and case: {s.runs}{warmup}; tools alternate run by run",
        f"- Tools: {', '.join(LABELS[tool] for tool in env.tools)}",
        f"- CPUs: {cpus}; load average (1, 5, 15 min) before {_load(env.load_before)},"
        f" after {_load(env.load_after)}",
        f"- Python: {env.python} on {env.platform}",
        f"- SQLite: {env.sqlite}; PostgreSQL: {postgres}",
        "",
        "| Package | Version |",
        "|---|---|",
        f"| Flask-Versioning | {env.ours_version} |",
        *(f"| {name} | {version} |" for name, version in env.packages.items()),
        "",
    ]
    if not env.ours.available:
        lines += [f"**Flask-Versioning was not measured:** {env.ours.reason}", ""]
    elif not env.ours.bulk_insert:
        lines += ["Flask-Versioning has no `Versioning.bulk_insert` yet: seeding skipped.", ""]
    lines += ["## Summary", "", *_summary(cases), ""]
    if any(case.scenario in TARGETS for case in cases):
        lines += ["## Targets", ""]
        for scenario, target in TARGETS.items():
            if any(case.scenario == scenario for case in cases):
                lines += [f"`{scenario}`: {target}", "", *_targets(scenario, cases), ""]
    if FINDINGS.exists() and not s.smoke:
        lines += ["## What profiling found", "", FINDINGS.read_text().strip(), ""]
    lines += ["## Scenarios", ""]
    for scenario in dict.fromkeys(case.scenario for case in cases):
        lines += [f"### {scenario}", "", " ".join(DESCRIPTIONS[scenario].split()), ""]
        for case in cases:
            if case.scenario == scenario:
                lines += render_case(case)
    return "\n".join(lines).rstrip() + "\n"


def console_summary(cases: Sequence[Case]) -> str:
    """The summary table alone, for the terminal at the end of a run."""
    return "\n".join(_summary(cases)) + "\n"
