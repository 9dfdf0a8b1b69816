"""Commands that read: the history, where the database stands, the models against it."""

from __future__ import annotations

from typing import Any

import click

from .._errors import mask_url
from .._types import TenantOptions
from ._common import (
    REVISION_ARGS,
    CommandFailed,
    bind_option,
    bind_value,
    binds_option,
    command,
    echo,
    no_binds_with_tenants,
    on,
    prefix,
    tenant_options,
    versioning,
)
from ._fleet import report_check, report_current


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
    v = versioning()
    for bind in v.select(binds, histories=True):
        with on(bind, shared=v.database(bind).engine_name is not None):
            scripts = v.history(rev_range, bind=bind)
            current = set(v.current(bind=bind)) if indicate_current else set()
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
    v = versioning()
    for bind in v.select(binds, histories=True):
        with on(bind, shared=v.database(bind).engine_name is not None):
            for script in v.heads(bind=bind):
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
    verbose: bool, check_heads: bool, binds: tuple[str, ...], tenants: Any, fleet: TenantOptions
) -> None:
    """Show the revision(s) the database is at (every database's, when there are several;
    every chosen tenant's with --all-tenants or --tenant)."""
    v = versioning()
    if tenants is not None:
        no_binds_with_tenants(binds)
        results = v.current(tenants=tenants, **fleet)
        heads = {s.revision for s in v.heads()}
        report_current(results, heads if check_heads else None, marks=heads)
        return
    behind: list[str] = []
    for bind in v.select(binds):
        with on(bind):
            revisions = v.current(bind=bind)
            if verbose:
                echo(f"Current revision(s) for {mask_url(v.database(bind).url)}:")
            if not revisions and (verbose or prefix()):
                echo("base (no revision applied)")
            head_ids = (
                {s.revision for s in v.heads(bind=bind)} if revisions or check_heads else set()
            )
            for revision in revisions:
                echo(f"{revision}{' (head)' if revision in head_ids else ''}")
            if check_heads and set(revisions) != head_ids:
                missing = ", ".join(sorted(head_ids - set(revisions))) or "none"
                behind.append(f"{prefix()}the database is not at all heads (missing: {missing})")
    if behind:
        raise CommandFailed("; ".join(behind))


@command("check", short_help="Check that the models match the database.")
@binds_option
@tenant_options()
def check_command(binds: tuple[str, ...], tenants: Any, fleet: TenantOptions) -> None:
    """Exit 1 if autogenerate would write anything: the models and database differ (in any
    chosen tenant, with --all-tenants or --tenant)."""
    v = versioning()
    if tenants is not None:
        no_binds_with_tenants(binds)
        report_check(v.check(tenants=tenants, **fleet))
        return
    total = 0
    for bind in v.select(binds, models=not binds):
        with on(bind):
            diffs = v.check(bind=bind)
            for diff in diffs:
                echo(f"  {_describe_diff(diff)}")
            if not diffs:
                echo("No differences: the models match the database.")
            total += len(diffs)
    if total:
        raise CommandFailed(f"{total} difference(s) between the models and the database")


def _describe_diff(diff: Any) -> str:
    """One readable line for an autogenerate diff tuple, e.g. ``add_table users``."""
    if isinstance(diff, list):  # modify_* diffs come grouped per column
        return "; ".join(_describe_diff(d) for d in diff)
    if not isinstance(diff, tuple) or not diff:
        return str(diff)
    names: list[str] = []
    for item in diff[1:]:
        if isinstance(item, str):
            names.append(item)
        elif getattr(item, "name", None):
            names.append(str(item.name))
    return f"{diff[0]} {'.'.join(names)}".strip()


COMMANDS = [
    show_command,
    history_command,
    heads_command,
    branches_command,
    current_command,
    check_command,
]
