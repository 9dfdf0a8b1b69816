"""What every command shares: error handling, the options declared once, and output.

Options several commands take reach them as one typed object (``RunOptions``,
``RevisionOptions``) that goes to the API as it is.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext

from .._errors import VersioningError, one_line, scrub
from .._types import AppliedRevision, MigrationResult

if TYPE_CHECKING:
    from .._extension import Versioning

F = TypeVar("F", bound=Callable[..., Any])

#: Commands whose revision arguments may look like options (``downgrade -1``).
REVISION_ARGS = {"ignore_unknown_options": True}


def versioning() -> Versioning:
    """The extension of the current app, whose methods the commands call."""
    from .._state import get_state

    return get_state().extension


class CommandFailed(click.ClickException):
    """A one-line error: ``Error: <message>`` on stderr and exit code 1, password masked."""

    def format_message(self) -> str:
        return scrub(self.message)

    def show(self, file: IO[Any] | None = None) -> None:
        click.secho(f"Error: {self.format_message()}", err=True, fg="red", file=file)


def command(name: str, **settings: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """``@click.command`` run in the app context, whose exceptions end in one line and exit code
    1, unless ``--traceback`` or the app's debug mode asks for the traceback."""

    def decorator(f: Callable[..., Any]) -> click.Command:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if ctx.meta.get("versioning.traceback", False) or current_app.debug:
                return f(*args, **kwargs)
            try:
                return f(*args, **kwargs)
            except (click.exceptions.Exit, click.ClickException, click.Abort):
                raise
            except VersioningError as exc:
                raise CommandFailed(str(exc)) from exc
            except Exception as exc:
                raise CommandFailed(
                    f"{type(exc).__name__}: {one_line(exc)} (run with --traceback for details)"
                ) from exc

        make: Callable[[Callable[..., Any]], click.Command] = click.command(name, **settings)
        return make(with_appcontext(wrapper))

    return decorator


# -- options declared once ----------------------------------------------------------------------

x_option = click.option(
    "-x",
    "x",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra argument for the revisions, as in 'alembic -x' (context.get_x_argument()); "
    "repeatable.",
)
allow_protected_option = click.option(
    "--allow-protected",
    is_flag=True,
    help="Allow this on a protected database (VERSIONING_PROTECTED_ENVS, its history).",
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
no_baseline_option = click.option(
    "--no-baseline",
    is_flag=True,
    help="Replay every revision on an empty database instead of loading a baseline.",
)
env_option = click.option(
    "--env",
    "env",
    metavar="NAME",
    help="Act for this environment instead of the app's (VERSIONING_ENV, testing, debug).",
)


def format_option(choices: Sequence[str], help: str, *short: str) -> Callable[[F], F]:
    """``--format`` (``fmt``), ``text`` by default."""
    return click.option(
        *short,
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=help,
    )


def x_arguments(given: Sequence[str] = ()) -> list[str]:
    """The ``-x`` arguments of a command: those given to the group first, as in Alembic."""
    group_x: list[str] = click.get_current_context().meta.get("versioning.x", [])
    return [*group_x, *given]


def _bundle(
    options: Sequence[Callable[[Any], Any]], names: Sequence[str]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``options`` to a command and hand it their values as one ``options`` dict, empty
    ones left out so that the API's own defaults apply."""

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            bundle = {k: v for k, v in given.items() if k != "x" and v not in (None, (), False)}
            bundle["x_args"] = x_arguments(given["x"])
            return f(*args, options=bundle, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorator


#: ``--sql``, ``--tag`` and ``-x``, handed to the command as ``options: RunOptions``.
run_options = _bundle(
    [
        click.option("--sql", is_flag=True, help="Print the SQL instead of running it (offline)."),
        click.option("--tag", help="Arbitrary tag passed to the migration environment."),
        x_option,
    ],
    ["sql", "tag", "x"],
)

#: What ``revision`` and ``migrate`` share, with Alembic's names, as ``options: RevisionOptions``.
revision_options = _bundle(
    [
        click.option("--head", default="head", show_default=True, help="Base of the new one."),
        click.option("--splice", is_flag=True, help="Allow a non-head revision as the base."),
        click.option("--branch-label", help="Branch label for the new revision."),
        click.option("--version-path", help="Directory (inside migrations) for the file."),
        click.option("--rev-id", help="Revision id to use instead of a generated one."),
        click.option("--depends-on", multiple=True, help="Revision this one depends on."),
        x_option,
    ],
    ["head", "splice", "branch_label", "version_path", "rev_id", "depends_on", "x"],
)


def bind_value(name: str | None) -> str | None:
    """A single ``--bind`` value as the API's ``bind`` (``None``: the default database)."""
    return None if name is None else versioning().database(name).bind


# -- output ------------------------------------------------------------------------------------


def echo(text: str = "", **kwargs: Any) -> None:
    """``click.echo``, with every line prefixed by the database name when the app has several."""
    tag = prefix()
    if tag and text:
        text = "\n".join(f"{tag}{line}" if line else line for line in text.split("\n"))
    click.echo(text, **kwargs)


def prefix() -> str:
    """The ``[name] `` prefix of the database being reported on, or ``""``."""
    return str(click.get_current_context().meta.get("versioning.prefix", ""))


@contextlib.contextmanager
def on(bind: str | None, *, shared: bool = False) -> Iterator[None]:
    """Output (and errors) inside the block name the database when the app has several, unless
    ``shared``: about a directory every database shares (Flask-Migrate's multidb layout)."""
    ctx = click.get_current_context()
    name = bind or "default"
    several = len(versioning().databases()) > 1
    tag = f"[{name}] " if several and not shared else ""
    saved = ctx.meta.get("versioning.prefix", "")
    ctx.meta["versioning.prefix"] = tag
    try:
        yield
    except VersioningError as exc:
        if tag and exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{tag}{exc.args[0]}", *exc.args[1:])
        raise
    finally:
        ctx.meta["versioning.prefix"] = saved


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def print_step(step: AppliedRevision) -> None:
    if step.direction == "baseline":
        echo(f"Loaded baseline {step.revision} ({step.message}) in {duration(step.duration)}")
        return
    verb = {"upgrade": "Applied", "downgrade": "Reverted", "stamp": "Stamped"}[step.direction]
    message = f" ({step.message})" if step.message else ""
    echo(f"{verb} {step.revision}{message} in {duration(step.duration)}")


def print_sql(result: MigrationResult) -> None:
    tag = prefix()
    if tag:  # SQL stays runnable: name the database in a comment, not on every line
        click.echo(f"-- database: {tag.strip()[1:-1]}")
    click.echo(result.sql or "", nl=False)


def print_notes(result: MigrationResult) -> None:
    for note in result.notes:
        echo(f"Note: {note}")


def print_result(result: MigrationResult) -> None:
    """The SQL in offline mode, else where the database stands now."""
    where = ", ".join(result.after) or "base"
    print_notes(result)
    if result.sql is not None:
        print_sql(result)
    elif not result.steps and result.before == result.after:
        echo(f"Nothing to do: the database is at {where}.")
    else:
        echo(f"The database is now at {where}.")
