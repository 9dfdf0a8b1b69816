"""Database migrations that are part of the Flask app itself, built on Alembic.

Everything a user touches is importable from here; the modules behind it are private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._alembic.database import Database
from ._alembic.environment import include_name, run_migrations
from ._errors import (
    AdoptError,
    ConfigurationError,
    DatabaseError,
    DDLTimeout,
    HistoryMismatch,
    HistoryWriteError,
    LockTimeout,
    MigrationFailed,
    MigrationInterrupted,
    MultipleHeadsError,
    ProtectedEnvironmentError,
    RevisionError,
    SeedError,
    SeedFailed,
    TenantsInterrupted,
    VersioningError,
    mask_url,
)
from ._extension import Versioning
from ._online import timeouts
from ._online.backfill import backfill
from ._online.safe import (
    create_foreign_key_not_valid,
    create_index_concurrently,
    create_unique_constraint_concurrently,
    drop_index_concurrently,
    set_not_null,
    validate_constraint,
)
from ._seeds.registry import SeedHook, SeedRegistry
from ._settings import Settings
from ._state import VersioningState
from ._types import (
    AdoptResult,
    AppliedRevision,
    BaselineResult,
    DatabaseStatus,
    FleetEvent,
    FleetRunOptions,
    LedgerRecord,
    MigrationResult,
    PrepareResult,
    ResetResult,
    RevisionOptions,
    RevisionStatus,
    RunOptions,
    SeedResult,
    SeedStatus,
    Tenant,
    TenantOptions,
    TenantResult,
    ValidationResult,
)

if TYPE_CHECKING:
    from ._reports import CheckReport, DatabasePlan, Difference, PlanStep, RebaseResult

__version__ = "0.1.0"

#: Public names imported on first use: the review commands' reports are not needed by an app
#: that only starts, and building their dataclasses costs a few milliseconds of every start.
_LAZY = {
    "CheckReport": "._reports",
    "DatabasePlan": "._reports",
    "Difference": "._reports",
    "PlanStep": "._reports",
    "RebaseResult": "._reports",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    value.__module__ = __name__
    globals()[name] = value
    return value


__all__ = [
    "AdoptError",
    "AdoptResult",
    "AppliedRevision",
    "BaselineResult",
    "CheckReport",
    "ConfigurationError",
    "DDLTimeout",
    "Database",
    "DatabaseError",
    "DatabasePlan",
    "DatabaseStatus",
    "Difference",
    "FleetEvent",
    "FleetRunOptions",
    "HistoryMismatch",
    "HistoryWriteError",
    "LedgerRecord",
    "LockTimeout",
    "MigrationFailed",
    "MigrationInterrupted",
    "MigrationResult",
    "MultipleHeadsError",
    "PlanStep",
    "PrepareResult",
    "ProtectedEnvironmentError",
    "RebaseResult",
    "ResetResult",
    "RevisionError",
    "RevisionOptions",
    "RevisionStatus",
    "RunOptions",
    "SeedError",
    "SeedFailed",
    "SeedHook",
    "SeedRegistry",
    "SeedResult",
    "SeedStatus",
    "Settings",
    "Tenant",
    "TenantOptions",
    "TenantResult",
    "TenantsInterrupted",
    "ValidationResult",
    "Versioning",
    "VersioningError",
    "VersioningState",
    "backfill",
    "create_foreign_key_not_valid",
    "create_index_concurrently",
    "create_unique_constraint_concurrently",
    "drop_index_concurrently",
    "include_name",
    "mask_url",
    "run_migrations",
    "set_not_null",
    "timeouts",
    "validate_constraint",
]

# The public classes are documented, printed in tracebacks and pickled under the package's
# name, not under the private module that happens to define them.
for _name in __all__:
    if isinstance(globals().get(_name), type):
        globals()[_name].__module__ = __name__
del _name
