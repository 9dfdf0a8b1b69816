"""``VERSIONING_SAFE_DDL``: autogenerate writes the forms that do not lock a live table, the
helpers run them, ``flask db lint`` is clean on them, and an INVALID index is rebuilt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import FlaskProject

# The app before (STAGE 1) and after (STAGE 2) the change under review: on a table that
# exists and has rows, an index, a foreign key, NOT NULL on an existing column and a unique
# constraint; and a new table with its own index and foreign key, which stay plain. STAGE 3:
# an index on a new column, and NOT NULL with a new type.
APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()
STAGE = int(os.environ.get("STAGE", "1"))


class Org(db.Model):
    __tablename__ = "orgs"
    id = sa.Column(sa.Integer, primary_key=True)


class Member(db.Model):
    __tablename__ = "members"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=STAGE == 1)
    email = sa.Column(sa.String(80), nullable=True)
    org_id = sa.Column(sa.Integer, nullable=True)
    city = sa.Column(sa.String(80 if STAGE == 3 else 40), nullable=STAGE != 3)
    if STAGE == 3:
        nick = sa.Column(sa.String(20), nullable=True, index=True)
    if STAGE == 2:
        __table_args__ = (
            sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name="fk_members_org"),
            sa.UniqueConstraint("email", name="uq_members_email"),
            sa.Index("ix_members_city", "city"),
        )


if STAGE == 2:

    class Badge(db.Model):
        __tablename__ = "badges"
        id = sa.Column(sa.Integer, primary_key=True)
        member_id = sa.Column(sa.ForeignKey("members.id"), index=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

HELPERS = (
    "create_index_concurrently(",
    "create_foreign_key_not_valid(",
    "set_not_null(",
    "create_unique_constraint_concurrently(",
)


@pytest.fixture
def app_project(tmp_path: Path, database_url: str) -> FlaskProject:
    (tmp_path / "app.py").write_text(APP)
    project = FlaskProject(tmp_path, database_url)
    project.db("migrate", "-m", "first", STAGE="1")
    project.db("upgrade", STAGE="1")
    _execute(
        database_url,
        "INSERT INTO orgs (id) VALUES (1)",
        "INSERT INTO members (id, name, email, org_id, city) VALUES "
        "(1, 'a', 'a@x', 1, 'Oslo'), (2, 'b', 'b@x', 1, 'Rome')",
    )
    return project


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def _rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _second(project: FlaskProject, stage: str = "2", **env: str) -> str:
    before = set(project.revision_files())
    project.db("migrate", "-m", "second", STAGE=stage, **env)
    (new,) = set(project.revision_files()) - before
    return new.read_text()


def _upgrade_function(text: str) -> str:
    return text.split("def upgrade", 1)[1].split("def downgrade", 1)[0]


@pytest.fixture
def server(backend: str) -> str:
    if backend == "sqlite":
        pytest.skip("the safe forms are for PostgreSQL and MariaDB")
    return backend


def test_autogenerate_writes_the_safe_forms_and_lint_is_clean(
    app_project: FlaskProject, server: str
) -> None:
    text = _second(app_project)
    upgrade = _upgrade_function(text)
    for helper in HELPERS:
        assert helper in upgrade, upgrade
        assert f"from flask_versioning import {helper[:-1]}" in text
    assert ("validate_constraint('fk_members_org', 'members')" in upgrade) == (
        server == "postgresql"
    )
    # What runs is written out for the reviewer, above each call.
    assert "# CREATE INDEX CONCURRENTLY outside the transaction" in upgrade
    # The table the revision creates is nobody's yet: its index and key stay plain.
    assert "op.create_index(op.f('ix_badges_member_id'), 'badges'" in upgrade
    assert "op.create_table('badges'" in upgrade
    assert "op.create_index('ix_members_city'" not in upgrade
    assert "op.create_foreign_key(" not in upgrade
    assert "op.create_unique_constraint(" not in upgrade
    # The downgrade drops the index without locking the table either.
    downgrade = text.split("def downgrade", 1)[1]
    assert "drop_index_concurrently('ix_members_city', table_name='members')" in downgrade

    lint = app_project.db("lint", check=False, STAGE="2")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "No findings." in lint.stdout, lint.stdout


def test_the_safe_forms_apply_on_postgresql(app_project: FlaskProject, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's catalogs")
    url = app_project.database_url
    _second(app_project)
    app_project.db("upgrade", STAGE="2")
    assert _rows(
        url,
        "SELECT c.relname, i.indisvalid, i.indisunique FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = 'members' AND NOT i.indisprimary ORDER BY 1",
    ) == [("ix_members_city", True, False), ("uq_members_email", True, True)]
    assert _rows(
        url,
        "SELECT conname, contype, convalidated FROM pg_constraint "
        "WHERE conrelid = 'members'::regclass AND contype <> 'p' ORDER BY 1",
    ) == [("fk_members_org", "f", True), ("uq_members_email", "u", True)]
    assert _rows(
        url,
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'members'::regclass "
        "AND attname = 'name'",
    ) == [(True,)]
    # The revision runs back down and up again.
    app_project.db("downgrade", "-1", STAGE="2")
    app_project.db("upgrade", STAGE="2")
    assert _rows(
        url,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE NOT i.indisvalid",
    ) == [(0,)]


def test_an_invalid_index_is_dropped_and_built_again(
    app_project: FlaskProject, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("INVALID indexes are PostgreSQL's")
    url = app_project.database_url
    _second(app_project)
    # A concurrent unique build that failed on duplicates, as an earlier deploy left it.
    _execute(url, "UPDATE members SET email = 'same@x'")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql("CREATE UNIQUE INDEX CONCURRENTLY uq_members_email ON members (email)")
    engine.dispose()
    invalid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'uq_members_email'::regclass"
    assert _rows(url, invalid) == [(False,)]
    # The data still has duplicates: the rebuild fails and says so, leaving it INVALID.
    failed = app_project.db("upgrade", check=False, STAGE="2")
    assert failed.returncode == 1
    assert "could not create unique index" in failed.stderr
    assert "outside its transaction (safe-DDL helpers) are kept" in failed.stderr
    assert _rows(url, invalid) == [(False,)]
    _execute(url, "UPDATE members SET email = 'b@x' WHERE id = 2")
    app_project.db("upgrade", STAGE="2")
    assert _rows(url, invalid) == [(True,)]
    assert _rows(
        url,
        "SELECT contype FROM pg_constraint WHERE conname = 'uq_members_email'",
    ) == [("u",)]


def test_a_build_blocked_past_its_retries_is_finished_by_the_next_upgrade(
    app_project: FlaskProject, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent builds are PostgreSQL's")
    url = app_project.database_url
    before = set(app_project.revision_files())
    app_project.db("revision", "-m", "city index", STAGE="1")
    (path,) = set(app_project.revision_files()) - before
    text = path.read_text().replace(
        "def upgrade() -> None:\n    pass",
        "def upgrade() -> None:\n"
        "    from flask_versioning.online import create_index_concurrently\n\n"
        "    create_index_concurrently('ix_members_city', 'members', ['city'])",
    )
    assert "create_index_concurrently('ix_members_city'" in text
    path.write_text(text)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    blocker = engine.connect()
    blocker.exec_driver_sql("UPDATE members SET city = city WHERE id = 1")  # a writer, open
    try:
        failed = app_project.db(
            "upgrade",
            check=False,
            STAGE="2",
            VERSIONING_DDL_LOCK_RETRIES="1",
            VERSIONING_DDL_RETRY_DELAY="0.01",
        )
    finally:
        blocker.rollback()
        blocker.close()
        engine.dispose()
    assert failed.returncode == 1
    (line,) = [x for x in failed.stderr.splitlines() if x.startswith("Error:")]
    assert "DDLTimeout: building index ix_members_city: the lock was not granted in 2" in line
    assert "UPDATE members SET city = city" in line
    assert "(safe-DDL helpers) are kept" in line
    state = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_members_city'::regclass"
    assert _rows(url, state) == [(False,)]  # the build stopped while waiting: INVALID
    app_project.db("upgrade", STAGE="1")
    assert _rows(url, state) == [(True,)]


def test_mariadb_asks_for_an_online_algorithm(
    app_project: FlaskProject, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    if backend != "mariadb":
        pytest.skip("ALGORITHM is MariaDB's")
    url = app_project.database_url
    _second(app_project)
    sql = app_project.db("upgrade", "--sql", STAGE="2").stdout
    assert "CREATE INDEX ix_members_city ON members (city) ALGORITHM=INSTANT" in sql
    assert "ADD CONSTRAINT uq_members_email UNIQUE (email), ALGORITHM=INSTANT" in sql

    with caplog.at_level(logging.WARNING, logger="flask_versioning"):
        app_project.db("upgrade", STAGE="2")
    refused = [r.getMessage() for r in caplog.records if "refused ALGORITHM" in r.getMessage()]
    # A foreign key is added INPLACE only with foreign_key_checks off: one line says so.
    assert len(refused) == 1, refused
    assert "fk_members_org" in refused[0]
    assert _rows(
        url,
        "SELECT index_name, non_unique FROM information_schema.statistics WHERE "
        "table_schema = database() AND table_name = 'members' AND index_name <> 'PRIMARY' "
        "ORDER BY 1",
    ) == [("fk_members_org", 1), ("ix_members_city", 1), ("uq_members_email", 0)]
    assert _rows(
        url,
        "SELECT is_nullable FROM information_schema.columns WHERE table_schema = database() "
        "AND table_name = 'members' AND column_name = 'name'",
    ) == [("NO",)]


def test_a_helper_that_needs_a_new_column_comes_after_it(
    app_project: FlaskProject, server: str
) -> None:
    upgrade = _upgrade_function(_second(app_project, stage="3"))
    order = [
        "op.add_column('members', sa.Column('nick'",
        "op.alter_column('members', 'city'",
        "set_not_null('members', 'city',",
        "create_index_concurrently(op.f('ix_members_nick'), 'members', ['nick']",
    ]
    places = [upgrade.find(text) for text in order]
    assert -1 not in places and places == sorted(places), upgrade
    # The type changes first, then NOT NULL in the safe form, on the new type.
    city = upgrade[places[1] : places[3]]
    assert "type_=sa.String(length=80)" in city
    assert "nullable=False" not in city
    app_project.db("upgrade", STAGE="3")
    assert app_project.db("check", STAGE="3").returncode == 0


def test_the_setting_reads_text_and_refuses_nonsense_in_one_line(tmp_path: Path) -> None:
    from flask import Flask

    from flask_versioning import ConfigurationError, Settings

    app = Flask("safeddl", root_path=str(tmp_path))
    assert Settings.from_app(app).safe_ddl is True
    app.config["VERSIONING_SAFE_DDL"] = "off"  # as an environment variable spells it
    assert Settings.from_app(app).safe_ddl is False
    app.config["VERSIONING_SAFE_DDL"] = "sometimes"
    with pytest.raises(ConfigurationError) as info:
        Settings.from_app(app)
    assert str(info.value) == "VERSIONING_SAFE_DDL must be True, False or None, not 'sometimes'"


def test_the_setting_off_writes_alembic_s_own_operations(
    app_project: FlaskProject, server: str
) -> None:
    upgrade = _upgrade_function(_second(app_project, VERSIONING_SAFE_DDL="false"))
    assert not any(helper in upgrade for helper in HELPERS), upgrade
    assert "op.create_index('ix_members_city', 'members', ['city'], unique=False)" in upgrade


def test_sqlite_gets_the_same_file_with_the_setting_on(tmp_path: Path) -> None:
    texts = {}
    for setting in ("true", "false"):
        root = tmp_path / setting
        root.mkdir()
        (root / "app.py").write_text(APP)
        project = FlaskProject(root, f"sqlite:///{root / 'app.db'}")
        project.db("migrate", "-m", "first", STAGE="1", VERSIONING_SAFE_DDL=setting)
        project.db("upgrade", STAGE="1", VERSIONING_SAFE_DDL=setting)
        upgrade = _upgrade_function(_second(project, VERSIONING_SAFE_DDL=setting))
        assert not any(helper in upgrade for helper in HELPERS), upgrade
        texts[setting] = upgrade
    assert texts["true"] == texts["false"]
    assert "batch_op.create_index(" in texts["true"]


HAND_WRITTEN = """
    create_index_concurrently('ix_members_city', 'members', ['city'])
    create_foreign_key_not_valid('fk_members_org', 'members', 'orgs', ['org_id'], ['id'])
    validate_constraint('fk_members_org', 'members')
    set_not_null('members', 'name', existing_type=sa.String(length=50))
    create_unique_constraint_concurrently('uq_members_email', 'members', ['email'])
