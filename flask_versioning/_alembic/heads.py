"""The heads of a script directory, known without importing its revision files.

Alembic learns the heads by importing every revision file, which is right before running
migrations and wasteful at app start, where the only question is "is the database at head?":
with 1,000 revisions that costs a good part of a second on every start.

The heads only change when the revision files do, so they are cached, and checking the cache
must not cost one system call per file either. An entry holds:

- a digest of the revision files' *names* (one directory listing, no ``stat`` per file), which
  changes when a file is added, removed or renamed: that is how new revisions arrive, whether by
  ``flask db revision``, ``git pull``, a deploy or an image build;
- the size and modification time of the *head* files: editing a head in place (its
  ``down_revision``, say) is noticed too.

An edit in place that does not touch a head file cannot hide a revision the database lacks: with
the same set of files the same revisions exist, and a database at the old heads has them all.

On a miss, the files are read, not executed: the ``revision`` and ``down_revision`` assignments
are found with a regular expression, anything less plain with ``ast``; only a file too unusual
for both (a computed revision id) sends the computation to Alembic, and then every file's size
and time is checked on later starts.

The cache is one JSON file in ``versions/__pycache__/``, which every ``.gitignore`` already
ignores; in a read-only image it goes to the user's cache directory, and where that fails too
nothing is stored (reading the files again is still cheap). Writes are a temporary file and an
atomic rename, so processes starting together never read a half-written cache.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Heads",
    "assignments",
    "literal",
    "read_revision",
    "revision_filenames",
    "revision_files",
    "script_heads",
]

#: Bump when the cache's content or how it is checked changes.
_FORMAT = 2
_CACHE_NAME = "flask_versioning-heads.json"


@functools.cache
def _assignment() -> re.Pattern[str]:
    """A top-level ``revision = ...`` or ``down_revision: <annotation> = ...`` line, value on
    one line as Alembic's templates write it. Compiled on first use: a valid cache never needs
    it."""
    return re.compile(
        r"^(?P<name>revision|down_revision)[ \t]*(?::[^=\n]*)?=(?!=)[ \t]*(?P<value>.*?)[ \t]*\r?$",
        re.MULTILINE,
    )


Source = Literal["cache", "parsed", "imported"]

#: One revision file: its folder and its name.
_File = tuple[str, str]
#: What is checked of a file on every start: folder, name, size, modification time (ns).
_Signature = tuple[str, str, int, int]


@dataclasses.dataclass(frozen=True)
class Heads:
    """The head revisions of a script directory and how they were found."""

    revisions: tuple[str, ...]
    #: ``"cache"``: a valid cache entry; ``"parsed"``: read from the files without importing
    #: them; ``"imported"``: computed by Alembic.
    source: Source


def script_heads(locations: Sequence[Path], compute: Callable[[], Iterable[str]]) -> Heads:
    """The heads of the revision files in ``locations``, cached (see above).

    ``compute`` is Alembic's answer, called only when a file cannot be read without importing.
    """
    listing = _list(locations)
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


# -- listing the files ------------------------------------------------------------------------


def _list(locations: Sequence[Path]) -> list[tuple[str, list[str]]]:
    """Each folder with the files Alembic would load from it (``*.py`` except ``__init__*`` and
    editor locks ``.#*``), sorted. Runs on every start: plain strings, no ``stat``."""
    listing: list[tuple[str, list[str]]] = []
    for location in locations:
        folder = os.fspath(location)
        try:
            entries = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        names = [n for n in entries if n.endswith(".py") and not n.startswith(("__init__", ".#"))]
        names.sort()
        listing.append((folder, names))
    return listing


def revision_filenames(locations: Sequence[Path]) -> list[str]:
    """The revision files Alembic would load from ``locations``, in its order (see ``_list``).

    Plain strings: building a ``Path`` per file costs more than reading a small file.
    """
    return [os.path.join(folder, name) for folder, names in _list(locations) for name in names]


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


# -- reading revision ids without importing ---------------------------------------------------


def _parse_heads(files: Sequence[_File]) -> tuple[tuple[str, ...], set[_File]] | None:
    """The heads and the files holding them, or ``None`` if a file needs importing."""
    parents: dict[str, tuple[str, ...]] = {}
    holder: dict[str, _File] = {}
    for file in files:
        try:
            with open(os.path.join(*file), "rb") as f:
                source = f.read()
        except OSError:
            return None
        found = _parse_file(source)
        if found is None or found[0] in parents:
            return None  # unusual, or a duplicate id: let Alembic decide (and explain)
        parents[found[0]] = found[1]
        holder[found[0]] = file
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None  # a parent that does not exist: Alembic reports it properly
    heads = tuple(sorted(rev for rev in parents if rev not in referenced))
    return heads, {holder[rev] for rev in heads}


def read_revision(source: bytes) -> tuple[str, tuple[str, ...]] | None:
    """``(revision, down_revisions)`` of one revision file's source, read without importing it.

    ``None`` when the file is not plain enough to be read that way (see the module's
    description); Alembic then has to import it.
    """
    return _parse_file(source)


def _parse_file(source: bytes) -> tuple[str, tuple[str, ...]] | None:
    """``(revision, down_revisions)`` of one revision file, or ``None`` if not plain."""
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        values: dict[str, list[str]] = {"revision": [], "down_revision": []}
        for match in _assignment().finditer(text):
            values[match["name"]].append(match["value"])
        if len(values["revision"]) == 1 and len(values["down_revision"]) == 1:
            found = _literals(values["revision"][0], values["down_revision"][0])
            if found is not None:
                return found
    return _parse_ast(source)


def _literals(
    revision: str | ast.expr, down_revision: str | ast.expr
) -> tuple[str, tuple[str, ...]] | None:
    """The two values, as source text or as ``ast`` nodes, if they are plain literals."""
    try:
        rev = literal(revision) if isinstance(revision, str) else ast.literal_eval(revision)
        down = (
            literal(down_revision)
            if isinstance(down_revision, str)
            else ast.literal_eval(down_revision)
        )
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(rev, str) or not rev:
        return None
    if down is None:
        return rev, ()
    if isinstance(down, str):
        return rev, (down,)
    if isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down):
        return rev, tuple(down)
    return None


