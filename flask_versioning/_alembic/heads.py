"""The heads of a script directory, known without importing its revision files.

Alembic imports every revision file to learn the heads, which costs a good part of a second at
app start with a thousand revisions. The heads change only with the files, so they are cached
with a digest of the files' *names* (one directory listing: adding, removing or renaming a file
is how new revisions arrive) and the size and time of the *head* files (an edit in place of a
head). An edit elsewhere cannot hide a revision the database lacks. On a miss the files are read
as text (:class:`.revision_files.RevisionFile`); only a file too unusual for that goes to
Alembic, and then every file is watched. The cache is a JSON file in ``versions/__pycache__/``
(or the user's cache directory when read-only), written atomically.

Also here: whether a parent's file is missing, and the heads in Alembic's order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import graphlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import _errors as errors
from .revision_files import (
    RevisionFile,
    list_revision_files,
    read_revision_files,
    version_locations,
)

if TYPE_CHECKING:
    from .database import Database

#: Bump when the cache's content or how it is checked changes.
_FORMAT = 2
_CACHE_NAME = "flask_versioning-heads.json"

#: One revision file: its folder and its name.
_File = tuple[str, str]
#: What is checked of a file on every start: folder, name, size, modification time (ns).
_Signature = tuple[str, str, int, int]


@dataclasses.dataclass(frozen=True)
class Heads:
    """The head revisions of a script directory and how they were found."""

    revisions: tuple[str, ...]
    #: ``"cache"``: a valid cache entry; ``"parsed"``: read from the files as text;
    #: ``"imported"``: computed by Alembic.
    source: Literal["cache", "parsed", "imported"]


def script_heads(locations: Sequence[Path], compute: Callable[[], Iterable[str]]) -> Heads:
    """The heads of the revision files in ``locations``, cached (see above); ``compute`` is
    Alembic's answer, called only when a file cannot be read without importing."""
    listing = list_revision_files(locations)
    names = _names_digest(listing)
    for path in _cache_paths(locations):
        cached = _read_cache(path, names)
        if cached is not None:
            return Heads(cached, "cache")
    files = [(folder, name) for folder, names_in in listing for name in names_in]
    # Sizes and times are taken before the files are read: a file that changes meanwhile
    # then fails the check on the next start instead of leaving a stale entry.
    signatures = [_signature(f) for f in files]
    parsed = _parse_heads(files)
    if parsed is not None:
        revisions, head_files = parsed
        watched = [sig for f, sig in zip(files, signatures, strict=True) if f in head_files]
        heads = Heads(revisions, "parsed")
    else:
        heads = Heads(tuple(sorted(compute())), "imported")
        watched = signatures  # which file holds which head is unknown: watch them all
    if None not in watched:
        entry = {"format": _FORMAT, "names": names, "heads": heads.revisions, "watch": watched}
        for path in _cache_paths(locations):
            if _write_cache(path, entry):
                break
    return heads


# -- reading the heads from the files -------------------------------------------------------


def _parse_heads(files: Sequence[_File]) -> tuple[tuple[str, ...], set[_File]] | None:
    """The heads and the files holding them, or ``None`` if a file needs importing."""
    parents: dict[str, tuple[str, ...]] = {}
    holder: dict[str, _File] = {}
    for file in files:
        found = RevisionFile.read(os.path.join(*file))
        if found is None or found.revision in parents:
            return None  # unusual, or a duplicate id: let Alembic decide (and explain)
        parents[found.revision] = found.down_revisions
        holder[found.revision] = file
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None  # a parent that does not exist: Alembic reports it properly
    heads = tuple(sorted(rev for rev in parents if rev not in referenced))
    return heads, {holder[rev] for rev in heads}


def _names_digest(listing: Sequence[tuple[str, Sequence[str]]]) -> str:
    digest = hashlib.blake2b(str(_FORMAT).encode(), digest_size=16)
    for folder, names in listing:
        digest.update(f"\0L\0{os.path.abspath(folder)}\0".encode())
        digest.update("\0".join(names).encode())
    return digest.hexdigest()


def _signature(file: _File) -> _Signature | None:
    try:
        st = os.stat(os.path.join(*file))
    except OSError:
        return None
    return (file[0], file[1], st.st_size, st.st_mtime_ns)


# -- the cache file ---------------------------------------------------------------------------


def _cache_paths(locations: Sequence[Path]) -> Iterator[Path]:
    """Where the cache may live, best first; the user's cache is worked out only if needed."""
    if locations:
        yield Path(locations[0]) / "__pycache__" / _CACHE_NAME
    from platformdirs import user_cache_path

    where = "\0".join(str(Path(loc).absolute()) for loc in locations)
    digest = hashlib.blake2b(where.encode(), digest_size=12).hexdigest()
    yield user_cache_path("flask-versioning", appauthor=False) / f"heads-{digest}.json"


def _read_cache(path: Path, names: str) -> tuple[str, ...] | None:
    try:
        data = json.loads(path.read_bytes())
        if data["format"] != _FORMAT or data["names"] != names:
            return None
        heads = tuple(str(h) for h in data["heads"])
        for folder, name, size, mtime_ns in data["watch"]:
            if _signature((folder, name)) != (folder, name, size, mtime_ns):
                return None
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return heads


