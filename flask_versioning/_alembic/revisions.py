"""Revision files read as text: ids, parents, labels, dependencies and message, nothing run.

Alembic learns all that by importing every file, which is right before running migrations
and wasteful for the commands that only look (``current``, ``heads``, ``status``,
``validate``): with a thousand revisions the imports cost more than the rest of the command.
The assignments Alembic's templates write (``revision = 'abc'``, ``down_revision = None``,
``branch_labels = None``, ``depends_on = None``) are plain literals on one line each, and the
message is the module's docstring, so they are read the way :mod:`.heads` reads ids: a regular
expression for the usual lines, Python's ``ast`` for anything less plain (multi-line tuples,
annotations, comments). A file that neither can read without running it (a computed id) makes
the whole reading give up (``None``), and callers ask Alembic instead.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _errors as errors
from .heads import assignments, literal, revision_filenames, script_heads

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "RevisionFile",
    "missing_files",
    "missing_message",
    "plain_heads",
    "read_revision_files",
    "refuse_missing_files",
    "version_locations",
]

_NAMES = ("revision", "down_revision", "branch_labels", "depends_on")


@dataclasses.dataclass(frozen=True)
class RevisionFile:
    """What one revision file declares, as Alembic's ``Script`` would report it."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    #: The file's path, as a string (see :attr:`path`).
    filename: str
    #: The file's bytes as read, so that a checksum needs no second read.
    data: bytes = dataclasses.field(repr=False, compare=False)
    #: The message when it is known already (read by Alembic); else read from ``data``.
    doc: str | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.filename)

    @property
    def message(self) -> str:
        """The first paragraph of the docstring (Alembic's ``Script.doc``).

        Read on demand: ``flask db heads`` never needs it.
        """
        return self.doc if self.doc is not None else _message(self.data)


def version_locations(database: Database) -> list[Path]:
    """The folders holding the database's revision files: ``versions/`` of its directory.

    That is also where they are for a directory Flask-Migrate made, whose ``env.py`` is
    bypassed by listing the same folder in Alembic's ``version_locations``.
    """
    return [database.directory / "versions"]


def read_revision_files(locations: Sequence[Path]) -> list[RevisionFile] | None:
    """Every revision file in ``locations`` in Alembic's order, or ``None`` if one is unusual.

    Unusual: it cannot be read, or its ids are not literals. A file that vanishes between
    the listing and the reading counts as unusual too (Alembic decides what that means).
    """
    files: list[RevisionFile] = []
    for filename in revision_filenames(locations):
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except OSError:
            return None
        found = parse_revision_file(filename, data)
        if found is None:
            return None
        files.append(found)
    return files


def parse_revision_file(filename: str, data: bytes) -> RevisionFile | None:
    """One file's declarations, or ``None`` when they are not literals."""
    values = _by_pattern(data)
    if values is None:
        values = _by_ast(data)
    if values is None:
        return None
    fields = _validated(values)
    if fields is None:
        return None
    revision, down, labels, depends = fields
    return RevisionFile(revision, down, labels, depends, filename, data)


