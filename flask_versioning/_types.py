"""The data the API returns, and the option bundles that travel through the layers.

Results are frozen dataclasses: what happened is a fact, not something a caller edits. The
bundles are ``TypedDict``\\ s, so the API keeps Alembic's keywords (``upgrade(sql=True)``)
while the layers below pass one typed object instead of repeating the keyword list.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypedDict

__all__ = [
    "AdoptResult",
    "AppliedRevision",
    "BaselineResult",
    "MigrationResult",
    "PrepareResult",
    "ResetResult",
    "RevisionOptions",
    "RunOptions",
    "SeedResult",
    "SeedStatus",
]


class RunOptions(TypedDict, total=False):
    """Options of the commands that run revisions (``upgrade``, ``downgrade``, ``stamp``)."""

    #: Print the SQL instead of running it (Alembic's offline mode); nothing touches the database.
    sql: bool
    #: An arbitrary tag handed to the environment (``context.get_tag_argument()``).
    tag: str | None
    #: ``-x key=value`` arguments (``context.get_x_argument()``), in order.
    x_args: Sequence[str] | None


class RevisionOptions(TypedDict, total=False):
    """Options of the commands that write a revision file (``revision``, ``migrate``)."""

    #: The revision the new one follows (``head``, or ``<branch>@head``, or an id with ``splice``).
    head: str
    #: Allow ``head`` to name a revision that is not a head: start a new branch.
    splice: bool
    branch_label: str | Sequence[str] | None
    #: A folder inside the migrations directory for the new file.
    version_path: str | None
    #: A revision id of your choosing instead of a generated one.
    rev_id: str | None
    depends_on: str | Sequence[str] | None
    x_args: Sequence[str] | None


@dataclasses.dataclass(frozen=True)
class AppliedRevision:
    """One revision a command applied, reverted or stamped."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    #: ``"baseline"``: the schema was loaded from a baseline file and stamped at ``revision``
    #: (``message`` says how many statements).
    direction: Literal["upgrade", "downgrade", "stamp", "baseline"]
    duration: float


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """What ``upgrade``, ``downgrade`` or ``stamp`` did to one database."""

    database: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    steps: tuple[AppliedRevision, ...] = ()
    #: The generated SQL in offline (``sql=True``) mode; nothing touched the database then.
    sql: str | None = None
    #: One-line remarks, e.g. why no baseline was used for an empty database.
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class SeedResult:
    """What happened to one seed in a run."""

    name: str
    environment: str
    #: ``"applied"``: the hook ran and was committed; ``"skipped"``: it had run before.
    status: Literal["applied", "skipped"]
    #: Rows the seed inserted: the hook's return value when it returns an int, otherwise the
    #: rows counted in its ``INSERT`` statements; ``None`` when nothing could be counted.
    rows: int | None = None
    duration: float = 0.0
    database: str = "default"


@dataclasses.dataclass(frozen=True)
class SeedStatus:
    """One seed as ``flask db seed --list`` shows it."""

    name: str
    environments: tuple[str, ...]
    order: int
    always: bool
    bind: str | None
    #: Whether the seed is declared for the environment that was asked about.
    selected: bool
    #: When it last ran (UTC) and in which environment; ``None`` if it never ran here.
    applied_at: datetime.datetime | None
    applied_environment: str | None
    runs: int
    #: ``False`` for a seed the ledger remembers but no hook declares any more.
    defined: bool = True

    @property
    def pending(self) -> bool:
        """Whether running the environment's seeds now would run this one."""
        return self.defined and self.selected and (self.applied_at is None or self.always)


@dataclasses.dataclass(frozen=True)
class ResetResult:
    """What ``reset`` did: what it dropped, the upgrades that rebuilt the schema, the seeds."""

    #: Database name -> the tables and views dropped there.
    dropped: Mapping[str, tuple[str, ...]]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


@dataclasses.dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` did: the databases it created, the upgrades, the seeds."""

    #: Names of the databases that did not exist and were created.
    created: tuple[str, ...]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


@dataclasses.dataclass(frozen=True)
class AdoptResult:
    """What :meth:`Versioning.adopt` did."""

    source: Path
    directory: Path
    #: The revision files, now in ``directory/versions``, unchanged.
    revisions: tuple[Path, ...]
    #: Files of the old tool replaced by ours or removed, relative to ``directory``.
    replaced: tuple[str, ...]
    removed: tuple[str, ...]
    #: Options found in the old ``alembic.ini`` that need a ``VERSIONING_*`` key now.
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class BaselineResult:
    """What ``baseline`` did: the file written, or the revision files pruned."""

    database: str
    #: The revision the baseline equals (written, or the newest one pruning kept).
    revision: str
    dialect: str | None = None
    #: The file written; ``None`` when pruning.
    path: Path | None = None
    statements: int = 0
    #: Revisions up to ``revision`` that change data, one line each: their rows are not in a
    #: database made from the baseline.
    data_revisions: tuple[str, ...] = ()
    #: Tables whose rows were copied into the baseline.
    included: tuple[str, ...] = ()
    #: Revision files deleted by pruning.
    pruned: tuple[Path, ...] = ()
