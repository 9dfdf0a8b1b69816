"""``flask db seed``, ``flask db reset`` and ``flask db prepare``: parsing and printing only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from .._errors import mask_url
from .._types import SeedResult, SeedStatus
from ._common import (
    allow_protected_option,
    command,
    duration,
    env_option,
    no_baseline_option,
    plural,
    print_notes,
    print_step,
    versioning,
)
from ._fleet import report_seeds, tenant_options

if TYPE_CHECKING:
    from .._tenant_commands import TenantCommands


def _print_seed(result: SeedResult) -> None:
    where = "" if result.database == "default" else f", {result.database} database"
    rows = "" if result.rows is None else f": {plural(result.rows, 'row')}"
    click.echo(
        f"Seeded {result.name} ({result.environment}{where}){rows} in {duration(result.duration)}"
    )


def _print_seed_summary(
    results: Sequence[SeedResult], environment: str, named: bool, declared: Sequence[str] = ()
) -> None:
    applied = [r for r in results if r.status == "applied"]
    skipped = [r for r in results if r.status == "skipped"]
    if named:
        for result in skipped:
            click.echo(f"Skipped {result.name}: it already ran (--force runs it again).")
    if applied:
        return
    if not results:
        # Often the shell's environment is not the one meant (no --debug): say which are.
        others = ", ".join(e for e in declared if e != environment)
        hint = (
            f" (seeds are declared for {others}: choose one with --env NAME, VERSIONING_ENV "
            "or flask --debug)"
            if others
            else ""
        )
        click.echo(f"No seeds for {environment}{hint}.")
    elif not named:
        click.echo(f"Nothing to seed for {environment}: every seed has run already.")


def _ran(status: SeedStatus) -> str:
    assert status.applied_at is not None
    when = status.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    times = f", {status.runs} runs" if status.runs > 1 else ""
    return f"ran {when} in {status.applied_environment}{times}"


def _describe(status: SeedStatus, environment: str) -> str:
    if not status.defined:
        return f"{_ran(status)} (no longer declared)"
    if not status.selected:
        text = f"not for {environment}"
        return f"{text}; {_ran(status)}" if status.applied_at else text
    if status.applied_at is None:
        return "pending"
    return f"{_ran(status)}; runs every time" if status.always else _ran(status)


def _print_status(statuses: Sequence[SeedStatus], environment: str) -> None:
    if not statuses:
        click.echo("No seeds are declared.")
        return
    rows = [
        (
            s.name + (f" [{s.bind}]" if s.bind else ""),
            ", ".join(s.environments) or "-",
            _describe(s, environment),
        )
        for s in statuses
    ]
    width_name = max(len("SEED"), *(len(r[0]) for r in rows))
    width_envs = max(len("ENVIRONMENTS"), *(len(r[1]) for r in rows))
    click.echo(f"Seeds for {environment}:")
    click.echo(f"  {'SEED':<{width_name}}  {'ENVIRONMENTS':<{width_envs}}  STATUS")
    for name, envs, text in rows:
        click.echo(f"  {name:<{width_name}}  {envs:<{width_envs}}  {text}")


@command("seed", short_help="Run the environment's seeds.")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@env_option
@click.option("--force", is_flag=True, help="Run the seeds again even if they ran before.")
@click.option(
    "--list", "list_", is_flag=True, help="List every seed, its environments and whether it ran."
)
@allow_protected_option
@tenant_options()
def seed_command(
    names: tuple[str, ...],
    env: str | None,
    force: bool,
    list_: bool,
    allow_protected: bool,
    tenants: TenantCommands | None,
) -> None:
    """Run the seeds of the environment that have not run yet, or only NAMEs.

    Each seed runs in its own transaction together with the record that it ran: a failing
    seed leaves nothing behind, stops the run and exits 1. --force in a protected environment
    needs --allow-protected. --all-tenants or --tenant: in each chosen tenant (the seeds
    declared without bind=).
    """
    extension = versioning()
    if tenants is not None:
        if list_:
            raise click.UsageError("--list shows the app's database: leave out the tenants")
        report_seeds(
            lambda: tenants.run_seeds(
                list(names) or None, env=env, force=force, allow_protected=allow_protected
            )
        )
        return
    environment = extension.environment_name(env)
    if list_:
        statuses = extension.seeds_status(env)
        if names:
            statuses = [s for s in statuses if s.name in names]
        _print_status(statuses, environment)
        return
    results = extension.run_seeds(
        list(names) or None,
        env=env,
        force=force,
        allow_protected=allow_protected,
        progress=_print_seed,
    )
    declared = sorted({e for hook in extension.seed_registry for e in hook.environments})
    _print_seed_summary(results, environment, bool(names), declared)


@command("reset", short_help="Drop everything, upgrade to heads and seed.")
@env_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@allow_protected_option
@no_baseline_option
def reset_command(env: str | None, yes: bool, allow_protected: bool, no_baseline: bool) -> None:
    """Drop every table of the database (the version table and seed ledger too), upgrade to
    heads and run the seeds: the fresh start for development.

    Asks for confirmation unless --yes. Refused in a protected environment unless
    --allow-protected.
    """
    extension = versioning()

    def confirm(environment: str) -> None:
        if yes:
            return
        urls = ", ".join(mask_url(extension.database(b).url) for b in extension.databases())
        click.confirm(
            f"Drop every table in {urls} ({environment}) and rebuild it?", abort=True, err=True
        )

    result = extension.reset(
        env=env,
        allow_protected=allow_protected,
        confirm=confirm,
        progress=print_step,
        seed_progress=_print_seed,
        baseline=not no_baseline,
    )
    for migration in result.migrations:
        print_notes(migration)
        dropped = len(result.dropped.get(migration.database, ()))
        where = ", ".join(migration.after) or "base"
        click.echo(
            f"Reset the {migration.database} database: dropped {plural(dropped, 'table')}, "
            f"now at {where}."
        )
    applied = sum(1 for r in result.seeds if r.status == "applied")
    click.echo(f"{applied} seed(s) applied.")


@command("prepare", short_help="Create the database if missing, upgrade and seed.")
@env_option
@no_baseline_option
def prepare_command(env: str | None, no_baseline: bool) -> None:
    """Make the database ready, whatever state it is in: create it if the backend allows and it
    is missing, upgrade it to heads under the migration lock and run the pending seeds.

    Safe to run any number of times, from any number of processes at once: the command for a
    container entrypoint or a fresh checkout.
    """
    extension = versioning()
    result = extension.prepare(
        env=env, progress=print_step, seed_progress=_print_seed, baseline=not no_baseline
    )
    for migration in result.migrations:
        print_notes(migration)
        where = ", ".join(migration.after) or "base"
        created = "created it; " if migration.database in result.created else ""
        changed = "now" if migration.steps else "already"
        click.echo(f"The {migration.database} database is ready: {created}{changed} at {where}.")
    applied = sum(1 for r in result.seeds if r.status == "applied")
    if applied:
        click.echo(f"{applied} seed(s) applied.")


COMMANDS = [seed_command, reset_command, prepare_command]
