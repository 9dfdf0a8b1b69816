"""Database migrations that are part of the Flask app itself, built on Alembic.

Everything a user touches is importable from here; the modules behind it are private.
"""

from __future__ import annotations

from ._alembic.database import Database
from ._alembic.environment import run_migrations
from ._errors import (
    AdoptError,
    ConfigurationError,
    DatabaseError,
    LockTimeout,
    MigrationFailed,
    MultipleHeadsError,
    ProtectedEnvironmentError,
    RevisionError,
    SeedError,
    SeedFailed,
    VersioningError,
    mask_url,
)
from ._extension import Versioning
from ._seeds.registry import SeedHook, SeedRegistry
from ._settings import Settings
from ._state import VersioningState
from ._types import (
    AdoptResult,
    AppliedRevision,
    FleetEvent,
    FleetRunOptions,
    MigrationResult,
    PrepareResult,
    ResetResult,
    RevisionOptions,
    RunOptions,
    SeedResult,
    SeedStatus,
    Tenant,
    TenantOptions,
    TenantResult,
)

__version__ = "0.1.0"

__all__ = [
    "AdoptError",
    "AdoptResult",
    "AppliedRevision",
    "ConfigurationError",
    "Database",
    "DatabaseError",
    "FleetEvent",
    "FleetRunOptions",
    "LockTimeout",
    "MigrationFailed",
    "MigrationResult",
    "MultipleHeadsError",
    "PrepareResult",
    "ProtectedEnvironmentError",
    "ResetResult",
    "RevisionError",
    "RevisionOptions",
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
    "Versioning",
    "VersioningError",
    "VersioningState",
    "mask_url",
    "run_migrations",
]

# The public classes are documented, printed in tracebacks and pickled under the package's
# name, not under the private module that happens to define them.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name
