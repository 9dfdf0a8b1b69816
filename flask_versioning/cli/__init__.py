"""The ``flask db`` group registered by ``init_app``, with its commands loaded on first use.

``init_app`` runs on every app start, where defining the twenty-odd commands would cost a
millisecond or more for nothing; so the group adds them when click first asks for one or for
their list, and a command of :mod:`.migrate` (``flask db upgrade`` in a deploy) loads only that
module.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ._common import x_option

__all__ = ["LazyGroup", "make_group", "new_group"]

HELP = "Database migrations (Flask-Versioning, on Alembic)."


class LazyGroup(AppGroup):
    """An :class:`~flask.cli.AppGroup` that adds our commands when first needed, under names
    still free: a command the app added before is kept, as if added after ours."""

    _loaded = False
    _changes_loaded = False

    def _load(self, name: str | None = None) -> None:
        """Add our commands; for ``name`` of :mod:`.migrate`, only those."""
        if not self._changes_loaded:
            self._changes_loaded = True
            from . import migrate

            self._add(migrate.COMMANDS)
        if self._loaded or (name is not None and name in self.commands):
            return
        self._loaded = True
        from . import queries, seeds, status, team

        self._add([*queries.COMMANDS, *status.COMMANDS, *seeds.COMMANDS, *team.COMMANDS])

    def _add(self, commands: list[click.Command]) -> None:
        for command in commands:
            if command.name not in self.commands:
                self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)


def new_group() -> LazyGroup:
    """A fresh ``db`` group per app, so two apps never share mutable click state."""

    @click.group(cls=LazyGroup, help=HELP)
    @x_option
    @click.option("--traceback", is_flag=True, help="Show the full traceback on errors.")
    @click.pass_context
    def group(ctx: click.Context, x: tuple[str, ...], traceback: bool) -> None:
        ctx.meta["versioning.x"] = list(x)
        ctx.meta["versioning.traceback"] = traceback

    assert isinstance(group, LazyGroup)
    return group


def make_group() -> click.Group:
    """A fresh ``db`` group with every command added, for tools that read ``group.commands``
    directly (the documentation's sphinx-click)."""
    group = new_group()
    group._load()
    return group
