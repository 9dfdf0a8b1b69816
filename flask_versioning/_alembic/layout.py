"""What a script directory on disk looks like, and how to run ours whatever its ``env.py`` says.

Two layouts keep working untouched: one directory per database (ours, Flask-Migrate's), and
Flask-Migrate's ``init --multidb`` one, whose revisions define ``upgrade(engine_name)``. Another
tool's ``env.py`` expects that tool, so for such a directory ``script_location`` is a small
directory of this package whose ``env.py`` is ours, and the user's ``versions/`` goes in
``version_locations``; its ``script.py.mako`` renders the user's own template.
"""

from __future__ import annotations

import configparser
from importlib import resources
from pathlib import Path
from typing import Any

#: The marker our own ``env.py`` carries; any other ``env.py`` belongs to another tool.
_OUR_MARKER = "flask_versioning"
#: Word that only multidb templates of Flask-Migrate (and ours for that layout) contain.
_MULTIDB_MARKER = "engine_name"


def read_text(path: Path) -> str:
    """The text of ``path``, ``""`` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def has_foreign_env(directory: Path) -> bool:
    """Whether ``directory/env.py`` exists and is not ours (e.g. Flask-Migrate's)."""
    env = directory / "env.py"
    return env.is_file() and _OUR_MARKER not in read_text(env)


def ini_hooks(ini: Path, here: Path) -> dict[str, str]:
    """The ``[post_write_hooks]`` section of ``ini`` with ``%(here)s`` read as ``here``, as
    Alembic reads it; empty when there is none or it cannot be read."""
    parser = configparser.ConfigParser(defaults={"here": str(here)})
    try:
        parser.read(ini, encoding="utf-8")  # a missing or unreadable file reads as empty
        items = parser.items("post_write_hooks") if parser.has_section("post_write_hooks") else []
    except configparser.Error:
        return {}
    return {key: value for key, value in items if key != "here" and value.strip()}


def is_multidb(directory: Path) -> bool:
    """Whether ``directory`` uses Flask-Migrate's multidb layout (``upgrade(engine_name)``)."""
    return any(
        _MULTIDB_MARKER in read_text(directory / name) for name in ("script.py.mako", "env.py")
    )


def templates() -> Path:
    """The package's templates directory, as a real path (the package is never zipped)."""
    return Path(str(resources.files("flask_versioning") / "templates"))


def render_user_template(context: Any) -> str:
    """Render the user's ``script.py.mako`` with the arguments Alembic gave the delegate's
    template (Mako's ``context``, whose ``config`` carries the database)."""
    from mako.template import Template  # type: ignore[import-untyped]

    from .environment import DATABASE_KEY

    config = context.get("config")
    database = config.attributes.get(DATABASE_KEY) if config is not None else None
    path = database.directory / "script.py.mako" if database is not None else None
    if path is None or not path.is_file():
        path = templates() / "script.py.mako"
    return str(Template(filename=str(path)).render_unicode(**context.kwargs))
