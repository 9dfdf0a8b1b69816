"""The ``flask db`` commands: a thin layer of parsing and printing over :class:`Versioning`.

Each command makes one call into the Python API and formats what it returns. Errors the API
raises on purpose become one line on stderr and exit code 1; ``--traceback`` (or the app's
debug mode) shows the full traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext

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
allow_protected_option = click.option(
    "--allow-protected",
    is_flag=True,
    help="Allow this in a protected environment (VERSIONING_PROTECTED_ENVS).",
)
binds_option = click.option(
    "--bind",
    "binds",
    multiple=True,
    metavar="NAME",
    help="Only this database ('default' or a bind name); repeatable. Default: every database.",
)
bind_option = click.option(
    "--bind",
    "bind",
    metavar="NAME",
    help="The database: 'default' (the default) or a bind name.",
)


def new_revision_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``revision`` and ``migrate`` share, declared once (Alembic's own names)."""
    for option in reversed(
        [
            click.option(
                "--head", default="head", show_default=True, help="Base revision of the new one."
            ),
            click.option("--splice", is_flag=True, help="Allow a non-head revision as the base."),
            click.option("--branch-label", help="Branch label for the new revision."),
            click.option("--version-path", help="Directory (inside migrations) for the file."),
            click.option("--rev-id", help="Revision id to use instead of a generated one."),
            click.option(
                "--depends-on", multiple=True, help="Revision this one depends on; repeatable."
            ),
            x_option,
        ]
    ):
        f = option(f)
    return f


# -- several databases ------------------------------------------------------------------------


def _targets(binds: Sequence[str], revisions: Sequence[str] = ()) -> list[str | None]:
    """The databases a command acts on, as ``bind`` values: those named, or every one.

    Without ``--bind``, a command given a revision id (not ``heads``, ``-1``...) acts on the
    databases whose history has it: each database has its own revisions.
    """
    versioning = _versioning()
    if binds:
        return [versioning.database(name).bind for name in dict.fromkeys(binds)]
    everyone = versioning.databases()
    named = [part for r in revisions for part in r.split(":") if _names_a_revision(part)]
    if len(everyone) < 2 or not named:
        return everyone
    knowing = [bind for bind in everyone if all(_knows(bind, rev) for rev in named)]
    return knowing or everyone


def _names_a_revision(target: str) -> bool:
    match = re.match(r"^(.*?)([+-]\d+)?$", target)
    base = match.group(1) if match else target
    return base not in ("", "head", "heads", "base", "current")


def _knows(bind: str | None, revision: str) -> bool:
    try:
        return bool(_versioning().show(revision, bind=bind))
    except VersioningError:
        return False


def _echo(text: str = "", **kwargs: Any) -> None:
    """``click.echo``, with every line prefixed by the database name when the app has several."""
    prefix: str = click.get_current_context().meta.get("versioning.prefix", "")
    if prefix and text:
        text = "\n".join(f"{prefix}{line}" if line else line for line in text.split("\n"))
    click.echo(text, **kwargs)


@contextlib.contextmanager
def _on(bind: str | None, *, shared: bool = False) -> Iterator[None]:
    """Output (and errors) inside the block name the database, when the app has several.

    ``shared``: what follows is about a directory every database shares (Flask-Migrate's
    multidb layout), so no single database is named.
    """
    ctx = click.get_current_context()
    databases = _versioning().databases()
    name = bind or "default"
    prefix = f"[{name}] " if len(databases) > 1 and not shared else ""
    saved = ctx.meta.get("versioning.prefix", "")
    ctx.meta["versioning.prefix"] = prefix
    try:
        yield
    except VersioningError as exc:
        if prefix and exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{prefix}{exc.args[0]}", *exc.args[1:])
        raise
    finally:
        ctx.meta["versioning.prefix"] = saved


