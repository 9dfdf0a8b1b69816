"""``versions/HEADS``: the head revisions of a script directory, in a file git can conflict on.

Two branches that each add a revision merge in git without a word and leave two heads, found
only at deploy. As with django-linear-migrations, every command that changes the heads rewrites
this file (one ``<revision> <message>`` line per head), so the second branch conflicts *in git*,
where the developer is; ``check`` compares it with the files. **The guard is on where the file
exists**, which keeps the switch in the repository and per directory. A directory this package
creates starts with one unless ``VERSIONING_LINEAR_HISTORY`` is ``False``; an existing one gets
it only from ``flask db init --linear``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .._errors import one_line
from .heads import script_heads, write_atomically
from .revision_files import RevisionFile, list_revision_files, read_revision_files

_HEADER = (
    "# The head revision(s) of this directory, one per line: Flask-Versioning rewrites this\n"
    "# file with every new revision, so two branches that each add one conflict here in git.\n"
    "# On a conflict, keep either side, then run 'flask db rebase <the other revision>'.\n"
)
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( |$)")


@dataclasses.dataclass(frozen=True)
class HeadsFile:
    """What ``versions/HEADS`` says: ``(revision, message)`` pairs in file order and, for a
    file left with git's conflict markers, the revisions of the incoming side (``theirs``)."""

    path: Path
    entries: tuple[tuple[str, str], ...]
    conflicted: bool = False
    theirs: tuple[str, ...] = ()

    @property
    def revisions(self) -> tuple[str, ...]:
        return tuple(rev for rev, _ in self.entries)


def heads_path(directory: Path) -> Path:
    return directory / "versions" / "HEADS"


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
    """Write ``(revision, message)`` entries as the heads file, sorted so that the same heads
    always give the same bytes whoever writes them."""
    path = heads_path(directory)
    lines = [f"{rev} {one_line(message)}".rstrip() for rev, message in sorted(entries)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, _HEADER + "".join(f"{line}\n" for line in lines))
    return path


def current_entries(
    locations: Sequence[Path], compute: Callable[[], Iterable[str]]
) -> list[tuple[str, str]]:
    """The heads of the revision files with their messages (empty where unreadable);
    ``compute`` as for :func:`.heads.script_heads`."""
    heads = script_heads(locations, compute).revisions
    return list(head_messages(locations, heads).items())


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
            wanted[found.revision] = one_line(found.message)
    return wanted


def revision_ids(locations: Sequence[Path]) -> set[str] | None:
    """Every revision id in ``locations`` read as text; ``None`` if a file is too unusual."""
    files = read_revision_files(locations)
    return None if files is None else {f.revision for f in files}
