"""The heads of a script directory, known without importing its revision files.

Alembic learns the heads by importing every revision file to build its revision map. That is
right for a command that is about to run migrations, and wasteful at app start, where the
question is only "is the database already at head?": with 1,000 revisions it costs most of a
second on every start, to find that there is nothing to do.

The heads only change when the revision files change, so they are cached under a fingerprint of
the files (their names, sizes and modification times: one directory scan and one ``stat`` per
file, no file opened). On a miss, the files are read, not executed: the ``revision`` and
``down_revision`` assignments Alembic's templates write are found with a regular expression,
anything less plain with Python's ``ast``; only a file too unusual for both (a computed
revision id, say) sends the whole computation to Alembic, which imports them.

The cache is one small JSON file, ``versions/__pycache__/flask_versioning-heads.json``: a place
every ``.gitignore`` already ignores and Python already writes to. Where the package cannot be
written (a read-only container image), it goes to the user's cache directory instead, and where
that fails too nothing is stored and the next start reads the files again, which is still cheap.
Writes go through a temporary file and an atomic rename, so processes starting together never
read a half-written cache; at worst they all compute the same heads once.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

__all__ = ["Heads", "fingerprint", "script_heads"]

#: Bump when the cache's content or the fingerprint's recipe changes.
_FORMAT = 1
_CACHE_NAME = "flask_versioning-heads.json"

# The files Alembic loads from a version location when ``sourceless`` is off (the default):
# ``*.py`` except ``__init__*`` and editor lock files (``.#*``).
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")

# A top-level ``revision = ...`` or ``down_revision: <annotation> = ...``, the whole value on
# one line, as every Alembic template writes them. Indented lines (inside a function or an
# ``if``) do not match; a file with more than one match per name is read with ``ast`` instead.
_ASSIGNMENT = re.compile(
    r"^(?P<name>revision|down_revision)[ \t]*(?::[^=\n]*)?=(?!=)[ \t]*(?P<value>.*?)[ \t]*\r?$",
    re.MULTILINE,
)

Source = Literal["cache", "parsed", "imported"]


@dataclasses.dataclass(frozen=True)
class Heads:
    """The head revisions of a script directory and how they were found."""

    revisions: tuple[str, ...]
    #: ``"cache"``: stored under the current fingerprint; ``"parsed"``: read from the files
    #: without importing them; ``"imported"``: computed by Alembic.
    source: Source


def script_heads(locations: Sequence[Path], compute: Callable[[], Iterable[str]]) -> Heads:
    """The heads of the revision files in ``locations``, imported only as a last resort.

    ``compute`` is Alembic's answer (it imports every file); it is called only when a file
    cannot be read without executing it. The result is cached under the files' fingerprint.
    """
    entries = _revision_files(locations)
    key = fingerprint(locations, entries)
    stores = _cache_paths(locations)
    for path in stores:
        cached = _read_cache(path, key)
        if cached is not None:
            return Heads(cached, "cache")
    parsed = _parse_heads(entries)
    heads = Heads(parsed, "parsed") if parsed is not None else Heads(_sorted(compute()), "imported")
    for path in stores:
        if _write_cache(path, key, heads.revisions):
            break
    return heads


def _sorted(revisions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(revisions))


# -- the fingerprint --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _File:
    location: Path
    name: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return self.location / self.name


def _revision_files(locations: Sequence[Path]) -> list[_File]:
    """The revision files Alembic would load, with the ``stat`` data the fingerprint needs."""
    files: list[_File] = []
    for location in locations:
        try:
            scan = os.scandir(location)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with scan:
            for entry in scan:
                if not _REVISION_FILE.match(entry.name):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:  # removed while we looked: the next start sees the new state
                    continue
                files.append(_File(location, entry.name, st.st_size, st.st_mtime_ns))
    files.sort(key=lambda f: (str(f.location), f.name))
    return files


def fingerprint(locations: Sequence[Path], files: Sequence[_File] | None = None) -> str:
    """A digest of the revision files' names, sizes and modification times.

    Adding, removing, renaming or editing a revision file changes it; nothing is read from the
    files themselves, so computing it costs one ``stat`` per file.
    """
    if files is None:
        files = _revision_files(locations)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{_FORMAT}\0".encode())
    for location in locations:
        digest.update(f"L\0{Path(location).absolute()}\0".encode())
    for f in files:
        digest.update(f"F\0{f.location}\0{f.name}\0{f.size}\0{f.mtime_ns}\0".encode())
    return digest.hexdigest()


# -- reading revision ids without importing ---------------------------------------------------


def _parse_heads(files: Sequence[_File]) -> tuple[str, ...] | None:
    """The heads from the files' own assignments; ``None`` if any file needs importing."""
    parents: dict[str, tuple[str, ...]] = {}
    for f in files:
        try:
            source = f.path.read_bytes()
        except OSError:
            return None
        found = _parse_file(source)
        if found is None or found[0] in parents:
            return None  # unusual, or a duplicate id: let Alembic decide (and explain)
        parents[found[0]] = found[1]
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None  # a parent that does not exist: Alembic reports it properly
    return _sorted(rev for rev in parents if rev not in referenced)


