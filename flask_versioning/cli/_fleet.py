"""Commands run on tenants: the options that choose them, the progress display while they
run, and the summary after.

Progress goes to stderr (a bar redrawn in place on a terminal, one line per finished tenant
elsewhere or with ``--no-progress``), the summary to stdout, so ``> report.txt`` keeps only the
summary. A run with a failed tenant ends with ``Error: ...`` and exit code 1.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from .._errors import TenantsInterrupted
from .._types import MigrationResult, SeedResult, TenantEvent, TenantResult
from ._common import CommandFailed, duration, plural, versioning

if TYPE_CHECKING:
    from .._types import TenantOptions

#: Names listed in one summary line before "... and N more".
_LISTED = 12


def _where(revisions: Sequence[str] | None) -> str:
    if revisions is None:
        return "unknown"
    return ", ".join(revisions) or "base"


def _names(results: Sequence[TenantResult[Any]]) -> str:
    names = [r.tenant for r in results]
    more = len(names) - _LISTED
    return ", ".join(names[:_LISTED]) + (f" and {more} more" if more > 0 else "")


def _line(result: TenantResult[Any]) -> str:
    """What one finished tenant says in plain progress lines and in the summary."""
    value = result.value
    if result.status == "failed":
        return f"failed: {result.error} (now at {_where(result.after)})"
    if result.status == "not run":
        return result.error or "not run"
    if result.status == "skipped":
        return f"skipped: already at {_where(result.after)}"
    if isinstance(value, MigrationResult):
        steps = sum(1 for s in value.steps if s.direction != "stamp")
        counted = f", {plural(steps, 'revision')}" if steps else ""
        if result.status == "changed":
            return (
                f"{_where(value.before)} -> {_where(value.after)}"
                f" ({duration(result.duration)}{counted})"
            )
        return f"nothing to do: at {_where(value.after)}"
    # Imported here: a single-database command never builds a tenant's summary line.
    from .._reports import DatabasePlan

    if isinstance(value, DatabasePlan):
        pending = len(value.pending)
        return f"{plural(pending, 'revision')} to apply" if pending else "nothing to do"
    if isinstance(value, tuple) and value and all(isinstance(v, SeedResult) for v in value):
        applied = [v.name for v in value if v.status == "applied"]
        if applied:
            return f"seeded {', '.join(applied)} ({duration(result.duration)})"
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return plural(len(value), "difference")  # check: the differences follow in the summary
    return "nothing to do" if value == () else "done"


class ProgressView:
    """Shows a run as tenants start and finish: the ``on_event`` of the API call."""

    def __init__(self, *, bar: bool) -> None:
        self.bar = bar
        self.running: dict[int, str] = {}
        self._drawn = False

    def __call__(self, event: TenantEvent) -> None:
        if event.kind == "interrupt":
            self.clear()
            click.echo(
                f"Ctrl-C: stopping {event.tenant}; no tenant starts after it."
                if event.tenant
                else "Ctrl-C: no tenant starts after this; the running ones finish first"
                " (Ctrl-C again to stop waiting).",
                err=True,
            )
            return
        if event.kind == "start":
            self.running[event.worker] = event.tenant
        elif self.running.get(event.worker) == event.tenant:
            del self.running[event.worker]
        finished = event.done + event.failed + event.skipped
        result = event.result
        if not self.bar:
            if result is not None:
                click.echo(f"[{finished}/{event.total}] {result.tenant}: {_line(result)}", err=True)
            return
        if result is not None and result.status == "failed":
            self.clear()  # a failure stays on screen above the bar
            click.echo(f"{result.tenant}: {_line(result)}", err=True)
        if finished == event.total:
            self.clear()  # the summary follows
        else:
            self._draw(event, finished)

    def _draw(self, event: TenantEvent, finished: int) -> None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        size = 20
        filled = size * finished // max(event.total, 1)
        counts = f"done {event.done}  failed {event.failed}  skipped {event.skipped}"
        text = f"[{'#' * filled}{'.' * (size - filled)}] {finished}/{event.total}  {counts}"
        if self.running:
            text += "  | " + "  ".join(f"{w}: {t}" for w, t in sorted(self.running.items()))
        click.echo(f"\r{text[:width]}\x1b[K", nl=False, err=True)
        self._drawn = True

    def clear(self) -> None:
        """Remove the bar, before the summary or a failure's line is printed."""
        if self._drawn:
            click.echo("\r\x1b[K", nl=False, err=True)
            self._drawn = False


