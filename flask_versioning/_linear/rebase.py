"""``flask db rebase REV [--onto HEAD]``: move a revision written on an older head onto the newer.

Two branches each added a revision on the same parent: a merge revision would keep both branches
forever, where a straight line is what the team meant. Rebasing rewrites the file's
``down_revision`` and ``Revises:`` line. Refused, changing nothing, when ``REV`` is applied in a
database of this directory, has children, is a merge, or when its parent is not an ancestor of
the new one (changes would be dropped).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _errors as errors
from .._alembic.errors import translate_errors
from .._alembic.heads import write_atomically
from .._alembic.revision_files import assignments
from .._ledgers.versions import current
from .._paths import display_path, sqlite_file_missing
from .._reports import RebaseResult
from .guard import record_heads

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from .._alembic.database import Database


def rebase(
    database: Database, revision: str, onto: str | None, databases: list[Database]
) -> RebaseResult:
    """Make ``revision`` follow ``onto`` (default: the other head); ``databases`` (the app's)
    that share this directory are checked for ``revision`` in their version table."""
    script = database.script_directory()
    with translate_errors(database, "'rebase'"):
        moving = _find(script, revision, "")
        heads = list(script.get_heads())
        target = _onto(script, moving, onto, heads)
        old_parent = _parents(moving)
        if len(old_parent) > 1:
            raise errors.RevisionError(
                f"{moving.revision} is a merge revision (of {', '.join(old_parent)}): rebase "
                "moves a revision with one parent"
            )
        if old_parent == (target,):
            raise errors.RevisionError(f"{moving.revision} already follows {target}")
        ancestors = {s.revision for s in script.iterate_revisions(target, "base")}
    lost = [rev for rev in old_parent if rev not in ancestors]
    if lost:
        raise errors.RevisionError(
            f"{moving.revision} builds on {lost[0]}, which is not in {target}'s history: "
            "moving it would drop those changes; join the branches with 'flask db merge'"
        )
    _refuse_if_applied(database, moving.revision, old_parent, target, databases)
    path = Path(moving.path)
    rewrite_parent(path, target)
    return RebaseResult(
        revision=moving.revision,
        path=path,
        old_parent=old_parent,
        new_parent=target,
        heads_file=record_heads(database),
    )


def _find(script: ScriptDirectory, revision: str, what: str) -> Script:
    found = script.get_revision(revision)
    if found is None:
        raise errors.RevisionError(f"no revision matches {what}{revision!r}")
    return found


def _parents(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def _onto(script: ScriptDirectory, moving: Script, onto: str | None, heads: list[str]) -> str:
    if moving.nextrev:
        raise errors.RevisionError(
            f"{moving.revision} has children ({', '.join(sorted(moving.nextrev))}): only a "
            "head revision can be rebased"
        )
    if onto is None:
        others = [head for head in heads if head != moving.revision]
        if not others:
            raise errors.RevisionError(
                f"{moving.revision} is the only head: there is no other head to rebase it onto"
            )
        if len(others) > 1:
            raise errors.RevisionError(
                f"there are several other heads ({', '.join(others)}): choose one with --onto"
            )
        return others[0]
    target = _find(script, onto, "--onto ").revision
    if target == moving.revision:
        raise errors.RevisionError(f"cannot rebase {moving.revision} onto itself")
    if target not in heads:
        raise errors.RevisionError(
            f"--onto {target} is not a head (heads: {', '.join(heads)}): rebase onto a head"
        )
    return target


def _refuse_if_applied(
    database: Database,
    revision: str,
    old_parent: tuple[str, ...],
    onto: str,
    databases: list[Database],
) -> None:
    here = database.directory.resolve()
    mine = [
        other
        for other in databases
        if other.directory.resolve() == here and not sqlite_file_missing(other)
    ]
    for other in mine:
        if revision not in current(other):
            continue
        back = old_parent[0] if old_parent else "base"
        bind = f" --bind {other.bind}" if other.bind is not None else ""
        instead = ""
        if not any(onto in current(o) for o in mine):
            instead = (
                f"; or, if {onto} is the one not yet shared (on main or deployed), move it "
                f"instead, which needs no downgrade: 'flask db rebase {onto} --onto {revision}'"
            )
        raise errors.RevisionError(
            f"the {other.name} database ({errors.mask_url(other.url)}) has already applied "
            f"{revision}: moving it after {onto} would leave that database claiming {onto}'s "
            "changes without having them. This only concerns that database, not the file or "
            f"anyone's branch: run 'flask db downgrade {back}{bind}' (reverts {revision} in "
            f"that database only; its rows there are lost), then 'flask db rebase {revision} "
            f"--onto {onto}', "
            f"then 'flask db upgrade{bind}' (applies {onto}, then {revision} again){instead}"
        )


_REVISES = re.compile(rb"^(?P<head>[ \t]*Revises:)[^\r\n]*", re.MULTILINE)


def rewrite_parent(path: Path, parent: str) -> None:
    """Set the revision file's ``down_revision`` to ``parent``, and its ``Revises:`` line;
    everything else stays byte for byte."""
    raw = path.read_bytes()
    try:
        tree = ast.parse(raw)
    except (SyntaxError, ValueError) as exc:
        raise errors.RevisionError(f"{display_path(path)} is not valid Python: {exc}") from None
    value = _assigned(tree, "down_revision")
    if value is None:
        raise errors.RevisionError(
            f"{display_path(path)} has no single top-level 'down_revision = ...' to rewrite"
        )
    lines = raw.splitlines(keepends=True)

    def offset(line: int | None, column: int | None) -> int:
        return sum(len(text) for text in lines[: (line or 1) - 1]) + (column or 0)

    quote = _quote(raw, tree)
    new = (
        raw[: offset(value.lineno, value.col_offset)]
        + f"{quote}{parent}{quote}".encode()
        + raw[offset(value.end_lineno, value.end_col_offset) :]
    )
    if ast.get_docstring(tree) is not None:
        docstring = tree.body[0]
        end = offset(docstring.end_lineno, docstring.end_col_offset)
        if match := _REVISES.search(new, 0, end):
            new = new[: match.start()] + match["head"] + f" {parent}".encode() + new[match.end() :]
    _replace(path, new)


def _assigned(tree: ast.Module, name: str) -> ast.expr | None:
    values = assignments(tree, [name])[name]
    return values[0] if len(values) == 1 else None


def _quote(raw: bytes, tree: ast.Module) -> str:
    # The quote the file writes its revision id with (a formatter may have changed it).
    value = _assigned(tree, "revision")
    if value is not None:
        line = raw.splitlines()[value.lineno - 1]
        if line[value.col_offset : value.col_offset + 1] == b'"':
            return '"'
    return "'"


def _replace(path: Path, content: bytes) -> None:
    # The cached bytecode goes: a rewrite within the second of the last import would leave a
    # .pyc that Python still takes as current (same size and mtime).
    write_atomically(path, content, mode=path.stat().st_mode & 0o7777)
    cached = Path(importlib.util.cache_from_source(str(path)))
    for pyc in cached.parent.glob(f"{path.stem}.*.pyc"):
        with contextlib.suppress(OSError):
            pyc.unlink()
