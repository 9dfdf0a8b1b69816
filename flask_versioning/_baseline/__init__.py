"""Baselines: a revision's schema as one SQL file, to make an empty database in one step.

An app with a long history replays every revision for each new database. A baseline is the
schema a replayed database had at one revision, dumped per backend into the script directory
(``baselines/<revision>.<dialect>.sql``): an empty database is created from it, stamped with
that revision, and replays only the revisions after it. This package takes SQLAlchemy
connections and paths, no Flask app.
"""

from __future__ import annotations

from .apply import is_empty, load_baseline
from .data import data_revisions, dump_rows
from .dump import dialect_key, dump_schema
from .files import (
    Baseline,
    baseline_path,
    find_baseline,
    list_baselines,
    read_baseline,
    write_baseline,
)

__all__ = [
    "Baseline",
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
    "write_baseline",
]