def _with_models(targets: list[str | None], *, explicit: bool) -> list[str | None]:
    """For model comparisons: when acting on every database, leave out those without models
    (e.g. a Flask-SQLAlchemy-Lite engine given no ``metadata``). If none has models, keep them
    all so the user hears why nothing can be compared."""
    if explicit:
        return targets
    versioning = _versioning()
    found = [bind for bind in targets if versioning.database(bind).metadata is not None]
    return found or targets


def _bind(name: str | None) -> str | None:
    """A single ``--bind`` value as the API's ``bind`` (``None``: the default database)."""
    return None if name is None else _versioning().database(name).bind


# -- formatting -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _print_step(step: AppliedRevision) -> None:
    verb = {"upgrade": "Applied", "downgrade": "Reverted", "stamp": "Stamped"}[step.direction]
    message = f" ({step.message})" if step.message else ""
    _echo(f"{verb} {step.revision}{message} in {_duration(step.duration)}")


def _print_position(result: MigrationResult) -> None:
    where = ", ".join(result.after) or "base"
    if not result.steps and result.before == result.after:
        _echo(f"Nothing to do: the database is at {where}.")
    else:
        _echo(f"The database is now at {where}.")


def _print_sql(result: MigrationResult) -> None:
    prefix: str = click.get_current_context().meta.get("versioning.prefix", "")
    if prefix:  # SQL stays runnable: name the database in a comment, not on every line
        click.echo(f"-- database: {prefix.strip()[1:-1]}")
    click.echo(result.sql or "", nl=False)


def _print_scripts(scripts: Sequence[Script], verbose: bool, **fmt: Any) -> None:
    for script in scripts:
        _echo(script.cmd_format(verbose, **fmt))


# -- commands ---------------------------------------------------------------------------------


@_command("init", short_help="Create the migrations directory.")
@binds_option
def init_command(binds: tuple[str, ...]) -> None:
    """Create the migrations directory inside the app package (optional: every command that
    needs it creates it)."""
    for bind in _targets(binds):
        with _on(bind):
            path = _versioning().init(bind=bind)
            _echo(f"Migrations directory: {path}")


