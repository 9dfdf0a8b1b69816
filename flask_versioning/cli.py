"""The ``flask db`` commands: a thin layer of parsing and printing over :class:`Versioning`.

Each command makes one call into the Python API and formats what it returns. Errors the API
raises on purpose become one line on stderr and exit code 1; ``--traceback`` (or the app's
debug mode) shows the full traceback instead.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .errors import VersioningError, mask_url, scrub

if TYPE_CHECKING:
    from alembic.script import Script

    from .extension import Versioning, _AppState
    from .runner import AppliedRevision, MigrationResult

P = ParamSpec("P")
R = TypeVar("R")

#: Commands whose revision arguments may look like options (``downgrade -1``).
_REVISION_ARGS = {"ignore_unknown_options": True}


def _state() -> _AppState:
    state: _AppState = current_app.extensions["versioning"]
    return state


def _versioning() -> Versioning:
    return _state().extension


def _x_args(x: Sequence[str]) -> list[str]:
    """``-x`` given to the group (Alembic's order) and to the command, in that order."""
    ctx = click.get_current_context()
    group_x: list[str] = ctx.meta.get("versioning.x", [])
    return [*group_x, *x]


def _fail(message: str) -> None:
    click.secho(f"Error: {scrub(message)}", err=True, fg="red")
    sys.exit(1)


def handle_errors(f: Callable[P, R]) -> Callable[P, R]:
    """Turn exceptions into one-line messages and a non-zero exit code."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        show_traceback = ctx.meta.get("versioning.traceback", False) or current_app.debug
        try:
            return f(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except VersioningError as exc:
            if show_traceback:
                raise
            _fail(str(exc))
        except Exception as exc:
            if show_traceback:
                raise
            detail = " ".join(str(exc).split())
            _fail(f"{type(exc).__name__}: {detail} (run with --traceback for details)")
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _command(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    def decorator(f: Callable[..., Any]) -> click.Command:
        make: Callable[[Callable[..., Any]], click.Command] = click.command(name, **kwargs)
        return make(with_appcontext(handle_errors(f)))

    return decorator


x_option = click.option(
    "-x",
    "x",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra argument for the revisions (context.get_x_argument()); repeatable.",
)
sql_option = click.option(
    "--sql", is_flag=True, help="Print the SQL instead of running it (offline mode)."
)
tag_option = click.option("--tag", help="Arbitrary tag passed to the migration environment.")


# -- formatting -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _print_step(step: AppliedRevision) -> None:
    verb = {"upgrade": "Applied", "downgrade": "Reverted", "stamp": "Stamped"}[step.direction]
    message = f" ({step.message})" if step.message else ""
    click.echo(f"{verb} {step.revision}{message} in {_duration(step.duration)}")


def _print_position(result: MigrationResult) -> None:
    where = ", ".join(result.after) or "base"
    if not result.steps and result.before == result.after:
        click.echo(f"Nothing to do: the database is at {where}.")
    else:
        click.echo(f"The database is now at {where}.")


def _print_sql(result: MigrationResult) -> None:
    click.echo(result.sql or "", nl=False)


def _print_scripts(scripts: Sequence[Script], verbose: bool, **fmt: Any) -> None:
    for script in scripts:
        click.echo(script.cmd_format(verbose, **fmt))


# -- commands ---------------------------------------------------------------------------------


@_command("init", short_help="Create the migrations directory.")
def init_command() -> None:
    """Create the migrations directory inside the app package (optional: every command that
    needs it creates it)."""
    path = _versioning().init()
    click.echo(f"Migrations directory: {path}")


@_command("revision", short_help="Create a new revision file.")
@click.option("-m", "--message", help="Revision message.")
@click.option("--autogenerate", is_flag=True, help="Fill it by comparing models and database.")
@sql_option
@click.option("--head", default="head", show_default=True, help="Base revision of the new one.")
@click.option("--splice", is_flag=True, help="Allow a non-head revision as the base.")
@click.option("--branch-label", help="Branch label for the new revision.")
@click.option("--version-path", help="Directory (inside migrations) for the file.")
@click.option("--rev-id", help="Revision id to use instead of a generated one.")
@click.option("--depends-on", multiple=True, help="Revision this one depends on; repeatable.")
@x_option
def revision_command(
    message: str | None,
    autogenerate: bool,
    sql: bool,
    head: str,
    splice: bool,
    branch_label: str | None,
    version_path: str | None,
    rev_id: str | None,
    depends_on: tuple[str, ...],
    x: tuple[str, ...],
) -> None:
    """Create a new revision file."""
    scripts = _versioning().revision(
        message,
        autogenerate=autogenerate,
        sql=sql,
        head=head,
        splice=splice,
        branch_label=branch_label,
        version_path=version_path,
        rev_id=rev_id,
        depends_on=list(depends_on) or None,
        x_args=_x_args(x),
    )
    for script in scripts:
        click.echo(f"Generated {script.path}")


@_command("migrate", short_help="Autogenerate a revision from the models.")
@click.option("-m", "--message", help="Revision message.")
@click.option("--allow-empty", is_flag=True, help="Write a revision even if nothing changed.")
@click.option("--head", default="head", show_default=True, help="Base revision of the new one.")
@click.option("--splice", is_flag=True, help="Allow a non-head revision as the base.")
@click.option("--branch-label", help="Branch label for the new revision.")
@click.option("--version-path", help="Directory (inside migrations) for the file.")
@click.option("--rev-id", help="Revision id to use instead of a generated one.")
@click.option("--depends-on", multiple=True, help="Revision this one depends on; repeatable.")
@x_option
def migrate_command(
    message: str | None,
    allow_empty: bool,
    head: str,
    splice: bool,
    branch_label: str | None,
    version_path: str | None,
    rev_id: str | None,
    depends_on: tuple[str, ...],
    x: tuple[str, ...],
) -> None:
    """Autogenerate a revision file from the differences between the models and the database.

    When nothing changed, no file is written (unless --allow-empty) and the exit code is 0.
    """
    script = _versioning().migrate(
        message,
        allow_empty=allow_empty,
        head=head,
        splice=splice,
        branch_label=branch_label,
        version_path=version_path,
        rev_id=rev_id,
        depends_on=list(depends_on) or None,
        x_args=_x_args(x),
    )
    if script is None:
        click.echo("No changes in the models were detected; no revision was written.")
    else:
        click.echo(f"Generated {script.path}")


@_command("edit", short_help="Open a revision file in $EDITOR.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="current")
def edit_command(revision: str) -> None:
    """Open the revision file for REVISION (default: current) in $EDITOR."""
    _versioning().edit(revision)


@_command("merge", short_help="Join several heads in a merge revision.")
@click.argument("revisions", nargs=-1)
@click.option("-m", "--message", help="Revision message.")
@click.option("--branch-label", help="Branch label for the merge revision.")
@click.option("--rev-id", help="Revision id to use instead of a generated one.")
def merge_command(
    revisions: tuple[str, ...], message: str | None, branch_label: str | None, rev_id: str | None
) -> None:
    """Write a revision that merges REVISIONS (default: all heads)."""
    script = _versioning().merge(
        list(revisions) or "heads", message=message, branch_label=branch_label, rev_id=rev_id
    )
    click.echo(f"Generated {script.path}")


@_command("upgrade", short_help="Upgrade the database.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="heads")
@sql_option
@tag_option
@x_option
def upgrade_command(revision: str, sql: bool, tag: str | None, x: tuple[str, ...]) -> None:
    """Upgrade the database to REVISION (default: heads). Accepts head, +1, ids, branch@head."""
    result = _versioning().upgrade(
        revision, sql=sql, tag=tag, x_args=_x_args(x), progress=None if sql else _print_step
    )
    if sql:
        _print_sql(result)
    else:
        _print_position(result)


@_command("downgrade", short_help="Revert the database.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="-1")
@sql_option
@tag_option
@x_option
def downgrade_command(revision: str, sql: bool, tag: str | None, x: tuple[str, ...]) -> None:
    """Revert the database to REVISION (default: -1). Accepts -N, base, ids."""
    result = _versioning().downgrade(
        revision, sql=sql, tag=tag, x_args=_x_args(x), progress=None if sql else _print_step
    )
    if sql:
        _print_sql(result)
    else:
        _print_position(result)


@_command(
    "stamp", short_help="Set the revision without migrating.", context_settings=_REVISION_ARGS
)
@click.argument("revisions", nargs=-1)
@sql_option
@tag_option
@click.option("--purge", is_flag=True, help="Empty the version table first.")
def stamp_command(revisions: tuple[str, ...], sql: bool, tag: str | None, purge: bool) -> None:
    """Write REVISIONS (default: heads) to the version table without running migrations."""
    result = _versioning().stamp(list(revisions) or "heads", sql=sql, tag=tag, purge=purge)
    if sql:
        _print_sql(result)
    else:
        click.echo(f"The database is now stamped at {', '.join(result.after) or 'base'}.")


@_command("show", short_help="Show a revision.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="head")
def show_command(revision: str) -> None:
    """Show the revision(s) REVISION names (default: head)."""
    for script in _versioning().show(revision):
        click.echo(script.log_entry)


@_command("history", short_help="List revisions in order.")
@click.option("-r", "--rev-range", help="Range [start]:[end], e.g. base:head, -3:current.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("-i", "--indicate-current", is_flag=True, help="Mark the current revision.")
def history_command(rev_range: str | None, verbose: bool, indicate_current: bool) -> None:
    """List the revisions, newest first."""
    versioning = _versioning()
    scripts = versioning.history(rev_range)
    current = set(versioning.current()) if indicate_current else set()
    for script in scripts:
        line = script.cmd_format(
            verbose, include_branches=True, include_doc=True, include_parents=True
        )
        if script.revision in current:
            line = line.replace(script.revision, f"{script.revision} (current)", 1)
        click.echo(line)


@_command("heads", short_help="Show the head revisions.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
def heads_command(verbose: bool) -> None:
    """Show the head revisions of the migrations directory."""
    _print_scripts(_versioning().heads(), verbose, include_branches=True, tree_indicators=False)


@_command("branches", short_help="Show branch points.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
def branches_command(verbose: bool) -> None:
    """Show the revisions where history branches, and their children."""
    versioning = _versioning()
    for script in versioning.branches():
        click.echo(script.cmd_format(verbose, include_branches=True))
        pad = " " * len(script.revision)
        for child in script.nextrev:
            click.echo(f"{pad} -> {child}")


@_command("current", short_help="Show the database's revision.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("--check-heads", is_flag=True, help="Exit 1 unless the database is at all heads.")
def current_command(verbose: bool, check_heads: bool) -> None:
    """Show the revision(s) the database is at."""
    versioning = _versioning()
    revisions = versioning.current()
    if verbose:
        url = mask_url(versioning.database().url)
        click.echo(f"Current revision(s) for {url}:")
    if not revisions:
        click.echo("base (no revision applied)" if verbose else "", nl=verbose)
    head_ids = {s.revision for s in versioning.heads()} if revisions or check_heads else set()
    for revision in revisions:
        marker = " (head)" if revision in head_ids else ""
        click.echo(f"{revision}{marker}")
    if check_heads and set(revisions) != head_ids:
        missing = ", ".join(sorted(head_ids - set(revisions))) or "none"
        _fail(f"the database is not at all heads (missing: {missing})")


@_command("check", short_help="Check that the models match the database.")
def check_command() -> None:
    """Exit 1 if autogenerate would write anything: the models and database differ."""
    diffs = _versioning().check()
    if diffs:
        for diff in diffs:
            click.echo(f"  {_describe_diff(diff)}")
        _fail(f"{len(diffs)} difference(s) between the models and the database")
    click.echo("No differences: the models match the database.")


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
    init_command,
    revision_command,
    migrate_command,
    edit_command,
    merge_command,
    upgrade_command,
    downgrade_command,
    stamp_command,
    show_command,
    history_command,
    heads_command,
    branches_command,
    current_command,
    check_command,
]


def make_group() -> click.Group:
    """A fresh ``db`` group per app, so two apps never share mutable click state."""

    @click.group(cls=AppGroup, help="Database migrations (Flask-Versioning, on Alembic).")
    @click.option(
        "-x",
        "x",
        multiple=True,
        metavar="KEY=VALUE",
        help="Extra argument for the revisions, as in 'alembic -x'; repeatable.",
    )
    @click.option("--traceback", is_flag=True, help="Show the full traceback on errors.")
    @click.pass_context
    def group(ctx: click.Context, x: tuple[str, ...], traceback: bool) -> None:
        ctx.meta["versioning.x"] = list(x)
        ctx.meta["versioning.traceback"] = traceback

    for command in COMMANDS:
        group.add_command(command)
    return group
