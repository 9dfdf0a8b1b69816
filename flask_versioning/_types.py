"""The data the API returns (frozen dataclasses: what happened is a fact), and the option
bundles (``TypedDict``\\ s: the API keeps Alembic's keywords, the layers pass one object).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

if TYPE_CHECKING:
    from flask import Flask


class RunOptions(TypedDict, total=False):
    """Options of the commands that run revisions (``upgrade``, ``downgrade``, ``stamp``)."""

    #: Return the SQL instead of running it (Alembic's offline mode).
    sql: bool
    #: A tag for ``context.get_tag_argument()``.
    tag: str | None
    #: ``-x key=value`` arguments (``context.get_x_argument()``).
    x_args: Sequence[str] | None


class RevisionOptions(TypedDict, total=False):
    """Options of the commands that write a revision file (``revision``, ``migrate``)."""

    #: The revision the new one follows (``head``, ``<branch>@head``, an id with ``splice``).
    head: str
    #: Allow ``head`` to name a revision that is not a head: start a new branch.
    splice: bool
    branch_label: str | Sequence[str] | None
    version_path: str | None
    rev_id: str | None
    depends_on: str | Sequence[str] | None
    x_args: Sequence[str] | None


@dataclasses.dataclass(frozen=True)
class AppliedRevision:
    """One revision a command applied, reverted or stamped."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    #: ``"baseline"``: the schema was loaded from a baseline file and stamped at ``revision``.
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
    #: ``"skipped"``: it had run before.
    status: Literal["applied", "skipped"]
    #: Rows inserted: the hook's int return value, else the rows its ``INSERT``\\ s counted.
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
    #: Whether the seed is declared for the environment asked about.
    selected: bool
    #: When (UTC) and in which environment it last ran; ``None``: never here.
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
    """What ``reset`` dropped (by database name), upgraded and seeded."""

    dropped: Mapping[str, tuple[str, ...]]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


