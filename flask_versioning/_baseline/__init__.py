"""Baselines: a revision's schema as one SQL file, to make an empty database in one step.

An app with a long history replays every revision whenever a new database is made. A baseline is
the schema a real database had after replaying up to one revision, dumped per backend into the
script directory (``baselines/<revision>.<dialect>.sql``); an empty database is created from it
and stamped with that revision, and only the revisions after it are replayed.

This package is the engine, usable without a Flask app: it takes SQLAlchemy connections and
paths. :mod:`.dump` renders a schema, :mod:`.files` writes, finds and verifies baseline files,
:mod:`.apply` loads one into an empty database, :mod:`.data` finds revisions that change data
and copies chosen tables' rows, and :mod:`.compare` snapshots a schema by reflection so that a
baseline-made database can be proved equal to a replayed one.
"""

from __future__ import annotations

from .apply import is_empty, load_baseline
from .compare import schema_snapshot
from .data import DataRevision, data_revisions, dump_rows
from .dump import dialect_key, dump_schema
from .files import (
    Baseline,
    BaselineEntry,
    baseline_path,
    find_baseline,
    list_baselines,
    read_baseline,
    write_baseline,
)

__all__ = [
    "Baseline",
    "BaselineEntry",
    "DataRevision",
    "baseline_path",
    "data_revisions",
    "dialect_key",
    "dump_rows",
    "dump_schema",
    "find_baseline",
    "is_empty",
    "list_baselines",
    "load_baseline",
    "read_baseline",
    "schema_snapshot",
    "write_baseline",
]