def missing_files(files: Iterable[RevisionFile]) -> dict[str, list[str]]:
    """The revisions named as a ``down_revision`` whose file is not there (deleted, or
    never committed), each with the names of the files that revise it."""
    files = list(files)
    ids = {f.revision for f in files}
    missing: dict[str, list[str]] = {}
    for file in files:
        for parent in file.down_revisions:
            if parent not in ids:
                missing.setdefault(parent, []).append(Path(file.filename).name)
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
    file is gone: Alembic would warn, then fail on a bare ``KeyError`` (or call it a cycle).
    Files only Alembic can read are left to it.

    Every process asks this before using Alembic, so the usual answer must cost next to
    nothing: a valid heads cache (see :mod:`.heads`) is only ever written for a complete
    history and is invalid as soon as a file is removed, so it answers with a directory
    listing and one small file read. Without one, the heads are worked out from the files
    as every other cheap path does, which leaves a cache for the next process; the files are
    read again here, for the message, only when that reading finds something wrong.
    """
    locations = version_locations(database)
    names = hash(tuple(revision_filenames(locations)))
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
#: Config several times, and a read-only cache may be missing). A file removed or added
#: changes the listing; an edit in place that removes a parent is left to Alembic, as it was
#: before this check.
_COMPLETE: set[int] = set()


def plain_heads(files: Iterable[RevisionFile]) -> list[str] | None:
    """The heads in Alembic's order (that of the files) for a plain history, else ``None``.

    Plain: no branch labels and no ``depends_on`` anywhere (both change how Alembic marks and
    names heads), every parent present, no id twice and no cycle. Anything else is left to
    Alembic, which prints it or reports the problem in its own words.
    """
    parents: dict[str, tuple[str, ...]] = {}
    for file in files:
        if file.branch_labels or file.depends_on or file.revision in parents:
            return None
        parents[file.revision] = file.down_revisions
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys() or not _acyclic(parents):
        return None
    heads = [rev for rev in parents if rev not in referenced]
    return heads if heads or not parents else None


def _acyclic(parents: dict[str, tuple[str, ...]]) -> bool:
    """Whether every revision leads down to a base (Kahn's algorithm, children first)."""
    waiting = {rev: 0 for rev in parents}
    for down in parents.values():
        for parent in down:
            waiting[parent] += 1
    ready = [rev for rev, count in waiting.items() if count == 0]
    seen = 0
    while ready:
        rev = ready.pop()
        seen += 1
        for parent in parents[rev]:
            waiting[parent] -= 1
            if waiting[parent] == 0:
                ready.append(parent)
    return seen == len(parents)


# -- reading the declarations -----------------------------------------------------------------


@functools.cache
def _assignment() -> re.Pattern[str]:
    """A top-level ``name = value`` line for the four names, the value on that line."""
    return re.compile(
        r"^(?P<name>revision|down_revision|branch_labels|depends_on)[ \t]*(?::[^=\n]*)?"
        r"=(?!=)[ \t]*(?P<value>[^\n]*?)[ \t]*\r?$",
        re.MULTILINE,
    )


_Values = dict[str, object]


def _by_pattern(data: bytes) -> _Values | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found: dict[str, list[str]] = {name: [] for name in _NAMES}
    for match in _assignment().finditer(text):
        found[match["name"]].append(match["value"])
    if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
        return None
    if len(found["branch_labels"]) > 1 or len(found["depends_on"]) > 1:
        return None
    values: _Values = {}
    for name, literals in found.items():
        if literals:
            try:
                values[name] = literal(literals[0])
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
    return values


def _by_ast(data: bytes) -> _Values | None:
    """The same from the module's top-level statements (multi-line values, comments...)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    found = assignments(tree, _NAMES)
    if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
        return None
    values: _Values = {}
    for name, nodes in found.items():
        if len(nodes) > 1:
            return None
        if nodes:
            try:
                values[name] = ast.literal_eval(nodes[0])
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
    return values


def _strings(value: object) -> tuple[str, ...] | None:
    """``None``, a string, or a tuple/list of strings, as Alembic's ``to_tuple`` reads them."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _validated(
    values: _Values,
) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    revision = values.get("revision")
    if not isinstance(revision, str) or not revision:
        return None
    down = _strings(values.get("down_revision"))
    labels = _strings(values.get("branch_labels"))
    depends = _strings(values.get("depends_on"))
    if down is None or labels is None or depends is None:
        return None
    return revision, down, labels, depends


_DOCSTRING = re.compile(
    r"\A\ufeff?(?:[ \t]*(?:#[^\n]*)?\n)*"  # blank lines and comments (an encoding line)
    r"[ \t]*[rRuU]?(?P<q>\"\"\"|''')(?P<body>.*?)(?P=q)",
    re.DOTALL,
)


def _message(data: bytes) -> str:
    """The docstring's first paragraph, as Alembic's ``Script.doc`` (``""`` without one)."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    match = _DOCSTRING.match(text)
    if match is not None and "\\" not in match["body"]:
        doc: str | None = match["body"]
    else:
        doc = _ast_docstring(data)
    return re.split("\n\n", doc.strip())[0] if doc else ""


def _ast_docstring(data: bytes) -> str | None:
    try:
        return ast.get_docstring(ast.parse(data), clean=False)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