def _parse_file(source: bytes) -> tuple[str, tuple[str, ...]] | None:
    """``(revision, down_revisions)`` of one revision file, or ``None`` if not plain."""
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        values: dict[str, list[str]] = {"revision": [], "down_revision": []}
        for match in _ASSIGNMENT.finditer(text):
            values[match["name"]].append(match["value"])
        if len(values["revision"]) == 1 and len(values["down_revision"]) == 1:
            found = _literals(values["revision"][0], values["down_revision"][0])
            if found is not None:
                return found
    return _parse_ast(source)


def _literals(revision: str, down_revision: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        rev = ast.literal_eval(revision)
        down = ast.literal_eval(down_revision)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return _validated(rev, down)


def _validated(rev: object, down: object) -> tuple[str, tuple[str, ...]] | None:
    if not isinstance(rev, str) or not rev:
        return None
    if down is None:
        return rev, ()
    if isinstance(down, str):
        return rev, (down,)
    if isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down):
        return rev, tuple(down)
    return None


def _parse_ast(source: bytes) -> tuple[str, tuple[str, ...]] | None:
    """The same, from the module's top-level statements: multi-line tuples, comments, ..."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    values: dict[str, list[ast.expr]] = {"revision": [], "down_revision": []}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in values:
                values[target.id].append(value)
    if len(values["revision"]) != 1 or len(values["down_revision"]) != 1:
        return None
    try:
        rev = ast.literal_eval(values["revision"][0])
        down = ast.literal_eval(values["down_revision"][0])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return _validated(rev, down)


# -- the cache file ---------------------------------------------------------------------------


def _cache_paths(locations: Sequence[Path]) -> list[Path]:
    """Where the cache may live, best first: next to the revisions, then the user's cache."""
    paths: list[Path] = []
    if locations:
        paths.append(Path(locations[0]) / "__pycache__" / _CACHE_NAME)
    user = _user_cache_dir()
    if user is not None:
        where = "\0".join(str(Path(loc).absolute()) for loc in locations)
        digest = hashlib.blake2b(where.encode(), digest_size=12).hexdigest()
        paths.append(user / f"heads-{digest}.json")
    return paths


def _user_cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "flask-versioning"
    try:
        return Path.home() / ".cache" / "flask-versioning"
    except (RuntimeError, KeyError):  # no home directory for this user
        return None


def _read_cache(path: Path, key: str) -> tuple[str, ...] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    heads = data.get("heads")
    if data.get("fingerprint") != key or not isinstance(heads, list):
        return None
    if not all(isinstance(h, str) for h in heads):
        return None
    return tuple(heads)


def _write_cache(path: Path, key: str, heads: Sequence[str]) -> bool:
    """Store the heads atomically; ``False`` (and nothing left behind) when not writable."""
    data = json.dumps({"format": _FORMAT, "fingerprint": key, "heads": list(heads)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".heads-", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        # mkstemp makes the file private; the cache holds nothing secret, and other users
        # running the same app (a build step as root, the app as another user) may read it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True