def _write_cache(path: Path, entry: dict[str, Any]) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.name == "__pycache__":
            _keep_out_of_git(path.parent)
        write_atomically(path, json.dumps(entry))
    except OSError:
        return False
    return True


def write_atomically(path: Path, content: str | bytes, *, mode: int = 0o644) -> None:
    """Write ``content`` through a temporary file and a rename, so no reader sees half of it.

    Readable by all by default, unlike what ``mkstemp`` makes: other users of the same app (a
    build step as root, the app as another user) read these files, which hold nothing secret."""
    data = content.encode() if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keep_out_of_git(folder: Path) -> None:
    """Put a ``.gitignore`` of ``*`` in ``folder`` (as ``.pytest_cache`` does): a project
    whose ``.gitignore`` lacks ``__pycache__`` would otherwise see the cache as untracked."""
    marker = folder / ".gitignore"
    if marker.exists():
        return
    with contextlib.suppress(OSError):
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Written by Flask-Versioning: nothing in this cache belongs in git.\n*\n")


# -- the shape of the history ---------------------------------------------------------------


def missing_files(files: Iterable[RevisionFile]) -> dict[str, list[str]]:
    """The revisions named as a ``down_revision`` whose file is not there, each with the
    names of the files that revise it."""
    files = list(files)
    ids = {f.revision for f in files}
    missing: dict[str, list[str]] = {}
    for file in files:
        for parent in file.down_revisions:
            if parent not in ids:
                missing.setdefault(parent, []).append(file.path.name)
    return missing


def missing_message(missing: dict[str, list[str]]) -> str:
    """One line naming each missing revision file and the fix."""
    names = ", ".join(f"{rev} (revised by {', '.join(by)})" for rev, by in missing.items())
    many = len(missing) > 1
    return (
        f"the revision file{'s' if many else ''} of {names} {'are' if many else 'is'} missing "
        f"from versions/: restore {'them' if many else 'it'} (from version control, say); "
        "'flask db status' shows what the database has applied"
    )


def refuse_missing_files(database: Database) -> None:
    """Raise :class:`~flask_versioning.RevisionError` when a revision file revises one whose
    file is gone, where Alembic would fail on a bare ``KeyError`` (or call it a cycle).

    Asked before every use of Alembic, so it rides on the heads cache, which is only written
    for a complete history; the files are read for the message only when something is wrong.
    """
    locations = version_locations(database)
    names = hash(tuple((folder, *files) for folder, files in list_revision_files(locations)))
    if names in _COMPLETE:
        return
    try:
        script_heads(locations, _leave_to_alembic)
    except _NotPlain:
        # A parent missing, an id twice, or a file too unusual to read as text.
        files = read_revision_files(locations)
        missing = missing_files(files) if files else {}
        if missing:
            raise errors.RevisionError(missing_message(missing)) from None
    _COMPLETE.add(names)


class _NotPlain(Exception):
    """The files alone do not give the heads: Alembic would have to import them."""


def _leave_to_alembic() -> list[str]:
    raise _NotPlain


#: Listings of revision files already found complete in this process (a command asks for a
#: Config several times); an edit in place that removes a parent is left to Alembic.
_COMPLETE: set[int] = set()


def plain_heads(files: Iterable[RevisionFile]) -> list[str] | None:
    """The heads in Alembic's order (that of the files) for a plain history, else ``None``:
    no branch labels or ``depends_on`` (they change how Alembic names heads), every parent
    present, no id twice, no cycle. Anything else is Alembic's to print or refuse."""
    parents: dict[str, tuple[str, ...]] = {}
    for file in files:
        if file.branch_labels or file.depends_on or file.revision in parents:
            return None
        parents[file.revision] = file.down_revisions
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None
    try:
        tuple(graphlib.TopologicalSorter(parents).static_order())
    except graphlib.CycleError:
        return None
    heads = [rev for rev in parents if rev not in referenced]
    return heads if heads or not parents else None


# A target naming one revision exactly (anything else needs Alembic to resolve it).
_REVISION_ID = re.compile(r"^[A-Za-z0-9_]+$")


def target_revisions(
    base: Database, targets: Sequence[str], *, setting: str = "'head'", log_heads: bool = False
) -> frozenset[str] | None:
    """The exact revisions a database at ``targets`` holds, when known without Alembic:
    ``heads``/``head`` from the cached heads, plain revision ids as they are, ``base`` as
    nothing. ``None`` for anything relative or partial. Here, not in the tenants' package,
    because an app's start asks it too and must not import the worker pool to do so."""
    wanted: set[str] = set()
    for target in targets:
        if target in ("heads", "head"):
            found = script_heads([base.directory / "versions"], base.script_heads)
            if log_heads:
                logging.getLogger("flask_versioning").debug(
                    "heads of the %s database: %s (source: %s)",
                    base.name,
                    ", ".join(found.revisions) or "base",
                    found.source,
                )
            if target == "head" and len(found.revisions) > 1:
                raise errors.MultipleHeadsError(found.revisions, setting)
            wanted.update(found.revisions)
        elif target == "base":
            continue
        elif _REVISION_ID.match(target) and target != "current":
            wanted.add(target)
        else:
            return None
    return frozenset(wanted)