@_command("revision", short_help="Create a new revision file.")
@click.option("-m", "--message", help="Revision message.")
@click.option("--autogenerate", is_flag=True, help="Fill it by comparing models and database.")
@sql_option
@new_revision_options
@bind_option
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
    bind: str | None,
) -> None:
    """Create a new revision file."""
    scripts = _versioning().revision(
        message,
        bind=_bind(bind),
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
@new_revision_options
@binds_option
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
    binds: tuple[str, ...],
) -> None:
    """Autogenerate a revision file from the differences between the models and the database.

    When nothing changed, no file is written (unless --allow-empty) and the exit code is 0.
    Each database gets its own revision; a Flask-Migrate multidb directory gets one for all.
    """
    versioning = _versioning()
    done: set[object] = set()
    targets = _targets(binds)
    for bind in _with_models(targets, explicit=bool(binds)):
        database = versioning.database(bind)
        if database.engine_name is not None:  # multidb layout: one file covers every database
            if database.directory in done:
                continue
            done.add(database.directory)
        with _on(bind, shared=database.engine_name is not None):
            script = versioning.migrate(
                message,
                bind=bind,
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
                _echo("No changes in the models were detected; no revision was written.")
            else:
                _echo(f"Generated {script.path}")


@_command("edit", short_help="Open a revision file in $EDITOR.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="current")
@bind_option
def edit_command(revision: str, bind: str | None) -> None:
    """Open the revision file for REVISION (default: current) in $EDITOR."""
    _versioning().edit(revision, bind=_bind(bind))


@_command("merge", short_help="Join several heads in a merge revision.")
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
    script = _versioning().merge(
        list(revisions) or "heads",
        bind=_bind(bind),
        message=message,
        branch_label=branch_label,
        rev_id=rev_id,
    )
    click.echo(f"Generated {script.path}")


@_command("upgrade", short_help="Upgrade the database.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="heads")
@sql_option
@tag_option
@x_option
@binds_option
def upgrade_command(
    revision: str, sql: bool, tag: str | None, x: tuple[str, ...], binds: tuple[str, ...]
) -> None:
    """Upgrade the database to REVISION (default: heads). Accepts head, +1, ids, branch@head.

    Every database is upgraded, one after the other, unless --bind names some.
    """
    for bind in _targets(binds, [revision]):
        with _on(bind):
            result = _versioning().upgrade(
                revision,
                bind=bind,
                sql=sql,
                tag=tag,
                x_args=_x_args(x),
                progress=None if sql else _print_step,
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
@binds_option
@allow_protected_option
def downgrade_command(
    revision: str,
    sql: bool,
    tag: str | None,
    x: tuple[str, ...],
    binds: tuple[str, ...],
    allow_protected: bool,
) -> None:
    """Revert the database to REVISION (default: -1). Accepts -N, base, ids.

    Every database is reverted, one after the other, unless --bind names some. 'base' is
    refused in a protected environment unless --allow-protected.
    """
    for bind in _targets(binds, [revision]):
        with _on(bind):
            result = _versioning().downgrade(
                revision,
                bind=bind,
                sql=sql,
                tag=tag,
                x_args=_x_args(x),
                progress=None if sql else _print_step,
                allow_protected=allow_protected,
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
@binds_option
@allow_protected_option
def stamp_command(
    revisions: tuple[str, ...],
    sql: bool,
    tag: str | None,
    purge: bool,
    binds: tuple[str, ...],
    allow_protected: bool,
) -> None:
    """Write REVISIONS (default: heads) to the version table without running migrations.

    Rewriting an applied history is refused in a protected environment unless
    --allow-protected.
    """
    for bind in _targets(binds, revisions):
        with _on(bind):
            result = _versioning().stamp(
                list(revisions) or "heads",
                bind=bind,
                sql=sql,
                tag=tag,
                purge=purge,
                allow_protected=allow_protected,
            )
            if sql:
                _print_sql(result)
            else:
                _echo(f"The database is now stamped at {', '.join(result.after) or 'base'}.")


@_command("show", short_help="Show a revision.", context_settings=_REVISION_ARGS)
@click.argument("revision", default="head")
@bind_option
def show_command(revision: str, bind: str | None) -> None:
    """Show the revision(s) REVISION names (default: head)."""
    for script in _versioning().show(revision, bind=_bind(bind)):
        click.echo(script.log_entry)


@_command("history", short_help="List revisions in order.")
@click.option("-r", "--rev-range", help="Range [start]:[end], e.g. base:head, -3:current.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("-i", "--indicate-current", is_flag=True, help="Mark the current revision.")
@binds_option
def history_command(
    rev_range: str | None, verbose: bool, indicate_current: bool, binds: tuple[str, ...]
) -> None:
    """List the revisions, newest first (each database's history, when there are several)."""
    versioning = _versioning()
    for bind in _distinct_histories(binds):
        with _on(bind, shared=versioning.database(bind).engine_name is not None):
            scripts = versioning.history(rev_range, bind=bind)
            current = set(versioning.current(bind=bind)) if indicate_current else set()
            for script in scripts:
                line = script.cmd_format(
                    verbose, include_branches=True, include_doc=True, include_parents=True
                )
                if script.revision in current:
                    line = line.replace(script.revision, f"{script.revision} (current)", 1)
                _echo(line)


@_command("heads", short_help="Show the head revisions.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@binds_option
def heads_command(verbose: bool, binds: tuple[str, ...]) -> None:
    """Show the head revisions of the migrations directory (of each database's)."""
    versioning = _versioning()
    for bind in _distinct_histories(binds):
        with _on(bind, shared=versioning.database(bind).engine_name is not None):
            _print_scripts(
                versioning.heads(bind=bind), verbose, include_branches=True, tree_indicators=False
            )


def _distinct_histories(binds: Sequence[str]) -> list[str | None]:
    """The targets, keeping one database per script directory (multidb layouts share one)."""
    versioning = _versioning()
    seen: set[object] = set()
    out = []
    for bind in _targets(binds):
        directory = versioning.database(bind).directory
        if directory not in seen:
            seen.add(directory)
            out.append(bind)
    return out


@_command("branches", short_help="Show branch points.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@bind_option
def branches_command(verbose: bool, bind: str | None) -> None:
    """Show the revisions where history branches, and their children."""
    versioning = _versioning()
    for script in versioning.branches(bind=_bind(bind)):
        click.echo(script.cmd_format(verbose, include_branches=True))
        pad = " " * len(script.revision)
        for child in script.nextrev:
            click.echo(f"{pad} -> {child}")


@_command("current", short_help="Show the database's revision.")
@click.option("-v", "--verbose", is_flag=True, help="Show full details.")
@click.option("--check-heads", is_flag=True, help="Exit 1 unless the database is at all heads.")
@binds_option
def current_command(verbose: bool, check_heads: bool, binds: tuple[str, ...]) -> None:
    """Show the revision(s) the database is at (every database's, when there are several)."""
    versioning = _versioning()
    behind: list[str] = []
    for bind in _targets(binds):
        with _on(bind):
            prefix: str = click.get_current_context().meta["versioning.prefix"]
            revisions = versioning.current(bind=bind)
            if verbose:
                url = mask_url(versioning.database(bind).url)
                _echo(f"Current revision(s) for {url}:")
            if not revisions and (verbose or prefix):
                _echo("base (no revision applied)")
            head_ids = (
                {s.revision for s in versioning.heads(bind=bind)}
                if revisions or check_heads
                else set()
            )
            for revision in revisions:
                marker = " (head)" if revision in head_ids else ""
                _echo(f"{revision}{marker}")
            if check_heads and set(revisions) != head_ids:
                missing = ", ".join(sorted(head_ids - set(revisions))) or "none"
                behind.append(f"{prefix}the database is not at all heads (missing: {missing})")
    if behind:
        _fail("; ".join(behind))


@_command("check", short_help="Check that the models match the database.")
@binds_option
def check_command(binds: tuple[str, ...]) -> None:
    """Exit 1 if autogenerate would write anything: the models and database differ."""
    versioning = _versioning()
    total = 0
    for bind in _with_models(_targets(binds), explicit=bool(binds)):
        with _on(bind):
            diffs = versioning.check(bind=bind)
            for diff in diffs:
                _echo(f"  {_describe_diff(diff)}")
            if not diffs:
                _echo("No differences: the models match the database.")
            total += len(diffs)
    if total:
        _fail(f"{total} difference(s) between the models and the database")


@_command("adopt", short_help="Take over a Flask-Migrate migrations folder.")
@click.argument("source", type=click.Path(file_okay=False, exists=True), default="migrations")
def adopt_command(source: str) -> None:
    """Move SOURCE (default: ./migrations), a folder made by Flask-Migrate, to the configured
    migrations directory and replace its env.py with ours. Revision files stay byte for byte;
    refuses if the destination exists and is not empty."""
    result = _versioning().adopt(source)
    if result.source != result.directory:
        click.echo(f"Moved {result.source} to {result.directory}")
    click.echo(f"Kept {len(result.revisions)} revision file(s) unchanged.")
    for name in result.replaced:
        click.echo(f"Replaced {name} with Flask-Versioning's.")
    for name in result.removed:
        click.echo(f"Removed {name} (not used by Flask-Versioning).")
    for note in result.notes:
        click.echo(f"Note: {note}")


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
    adopt_command,
]


def make_group() -> click.Group:
    """A fresh ``db`` group with every command added, e.g. for documentation tools.

    ``init_app`` registers :func:`flask_versioning.cligroup.new_group` instead, which adds the
    commands only when click first asks for one.
    """
    from .cligroup import new_group

    return new_group(load=True)