@dataclasses.dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` created (database names), upgraded and seeded."""

    created: tuple[str, ...]
    migrations: tuple[MigrationResult, ...]
    seeds: tuple[SeedResult, ...]


@dataclasses.dataclass(frozen=True)
class AdoptResult:
    """What :meth:`Versioning.adopt` did."""

    source: Path
    directory: Path
    #: The revision files, now in ``directory/versions``.
    revisions: tuple[Path, ...]
    #: Files of the old tool replaced or removed, relative to ``directory``.
    replaced: tuple[str, ...]
    removed: tuple[str, ...]
    #: What needs a ``VERSIONING_*`` key now (options of the old ``alembic.ini``...).
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
    #: Revisions that change data, whose rows a database made from the baseline lacks.
    data_revisions: tuple[str, ...] = ()
    #: Tables whose rows were copied into the baseline.
    included: tuple[str, ...] = ()
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
    tool_version: str | None
    checksum: str | None


#: What ``status`` says of one revision.
RevisionState = Literal["applied", "pending", "missing", "changed"]


@dataclasses.dataclass(frozen=True)
class RevisionStatus:
    """One revision of a database's history, as ``flask db status`` shows it: ``"applied"``,
    ``"pending"``, ``"missing"`` (applied, file gone) or ``"changed"`` (applied, and its file's
    checksum differs from the one the ledger recorded)."""

    revision: str
    state: RevisionState
    message: str
    down_revisions: tuple[str, ...]
    #: The revision file, ``None`` when it is missing.
    path: Path | None
    #: The ledger row that applied it (``before-history``: before the ledger existed);
    #: ``None`` when pending or the ledger has none (stamped, other tools, no ledger).
    applied: LedgerRecord | None = None
    #: ``True`` when applied by ``stamp`` rather than run.
    stamped: bool = False
    #: The file's checksum now (``None`` when missing) and the one the ledger holds for it.
    checksum: str | None = None
    recorded_checksum: str | None = None
    #: The ``validate --repair`` row the recorded checksum comes from (no checksum: the file's
    #: absence was acknowledged).
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
    #: Every revision: the applied ones as applied, then the pending ones as they would run.
    revisions: tuple[RevisionStatus, ...] = ()
    #: ``"missing"``: no ledger table (other tools only, or dropped); ``"damaged"``: unreadable.
    ledger: Literal["ok", "missing", "damaged"] = "ok"
    #: One line each about a damaged ledger or unreadable revision files.
    problems: tuple[str, ...] = ()
    #: The newest ledger row that migrated, stamped or protected the database.
    environment: LedgerRecord | None = None
    #: The row that makes the database protected, ``None`` when it is not.
    protected_by: LedgerRecord | None = None
    #: Signs, one line each (also in ``problems``), that the ledger was edited or dropped by
    #: hand: no proof either way, it is an ordinary table.
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
    #: Applied revisions whose file changed or vanished since.
    problems: tuple[RevisionStatus, ...]
    #: ``True`` when the current checksums of ``problems`` were recorded in the ledger.
    repaired: bool = False
    #: Why the database could not be validated (unreachable, unreadable files...).
    error: str | None = None
    #: As :attr:`DatabaseStatus.tampering`: reported, not failing.
    tampering: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and (not self.problems or self.repaired)


# -- tenants ------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Tenant:
    """One tenant: ``url``, a database of its own; ``schema``, a schema of the app's database
    (PostgreSQL) or a database beside it (MariaDB/MySQL); both: that schema of that database;
    neither: the schema named like the tenant."""

    name: str
    url: str | None = None
    schema: str | None = None

    @property
    def schema_name(self) -> str | None:
        """The schema this tenant uses, ``None`` for a database of its own."""
        if self.schema is not None:
            return self.schema
        return None if self.url is not None else self.name


#: ``changed`` (migrated or seeded), ``ok`` (nothing changed, or only read), ``skipped``
#: (already at the target: no file loaded, no lock), ``failed``, ``not run`` (``fail_fast``).
TenantStatus = Literal["changed", "ok", "skipped", "failed", "not run"]


@dataclasses.dataclass(frozen=True)
class TenantResult(Generic[T]):
    """What a command did to one tenant; ``value`` is what it returns for one database."""

    tenant: str
    status: TenantStatus
    #: The command's result for this tenant (``upgrade``: a :class:`MigrationResult`);
    #: ``None`` when skipped, failed or not run.
    value: T | None = None
    error: str | None = None
    #: The version table before and after (a failed one: where it stands now), if read.
    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "not run")


@dataclasses.dataclass(frozen=True)
class TenantEvent:
    """A tenant starting or finishing, or the run interrupted, with the counts so far.

    ``interrupt`` comes as Ctrl-C is taken: ``tenant`` is the one being stopped (inline) or
    empty (workers, whose running tenants finish first), so a display can say so at once.
    """

    kind: Literal["start", "finish", "interrupt"]
    tenant: str
    #: The worker (1 to ``jobs``); 0 for tenants the parent skipped.
    worker: int
    total: int
    done: int
    failed: int
    skipped: int
    result: TenantResult[Any] | None = None


class TenantOptions(TypedDict, total=False):
    """How a command runs on tenants: the options of :meth:`Versioning.for_tenants()
    <flask_versioning.Versioning.for_tenants>`."""

    #: Processes running tenants at once (default 1: in this process).
    jobs: int
    #: ``(k, n)``: only the tenants whose name hashes to share ``k`` of ``n`` (0 <= k < n).
    shard: tuple[int, int] | None
    #: Start no tenant after the first failure (those running still finish).
    fail_fast: bool
    #: Create a tenant's missing schema (or database) instead of failing it.
    create: bool
    #: A picklable callable returning the app, for workers started as fresh interpreters;
    #: default: a fork of this process (Linux, one thread), else how ``flask`` found the app.
    app_loader: Callable[[], Flask] | None
    #: Called (in this process) as tenants start and finish.
    on_event: Callable[[TenantEvent], None] | None
