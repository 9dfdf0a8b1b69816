"""Commands for working in a team: ``lint``, ``plan`` and ``rebase``.

The linter is imported when a command runs, not when this module is loaded: every ``flask db``
command loads the command modules, and the linter brings Alembic with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._errors import VersioningError
from .._paths import display_path
from .._types import TenantResult
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
    plural,
    versioning,
    x_arguments,
    x_option,
)
from ._fleet import raise_for_failures, tenant_options

if TYPE_CHECKING:
    from .._lint import Finding
    from .._reports import DatabasePlan
    from .._tenant_commands import TenantCommands

#: The linter's output formats (``_lint.findings.FORMATS``, repeated: loading this module stays
#: cheap).
LINT_FORMATS = ("text", "json", "github")


class UsageFailed(CommandFailed):
    """Bad usage of ``lint``: one line and exit code 2, as exit code 1 means "errors found"."""

    exit_code = 2


def shown(findings: Iterable[Finding]) -> list[Finding]:
    """The findings with their paths as a person reads them, each finding once (a revision
    linted for each database of a shared multidb directory reports its file's problems once)."""
    seen: set[tuple[str, str, int, str]] = set()
    out = []
    for finding in findings:
        path = Path(display_path(finding.path))
        key = (finding.rule, str(path), finding.line, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(dataclasses.replace(finding, path=path))
    return out


def print_findings(findings: Sequence[Finding], *, recipes: bool = True, indent: str = "") -> None:
    """The findings as text, as ``flask db lint`` prints them."""
    from .._lint import format_text

    text = format_text(shown(findings), recipes=recipes)
    if text:
        echo("\n".join(f"{indent}{line}" for line in text.splitlines()))


@command("lint", short_help="Check revisions for operations unsafe on a live database.")
@click.argument("revisions", nargs=-1)
@bind_option
@format_option(LINT_FORMATS, "github: workflow annotations on the pull request's diff.")
@click.option("--since", metavar="REV", help="Only the revisions added after REV.")
@click.option(
    "--with",
    "extras",
    multiple=True,
    type=click.Choice(["squawk"]),
    help="Add squawk's findings on the rendered SQL (PostgreSQL; pip install squawk-cli).",
)
@x_option
def lint_command(
    revisions: tuple[str, ...],
    bind: str | None,
    fmt: str,
    since: str | None,
    extras: tuple[str, ...],
    x: tuple[str, ...],
) -> None:
    """Check the revision files REVISIONS (default: all, or those after --since) for operations
    that are unsafe on a live database: locks, table rewrites, dropped data, renames that old
    code still reads. Each finding names the file and line, the rule and what to do instead;
    '# versioning: ignore[rule-id] reason' on the line suppresses it. The revisions render
    offline with the -x arguments given (none by default), as 'upgrade' would pass them.

    Exit code 0: no errors (warnings are shown but pass); 1: errors; 2: bad usage.
    """
    from .._lint import exit_code, format_findings, summary

    extension = versioning()
    findings: list[Finding] = []
    x_args = x_arguments(x)
    try:
        for name in extension.select([bind] if bind else [], revisions=revisions):
            findings.extend(
                extension.lint(
                    revisions, bind=name, since=since, squawk="squawk" in extras, x_args=x_args
                )
            )
    except VersioningError as exc:
        raise UsageFailed(str(exc)) from exc
    findings = shown(findings)
    if fmt == "text":
        print_findings(findings)
        click.echo(f"{summary(findings).capitalize()}.")
    else:
        output = format_findings(findings, fmt)
        if output:
            click.echo(output)
    click.get_current_context().exit(exit_code(findings))


@command("plan", short_help="Show what upgrade would do, without doing it.")
@click.argument("target", default="heads")
@binds_option
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also list the revisions on the way that the database already has.",
)
@x_option
@tenant_options()
def plan_command(
    target: str,
    binds: tuple[str, ...],
    show_all: bool,
    x: tuple[str, ...],
    tenants: TenantCommands | None,
) -> None:
    """Show what 'flask db upgrade TARGET' (default: heads) would do to each database, from
    where it stands now: each revision in order, with its message, its SQL for the database's
    dialect (rendered with the -x arguments given) and its lint findings. Changes nothing and
    takes no lock. Exit code 1 when a revision's SQL could not be rendered.

    With --all-tenants or --tenant, each chosen tenant's plan; tenants with the same plan (at
    the same revision, same SQL) share one listing."""
    extension = versioning()
    x_args = x_arguments(x)
    if tenants is not None:
        results = tenants.plan(target, applied=show_all, x_args=x_args)
        print_tenant_plans(results)
        raise_for_unrendered([r.value for r in results if r.value is not None])
        return
    plans = []
    for bind in extension.select(binds, revisions=[target]):
        with on(bind):
            plans.append(extension.plan(target, bind=bind, applied=show_all, x_args=x_args))
            print_plan(plans[-1])
    raise_for_unrendered(plans)


def raise_for_unrendered(plans: Sequence[DatabasePlan]) -> None:
    """Exit 1 when a plan is incomplete: a reviewer must not read a partial plan as whole."""
    missing = sorted({step.revision for plan in plans for step in plan.unrendered})
    if missing:
        raise CommandFailed(
            f"the plan is incomplete: the SQL of {plural(len(missing), 'revision')} "
            f"({', '.join(missing)}) could not be rendered offline, see 'SQL not rendered' "
            "above (-x KEY=VALUE passes arguments a revision reads with "
            "context.get_x_argument())"
        )


def print_tenant_plans(results: Sequence[TenantResult[DatabasePlan]]) -> None:
    """One listing per distinct plan, headed by the tenants it is for; then the failures."""
    groups: dict[str, tuple[DatabasePlan, list[str]]] = {}
    for result in results:
        plan = result.value
        if plan is not None:
            key = repr((plan.dialect, plan.current, plan.steps))
            groups.setdefault(key, (plan, []))[1].append(result.tenant)
    for index, (plan, names) in enumerate(groups.values()):
        if index:
            echo("")
        if len(names) > 1:
            echo(f"Tenants {', '.join(names)} ({len(names)}):")
        else:
            echo(f"Tenant {names[0]}:")
        print_plan(plan)
    for result in results:
        if result.status == "failed":
            echo(f"Tenant {result.tenant}: failed: {result.error}")
    raise_for_failures(results)


def print_plan(plan: DatabasePlan) -> None:
    where = ", ".join(plan.current) or "base"
    pending = plan.pending
    if not pending:
        echo(f"Nothing to do: the database is at {where}.")
    else:
        count = plural(len(pending), "revision")
        echo(f"The database is at {where}; 'upgrade {plan.target}' would apply {count}:")
    for step in plan.steps:
        message = f" ({step.message})" if step.message else ""
        if step.applied:
            echo(f"Applied {step.revision}{message}")
            continue
        echo("")
        echo(f"Revision {step.revision}{message}: {display_path(step.path)}")
        for line in step.sql.rstrip().splitlines():
            echo(f"    {line}" if line else "")
        if step.sql_error:
            echo(f"    -- SQL not rendered past this point: {step.sql_error}")
        elif not step.sql.strip():
            echo("    -- no SQL")
        if step.findings:
            print_findings(step.findings, recipes=False, indent="  ")


@command("rebase", short_help="Move a revision onto another head.", context_settings=REVISION_ARGS)
@click.argument("revision")
@click.option("--onto", metavar="HEAD", help="The head to put it after (default: the other one).")
@bind_option
def rebase_command(revision: str, onto: str | None, bind: str | None) -> None:
    """Make REVISION, a head written on an older head, follow the other head instead: the fix
    after two branches each added a revision and git conflicted on versions/HEADS. Rewrites the
    file's down_revision and 'Revises:' line (name and id stay) and versions/HEADS. Refused when
    a database has already applied REVISION."""
    extension = versioning()
    chosen = (
        extension.select([], revisions=[revision], histories=True)[0]
        if bind is None
        else bind_value(bind)
    )
    result = extension.rebase(revision, onto=onto, bind=chosen)
    was = ", ".join(result.old_parent) or "base"
    click.echo(f"Rebased {result.revision} onto {result.new_parent} (it followed {was}).")
    click.echo(f"Rewrote {display_path(result.path)}")
    if result.heads_file is not None:
        click.echo(f"Rewrote {display_path(result.heads_file)}")


COMMANDS = [lint_command, plan_command, rebase_command]