def raise_for_failures(results: Sequence[TenantResult[Any]], noun: str = "tenant") -> None:
    """Exit 1 (``Error: 2 of 60 tenants failed: a, b``) when any tenant failed or was not
    run (after a failure with ``--fail-fast``, or after Ctrl-C). ``noun``: what the results
    are about (the app's own databases, after Ctrl-C, are reported the same way)."""
    failed = [r for r in results if r.status == "failed"]
    not_run = [r for r in results if r.status == "not run"]
    parts = []
    if failed:
        parts.append(f"{len(failed)} of {plural(len(results), noun)} failed: {_names(failed)}")
    if not_run:
        total = "" if failed else f" of {plural(len(results), noun)}"
        parts.append(f"{len(not_run)}{total} not run: {_names(not_run)}")
    if parts:
        raise CommandFailed("; ".join(parts))


def _width(results: Sequence[TenantResult[Any]]) -> int:
    return max((len(r.tenant) for r in results), default=0)


def report_interrupted(results: Sequence[TenantResult[Any]], noun: str = "tenant") -> None:
    """After Ctrl-C: where each tenant (or database) stands, whatever the command, then
    exit 1."""
    width = _width(results)
    click.echo(f"Interrupted (Ctrl-C): no {noun} was started after it.")
    for result in results:
        click.echo(f"  {result.tenant:<{width}}  {_line(result)}")
    raise_for_failures(results, noun)


#: The groups of a migration summary listed by name only, and the words of its count line.
_LISTED_GROUPS = {
    "ok": "Nothing to do",
    "skipped": "Skipped, already there",
    "not run": "Not run, after a failure",
}
_COUNTED = {
    "changed": "changed",
    "ok": "unchanged",
    "skipped": "skipped",
    "failed": "failed",
    "not run": "not run",
}


def report_migrations(run: Callable[[], Sequence[TenantResult[Any]]]) -> None:
    """Run ``upgrade``, ``downgrade`` or ``stamp`` on tenants and print the summary; exit 1 on
    failure."""
    started = time.perf_counter()
    results = run()
    elapsed = time.perf_counter() - started
    width = _width(results)
    groups: dict[str, list[TenantResult[Any]]] = {}
    for result in results:
        groups.setdefault(result.status, []).append(result)
    if groups.get("changed"):
        click.echo(f"Changed ({len(groups['changed'])}):")
        for result in groups["changed"]:
            click.echo(f"  {result.tenant:<{width}}  {_line(result)}")
    if groups.get("failed"):
        click.echo(f"Failed ({len(groups['failed'])}):")
        for result in groups["failed"]:
            click.echo(f"  {result.tenant:<{width}}  {result.error}")
            click.echo(f"  {'':<{width}}  now at: {_where(result.after)}")
    for status, title in _LISTED_GROUPS.items():
        if groups.get(status):
            click.echo(f"{title} ({len(groups[status])}): {_names(groups[status])}")
    listed = ", ".join(f"{len(groups[s])} {word}" for s, word in _COUNTED.items() if s in groups)
    click.echo(f"{plural(len(results), 'tenant')} in {duration(elapsed)}: {listed or 'none'}.")
    raise_for_failures(results)


def report_current(
    results: Sequence[TenantResult[Any]], heads: set[str] | None, *, marks: set[str]
) -> None:
    """Each tenant's revisions, heads marked; with ``heads`` (``--check-heads``), exit 1 unless
    every tenant is at them."""
    width = _width(results)
    behind = []
    for result in results:
        if result.status == "failed":
            click.echo(f"{result.tenant:<{width}}  {_line(result)}")
            continue
        revisions = tuple(result.value or ())
        shown = ", ".join(f"{r}{' (head)' if r in marks else ''}" for r in revisions)
        click.echo(f"{result.tenant:<{width}}  {shown or 'base'}")
        if heads is not None and set(revisions) != heads:
            behind.append(result)
    raise_for_failures(results)
    if behind:
        raise CommandFailed(
            f"{len(behind)} of {plural(len(results), 'tenant')} not at all heads: {_names(behind)}"
        )


def report_check(results: Sequence[TenantResult[Any]]) -> None:
    """Each tenant's differences; exit 1 when any tenant differs or failed."""
    differing = []
    for result in results:
        if result.status == "failed":
            click.echo(f"[{result.tenant}] {_line(result)}")
        elif result.value:
            differing.append(result)
            for diff in result.value:
                click.echo(f"[{result.tenant}]   {diff}")
        else:
            click.echo(f"[{result.tenant}] No differences: the models match the database.")
    raise_for_failures(results)
    if differing:
        raise CommandFailed(
            f"{len(differing)} of {plural(len(results), 'tenant')} differ from the models: "
            f"{_names(differing)}"
        )


