"""Commands that read: the history, where the database stands, the models against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._errors import mask_url
from .._graph import FORMATS
from .._operations.queries import heads
from .._operations.standing import plain_head_ids
from ._common import (
    REVISION_ARGS,
    CommandFailed,
    bind_option,
    bind_value,
    binds_option,
    command,
    echo,
    format_option,
    on,
    prefix,
    versioning,
)
from ._fleet import report_check, report_current, tenant_options

if TYPE_CHECKING:
    from .._reports import CheckReport
    from .._tenant_commands import TenantCommands


@command("show", short_help="Show a revision.", context_settings=REVISION_ARGS)
@click.argument("revision", default="head")
@bind_option
def show_command(revision: str, bind: str | None) -> None:
    """Show the revision(s) REVISION names (default: head)."""
    for script in versioning().show(revision, bind=bind_value(bind)):
        click.echo(script.log_entry)


@command("history", short_help="List revisions in order.")
@click.option("-r", "--rev-range", help="Range [start]:[end], e.g. base:head, -3:current.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("-i", "--indicate-current", is_flag=True, help="Mark the current revision.")
@binds_option
def history_command(
    rev_range: str | None, verbose: bool, indicate_current: bool, binds: tuple[str, ...]
) -> None:
    """List the revisions, newest first (each database's history, when there are several)."""
    extension = versioning()
    for bind in extension.select(binds, histories=True):
        with on(bind, shared=extension.database(bind).engine_name is not None):
            scripts = extension.history(rev_range, bind=bind)
            current = set(extension.current(bind=bind)) if indicate_current else set()
            for script in scripts:
                line = script.cmd_format(
                    verbose, include_branches=True, include_doc=True, include_parents=True
                )
                if script.revision in current:
                    line = line.replace(script.revision, f"{script.revision} (current)", 1)
                echo(line)


@command("heads", short_help="Show the head revisions.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@binds_option
def heads_command(verbose: bool, binds: tuple[str, ...]) -> None:
    """Show the head revisions of the migrations directory (of each database's)."""
    extension = versioning()
    for bind in extension.select(binds, histories=True):
        with on(bind, shared=extension.database(bind).engine_name is not None):
            # A plain history is printed from the files read as text, as Alembic prints it;
            # branch labels, dependencies and -v need Alembic's own objects, in its order.
            plain = None if verbose else plain_head_ids(extension.database(bind))
            if plain is not None:
                for revision in plain:
                    echo(f"{revision} (head)")
                continue
            for script in heads(extension.database(bind)):
                echo(script.cmd_format(verbose, include_branches=True, tree_indicators=False))


@command("branches", short_help="Show branch points.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@bind_option
def branches_command(verbose: bool, bind: str | None) -> None:
    """Show the revisions where history branches, and their children."""
    for script in versioning().branches(bind=bind_value(bind)):
        click.echo(script.cmd_format(verbose, include_branches=True))
        pad = " " * len(script.revision)
        for child in script.nextrev:
            click.echo(f"{pad} -> {child}")


@command("current", short_help="Show the database's revision.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("--check-heads", is_flag=True, help="Exit 1 unless the database is at all heads.")
@binds_option
@tenant_options(jobs=False)
def current_command(
    verbose: bool, check_heads: bool, binds: tuple[str, ...], tenants: TenantCommands | None
) -> None:
    """Show the revision(s) the database is at (every database's, when there are several;
    every chosen tenant's with --all-tenants or --tenant)."""
    extension = versioning()
    if tenants is not None:
        results = tenants.current()
        head_ids = set(extension.heads())
        report_current(results, head_ids if check_heads else None, marks=head_ids)
        return
    behind: list[str] = []
    for bind in extension.select(binds):
        with on(bind):
            revisions = extension.current(bind=bind)
            if verbose:
                echo(f"Current revision(s) for {mask_url(extension.database(bind).url)}:")
            if not revisions and (verbose or prefix()):
                echo("base (no revision applied)")
            head_ids = set(extension.heads(bind=bind)) if revisions or check_heads else set()
            for revision in revisions:
                echo(f"{revision}{' (head)' if revision in head_ids else ''}")
            if check_heads and set(revisions) != head_ids:
                missing = ", ".join(sorted(head_ids - set(revisions))) or "none"
                behind.append(f"{prefix()}the database is not at all heads (missing: {missing})")
    if behind:
        raise CommandFailed("; ".join(behind))


@command("check", short_help="Check that the models match the database.")
@binds_option
@format_option(["text", "json"], "json: the same report as data, one object per database.")
@tenant_options()
def check_command(binds: tuple[str, ...], fmt: str, tenants: TenantCommands | None) -> None:
    """Exit 1 if autogenerate would write anything (the models and database differ, in any
    chosen tenant with --all-tenants or --tenant), or if versions/HEADS disagrees with the
    revision files. Each difference names the table and column, the types from -> to,
    nullability, server defaults, indexes and constraints."""
    extension = versioning()
    if tenants is not None:
        report_check(tenants.check())
        return
    reports = []
    for bind in extension.select(binds, models=not binds):
        with on(bind):
            report = extension.check(bind=bind)
            reports.append(report)
            if fmt == "text":
                _print_check(report)
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
    several = len(reports) > 1
    problems = [
        f"[{r.database}] {r.heads_problem}" if several else r.heads_problem
        for r in reports
        if r.heads_problem
    ]
    total = sum(len(r.differences) for r in reports)
    if problems or total:
        parts = [f"{total} difference(s) between the models and the database"] if total else []
        raise CommandFailed("; ".join([*parts, *problems]))


def _print_check(report: CheckReport) -> None:
    if report.heads_problem is not None:
        echo("The models were not compared: versions/HEADS disagrees with the revisions.")
        return
    for difference in report.differences:
        echo(f"  {difference.description}")
    if not report.differences:
        echo("No differences: the models match the database.")


@command("graph", short_help="Draw the revision graph.")
@format_option(
    FORMATS,
    "text (like git log --graph), mermaid (for a README or PR), dot (for Graphviz), svg.",
    "-f",
)
@bind_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the picture to FILE instead of printing it.",
)
@click.option(
    "--last", type=click.IntRange(min=1), metavar="N", help="Only the newest N revisions."
)
def graph_command(fmt: Any, bind: str | None, output: Path | None, last: int | None) -> None:
    """Draw the revision history with branch points, merges, heads and branch labels, and
    where each database stands."""
    extension = versioning()
    binds = [bind_value(bind)] if bind is not None else extension.select(histories=True)
    if len(binds) > 1 and (fmt != "text" or output is not None):
        names = ", ".join(b or "default" for b in binds)
        raise CommandFailed(
            f"this app has {len(binds)} histories ({names}): choose one with --bind"
        )
    for one in binds:
        picture = extension.graph(bind=one, fmt=fmt, last=last)
        if output is not None:
            try:
                output.write_text(picture, encoding="utf-8")
            except OSError as exc:
                raise CommandFailed(f"cannot write {output}: {exc.strerror or exc}") from exc
            click.echo(f"Wrote the {fmt} graph to {output}")
            return
        with on(one, shared=extension.database(one).engine_name is not None):
            echo(picture.rstrip("\n"))


COMMANDS = [
    show_command,
    history_command,
    heads_command,
    branches_command,
    current_command,
    check_command,
    graph_command,
]
