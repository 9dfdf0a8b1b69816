"""Auto-upgrade at app start, on the paths test_autoupgrade.py does not take: no revisions at
all, a configuration that cannot even list the databases, a failing seed, and targets other
than the heads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import table_names, version_rows
from flask import Flask

from flask_versioning import ConfigurationError, Versioning

STEP = '''"""step {rev}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}


def upgrade():
    op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("t_{rev}")
'''


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


def _chain(tmp_path: Path, *revisions: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    down = None
    for rev in revisions:
        (versions / f"{rev}_step.py").write_text(STEP.format(rev=rev, down=down))
        down = rev


def _start(tmp_path: Path, url: str, **config: object) -> tuple[Flask, Versioning]:
    app = Flask("autoedges", root_path=str(tmp_path))
    app.config.update(
        {
            "VERSIONING_DATABASE_URL": url,
            "VERSIONING_AUTO_UPGRADE": True,
            "VERSIONING_ENV": "development",
            **config,
        }
    )
    versioning = Versioning()

    @versioning.seed("development")
    def notes(session: object) -> None:
        if app.config.get("TEST_SEED_FAILS"):
            raise RuntimeError("seed exploded")

    versioning.init_app(app, metadata=sa.MetaData())
    return app, versioning


def test_no_revisions_directory_is_a_warning_and_creates_nothing(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_versioning")
    app, _ = _start(tmp_path, sqlite_url, VERSIONING_AUTO_SEED=False)
    assert "versioning" in app.extensions
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "auto-upgrade: no revisions for the default database (no directory "
        f"{tmp_path / 'migrations' / 'versions'}); nothing to upgrade. Create it with "
        "'flask db init' or set VERSIONING_DIRECTORY."
    ]
    assert not (tmp_path / "migrations").exists()
    assert table_names(sqlite_url) == set()


def test_a_configuration_that_cannot_list_the_databases(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _chain(tmp_path, "r001")
    bad = {"default": sqlite_url, "bad name": f"sqlite:///{tmp_path / 'b.db'}"}
    with pytest.raises(ConfigurationError, match="'bad name' cannot name a directory"):
        _start(tmp_path, sqlite_url, VERSIONING_DATABASE_URL=bad)
    caplog.set_level(logging.INFO, logger="flask_versioning")
    app, _ = _start(
        tmp_path, sqlite_url, VERSIONING_DATABASE_URL=bad, VERSIONING_AUTO_UPGRADE_ON_ERROR="log"
    )
    assert "versioning" in app.extensions
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("auto-upgrade of the app's databases failed, starting anyway")
    assert "'bad name' cannot name a directory" in errors[0]
    assert table_names(sqlite_url) == set()


def test_a_failing_seed_is_logged_after_the_upgrade(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _chain(tmp_path, "r001")
    caplog.set_level(logging.INFO, logger="flask_versioning")
    app, _ = _start(
        tmp_path,
        database_url,
        VERSIONING_AUTO_SEED=True,
        VERSIONING_AUTO_UPGRADE_ON_ERROR="log",
        TEST_SEED_FAILS=True,
    )
    assert "versioning" in app.extensions
    assert version_rows(database_url) == ["r001"]
    assert "t_r001" in table_names(database_url)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("auto-upgrade of the seeds failed, starting anyway")
    assert "seed exploded" in errors[0]


def test_targets_other_than_the_heads(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _chain(tmp_path, "r001", "r002", "r003")
    caplog.set_level(logging.INFO, logger="flask_versioning")
    _start(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="r002")
    assert version_rows(database_url) == ["r002"]
    assert "t_r003" not in table_names(database_url)
    caplog.clear()
    _start(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="r002")
    assert "the default database is at r002, nothing to do" in caplog.text
    # A relative target has no cheap check: the locked path answers it.
    caplog.clear()
    _start(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="r003-1")
    assert version_rows(database_url) == ["r002"]
    assert "nothing to do (checked under the migration lock" in caplog.text
    _start(tmp_path, database_url, VERSIONING_AUTO_UPGRADE_TARGET="+1")
    assert version_rows(database_url) == ["r003"]
    assert "t_r003" in table_names(database_url)
