"""What the review commands (``check``, ``plan``, ``rebase``) return: plain data, apart from
the modules computing it, so the package re-exports it without importing Alembic at start."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._lint import Finding


@dataclasses.dataclass(frozen=True)
class Difference:
    """One difference between the models and the database, as autogenerate found it.

    ``kind`` is Alembic's word (``add_table``, ``modify_type``...), from the models' side:
    ``add_*`` is in the models, not yet in the database. ``old`` and ``new`` are the database's
    and the models' values, rendered for its dialect; ``description`` says it all in one line.
    """

    kind: str
    table: str
    description: str
    column: str | None = None
    name: str | None = None
    old: str | None = None
    new: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data: every field, ``None`` where it does not apply."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What ``flask db check`` found for one database. ``heads_problem``: ``versions/HEADS``
    disagrees with the files, and the models were not compared (fix the history first)."""

    database: str
    differences: tuple[Difference, ...] = ()
    heads_problem: str | None = None

    @property
    def ok(self) -> bool:
        return not self.differences and self.heads_problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "ok": self.ok,
            "heads_problem": self.heads_problem,
            "differences": [d.as_dict() for d in self.differences],
        }


@dataclasses.dataclass(frozen=True)
class PlanStep:
    """One revision ``upgrade`` would apply: its SQL, rendered offline, and its lint findings.

    ``sql_error``: why the SQL could not all be rendered (``sql`` has what was); ``applied``: a
    revision the database has already (``plan --all``, without SQL).
    """

    revision: str
    message: str
    path: Path
    sql: str = ""
    sql_error: str | None = None
    findings: tuple[Finding, ...] = ()
    applied: bool = False


@dataclasses.dataclass(frozen=True)
class DatabasePlan:
    """What ``upgrade target`` would do to one database, from where it stands now."""

    database: str
    bind: str | None
    dialect: str
    current: tuple[str, ...]
    target: str
    steps: tuple[PlanStep, ...]

    @property
    def pending(self) -> tuple[PlanStep, ...]:
        """The steps the upgrade would run (``steps`` without the applied ones)."""
        return tuple(step for step in self.steps if not step.applied)

    @property
    def unrendered(self) -> tuple[PlanStep, ...]:
        """The pending steps whose SQL could not be rendered (``flask db plan`` exits 1)."""
        return tuple(step for step in self.pending if step.sql_error is not None)


@dataclasses.dataclass(frozen=True)
class RebaseResult:
    """A revision moved onto another head by ``flask db rebase``."""

    revision: str
    path: Path
    old_parent: tuple[str, ...]
    new_parent: str
    #: The heads file that was rewritten, if the directory has one.
    heads_file: Path | None = None


# The two the package re-exports (lazily) are documented, printed and pickled under its name;
# the types inside them keep this module's, where they can be found.
for _name in ("CheckReport", "DatabasePlan"):
    globals()[_name].__module__ = "flask_versioning"
del _name
