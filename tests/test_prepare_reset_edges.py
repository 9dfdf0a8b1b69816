"""``prepare`` and ``reset`` where the server says no, or the version table lives elsewhere.

Run on the real servers: a role that may not create databases, and a version table in its
own PostgreSQL schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import MYSQL_URL, POSTGRES_URL, _fail_or_skip, table_names
from flask import Flask

from flask_versioning import DatabaseError, Versioning

REVISION = '''"""notes"""
import sqlalchemy as sa
from alembic import op

revision = "n001"
down_revision = None


def upgrade():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("notes")
'''


def _app(tmp_path: Path, url: str, **config: object) -> tuple[Flask, Versioning]:
    versions = tmp_path / "migrations" / "versions"
    if not versions.exists():
        versions.mkdir(parents=True)
        (versions / "n001_notes.py").write_text(REVISION)
    app = Flask("prepapp", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development", **config)
    return app, Versioning(app, metadata=sa.MetaData())


def _dispose(versioning: Versioning) -> None:
    for database in versioning.state.databases():
        database.engine().dispose()


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")


@pytest.fixture
def unprivileged_url(backend: str) -> Iterator[str]:
    """A URL to a database that does not exist, as a user that may not create databases."""
    user = f"fv_user_{uuid.uuid4().hex[:8]}"
    missing = f"fv_missing_{uuid.uuid4().hex[:8]}"
    admin_url = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
    admin = _admin(admin_url)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {user} LOGIN NOCREATEDB")
            else:
                conn.exec_driver_sql(f"CREATE USER '{user}'@'%%'")
                conn.exec_driver_sql(f"CREATE USER '{user}'@'localhost'")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _fail_or_skip(backend, str(exc).splitlines()[0])
    url = sa.make_url(admin_url).set(username=user, password=None, database=missing)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {missing}")
            if backend == "postgresql":
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {user}")
            else:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'localhost'")
        admin.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_prepare_says_when_it_may_not_create_the_database(
    tmp_path: Path, backend: str, unprivileged_url: str
) -> None:
    app, versioning = _app(tmp_path, unprivileged_url)
    name = sa.make_url(unprivileged_url).database
    with app.app_context():
        with pytest.raises(DatabaseError) as info:
            versioning.prepare()
        _dispose(versioning)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the database {name!r} does not exist and could not be created")
    assert message.endswith("create it yourself or give the user the right to create databases")
    admin = _admin(POSTGRES_URL if backend == "postgresql" else MYSQL_URL)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                query = "SELECT 1 FROM pg_database WHERE datname = :n"
            else:
                query = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
            assert conn.execute(sa.text(query), {"n": name}).first() is None
    finally:
        admin.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_reset_rebuilds_a_version_table_kept_in_its_own_schema(
    tmp_path: Path, database_url: str
) -> None:
    admin = _admin(database_url)
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE SCHEMA meta")
    app, versioning = _app(tmp_path, database_url, VERSIONING_VERSION_TABLE_SCHEMA="meta")
    with app.app_context():
        versioning.upgrade()
        with admin.connect() as conn:
            conn.exec_driver_sql("INSERT INTO notes (id) VALUES (1)")
            conn.exec_driver_sql("CREATE TABLE stray (id integer)")
        result = versioning.reset()
        _dispose(versioning)
    try:
        assert "meta.alembic_version" in result.dropped["default"]
        assert {"notes", "stray"} <= set(result.dropped["default"])
        assert table_names(database_url) == {"notes"}
        with admin.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM notes").scalar() == 0
            rows = conn.exec_driver_sql("SELECT version_num FROM meta.alembic_version").scalars()
            assert list(rows) == ["n001"]
    finally:
        admin.dispose()
