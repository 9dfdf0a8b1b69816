"""Database migrations that are part of the Flask app itself, built on Alembic.

Everything a user touches is importable from here; the modules behind it are private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
)
from ._extension import Versioning
from ._types import (
    DatabaseStatus,
    MigrationResult,
    SeedResult,
    Tenant,
    TenantEvent,
    TenantResult,
    ValidationResult,
)

if TYPE_CHECKING:
    from ._reports import CheckReport, DatabasePlan

__version__ = "0.1.0"

#: Imported on first use: an app that only starts needs no reports, which cost time to build.
_LAZY = {"CheckReport": "._reports", "DatabasePlan": "._reports"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    value.__module__ = __name__
    globals()[name] = value
    return value


#: What an app, its ``env.py``, its revision files and its tests use; the types inside the
#: results are reached as their attributes.
__all__ = [
    "AdoptError",
    "CheckReport",
    "ConfigurationError",
    "DDLTimeout",
    "DatabaseError",
    "DatabasePlan",
    "DatabaseStatus",
    "HistoryMismatch",
    "HistoryWriteError",
    "LockTimeout",
    "MigrationFailed",
    "MigrationInterrupted",
    "MigrationResult",
    "MultipleHeadsError",
    "ProtectedEnvironmentError",
    "RevisionError",
    "SeedError",
    "SeedFailed",
    "SeedResult",
    "Tenant",
    "TenantEvent",
    "TenantResult",
    "TenantsInterrupted",
    "ValidationResult",
    "Versioning",
    "VersioningError",
    "include_name",
    "run_migrations",
]

# Public classes are documented, printed and pickled under the package's name.
for _name in __all__:
    if isinstance(globals().get(_name), type):
        globals()[_name].__module__ = __name__
del _name
