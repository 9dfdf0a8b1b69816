"""What a revision file uses to change a live database without an outage.

``env.py`` already runs every step under a short lock timeout with retries; these are for the
steps that need more, so that a reviewer sees in the file what runs: :func:`timeouts` for one
revision, :func:`backfill` in batches, and the safe forms of the operations that lock a busy
table (which autogenerate writes with ``VERSIONING_SAFE_DDL``). Only revision files use them,
hence a module of their own, outside the package's namespace.
"""

from __future__ import annotations

from ._online.backfill import backfill
from ._online.policy import timeouts
from ._online.safe import (
    create_foreign_key_not_valid,
    create_index_concurrently,
    create_unique_constraint_concurrently,
    drop_index_concurrently,
    set_not_null,
    validate_constraint,
)

__all__ = [
    "backfill",
    "create_foreign_key_not_valid",
    "create_index_concurrently",
    "create_unique_constraint_concurrently",
    "drop_index_concurrently",
    "set_not_null",
    "timeouts",
    "validate_constraint",
]
