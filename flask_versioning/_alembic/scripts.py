"""The script directory on disk: created when missing, opened through Alembic.

Opening it (:func:`script_directory`) imports every revision file, which is Alembic's cost to
build its revision map; the start-up path and the read-only commands avoid it with
:mod:`.heads` wherever the heads alone answer the question.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import translate_errors

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from .database import Database

__all__ = ["ensure_directory", "is_new_directory", "script_directory", "script_heads"]


def ensure_directory(database: Database) -> bool:
    """Create the script directory with our ``env.py`` and template if missing.

    Returns ``True`` when anything was written. An existing ``env.py`` is never overwritten.
    """
    directory = database.directory
    written = False
    new = database.settings.linear_history and is_new_directory(directory)
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    import shutil  # here, not at the top: the start-up path never writes files

    from .layout import templates

    for source, target in (("env.py.txt", "env.py"), ("script.py.mako", "script.py.mako")):
        path = directory / target
        if not path.exists():
            shutil.copyfile(templates() / source, path)
            written = True
    if new:
        from .heads_file import write_heads_file

        write_heads_file(directory, ())  # a new history is linear: see .heads_file
    return written


def is_new_directory(directory: Path) -> bool:
    """Whether ``directory`` is not yet a script directory: no ``env.py``, no revision file.

    Only such a directory is created with ``versions/HEADS``; one that exists (ours cloned
    from git, Flask-Migrate's, plain Alembic's) keeps what it has.
    """
    if (directory / "env.py").exists():
        return False
    versions = directory / "versions"
    try:
        return not any(name.endswith(".py") for name in os.listdir(versions))
    except (FileNotFoundError, NotADirectoryError):
        return True


def script_directory(database: Database, config: Config | None = None) -> ScriptDirectory:
    """Alembic's ``ScriptDirectory`` for the database, the directory created if missing."""
    from alembic.script import ScriptDirectory

    ensure_directory(database)
    with translate_errors(database):
        return ScriptDirectory.from_config(config or database.alembic_config())


def script_heads(database: Database) -> list[str]:
    """The heads as Alembic computes them (importing every revision file)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(database.alembic_config()).get_heads()
