"""``versions/HEADS``: the head revisions of a script directory, in a file git can conflict on.

Two developers each add a revision on their own branch. Each revision file is new, so git
merges both branches without a word, and the history now has two heads: the deploy fails with
"multiple heads", far from the people who could fix it. django-linear-migrations and Atlas's
``atlas.sum`` answer this with a file that every new migration rewrites: the second branch to
merge then conflicts *in git*, on that file, where the developer is.

The file lists one head per line, ``<revision> <message>``, after a comment saying what to do
on a conflict. Every command that changes the heads rewrites it (``revision``, ``migrate``,
``merge``, ``rebase``, ``init --linear``); ``check`` compares it with the revision files.

Whether a directory is guarded is recorded by the file itself: **the guard is on where the file
exists.** That keeps the switch in the repository, where every clone, every developer's config
and CI see the same thing without agreeing on a setting, and per directory, so an app whose
databases have separate histories can guard some of them. A new script directory (one this
package creates, with no ``env.py`` and no revision yet) starts with the file unless
``VERSIONING_LINEAR_HISTORY`` is ``False``; an existing or adopted directory gets it only from
``flask db init --linear``, so a Flask-Migrate project sees no new file until it asks for one.
Deleting the file turns the guard off for that directory.

The heads are found without importing the revision files where possible (:mod:`.heads`), and
the messages are read from the head files' docstrings the same way (:mod:`.revision_files`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .heads import script_heads
from .revision_files import RevisionFile, list_revision_files, read_revision_files

__all__ = [
    "HEADS_NAME",
    "HeadsFile",
    "current_entries",
    "head_messages",
    "heads_path",
    "read_heads_file",
    "revision_ids",
    "write_heads_file",
]

HEADS_NAME = "HEADS"

_HEADER = (
    "# The head revision(s) of this directory, one per line: Flask-Versioning rewrites this\n"
    "# file with every new revision, so two branches that each add one conflict here in git.\n"
    "# On a conflict, keep either side, then run 'flask db rebase <the other revision>'.\n"
)
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( |$)")


@dataclasses.dataclass(frozen=True)
class HeadsFile:
    """What ``versions/HEADS`` says.

    ``entries`` are ``(revision, message)`` pairs in file order. A file left with git's conflict
    markers has ``conflicted`` set; ``theirs`` then holds the revisions of the incoming side
    (between ``=======`` and ``>>>>>>>``), which are also in ``entries``.
    """

    path: Path
    entries: tuple[tuple[str, str], ...]
    conflicted: bool = False
    theirs: tuple[str, ...] = ()

    @property
    def revisions(self) -> tuple[str, ...]:
        return tuple(rev for rev, _ in self.entries)


def heads_path(directory: Path) -> Path:
    """Where a script directory keeps its heads file: ``<directory>/versions/HEADS``."""
    return directory / "versions" / HEADS_NAME


def read_heads_file(directory: Path) -> HeadsFile | None:
    """The heads file of ``directory``; ``None`` when it has none (the guard is off)."""
    path = heads_path(directory)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    entries: list[tuple[str, str]] = []
    theirs: list[str] = []
    conflicted = False
    side = ""
    for line in text.splitlines():
        marker = _CONFLICT.match(line)
        if marker:
            conflicted = True
            side = {"<": "ours", "|": "base", "=": "theirs", ">": ""}[marker.group(1)[0]]
            continue
        line = line.strip()
        if not line or line.startswith("#") or side == "base":
            continue
        revision, _, message = line.partition(" ")
        if revision not in (rev for rev, _ in entries):
            entries.append((revision, message.strip()))
        if side == "theirs":
            theirs.append(revision)
    return HeadsFile(path, tuple(entries), conflicted, tuple(theirs))


def write_heads_file(directory: Path, entries: Iterable[tuple[str, str]]) -> Path:
    """Write ``entries`` (``(revision, message)``) as the directory's heads file, atomically.

    Sorted by revision, so the same heads always give the same bytes whoever writes them.
    """
    path = heads_path(directory)
    lines = [f"{rev} {_one_line(message)}".rstrip() for rev, message in sorted(entries)]
    text = _HEADER + "".join(f"{line}\n" for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".HEADS-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def current_entries(
    locations: Sequence[Path], compute: Callable[[], Iterable[str]]
) -> list[tuple[str, str]]:
    """The heads of the revision files in ``locations`` with their messages.

    ``compute`` is Alembic's answer, used only when a file cannot be read without importing it
    (see :func:`.heads.script_heads`). A message that cannot be read is left empty.
    """
    heads = script_heads(locations, compute).revisions
    return [(rev, message) for rev, message in head_messages(locations, heads).items()]


def head_messages(locations: Sequence[Path], heads: Sequence[str]) -> dict[str, str]:
    """Each head's message, reading the files whose name holds its id first (the usual case)."""
    wanted = dict.fromkeys(heads, "")
    missing = set(heads)
    files = [os.path.join(f, name) for f, names in list_revision_files(locations) for name in names]
    likely = [f for f in files if any(rev in os.path.basename(f) for rev in missing)]
    for filename in [*likely, *(f for f in files if f not in likely)]:
        if not missing:
            break
        found = RevisionFile.read(filename)
        if found is not None and found.revision in missing:
            missing.discard(found.revision)
            wanted[found.revision] = _one_line(found.message)
    return wanted


def revision_ids(locations: Sequence[Path]) -> set[str] | None:
    """Every revision id in ``locations``, read without importing; ``None`` if a file is too
    unusual to be read that way."""
    files = read_revision_files(locations)
    return None if files is None else {f.revision for f in files}


def _one_line(text: str) -> str:
    return " ".join(text.split())
