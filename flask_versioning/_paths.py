"""File names as a person wants to read them: short, and without ``..``.

A migrations directory configured as ``"../migrations"`` (next to the package, where
Flask-Migrate puts it) is ``<root_path>/../migrations``; printed as it is, every path carries
``app/../``. Paths are normalised without resolving symlinks (the user's spelling of a linked
checkout stays), and shown relative to the current directory when they are inside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._locking import sqlite_path

if TYPE_CHECKING:
    from ._alembic.database import Database

__all__ = ["display_path", "normal_path", "sqlite_file_missing"]


def normal_path(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute and without ``.``/``..`` parts (symlinks are kept)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def display_path(path: str | os.PathLike[str], start: str | os.PathLike[str] | None = None) -> str:
    """``path`` relative to ``start`` (the current directory) when inside it, else absolute."""
    full = normal_path(path)
    here = normal_path(start if start is not None else os.getcwd())
    if full == here or here in full.parents:
        return str(full.relative_to(here))
    return str(full)


def sqlite_file_missing(database: Database) -> bool:
    """Whether ``database`` is a SQLite file that does not exist yet.

    Such a database is at base, and the read-only commands must not open it: SQLite creates
    the file on connect, which would leave a new file in the user's checkout.
    """
    url = database.url
    if url.get_backend_name() != "sqlite":
        return False
    path = sqlite_path(url)
    return path is not None and not os.path.exists(path)
