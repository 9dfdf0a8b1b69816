"""The data the API returns, and the option bundles that travel through the layers.

Results are frozen dataclasses: what happened is a fact, not something a caller edits. The
bundles are ``TypedDict``\\ s, so the API keeps Alembic's keywords (``upgrade(sql=True)``)
while the layers below pass one typed object instead of repeating the keyword list.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "AdoptResult",
    "AppliedRevision",
    "FleetEvent",
    "FleetRunOptions",
    "MigrationResult",
    "PrepareResult",
    "ResetResult",
    "RevisionOptions",
    "RunOptions",
    "SeedResult",
    "SeedStatus",
    "Tenant",
    "TenantOptions",
    "TenantResult",
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
    direction: Literal["upgrade", "downgrade", "stamp"]
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


# -- tenants ------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Tenant:
    """One tenant of a fleet: a database of its own, or a schema of one.

    ``url``: the tenant's own database (any backend). ``schema``: a schema of the app's
    database (PostgreSQL), or a database next to the app's on the same server (MariaDB/MySQL).
    Both: that schema of that database. Neither: the schema named like the tenant.
    """

    name: str
    url: str | None = None
    schema: str | None = None

    @property
    def schema_name(self) -> str | None:
        """The schema this tenant uses, ``None`` for a database of its own."""
        if self.schema is not None:
            return self.schema
        return None if self.url is not None else self.name


#: What happened to one tenant: ``changed`` (it was migrated or seeded), ``ok`` (the command
#: ran and changed nothing, or only read), ``skipped`` (already at the target: no revision file
#: was loaded, no lock taken), ``failed``, ``not run`` (``fail_fast`` stopped the run first).
TenantStatus = Literal["changed", "ok", "skipped", "failed", "not run"]


@dataclasses.dataclass(frozen=True)
class TenantResult(Generic[T]):
    """What a command did to one tenant; ``value`` is what it returns for one database."""

    tenant: str
    status: TenantStatus
    #: The command's own result for this tenant (a :class:`MigrationResult` for ``upgrade``,
    #: the revision ids for ``current``, ...); ``None`` when skipped, failed or not run.
    value: T | None = None
    #: The one-line error of a failed tenant.
    error: str | None = None
    #: The version table before and after; ``None`` where it was not, or could not be, read
    #: (``after`` of a failed tenant is where it stands now, when that could be read back).
    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None
    #: Seconds spent on this tenant (0 when skipped or not run).
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "not run")


@dataclasses.dataclass(frozen=True)
class FleetEvent:
    """A tenant starting or finishing, with the run's counts so far (for progress displays)."""

    kind: Literal["start", "finish"]
    tenant: str
    #: The worker (1 to ``jobs``) the tenant runs on; 0 for tenants skipped by the parent.
    worker: int
    total: int
    done: int
    failed: int
    skipped: int
    result: TenantResult[Any] | None = None


class TenantOptions(TypedDict, total=False):
    """Options of a command run on tenants (``tenants=`` given)."""

    #: Processes running tenants at once (default 1: one after the other, in this process).
    jobs: int
    #: ``(k, n)``: only the tenants whose name hashes to share ``k`` of ``n`` (0 <= k < n).
    shard: tuple[int, int] | None
    #: Stop handing out tenants after the first failure (those running still finish).
    fail_fast: bool
    #: Create a tenant's missing schema (or database) instead of failing it.
    create: bool
    #: How a worker process gets the app (a picklable callable returning it); default: the
    #: way the running ``flask`` command found it, else Flask's discovery of the app's module.
    app_loader: Callable[[], Flask] | None
    #: Called as tenants start and finish (in this process).
    on_event: Callable[[FleetEvent], None] | None


class FleetRunOptions(RunOptions, TenantOptions, total=False):
    """:class:`RunOptions` and :class:`TenantOptions` together, for ``upgrade(tenants=...)``."""
