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
    "BaselineResult",
    "DatabaseStatus",
    "LedgerRecord",
    "MigrationResult",
    "PrepareResult",
    "ResetResult",
    "RevisionOptions",
    "RevisionStatus",
    "RunOptions",
    "SeedResult",
    "SeedStatus",
    "Tenant",
    "TenantEvent",
    "TenantOptions",
    "TenantResult",
    "ValidationResult",
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


@dataclasses.dataclass(frozen=True)
class LedgerRecord:
    """One row of a database's history ledger: what happened, when, and from where."""

    #: ``upgrade``, ``downgrade``, ``stamp``, ``before-history``, ``checksum``, ``protect``...
    direction: str
    #: The revision the row is about (for a stamp: where it left the database).
    revision: str | None
    #: When the step finished (UTC, naive).
    at: datetime.datetime
    duration_ms: float
    #: The environment of the app that wrote it, and whether that app declared it.
    environment: str | None
    declared: bool
    host: str | None
    pid: int | None
    os_user: str | None
    #: Flask-Versioning's version in the process that wrote it.
    tool_version: str | None
    checksum: str | None


#: What ``status`` says of one revision.
RevisionState = Literal["applied", "pending", "missing", "changed"]


@dataclasses.dataclass(frozen=True)
class RevisionStatus:
    """One revision of a database's history, as ``flask db status`` shows it.

    ``state``: ``"applied"``; ``"pending"`` (not applied yet); ``"missing"`` (applied, but its
    file is gone); ``"changed"`` (applied, and its file changed since: the checksum the ledger
    recorded differs from the file's).
    """

    revision: str
    state: RevisionState
    message: str
    down_revisions: tuple[str, ...]
    #: The revision file, ``None`` when it is missing.
    path: Path | None
    #: The ledger row that applied it (``upgrade``, or ``before-history`` for a revision
    #: applied before the ledger existed); ``None`` when the ledger has none (stamped, applied
    #: by a tool that bypasses ``env.py``, or no ledger) or the revision is pending.
    applied: LedgerRecord | None = None
    #: ``True`` when applied by ``stamp`` rather than run.
    stamped: bool = False
    #: The file's checksum now (``None`` when missing) and the one the ledger holds for it.
    checksum: str | None = None
    recorded_checksum: str | None = None
    #: The ``validate --repair`` row the recorded checksum comes from, if it does; one
    #: without a checksum acknowledged that the file is gone.
    reviewed: LedgerRecord | None = None

    @property
    def problem(self) -> bool:
        """Applied, and its file changed since, or vanished without a repair saying so."""
        if self.state == "missing":
            return self.reviewed is None or self.reviewed.checksum is not None
        return self.state == "changed"


@dataclasses.dataclass(frozen=True)
class DatabaseStatus:
    """Where one database stands: its revisions, its ledger, its environment."""

    #: ``"default"`` or the bind name, and the ``bind`` value the API takes.
    database: str
    bind: str | None
    #: The database URL with its password masked.
    url: str
    #: Why the database could not be read (unreachable...); everything else is then empty.
    error: str | None = None
    #: The version table's revisions, and the heads of the revision files.
    current: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    #: Every revision, oldest first: applied ones in the order they were applied, then the
    #: pending ones in the order they would run.
    revisions: tuple[RevisionStatus, ...] = ()
    #: ``"ok"``; ``"missing"`` (no ledger table: a database migrated only by other tools, or
    #: the table was dropped); ``"damaged"`` (the table cannot be read as ours).
    ledger: Literal["ok", "missing", "damaged"] = "ok"
    #: One line about a damaged ledger or revision files that cannot be read.
    problems: tuple[str, ...] = ()
    #: The newest ledger row that migrated, stamped or protected the database: the
    #: environment the database has recorded.
    environment: LedgerRecord | None = None
    #: The row that makes the database protected, ``None`` when it is not.
    protected_by: LedgerRecord | None = None
    #: Signs that the ledger was edited or dropped by hand (rows missing, no ledger while
    #: revisions are applied), one line each; also among ``problems``. No proof either way:
    #: the ledger is an ordinary table.
    tampering: tuple[str, ...] = ()

    def with_state(self, *states: RevisionState) -> tuple[RevisionStatus, ...]:
        return tuple(r for r in self.revisions if r.state in states)

    @property
    def pending(self) -> tuple[RevisionStatus, ...]:
        return self.with_state("pending")

    @property
    def troubles(self) -> tuple[RevisionStatus, ...]:
        """Applied revisions whose file changed or vanished, not reviewed since."""
        return tuple(r for r in self.revisions if r.problem)

    @property
    def up_to_date(self) -> bool:
        """Readable, nothing pending, no applied file changed or missing (``status --check``)."""
        return self.error is None and not self.pending and not self.troubles


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """What ``validate`` found (and with ``repair``, recorded) for one database."""

    database: str
    #: Applied revisions whose file changed or vanished since they were applied.
    problems: tuple[RevisionStatus, ...]
    #: ``True`` when the current checksums of ``problems`` were recorded in the ledger.
    repaired: bool = False
    #: Why the database could not be validated (unreachable, unreadable files...).
    error: str | None = None
    #: Signs that the history ledger was edited or dropped by hand (see
    #: :attr:`DatabaseStatus.tampering`); reported, not failing.
    tampering: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and (not self.problems or self.repaired)


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
class TenantEvent:
    """A tenant starting or finishing, or the run interrupted, with the run's counts so far
    (for progress displays).

    ``interrupt`` comes as Ctrl-C is taken, before the run ends: ``tenant`` is the one being
    stopped (inline) or empty (workers, whose running tenants finish first), so a display can
    say at once what happens next rather than when the last worker is done.
    """

    kind: Literal["start", "finish", "interrupt"]
    tenant: str
    #: The worker (1 to ``jobs``) the tenant runs on; 0 for tenants skipped by the parent.
    worker: int
    total: int
    done: int
    failed: int
    skipped: int
    result: TenantResult[Any] | None = None


class TenantOptions(TypedDict, total=False):
    """How a command runs on tenants: the options of :meth:`Versioning.for_tenants()
    <flask_versioning.Versioning.for_tenants>`."""

    #: Processes running tenants at once (default 1: one after the other, in this process).
    jobs: int
    #: ``(k, n)``: only the tenants whose name hashes to share ``k`` of ``n`` (0 <= k < n).
    shard: tuple[int, int] | None
    #: Stop handing out tenants after the first failure (those running still finish).
    fail_fast: bool
    #: Create a tenant's missing schema (or database) instead of failing it.
    create: bool
    #: How a worker process gets the app (a picklable callable returning it), each worker
    #: then a fresh interpreter; default: a fork of this process with the app (Linux, one
    #: thread running), else the way the running ``flask`` command found it, else Flask's
    #: discovery of the app's module.
    app_loader: Callable[[], Flask] | None
    #: Called as tenants start and finish (in this process).
    on_event: Callable[[TenantEvent], None] | None
