"""Take over a migrations folder made by Flask-Migrate (or plain Alembic), once.

The revision files are copied byte for byte, checked before anything is removed, and never
rewritten. ``env.py`` becomes ours; ``alembic.ini`` goes (its ``[alembic]`` options are reported,
to become ``VERSIONING_*`` keys), and so does a README a tool wrote; in the multidb layout
``script.py.mako`` becomes ours.
"""

from __future__ import annotations

import configparser
import contextlib
import filecmp
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ._alembic import layout
from ._errors import AdoptError, one_line
from ._types import AdoptResult

if TYPE_CHECKING:
    from ._state import VersioningState

#: ``[alembic]`` options of alembic.ini and the setting that replaces each.
_OPTION_KEYS = {
    "file_template": "VERSIONING_FILE_TEMPLATE",
    "version_table": "VERSIONING_VERSION_TABLE",
}
#: The READMEs of Flask-Migrate's templates and of Alembic's older ones (its current ones are
#: read from Alembic).
_READMES = (
    "Single-database configuration for Flask.",
    "Multi-database configuration for Flask.",
    "Single-database configuration for aioflask.",
    "Multi-database configuration for aioflask.",
    "Generic single-database configuration.",
    "Generic single-database configuration with an async dbapi.",
    "pyproject configuration, based on the generic configuration.",
    "pyproject configuration, with an async dbapi.",
)


def _boilerplate_readmes() -> set[str]:
    """Every README text a tool wrote into a migrations folder, stripped."""
    known = set(_READMES)
    import alembic

    with contextlib.suppress(OSError):
        for readme in (Path(alembic.__file__).parent / "templates").glob("*/README"):
            known.add(readme.read_text(encoding="utf-8", errors="replace").strip())
    return known


def adopt(state: VersioningState, source: Path) -> AdoptResult:
    """Move ``source`` to the default database's directory and make it ours (module docstring)."""
    result = _adopt(state.database().directory.resolve(), source.resolve())
    state.forget_databases()  # the layout on disk changed: look again
    return result


def _adopt(target: Path, src: Path) -> AdoptResult:
    if not (src / "versions").is_dir():
        raise AdoptError(f"{src} is not a migrations folder: it has no versions/ directory")
    in_place = src == target
    if not in_place and target.exists() and any(target.iterdir()):
        raise AdoptError(
            f"{target} already exists and is not empty: move it away or set "
            "VERSIONING_DIRECTORY to another place; nothing was changed"
        )
    if not in_place and src in target.parents:
        raise AdoptError(f"cannot move {src} into its own subdirectory {target}")
    notes = (*_ini_notes(src / "alembic.ini", target), *_transaction_notes(src))
    multidb = layout.is_multidb(src)
    if not in_place:
        _move(src, target)

    replaced, removed = [], []
    templates = layout.templates()
    shutil.copyfile(templates / "env.py.txt", target / "env.py")
    replaced.append("env.py")
    if multidb:
        shutil.copyfile(templates / "multidb.py.mako", target / "script.py.mako")
        replaced.append("script.py.mako")
    elif not (target / "script.py.mako").exists():
        shutil.copyfile(templates / "script.py.mako", target / "script.py.mako")
    ini = target / "alembic.ini"
    if ini.exists():
        ini.unlink()
        removed.append("alembic.ini")
    readme = target / "README"
    if readme.is_file() and readme.read_text(errors="replace").strip() in _boilerplate_readmes():
        readme.unlink()
        removed.append("README")
    for cache in target.glob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    revisions = tuple(sorted((target / "versions").glob("*.py")))
    return AdoptResult(src, target, revisions, tuple(replaced), tuple(removed), notes)


def _move(src: Path, target: Path) -> None:
    """Copy, check every file byte for byte, then remove the source: never a half move."""
    staging = target.with_name(f".{target.name}.adopting")
    if staging.exists():
        shutil.rmtree(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in src.rglob("*"):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or not path.is_file():
            continue
        copy = staging / path.relative_to(src)
        if not copy.is_file() or not filecmp.cmp(path, copy, shallow=False):
            shutil.rmtree(staging, ignore_errors=True)
            raise AdoptError(f"copying {path} failed; nothing was changed")
    if target.exists():  # an empty directory: checked by the caller
        target.rmdir()
    staging.rename(target)
    shutil.rmtree(src)


def _ini_notes(ini: Path, target: Path) -> tuple[str, ...]:
    """A note for each setting of ``ini`` only the old ``env.py`` read, naming the key to set:
    the app's configuration is code, which adopting never rewrites."""
    if not ini.is_file():
        return ()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        return (f"alembic.ini could not be read ({one_line(exc)}); check it by hand",)
    notes = []
    hooks = layout.ini_hooks(ini, target)
    if hooks:
        notes.append(
            f"alembic.ini has [post_write_hooks] ({hooks.get('hooks', '')}), which new "
            f"revisions no longer run: set VERSIONING_POST_WRITE_HOOKS = {hooks!r}"
        )
    if not parser.has_section("alembic"):
        return tuple(notes)
    for key, value in parser.items("alembic"):
        if key in ("script_location", "here", _TRANSACTION_OPTION):
            continue  # the last: see _transaction_notes
        setting = _OPTION_KEYS.get(key)
        where = f"set {setting}" if setting else "it is not carried over"
        notes.append(f"alembic.ini set {key} = {value}: {where}")
    return tuple(notes)


_TRANSACTION_OPTION = "transaction_per_migration"
_ONE_TRANSACTION = re.compile(rf"\b{_TRANSACTION_OPTION}\s*[=:]\s*(False|false|0|no|off)\b")


def _transaction_notes(src: Path) -> tuple[str, ...]:
    """A note when the folder ran a command's revisions in one transaction: ours gives each
    revision its own unless told otherwise."""
    for name in ("env.py", "alembic.ini"):
        if _ONE_TRANSACTION.search(layout.read_text(src / name)):
            return (
                f"{name} sets {_TRANSACTION_OPTION} = False; Flask-Versioning commits each "
                "revision on its own: to keep one transaction for a whole run, set "
                f'VERSIONING_CONTEXT = {{"{_TRANSACTION_OPTION}": False}}',
            )
    return ()
