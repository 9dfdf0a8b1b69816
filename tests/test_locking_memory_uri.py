"""An in-memory SQLite database named by URI takes the process-local lock, not a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_versioning._locking import migration_lock

# Processes racing for the lock.
pytestmark = pytest.mark.process


def test_in_memory_uri_database_leaves_no_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = sa.create_engine(
        "sqlite:///file:mem1?mode=memory&cache=shared&uri=true", poolclass=sa.StaticPool
    )
    try:
        with migration_lock(engine, key="k", timeout=0):
            pass
    finally:
        engine.dispose()
    assert os.listdir(tmp_path) == []
