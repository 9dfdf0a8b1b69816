"""What a revision file uses to change a live database without an outage.

``env.py`` already runs every step under a short lock timeout with retries; the names here are
for the steps that need more than that, so a reviewer sees in the file what runs:

- :func:`timeouts` changes the lock and statement timeouts, and the retries, for one revision;
- :func:`backfill` updates a large table in key-ordered batches, each committed on its own;
- the safe forms of the operations that lock a busy table, which autogenerate writes with
  ``VERSIONING_SAFE_DDL``: :func:`create_index_concurrently`, :func:`drop_index_concurrently`,
  :func:`create_unique_constraint_concurrently`, :func:`create_foreign_key_not_valid`,
  :func:`validate_constraint` and :func:`set_not_null`.

They live in a module of their own, not in the package's namespace, because only revision files
use them; an app and its tests never do.
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
