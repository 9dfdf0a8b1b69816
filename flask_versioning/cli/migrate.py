"""Commands that change the database or write revision files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from .._errors import VersioningError
from .._paths import normal_path
from .._types import AppliedRevision, MigrationResult, RevisionOptions, RunOptions, TenantResult
from ._common import (
    REVISION_ARGS,
    allow_protected_option,
    bind_option,
    bind_value,
    binds_option,
    command,
    echo,
    no_baseline_option,
    on,
    print_result,
    print_sql,
    print_step,
    revision_options,
    run_options,
    versioning,
)
from ._fleet import report_interrupted, report_migrations, tenant_options
from .team import print_findings

if TYPE_CHECKING:
    from .._tenant_commands import TenantCommands


@command("init", short_help="Create the migrations directory.")
@binds_option
@click.option(
    "--linear",
    is_flag=True,
    help="Guard an existing directory's history with versions/HEADS (new ones have it).",
)
def init_command(binds: tuple[str, ...], linear: bool) -> None:
    """Create the migrations directory inside the app package (optional: every command that
    needs it creates it). With --linear, write versions/HEADS from the revision files: the
    linear-history guard for a directory made before it, or by Flask-Migrate."""
    extension = versioning()
    for bind in extension.select(binds, histories=linear):
        with on(bind):
            echo(f"Migrations directory: {extension.init(bind=bind, linear=linear)}")
            if linear:
                echo("Linear history: heads recorded in versions/HEADS; commit it.")


@command("revision", short_help="Create a new revision file.")
@click.option("-m", "--message", help="Revision message.")
@click.option("--autogenerate", is_flag=True, help="Fill it by comparing models and database.")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (offline mode).")
@revision_options
@bind_option
def revision_command(
    message: str | None,
    autogenerate: bool,
    sql: bool,
    options: RevisionOptions,
    bind: str | None,
) -> None:
    """Create a new revision file."""
    scripts = versioning().revision(
        message, bind=bind_value(bind), autogenerate=autogenerate, sql=sql, **options
    )
    for script in scripts:
        click.echo(f"Generated {normal_path(script.path)}")


@command("migrate", short_help="Autogenerate a revision from the models.")
@click.option("-m", "--message", help="Revision message.")
@click.option("--allow-empty", is_flag=True, help="Write a revision even if nothing changed.")
@revision_options
@binds_option
def migrate_command(
    message: str | None, allow_empty: bool, options: RevisionOptions, binds: tuple[str, ...]
) -> None:
    """Autogenerate a revision file from the differences between the models and the database.

    When nothing changed, no file is written (unless --allow-empty) and the exit code is 0.
    Each database gets its own revision; a Flask-Migrate multidb directory gets one for all.
    """
    extension = versioning()
    for bind in extension.select(binds, models=not binds, histories=True):
        with on(bind, shared=extension.database(bind).engine_name is not None):
            script = extension.migrate(message, bind=bind, allow_empty=allow_empty, **options)
            if script is None:
                echo("No changes in the models were detected; no revision was written.")
            else:
                echo(f"Generated {normal_path(script.path)}")
                lint_new_revision(script.revision, bind)


@command("edit", short_help="Open a revision file in $EDITOR.", context_settings=REVISION_ARGS)
@click.argument("revision", default="current")
@bind_option
def edit_command(revision: str, bind: str | None) -> None:
    """Open the revision file for REVISION (default: current) in $EDITOR."""
    versioning().edit(revision, bind=bind_value(bind))


@command("merge", short_help="Join several heads in a merge revision.")
@click.argument("revisions", nargs=-1)
@click.option("-m", "--message", help="Revision message.")
@click.option("--branch-label", help="Branch label for the merge revision.")
@click.option("--rev-id", help="Revision id to use instead of a generated one.")
@bind_option
def merge_command(
    revisions: tuple[str, ...],
    message: str | None,
    branch_label: str | None,
    rev_id: str | None,
    bind: str | None,
) -> None:
    """Write a revision that merges REVISIONS (default: all heads)."""
    script = versioning().merge(
        list(revisions) or "heads",
        bind=bind_value(bind),
        message=message,
        branch_label=branch_label,
        rev_id=rev_id,
    )
    click.echo(f"Generated {normal_path(script.path)}")


@command("upgrade", short_help="Upgrade the database.", context_settings=REVISION_ARGS)
@click.argument("revision", default="heads")
@run_options
@binds_option
@no_baseline_option
@tenant_options(create=True)
def upgrade_command(
    revision: str,
    options: RunOptions,
    binds: tuple[str, ...],
    no_baseline: bool,
    tenants: TenantCommands | None,
) -> None:
    """Upgrade the database to REVISION (default: heads). Accepts head, +1, ids, branch@head.
    An empty database is made from a baseline, if there is one, unless --no-baseline.

    Every database is upgraded, one after the other, unless --bind names some. With
    --all-tenants or --tenant, the tenants instead: those already at REVISION are skipped,
    the others upgraded (--jobs at once), and a summary follows.
    """
    if tenants is not None:
        report_migrations(lambda: tenants.upgrade(revision, baseline=not no_baseline, **options))
        return
    extension = versioning()
    each_database(
        extension.select(binds, revisions=[revision]),
        lambda bind, progress: extension.upgrade(
            revision, bind=bind, progress=progress, baseline=not no_baseline, **options
        ),
        sql=bool(options.get("sql")),
    )


@command("downgrade", short_help="Revert the database.", context_settings=REVISION_ARGS)
@click.argument("revision", default="-1")
@run_options
@binds_option
@allow_protected_option
@tenant_options()
def downgrade_command(
    revision: str,
    options: RunOptions,
    binds: tuple[str, ...],
    allow_protected: bool,
    tenants: TenantCommands | None,
) -> None:
    """Revert the database to REVISION (default: -1). Accepts -N, base, ids.

    Every database is reverted, one after the other, unless --bind names some. 'base' is
    refused for a protected database unless --allow-protected. --all-tenants or --tenant:
    the tenants instead.
    """
    if tenants is not None:
        report_migrations(
            lambda: tenants.downgrade(revision, allow_protected=allow_protected, **options)
        )
        return
    extension = versioning()
    each_database(
        extension.select(binds, revisions=[revision]),
        lambda bind, progress: extension.downgrade(
            revision, bind=bind, progress=progress, allow_protected=allow_protected, **options
        ),
        sql=bool(options.get("sql")),
    )


@command("stamp", short_help="Set the revision without migrating.", context_settings=REVISION_ARGS)
@click.argument("revisions", nargs=-1)
@run_options
@click.option("--purge", is_flag=True, help="Empty the version table first.")
@binds_option
@allow_protected_option
@tenant_options(create=True)
def stamp_command(
    revisions: tuple[str, ...],
    options: RunOptions,
    purge: bool,
    binds: tuple[str, ...],
    allow_protected: bool,
    tenants: TenantCommands | None,
) -> None:
    """Write REVISIONS (default: heads) to the version table without running migrations.

    Rewriting the applied history of a protected database is refused unless
    --allow-protected. --all-tenants or --tenant: the tenants instead.
    """
    target = list(revisions) or "heads"
    if tenants is not None:
        report_migrations(
            lambda: tenants.stamp(target, purge=purge, allow_protected=allow_protected, **options)
        )
        return
    extension = versioning()
    for bind in extension.select(binds, revisions=revisions):
        with on(bind):
            result = extension.stamp(
                target, bind=bind, purge=purge, allow_protected=allow_protected, **options
            )
            if options.get("sql"):
                print_sql(result)
            else:
                echo(f"The database is now stamped at {', '.join(result.after) or 'base'}.")


@command("adopt", short_help="Take over a Flask-Migrate migrations folder.")
@click.argument("source", type=click.Path(file_okay=False, exists=True), default="migrations")
def adopt_command(source: str) -> None:
    """Move SOURCE (default: ./migrations), a folder made by Flask-Migrate, to the configured
    migrations directory and replace its env.py with ours. Revision files stay byte for byte;
    refuses if the destination exists and is not empty."""
    result = versioning().adopt(source)
    if result.source != result.directory:
        click.echo(f"Moved {result.source} to {result.directory}")
    click.echo(f"Kept {len(result.revisions)} revision file(s) unchanged.")
    for name in result.replaced:
        click.echo(f"Replaced {name} with Flask-Versioning's.")
    for name in result.removed:
        click.echo(f"Removed {name} (not used by Flask-Versioning).")
    for note in result.notes:
        click.echo(f"Note: {note}")


@command("unprotect", short_help="Lift the protection a database's history records.")
@click.option("--yes", is_flag=True, help="Confirm: this is not a production database.")
@binds_option
def unprotect_command(yes: bool, binds: tuple[str, ...]) -> None:
    """Lift the protection recorded in the database's history ledger (a copy of production
    restored into staging, say). The lifting is recorded in the ledger too. Needs --yes."""
    if not yes:
        raise click.UsageError("unprotect lifts a production safeguard: confirm with --yes")
    extension = versioning()
    for bind in extension.select(binds):
        with on(bind):
            lifted = extension.unprotect(bind=bind)
            echo("Protection lifted." if lifted else "The database was not protected.")


@command("baseline", short_help="Write a baseline: the schema at a revision, as one SQL file.")
@click.option("--at", "at", default="heads", show_default=True, help="The revision it stands for.")
@bind_option
@click.option(
    "--include-data", multiple=True, metavar="TABLE", help="Copy this table's rows into it."
)
@click.option(
    "--prune",
    is_flag=True,
    help="Delete the revision files older than the newest "
    "baseline instead (refused while a database is behind it).",
)
def baseline_command(at: str, bind: str | None, include_data: tuple[str, ...], prune: bool) -> None:
    """Write the schema a database has after replaying the revisions up to --at (default: the
    head) into baselines/<revision>.<dialect>.sql. It is made on a scratch database of the
    same backend; empty databases are then made from it instead of replaying old revisions."""
    result = versioning().baseline(
        at, bind=bind_value(bind), include_data=include_data, prune=prune
    )
    if prune:
        for path in result.pruned:
            echo(f"Deleted {path}")
        echo(f"Pruned {len(result.pruned)} revision file(s) older than baseline {result.revision}.")
        return
    echo(
        f"Wrote baseline {result.path} for revision {result.revision} "
        f"({result.dialect}, {result.statements} statements)"
    )
    if result.included:
        echo(f"Copied the rows of {', '.join(result.included)}.")
    if result.data_revisions:
        echo(
            f"Warning: {len(result.data_revisions)} revision(s) up to {result.revision} change "
            "data; those rows are not in a database made from this baseline (copy tables with "
            "--include-data TABLE, or move the rows into seeds):"
        )
        for line in result.data_revisions:
            echo(f"  {line}")


def each_database(
    binds: Sequence[str | None],
    migrate: Callable[[str | None, Callable[[AppliedRevision], None] | None], MigrationResult],
    *,
    sql: bool,
) -> None:
    """Run ``migrate`` on each database in turn (printing each step unless ``sql``), then
    where it stands; after Ctrl-C (the statement cancelled on the server), where each
    database stands, one line each, as tenant runs say it, and exit 1."""
    done: list[TenantResult[MigrationResult]] = []
    for index, bind in enumerate(binds):
        with on(bind):
            try:
                result = migrate(bind, None if sql else print_step)
            except KeyboardInterrupt as stopped:
                error = str(stopped) or "interrupted (Ctrl-C)"
                now = getattr(stopped, "current", None)
                done.append(TenantResult(bind or "default", "failed", error=error, after=now))
                done += [
                    TenantResult(b or "default", "not run", error="not run: interrupted (Ctrl-C)")
                    for b in binds[index + 1 :]
                ]
                report_interrupted(done, "database")
                raise  # not reached: the report exits
            print_result(result)
        changed = bool(result.steps) or result.before != result.after
        took = sum(step.duration for step in result.steps)
        done.append(
            TenantResult(
                bind or "default",
                "changed" if changed else "ok",
                result,
                after=result.after,
                duration=took,
            )
        )


def lint_new_revision(revision: str, bind: str | None) -> None:
    """Print the lint findings for the revision ``migrate`` just wrote, as advice for its
    author: ``flask db lint`` in CI is where they fail a build."""
    try:
        findings = versioning().lint([revision], bind=bind)
    except VersioningError as exc:
        click.echo(f"Lint: not run: {exc}", err=True)
        return
    if findings:
        from .._lint import summary

        echo(f"Lint: {summary(findings)} in the new revision:")
        print_findings(findings, indent="  ")


COMMANDS = [
    init_command,
    revision_command,
    migrate_command,
    edit_command,
    merge_command,
    upgrade_command,
    downgrade_command,
    stamp_command,
    baseline_command,
    adopt_command,
    unprotect_command,
]
