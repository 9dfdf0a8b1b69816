"""Baseline files: where they live, what their header says, and the checksum that guards them.

A baseline sits in the script directory as ``baselines/<revision>.<dialect>.sql``, next to the
revisions it stands for, and is reviewed in git like them. Its header states what it is::

    -- flask-versioning baseline
    -- format: 1
    -- revision: 3f2a9c1d7b4e
    -- dialect: postgresql
    -- created-at: 2026-03-01T12:00:00Z
    -- sha256: <64 hex digits of the body>
    --
    -- (two lines on what the file is and how to regenerate it)

    <the body: SQL statements>

The body is everything after the first blank line. Its checksum stops a hand edit, which would
make new databases differ from replayed ones unnoticed; line endings are normalised before
hashing, so a checkout that turns ``\\n`` into ``\\r\\n`` is no edit.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .._errors import VersioningError

MAGIC = "-- flask-versioning baseline"
FORMAT = "1"
FOLDER = "baselines"
_HEADER_LINE = re.compile(r"^-- ([a-z][a-z0-9-]*): ?(.*)$")
_HEADER_END = re.compile(r"\r?\n\r?\n")
_SAFE_REVISION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A baseline file as read (and verified) from disk."""

    path: Path
    revision: str
    dialect: str
    created_at: str
    checksum: str
    sql: str


class BaselineEntry(NamedTuple):
    """A baseline file known by its name only (not read, not verified)."""

    revision: str
    dialect: str
    path: Path


def baseline_path(directory: str | os.PathLike[str], revision: str, dialect: str) -> Path:
    """Where the baseline of ``revision`` for ``dialect`` lives in script ``directory``."""
    if not _SAFE_REVISION.match(revision) or not _SAFE_REVISION.match(dialect):
        raise VersioningError(
            f"cannot name a baseline file after revision {revision!r} and dialect {dialect!r}: "
            "use letters, digits, '_', '.', '+' and '-'"
        )
    return Path(directory) / FOLDER / f"{revision}.{dialect}.sql"


def checksum(sql: str) -> str:
    """The sha256 of a baseline body, with line endings normalised to ``\\n``."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def write_baseline(
    directory: str | os.PathLike[str], revision: str, dialect: str, sql: str
) -> Path:
    """Write (or replace) the baseline of ``revision`` for ``dialect`` in script ``directory``;
    written beside itself and moved into place, so a reader never sees half of it."""
    path = baseline_path(directory, revision, dialect)
    body = sql  # byte for byte: a copied row's text may hold a carriage return
    if body and not body.endswith("\n"):
        body += "\n"
    fields = {
        "format": FORMAT,
        "revision": revision,
        "dialect": dialect,
        "created-at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": checksum(body),
    }
    header = "\n".join(
        [
            MAGIC,
            *(f"-- {key}: {value}" for key, value in fields.items()),
            "--",
            f"-- The schema of a {dialect} database upgraded to {revision}, read from it.",
            "-- Do not edit: regenerate it with `flask db baseline`; the checksum catches edits.",
        ]
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(f"{header}\n\n{body}".encode())
        partial.replace(path)
    except OSError as exc:
        raise VersioningError(f"cannot write baseline {path}: {exc.strerror or exc}") from exc
    return path


def read_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file and verify it; a file edited by hand raises :class:`VersioningError`."""
    path = Path(path)
    try:
        # Not read_text(): its newline translation would also rewrite a "\r" inside a string.
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise VersioningError(f"cannot read baseline {path}: {reason}") from exc
    parts = _HEADER_END.split(text, maxsplit=1)
    header, body = parts if len(parts) == 2 else (text, "")
    lines = header.replace("\r\n", "\n").split("\n")
    if lines[0] != MAGIC or len(parts) != 2:
        raise VersioningError(f"{path} is not a baseline: it does not start with {MAGIC!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        match = _HEADER_LINE.match(line)
        if match:
            fields.setdefault(match.group(1), match.group(2).strip())
    missing = [key for key in ("format", "revision", "dialect", "sha256") if not fields.get(key)]
    if missing:
        raise VersioningError(f"baseline {path} has no {', '.join(missing)} in its header")
    if fields["format"] != FORMAT:
        raise VersioningError(
            f"baseline {path} is in format {fields['format']}; this version of "
            f"Flask-Versioning reads format {FORMAT}: regenerate it with `flask db baseline`"
        )
    if checksum(body) != fields["sha256"]:
        raise VersioningError(
            f"baseline {path} does not match its checksum: it was changed after it was written; "
            f"regenerate it with `flask db baseline --at {fields['revision']}` instead"
        )
    return Baseline(
        path=path,
        revision=fields["revision"],
        dialect=fields["dialect"],
        created_at=fields.get("created-at", ""),
        checksum=fields["sha256"],
        sql=body,
    )


def list_baselines(directory: str | os.PathLike[str]) -> list[BaselineEntry]:
    """The baseline files in script ``directory``, by file name, sorted; none read or verified
    (for messages such as "a baseline exists for sqlite but not for postgresql", and pruning)."""
    entries = []
    for path in (Path(directory) / FOLDER).glob("*.sql"):  # none when there is no folder
        revision, dot, dialect = path.name.removesuffix(".sql").rpartition(".")
        if dot and revision and not path.name.startswith("."):
            entries.append(BaselineEntry(revision, dialect, path))
    return sorted(entries)


def find_baseline(
    directory: str | os.PathLike[str], dialect: str, candidates: Sequence[str]
) -> Baseline | None:
    """The baseline for ``dialect`` of the first revision in ``candidates`` (newest first) that
    has one, read and verified; one whose header contradicts its file name raises."""
    for revision in candidates:
        path = baseline_path(directory, revision, dialect)
        if path.is_file():
            baseline = read_baseline(path)
            if (baseline.revision, baseline.dialect) != (revision, dialect):
                raise VersioningError(
                    f"baseline {path} says it is of revision {baseline.revision} for "
                    f"{baseline.dialect}, not what its file name says; regenerate it"
                )
            return baseline
    return None
