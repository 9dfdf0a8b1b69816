"""File names as a person reads them: without ``..`` (a ``"../migrations"`` directory would
print ``app/../`` everywhere), symlinks kept, relative to the current directory when inside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._locking import sqlite_path

if TYPE_CHECKING:
    from ._alembic.database import Database


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
    """Whether ``database`` is a SQLite file not made yet: at base, and read-only commands must
    not open it (SQLite would create the file in the user's checkout)."""
    url = database.url
    if url.get_backend_name() != "sqlite":
        return False
    path = sqlite_path(url)
    return path is not None and not os.path.exists(path)
