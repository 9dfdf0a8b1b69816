"""The ``flask db`` group registered by ``init_app``, with its commands loaded on first use.

``init_app`` runs on every app start, where nobody types a command: a web server, a worker,
a test. Defining the twenty-odd commands means importing the command modules of this
package (:mod:`.migrate`, :mod:`.inspect`, :mod:`.seeds`) and running their click decorators,
a millisecond or more that a start which only checks the database would otherwise spend for
nothing. So the group
holds its own options (``-x``, ``--traceback``) and looks up its commands only when click asks
for one or for their list: ``flask db upgrade``, ``flask db --help`` and shell completion all
go through :meth:`LazyGroup.get_command` or :meth:`LazyGroup.list_commands`.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ._common import x_option

__all__ = ["LazyGroup", "make_group", "new_group"]

HELP = "Database migrations (Flask-Versioning, on Alembic)."


class LazyGroup(AppGroup):
    """An :class:`~flask.cli.AppGroup` that adds Flask-Versioning's commands when first needed.

    A command added to the group by the app before that (``add_command``) is kept: ours are
    only added under names still free, as if the app had added its own after ours.
    """

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from . import inspect, migrate, seeds, status

        for command in [*migrate.COMMANDS, *inspect.COMMANDS, *status.COMMANDS, *seeds.COMMANDS]:
            if command.name not in self.commands:
                self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)


def new_group(*, load: bool = False) -> LazyGroup:
    """A fresh ``db`` group per app, so two apps never share mutable click state.

    ``load``: add the commands now (for tools that read ``group.commands`` directly, such as
    the documentation's sphinx-click).
    """

    @click.group(cls=LazyGroup, help=HELP)
    @x_option
    @click.option("--traceback", is_flag=True, help="Show the full traceback on errors.")
    @click.pass_context
    def group(ctx: click.Context, x: tuple[str, ...], traceback: bool) -> None:
        ctx.meta["versioning.x"] = list(x)
        ctx.meta["versioning.traceback"] = traceback

    assert isinstance(group, LazyGroup)
    if load:
        group._load()
    return group


def make_group() -> click.Group:
    """A fresh ``db`` group with every command added, e.g. for documentation tools."""
    return new_group(load=True)