"""


def test_helpers_written_by_hand_run_on_every_backend(app_project: FlaskProject) -> None:
    """A revision written for PostgreSQL still runs where the developer loops (SQLite), and
    twice over on a server: run again, each helper finds its work done."""
    before = set(app_project.revision_files())
    app_project.db("revision", "-m", "by hand", STAGE="1")
    (path,) = set(app_project.revision_files()) - before
    imports = "\n".join(
        f"from flask_versioning import {name}"
        for name in (
            "create_foreign_key_not_valid",
            "create_index_concurrently",
            "create_unique_constraint_concurrently",
            "set_not_null",
            "validate_constraint",
        )
    )
    text = path.read_text().replace("from alembic import op", f"from alembic import op\n{imports}")
    path.write_text(
        text.replace("def upgrade() -> None:\n    pass", "def upgrade() -> None:" + HAND_WRITTEN)
    )
    app_project.db("upgrade", STAGE="1")
    if app_project.database_url.startswith("postgresql"):
        (first,) = before
        app_project.db("stamp", first.name.split("_")[0], STAGE="1")
        app_project.db("upgrade", STAGE="1")  # everything there already: nothing fails
    inspector = sa.inspect(sa.create_engine(app_project.database_url, poolclass=sa.NullPool))
    assert {i["name"] for i in inspector.get_indexes("members")} >= {"ix_members_city"}
    assert "fk_members_org" in {f["name"] for f in inspector.get_foreign_keys("members")}
    assert "uq_members_email" in {u["name"] for u in inspector.get_unique_constraints("members")}
    columns = {c["name"]: c for c in inspector.get_columns("members")}
    assert columns["name"]["nullable"] is False