@functools.cache
def _simple_string() -> re.Pattern[str]:
    return re.compile(r"""(?:'([^'\\\n]*)'|"([^"\\\n]*)")""")


def literal(text: str) -> object:
    """``ast.literal_eval`` for a value on one line, with the template's cases done by hand.

    ``None``, a plain quoted string, or a tuple or list of them: what Alembic's templates
    write, parsed here at a fraction of the cost of compiling an expression (1,000 files,
    four values each, on every ``flask db heads`` and on every miss of the heads cache).
    Anything else goes to ``literal_eval``.
    """
    if text == "None":
        return None
    strings = _simple_string()
    match = strings.fullmatch(text)
    if match is not None:
        return match[1] if match[1] is not None else match[2]
    if len(text) >= 2 and text[0] + text[-1] in ("()", "[]"):
        parts = [p.strip() for p in text[1:-1].split(",")]
        trailing = len(parts) > 1 and parts[-1] == ""
        if trailing:
            parts.pop()
        found = [strings.fullmatch(p) for p in parts]
        if all(m is not None for m in found):
            items = [m[1] if m[1] is not None else m[2] for m in found if m is not None]
            if text[0] == "[":
                return items
            # ("abc") is a string in parentheses, ("abc",) a tuple.
            return items[0] if len(items) == 1 and not trailing else tuple(items)
    return ast.literal_eval(text)


def assignments(tree: ast.Module, names: Iterable[str]) -> dict[str, list[ast.expr]]:
    """The values the module's top-level statements (plain and annotated assignments) give
    each of ``names``, in order: more than one means the file is too unusual to read as text."""
    values: dict[str, list[ast.expr]] = {name: [] for name in names}
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
    return values


def _parse_ast(source: bytes) -> tuple[str, tuple[str, ...]] | None:
    """The same, from the module's top-level statements: multi-line tuples, comments, ..."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    values = assignments(tree, ("revision", "down_revision"))
    if len(values["revision"]) != 1 or len(values["down_revision"]) != 1:
        return None
    return _literals(values["revision"][0], values["down_revision"][0])


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
    """The cached heads if the entry is for these file names and its watched files are intact."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        if data["format"] != _FORMAT or data["names"] != names:
            return None
        heads = tuple(str(h) for h in data["heads"])
        for folder, name, size, mtime_ns in data["watch"]:
            if _signature((folder, name)) != (folder, name, size, mtime_ns):
                return None
    except (KeyError, TypeError, ValueError):
        return None
    return heads


def _write_cache(path: Path, entry: dict[str, Any]) -> bool:
    """Store ``entry`` atomically; ``False`` (and nothing left behind) when not writable."""
    data = json.dumps(entry)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.name == "__pycache__":
            _keep_out_of_git(path.parent)
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


def revision_files(locations: Sequence[Path]) -> dict[str, tuple[Path, tuple[str, ...]]] | None:
    """Each revision's file and parents, read without importing the files; ``None`` when a
    file is too unusual to read that way (then only Alembic can answer).

    Baselines use it to find the newest baseline below a target before deciding whether Alembic
    needs to load the revisions at all: after a baseline at head, nothing is left to run.
    """
    found: dict[str, tuple[Path, tuple[str, ...]]] = {}
    for folder, names in _list(locations):
        for name in names:
            path = Path(folder, name)
            try:
                parsed = _parse_file(path.read_bytes())
            except OSError:
                return None
            if parsed is None or parsed[0] in found:
                return None
            found[parsed[0]] = (path, parsed[1])
    return found


def _keep_out_of_git(folder: Path) -> None:
    """Put a ``.gitignore`` of ``*`` in ``folder``, so git ignores it whatever the project's own
    ``.gitignore`` says (as ``.pytest_cache`` and ``.mypy_cache`` do).

    ``versions/__pycache__`` sits inside the user's checkout; a project whose ``.gitignore``
    does not list ``__pycache__`` would otherwise see the cache (and the ``.pyc`` files Python
    writes there when Alembic imports the revisions) as untracked files.
    """
    marker = folder / ".gitignore"
    if marker.exists():
        return
    with contextlib.suppress(OSError):
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Written by Flask-Versioning: nothing in this cache belongs in git.\n*\n")