def report_seeds(run: Callable[[], Sequence[TenantResult[Any]]]) -> None:
    """Run the seeds on tenants and print each tenant's; exit 1 when a tenant's seed failed."""
    started = time.perf_counter()
    results = run()
    elapsed = time.perf_counter() - started
    width = _width(results)
    for result in results:
        click.echo(f"  {result.tenant:<{width}}  {_line(result)}")
    changed = sum(1 for r in results if r.status == "changed")
    failed = sum(1 for r in results if r.status == "failed")
    click.echo(
        f"{plural(len(results), 'tenant')} in {duration(elapsed)}: {changed} seeded, "
        f"{len(results) - changed - failed} with nothing to seed, {failed} failed."
    )
    raise_for_failures(results)


# -- choosing the tenants -----------------------------------------------------------------------


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``K/N``: share K (from 0, as Kubernetes' ``JOB_COMPLETION_INDEX``) of N."""
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not K/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise click.BadParameter(f"{value!r}: K counts from 0 and must be below N (0/4 to 3/4)")
    return (index, count)


def tenant_options(
    *, jobs: bool = True, create: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--tenant NAME`` (repeatable), ``--all-tenants`` and ``--shard K/N``; with ``jobs``,
    ``--jobs N``, ``--fail-fast`` and ``--no-progress``; with ``create``, ``--create``.

    The command receives ``tenants``: ``None`` when no tenant was chosen (act on the app's own
    database(s)), else the :meth:`~flask_versioning.Versioning.for_tenants` object for the
    chosen tenants, with the options and the progress display. ``--bind`` is refused with
    tenants: they have one database each.
    """
    options = [
        click.option(
            "--tenant",
            "tenant_names",
            multiple=True,
            metavar="NAME",
            help="Act on this tenant instead of the app's database; repeatable.",
        ),
        click.option("--all-tenants", is_flag=True, help="Act on every tenant the app declares."),
        click.option(
            "--shard",
            metavar="K/N",
            callback=_shard,
            help="Only the tenants whose name hashes to share K of N (K from 0): N machines "
            "with K = 0..N-1 cover every tenant once.",
        ),
    ]
    if jobs:
        options += [
            click.option(
                "--jobs",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                help="Tenants run at once, each in a process of its own.",
            ),
            click.option("--fail-fast", is_flag=True, help="Start no tenant after a failure."),
            click.option(
                "--no-progress", is_flag=True, help="Plain lines instead of a progress bar."
            ),
        ]
    if create:
        options.append(
            click.option("--create", is_flag=True, help="Create a tenant's missing schema.")
        )
    names = ("tenant_names", "all_tenants", "shard", "jobs", "fail_fast", "no_progress", "create")

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given: dict[str, Any] = {name: kwargs.pop(name, None) for name in names}
            chosen: tuple[str, ...] = given["tenant_names"] or ()
            if chosen and given["all_tenants"]:
                raise click.UsageError("give --tenant NAME or --all-tenants, not both")
            settings: TenantOptions = {
                "shard": given["shard"],
                "jobs": given["jobs"] or 1,
                "fail_fast": bool(given["fail_fast"]),
                "create": bool(given["create"]),
            }
            if not chosen and not given["all_tenants"]:
                used = {
                    "--shard": settings["shard"] is not None,
                    "--jobs": settings["jobs"] > 1,
                    "--fail-fast": settings["fail_fast"],
                    "--create": settings["create"],
                }
                if any(used.values()):
                    raise click.UsageError(
                        f"{', '.join(o for o, on in used.items() if on)} acts on tenants: "
                        "add --all-tenants or --tenant NAME"
                    )
                return f(*args, tenants=None, **kwargs)
            view = ProgressView(bar=sys.stderr.isatty() and not given["no_progress"])
            if jobs:
                settings["on_event"] = view
            try:
                tenants = versioning().for_tenants(
                    "all" if given["all_tenants"] else list(chosen), **settings
                )
                if kwargs.get("binds"):
                    raise click.UsageError(
                        "--bind cannot be combined with --tenant or --all-tenants"
                    )
                return f(*args, tenants=tenants, **kwargs)
            except TenantsInterrupted as stopped:
                view.clear()
                report_interrupted(stopped.results)
            finally:
                view.clear()

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorator
