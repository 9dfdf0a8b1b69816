"""Batched backfills: batches commit on their own, an interrupted backfill resumes, the ledger
and ``status`` know about it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import version_rows
from test_online_locks import _base, _make_app, _rows

from flask_versioning import DDLTimeout, MigrationFailed

ADD = '''"""add hits

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"


def upgrade():
    op.add_column("accounts", sa.Column("hits", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("accounts", "hits")
'''

FILL = '''"""fill hits

Revision ID: {rev}
Revises: {down}
"""
from flask_versioning.online import backfill

revision = "{rev}"
down_revision = "{down}"


def upgrade():
    # Not idempotent on purpose: a batch run twice would leave 2.
    backfill("accounts", "hits = coalesce(hits, 0) + 1", batch_size=100)


def downgrade():
    pass
'''


def _setup(root: Path, url: str) -> tuple[str, str, str]:
    first = _base(root, url)  # one row, id 1
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO accounts (name) VALUES (:name)"),
            [{"name": f"a{i}"} for i in range(2, 1001)],
        )
    engine.dispose()
    versions = root / "migrations" / "versions"
    # Longer than any generated id, so never equal to ``first``, whatever it starts with.
    second, third = "c2" + first, "c3" + first
    (versions / f"{second}_add.py").write_text(ADD.format(rev=second, down=first))
    (versions / f"{third}_fill.py").write_text(FILL.format(rev=third, down=second))
    return first, second, third


def test_a_backfill_updates_every_row_once_and_is_recorded(
    tmp_path: Path, database_url: str
) -> None:
    _, _, third = _setup(tmp_path, database_url)
    app, versioning, db = _make_app(tmp_path, database_url)
    with app.app_context():
        result = versioning.upgrade()
        db.engine.dispose()
    assert result.after == (third,)
    assert _rows(database_url, "SELECT hits, count(*) FROM accounts GROUP BY hits") == [(1, 1000)]
    assert _rows(
        database_url,
        "SELECT rows_done, batches, finished_at IS NOT NULL FROM versioning_backfills",
    ) == [(1000, 10, True)]
    assert _rows(
        database_url,
        f"SELECT count(*) FROM versioning_history WHERE direction = 'backfill' "
        f"AND revision = '{third}'",
    ) == [(1,)]


def test_an_interrupted_backfill_resumes_where_it_stopped(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite locks the whole file, not a row: nothing to interrupt a batch with")
    _, second, third = _setup(tmp_path, database_url)
    app, versioning, db = _make_app(
        tmp_path, database_url, VERSIONING_DDL_LOCK_RETRIES=0, VERSIONING_DDL_RETRY_DELAY=0.01
    )
    holder = sa.create_engine(database_url, poolclass=sa.NullPool)
    with app.app_context(), holder.connect() as blocking:
        versioning.upgrade(second)  # the column first: the row lock below would block its DDL
        # The test's own transaction locks row 250: the third batch (201-300) cannot take it.
        blocking.execute(sa.text("SELECT id FROM accounts WHERE id = 250 FOR UPDATE")).all()
        with pytest.raises(MigrationFailed) as failed:
            versioning.upgrade()
        blocking.rollback()
        assert isinstance(failed.value.cause, DDLTimeout)
        assert "backfill of accounts stopped after its last committed batch (up to 200)" in str(
            failed.value
        )
        assert version_rows(database_url) == [second]
        assert _rows(database_url, "SELECT rows_done, last_key FROM versioning_backfills") == [
            (200, "int:200")
        ]
        status = app.test_cli_runner().invoke(args=["db", "status"])
        assert "backfill" in status.output and "200" in status.output, status.output

        result = versioning.upgrade()  # the same revision again: it resumes after 200
        db.engine.dispose()
    holder.dispose()
    assert result.after == (third,)
    assert _rows(database_url, "SELECT hits, count(*) FROM accounts GROUP BY hits") == [(1, 1000)]
    assert _rows(
        database_url, "SELECT rows_done, batches, finished_at IS NOT NULL FROM versioning_backfills"
    ) == [(1000, 10, True)]
