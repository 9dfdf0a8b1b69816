"""Revision files read as text: the one reader of what a file declares, nothing run.

Importing every file, as Alembic does, costs more than the rest of a command at a thousand
revisions, while the assignments Alembic's templates write (``revision = 'abc'``...) are plain
literals and the message is the docstring. So a regular expression reads the usual lines and
``ast`` anything less plain; a file neither can read without running it (a computed id) reads
as ``None``, and callers ask Alembic. Every reader goes through :func:`list_revision_files` and
:class:`RevisionFile`, so two commands never disagree about one file.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .database import Database

_NAMES = ("revision", "down_revision", "branch_labels", "depends_on")
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class RevisionFile:
    """What one revision file declares, as Alembic's ``Script`` would report it."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    filename: str
    #: The file's bytes as read, so that the message and checksum need no second read.
    data: bytes = dataclasses.field(repr=False, compare=False)
    #: The message when it is known already (read by Alembic); else read from ``data``.
    doc: str | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def read(cls, filename: str) -> RevisionFile | None:
        """The file at ``filename``; ``None`` when it cannot be read, or not as text."""
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except OSError:
            return None
        return cls.parse(filename, data)

    @classmethod
    def parse(cls, filename: str, data: bytes) -> RevisionFile | None:
        """The declarations in ``data``, or ``None`` when they are not literals."""
        values = _by_pattern(data) or _by_ast(data)
        if values is None:
            return None
        revision = values.get("revision")
        down = _strings(values.get("down_revision"))
        labels = _strings(values.get("branch_labels"))
        depends = _strings(values.get("depends_on"))
        if not isinstance(revision, str) or not revision:
            return None
        if down is None or labels is None or depends is None:
            return None
        return cls(revision, down, labels, depends, filename, data)

    @property
    def path(self) -> Path:
        return Path(self.filename)

    @property
    def message(self) -> str:
        """The first paragraph of the docstring (Alembic's ``Script.doc``), read on demand."""
        return self.doc if self.doc is not None else _message(self.data)

    @property
    def checksum(self) -> str:
        """What the history ledger records of the file (see :func:`checksum`)."""
        return _digest(self.data)


def version_locations(database: Database) -> list[Path]:
    """The folders holding the database's revision files: ``versions/`` of its directory
    (Flask-Migrate's too, whose ``env.py`` is bypassed through ``version_locations``)."""
    return [database.directory / "versions"]


def list_revision_files(locations: Sequence[Path]) -> list[tuple[str, list[str]]]:
    """Each folder with the files Alembic would load from it (``*.py`` except ``__init__*``
    and editor locks ``.#*``), sorted as Alembic does; a missing folder is left out.

    Runs on every app start: plain strings, no ``stat`` or ``Path`` per file."""
    listing: list[tuple[str, list[str]]] = []
    for location in locations:
        folder = os.fspath(location)
        try:
            entries = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        names = (n for n in entries if n.endswith(".py") and not n.startswith(("__init__", ".#")))
        listing.append((folder, sorted(names)))
    return listing


def read_revision_files(locations: Sequence[Path]) -> list[RevisionFile] | None:
    """Every revision file in ``locations`` in Alembic's order, or ``None`` if one cannot be
    read or its ids are not literals (Alembic then decides what that means)."""
    files: list[RevisionFile] = []
    for folder, names in list_revision_files(locations):
        for name in names:
            found = RevisionFile.read(os.path.join(folder, name))
            if found is None:
                return None
            files.append(found)
    return files


def revisions_by_id(locations: Sequence[Path]) -> dict[str, RevisionFile] | None:
    """Every revision file in ``locations`` by its id; ``None`` when one is unusual or an id is
    used twice (Alembic then decides, and explains)."""
    files = read_revision_files(locations)
    if files is None:
        return None
    found = {file.revision: file for file in files}
    return found if len(found) == len(files) else None


def checksum(path: str | os.PathLike[str]) -> str | None:
    """sha256 of a revision file; ``None`` if it cannot be read."""
    try:
        return _digest(Path(path).read_bytes())
    except OSError:
        return None


def _digest(data: bytes) -> str:
    # Line endings normalised: a CRLF checkout (Windows) matches the file applied from Linux.
    return hashlib.sha256(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")).hexdigest()


# -- reading the declarations -----------------------------------------------------------------


@functools.cache
def _assignment() -> re.Pattern[str]:
    """A top-level ``name = value`` line for the four names, the value on that line.
    Compiled on first use: a valid heads cache never needs it."""
    return re.compile(
        r"^(revision|down_revision|branch_labels|depends_on)[ \t]*(?::[^=\n]*)?"
        r"=(?!=)[ \t]*([^\n]*?)[ \t]*\r?$",
        re.MULTILINE,
    )


_Values = dict[str, object]
_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


def _by_pattern(data: bytes) -> _Values | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found: dict[str, list[str]] = {name: [] for name in _NAMES}
    for name, value in _assignment().findall(text):
        found[name].append(value)
    return _one_each(found, _literal)


def _by_ast(data: bytes) -> _Values | None:
    try:
        tree = ast.parse(data)
    except _ERRORS:
        return None
    return _one_each(assignments(tree, _NAMES), ast.literal_eval)


def _one_each(found: dict[str, list[_T]], evaluate: Callable[[_T], object]) -> _Values | None:
    """The value of each name assigned once; ``None`` if one is assigned twice, ``revision``
    or ``down_revision`` not at all, or a value is not a literal."""
    if any(len(v) > 1 for v in found.values()) or not (
        found["revision"] and found["down_revision"]
    ):
        return None
    try:
        return {name: evaluate(values[0]) for name, values in found.items() if values}
    except _ERRORS:
        return None


def assignments(tree: ast.Module, names: Iterable[str]) -> dict[str, list[ast.expr]]:
    """The values the module's top-level (plain or annotated) assignments give each of
    ``names``, in order; ``rebase`` uses their positions to rewrite a value in place."""
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


@functools.cache
def _simple_string() -> re.Pattern[str]:
    return re.compile(r"""(?:'([^'\\\n]*)'|"([^"\\\n]*)")""")


def _literal(text: str) -> object:
    """``ast.literal_eval`` for a value on one line, with what the templates write (``None``,
    quoted strings, a tuple or list of them) done by hand at a fraction of the cost."""
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


def _strings(value: object) -> tuple[str, ...] | None:
    """``None``, a string, or a tuple/list of strings, as Alembic's ``to_tuple`` reads them."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


_DOCSTRING = re.compile(
    r"\A\ufeff?(?:[ \t]*(?:#[^\n]*)?\n)*"  # blank lines and comments (an encoding line)
    r"[ \t]*[rRuU]?(?P<q>\"\"\"|''')(?P<body>.*?)(?P=q)",
    re.DOTALL,
)


def _message(data: bytes) -> str:
    """The docstring's first paragraph, as Alembic's ``Script.doc`` (``""`` without one)."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    match = _DOCSTRING.match(text)
    doc: str | None = None
    if match is not None and "\\" not in match["body"]:
        doc = match["body"]
    else:
        with contextlib.suppress(*_ERRORS):
            doc = ast.get_docstring(ast.parse(data), clean=False)
    return re.split("\n\n", doc.strip())[0] if doc else ""
