"""Seeds per environment, the run-once ledger, reset, prepare and protected environments.

User-level flows run real ``flask`` processes on an app written to disk (plain SQLAlchemy, no
Flask-SQLAlchemy) and look at what a user sees: exit codes, output, rows in the database. The
rest goes through the Python API. Every database test runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    FLASK,
    MYSQL_URL,
    POSTGRES_URL,
    FlaskProject,
    _fail_or_skip,
    table_names,
    version_rows,
)
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from flask_versioning import (
    ConfigurationError,
    ProtectedEnvironmentError,
    RevisionError,
    SeedError,
    SeedFailed,
    Versioning,
)

# The app under test: authors and books for development, countries as reference data for
# every environment, and two optional seeds switched on by environment variables.
SEEDS_APP = '''
import json
import os

import click
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_versioning import Versioning


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("authors.id"))


countries = sa.Table(
    "countries",
    Base.metadata,
    sa.Column("code", sa.String(2), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
)
events = sa.Table(
    "events",
    Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
)

versioning = Versioning(metadata=Base.metadata)


@versioning.seed("production", "development", "testing", order=-1)
def reference_countries(session):
    session.execute(countries.delete())  # reference data: replace, so re-running is safe
    versioning.bulk_insert(
        countries,
        [{"code": "FR", "name": "France"}, {"code": "JP", "name": "Japan"},
         {"code": "KE", "name": "Kenya"}],
    )


@versioning.seed("development", "testing")
def authors(session):
    session.add_all([Author(name="Ursula K. Le Guin"), Author(name="Terry Pratchett")])


@versioning.seed("development", order=1)
def books(session):
    ids = session.scalars(sa.select(Author.id).order_by(Author.id)).all()
    versioning.bulk_insert(
        Book, [{"title": f"Book {i}", "author_id": ids[i % len(ids)]} for i in range(50)]
    )


if os.environ.get("SEED_BROKEN"):

    @versioning.seed("development", order=5)
    def broken(session):
        session.add(Author(name="Half written"))
        session.commit()  # only flushes: the extension owns the transaction
        raise RuntimeError("the seed data file is missing")

    @versioning.seed("development", order=6)
    def after_broken(session):
        session.execute(events.insert().values(kind="after"))


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    versioning.init_app(app)

    @app.cli.command("stats")
    def stats():
        """Start the app and print its row counts."""
        with versioning.database().engine().connect() as conn:
            click.echo(json.dumps({
                t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar()
                for t in ("authors", "books", "countries", "events")
            }))

    return app
'''

REVISION = '''"""catalogue"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "books",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["authors.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "countries",
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("events")
    op.drop_table("countries")
    op.drop_table("books")
    op.drop_table("authors")
'''

DEV_COUNTS = {"authors": 2, "books": 50, "countries": 3, "events": 0}


def _write_project(root: Path, url: str) -> FlaskProject:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(SEEDS_APP)
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_catalogue.py").write_text(REVISION)
    return FlaskProject(root, url)


@pytest.fixture
def seeds_project(tmp_path: Path, database_url: str) -> FlaskProject:
    """The seeds app on the backend under test (``VERSIONING_ENV=development`` by default)."""
    return _write_project(tmp_path, database_url)


def _scalar_query(url: str, query: str) -> Any:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).all()
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    """Rows per table of the app, read with a fresh connection."""
    rows = _scalar_query(
        url,
        "SELECT 'authors', COUNT(*) FROM authors UNION ALL SELECT 'books', COUNT(*) FROM books "
        "UNION ALL SELECT 'countries', COUNT(*) FROM countries "
        "UNION ALL SELECT 'events', COUNT(*) FROM events",
    )
    return {name: int(n) for name, n in rows}


def ledger(url: str) -> dict[str, tuple[str, int]]:
    """The seed ledger: name -> (environment, runs)."""
    rows = _scalar_query(url, "SELECT name, environment, runs FROM versioning_seeds")
    return {name: (env, runs) for name, env, runs in rows}


def author_names(url: str) -> set[str]:
    return {row[0] for row in _scalar_query(url, "SELECT name FROM authors")}


# -- prepare ----------------------------------------------------------------------------------


def test_prepare_on_an_empty_then_an_up_to_date_database(seeds_project: FlaskProject) -> None:
    url = seeds_project.database_url
    out = seeds_project.db("prepare").stdout
    assert "Applied 0001 (catalogue)" in out
    # One line per seed, in order, with what it wrote and how long it took.
    lines = [line for line in out.splitlines() if line.startswith("Seeded")]
    assert [line.split(" in ")[0] for line in lines] == [
        "Seeded reference_countries (development): 3 rows",
        "Seeded authors (development): 2 rows",
        "Seeded books (development): 50 rows",
    ]
    assert all(line.endswith(" ms") for line in lines)
    assert "is ready" in out and "at 0001" in out
    assert counts(url) == DEV_COUNTS
    assert ledger(url) == {
        "reference_countries": ("development", 1),
        "authors": ("development", 1),
        "books": ("development", 1),
    }

    out = seeds_project.db("prepare").stdout
    assert "already at 0001" in out and "Seeded" not in out
    assert counts(url) == DEV_COUNTS
    assert version_rows(url) == ["0001"]

    # The ledger is ours, like the version table: autogenerate must not want to drop it.
    assert "No differences" in seeds_project.db("check").stdout


@pytest.fixture
def missing_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL naming a database that does not exist yet (dropped again afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'instance' / 'data' / 'new.db'}"
        return
    admin_url = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"fv_new_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _fail_or_skip(backend, str(exc).splitlines()[0])
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def test_prepare_creates_a_missing_database(tmp_path: Path, missing_database_url: str) -> None:
    # In this process first: the Python API does the same as the command.
    app = _api_app(tmp_path / "api", missing_database_url, TESTING=True)
    versioning = Versioning(app)
    with app.app_context():
        result = versioning.prepare()
        versioning.database().engine().dispose()
    assert result.created == ("default",) and result.migrations[0].after == ("0001",)
    assert counts(missing_database_url) == {"authors": 0, "books": 0, "countries": 0, "events": 0}

    project = _write_project(tmp_path / "cli", missing_database_url)
    out = project.db("prepare").stdout
    assert "already at 0001" in out and "created" not in out
    assert counts(missing_database_url) == DEV_COUNTS


# -- environments, --env, --list, --force -----------------------------------------------------


def test_production_gets_only_production_seeds_and_is_protected(
    seeds_project: FlaskProject,
) -> None:
    url = seeds_project.database_url
    production = {"VERSIONING_ENV": "production"}
    out = seeds_project.db("prepare", **production).stdout
    assert "Seeded reference_countries (production): 3 rows" in out
    assert "authors" not in out and "books" not in out
    assert counts(url) == {"authors": 0, "books": 0, "countries": 3, "events": 0}
    assert ledger(url) == {"reference_countries": ("production", 1)}

    # Destructive commands are refused with one line and exit 1; nothing changes.
    refused = [
        ("reset", "--yes"),
        ("reset", "--yes", "--env", "development"),  # the app's own environment still counts
        ("downgrade", "base"),
        ("stamp", "base"),
        ("seed", "--force"),
    ]
    for args in refused:
        proc = seeds_project.db(*args, check=False, **production)
        assert proc.returncode == 1, args
        assert "'production' is a protected environment" in proc.stderr, args
        assert "--allow-protected" in proc.stderr and "Traceback" not in proc.stderr, args
        assert len(proc.stderr.strip().splitlines()) == 1, args
    assert version_rows(url) == ["0001"]
    assert counts(url) == {"authors": 0, "books": 0, "countries": 3, "events": 0}
    assert ledger(url) == {"reference_countries": ("production", 1)}

    # Stamping what is already there changes nothing and is allowed.
    seeds_project.db("stamp", "0001", **production)
    # The explicit override works.
    out = seeds_project.db("seed", "--force", "--allow-protected", **production).stdout
    assert "Seeded reference_countries (production)" in out
    assert ledger(url) == {"reference_countries": ("production", 2)}
    seeds_project.db("downgrade", "base", "--allow-protected", **production)
    assert version_rows(url) == []


def test_env_list_and_force(seeds_project: FlaskProject) -> None:
    url = seeds_project.database_url
    seeds_project.db("upgrade")

    # Debug mode means development when VERSIONING_ENV is not set.
    out = seeds_project.db("seed", "--list", VERSIONING_ENV="", FLASK_DEBUG="1").stdout
    lines = out.splitlines()
    assert lines[0] == "Seeds for development:"
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"reference_countries", "authors", "books"}
    assert rows["reference_countries"].split()[1:4] == ["production,", "development,", "testing"]
    assert all(line.endswith("pending") for line in rows.values())

    # --env testing: the testing seeds only, recorded as run in testing.
    out = seeds_project.db("seed", "--env", "testing").stdout
    assert "Seeded reference_countries (testing)" in out and "Seeded authors (testing)" in out
    assert "books" not in out
    assert counts(url) == {"authors": 2, "books": 0, "countries": 3, "events": 0}

    # The database knows they ran: development now only needs books.
    out = seeds_project.db("seed", "--list").stdout
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "in testing" in rows["authors"] and rows["books"].endswith("pending")
    out = seeds_project.db("seed").stdout
    assert out.startswith("Seeded books (development): 50 rows")
    assert "Seeded authors" not in out
    out = seeds_project.db("seed").stdout
    assert out.strip() == "Nothing to seed for development: every seed has run already."

    # Named seeds that ran are skipped unless forced; --force runs them again.
    out = seeds_project.db("seed", "books").stdout
    assert "Skipped books: it already ran" in out
    out = seeds_project.db("seed", "--force", "books").stdout
    assert "Seeded books (development): 50 rows" in out and "authors" not in out
    assert counts(url)["books"] == 100
    assert ledger(url)["books"] == ("development", 2)

    # A name that cannot be run: one line, exit 1.
    proc = seeds_project.db("seed", "nope", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: unknown seed 'nope' (known: reference_countries, authors, books)"
    )


def test_a_failing_seed_rolls_back_its_own_rows_only(seeds_project: FlaskProject) -> None:
    url = seeds_project.database_url
    seeds_project.db("upgrade")
    proc = seeds_project.db("seed", check=False, SEED_BROKEN="1")
    assert proc.returncode == 1
    # The seeds before it were committed and printed; the error names the seed.
    assert "Seeded books (development): 50 rows" in proc.stdout
    assert proc.stderr.strip() == (
        "Error: seed 'broken' (development) failed: RuntimeError: the seed data file is missing;"
        " its changes were rolled back; 3 seed(s) applied before it were kept;"
        " not run: after_broken"
    )
    # Its own row is gone although it called session.commit(); the others' rows stay.
    assert author_names(url) == {"Ursula K. Le Guin", "Terry Pratchett"}
    assert counts(url) == DEV_COUNTS
    assert set(ledger(url)) == {"reference_countries", "authors", "books"}

    # Once fixed (here: switched off), the next run carries on where it stopped.
    assert "Nothing to seed" in seeds_project.db("seed").stdout


# -- reset ------------------------------------------------------------------------------------


def test_reset_in_development(seeds_project: FlaskProject) -> None:
    url = seeds_project.database_url
    seeds_project.db("prepare")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (kind) VALUES ('mine')"))
        conn.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
    engine.dispose()

    # Without --yes it asks; no answer means no.
    proc = seeds_project.db("reset", check=False)
    assert proc.returncode == 1 and "Drop every table in" in proc.stderr
    assert "Aborted" in proc.stderr
    assert counts(url)["events"] == 1

    out = seeds_project.db("reset", "--yes").stdout
    assert "Applied 0001 (catalogue)" in out
    assert "Seeded books (development): 50 rows" in out
    assert "Reset the default database: dropped 8 tables, now at 0001." in out
    assert counts(url) == DEV_COUNTS  # our extra row and table are gone, the seeds are back
    assert "scratch" not in table_names(url)
    assert all(runs == 1 for _, runs in ledger(url).values())


# -- starting the app -------------------------------------------------------------------------


def test_development_start_seeds_once(seeds_project: FlaskProject) -> None:
    url = seeds_project.database_url
    # A production start migrates but does not seed (VERSIONING_AUTO_SEED is unset).
    production = {"VERSIONING_AUTO_UPGRADE": "1", "VERSIONING_ENV": "production"}
    out = seeds_project.flask("stats", **production).stdout
    assert json.loads(out) == {"authors": 0, "books": 0, "countries": 0, "events": 0}
    # A development start (debug mode) seeds, once.
    start = {"VERSIONING_AUTO_UPGRADE": "1", "VERSIONING_ENV": "", "FLASK_DEBUG": "1"}
    out = seeds_project.flask("stats", **start).stdout
    assert json.loads(out) == DEV_COUNTS
    out = seeds_project.flask("stats", **start).stdout
    assert json.loads(out) == DEV_COUNTS
    assert {runs for _, runs in ledger(url).values()} == {1}


@pytest.mark.process
def test_eight_processes_starting_at_once_seed_exactly_once(
    seeds_project: FlaskProject,
) -> None:
    url = seeds_project.database_url
    env = {
        **seeds_project_env(seeds_project),
        "VERSIONING_AUTO_UPGRADE": "1",
        "VERSIONING_LOCK_TIMEOUT": "120",
    }
    procs = [
        subprocess.Popen(
            [FLASK, "stats"],
            cwd=seeds_project.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert json.loads(stdout) == DEV_COUNTS
    assert counts(url) == DEV_COUNTS
    assert ledger(url) == {
        "reference_countries": ("development", 1),
        "authors": ("development", 1),
        "books": ("development", 1),
    }
    assert version_rows(url) == ["0001"]


def seeds_project_env(project: FlaskProject) -> dict[str, str]:
    """The environment ``FlaskProject.flask`` would use, for processes started by hand."""
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": project.database_url}
    env.pop("FLASK_DEBUG", None)
    env["VERSIONING_ENV"] = "development"
    return env


# -- the Python API ---------------------------------------------------------------------------


class _Base(DeclarativeBase):
    pass


def _api_app(tmp_path: Path, url: str, revision: str = REVISION, **config: Any) -> Flask:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "0001_first.py").write_text(revision)
    app = Flask("seeds_api", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.update(config)
    return app


def test_environment_rules(tmp_path: Path, sqlite_url: str) -> None:
    app = _api_app(tmp_path, sqlite_url)
    versioning = Versioning(app)
    with app.app_context():
        assert versioning.environment_name() == "production"
        app.debug = True
        assert versioning.environment_name() == "development"
        app.testing = True
        assert versioning.environment_name() == "testing"
        assert versioning.environment_name("staging") == "staging"
    app2 = _api_app(tmp_path, sqlite_url, VERSIONING_ENV="staging", TESTING=True)
    Versioning(app2)
    with app2.app_context():
        assert app2.extensions["versioning"].extension.environment_name() == "staging"

    for value, expected in (("false", False), ("1", True), (None, None), (True, True)):
        app3 = _api_app(tmp_path, sqlite_url, VERSIONING_AUTO_SEED=value)
        v3 = Versioning(app3)
        with app3.app_context():
            assert v3.settings.auto_seed is expected
    with pytest.raises(ConfigurationError, match="VERSIONING_AUTO_SEED must be"):
        Versioning(_api_app(tmp_path, sqlite_url, VERSIONING_AUTO_SEED="sometimes"))
    app4 = _api_app(tmp_path, sqlite_url, VERSIONING_PROTECTED_ENVS="production, staging")
    v4 = Versioning(app4)
    with app4.app_context():
        assert v4.settings.protected_envs == ("production", "staging")


def test_declaring_seeds() -> None:
    versioning = Versioning()

    @versioning.seed("development")
    def users(session: Session) -> None:
        pass

    with pytest.raises(SeedError, match="a seed named 'users' is already registered"):

        @versioning.seed("testing", name="users")
        def other(session: Session) -> None:
            pass

    with pytest.raises(SeedError, match=r"@seed needs the environments .* above bare\(\)"):

        @versioning.seed  # type: ignore[arg-type]
        def bare(session: Session) -> None:
            pass

    with pytest.raises(SeedError, match="at least one environment"):
        versioning.seed()
    with pytest.raises(SeedError, match="order must be an integer"):
        versioning.seed("development", order="1")  # type: ignore[arg-type]

    @versioning.seed("testing", order=-1)
    def first(session: Session) -> None:
        pass

    @versioning.seed("testing", "development")
    def second(session: Session) -> None:
        pass

    assert [h.name for h in versioning.seed_registry.for_environment("testing")] == [
        "first",
        "second",
    ]
    assert [h.name for h in versioning.seed_registry] == ["first", "users", "second"]


def test_always_seeds_and_transactions(tmp_path: Path, database_url: str) -> None:
    app = _api_app(tmp_path, database_url, TESTING=True)
    events = sa.Table("events", sa.MetaData(), sa.Column("kind", sa.String(20)))
    versioning = Versioning(app)
    calls: list[str] = []

    @versioning.seed("testing", always=True)
    def boot(session: Session) -> int:
        session.execute(events.insert().values(kind="boot"))
        calls.append("boot")
        return 7  # a hook may say how many rows it wrote

    @versioning.seed("testing", order=1)
    def once(session: Session) -> None:
        session.execute(events.insert(), [{"kind": "once"}] * 3)

    with app.app_context():
        versioning.upgrade()
        first = versioning.run_seeds(progress=lambda r: calls.append(r.name))
        assert [(r.name, r.status, r.rows) for r in first] == [
            ("boot", "applied", 7),
            ("once", "applied", 3),
        ]
        second = versioning.run_seeds()
        assert [(r.name, r.status) for r in second] == [("boot", "applied"), ("once", "skipped")]
        assert calls == ["boot", "boot", "once", "boot"]  # no progress callback the 2nd time
        status = {s.name: s for s in versioning.seeds_status()}
        assert status["boot"].runs == 2 and status["boot"].pending
        assert status["once"].runs == 1 and not status["once"].pending
        assert status["once"].applied_environment == "testing"
        assert status["once"].applied_at is not None and status["once"].applied_at.tzinfo
        assert versioning.seeds_status("production")[0].selected is False

        # A seed the code no longer declares is still listed, as such.
        versioning.seed_registry._hooks.pop("once")
        gone = [s for s in versioning.seeds_status() if not s.defined]
        assert [(s.name, s.runs) for s in gone] == [("once", 1)]

        with pytest.raises(ProtectedEnvironmentError):
            versioning.run_seeds(force=True, env="production")
        with pytest.raises(SeedError, match="seed 'boot' is not for 'staging'"):
            versioning.run_seeds(["boot"], env="staging")
        versioning.database().engine().dispose()
    with sa.create_engine(database_url, poolclass=sa.NullPool).connect() as conn:
        kinds = sorted(r[0] for r in conn.execute(sa.text("SELECT kind FROM events")))
    assert kinds == ["boot", "boot", "once", "once", "once"]


def test_a_failing_seed_through_the_api(tmp_path: Path, database_url: str) -> None:
    app = _api_app(tmp_path, database_url, TESTING=True)
    authors = sa.Table("authors", sa.MetaData(), sa.Column("name", sa.String(100)))
    versioning = Versioning(app)

    @versioning.seed("testing")
    def good(session: Session) -> None:
        session.execute(authors.insert().values(name="kept"))

    @versioning.seed("testing", order=1)
    def bad(session: Session) -> None:
        session.execute(authors.insert().values(name="rolled back"))
        versioning.bulk_insert(authors, [{"name": f"bulk {i}"} for i in range(10)])
        raise ValueError("boom")

    with app.app_context():
        versioning.upgrade()
        with pytest.raises(SeedFailed) as info:
            versioning.run_seeds()
        assert info.value.name == "bad" and isinstance(info.value.cause, ValueError)
        assert [r.name for r in info.value.results] == ["good"]  # type: ignore[attr-defined]
        assert [s.name for s in versioning.seeds_status() if s.applied_at] == ["good"]
        versioning.database().engine().dispose()
    names = [r[0] for r in _scalar_query(database_url, "SELECT name FROM authors")]
    assert names == ["kept"]


def test_bulk_insert(tmp_path: Path, database_url: str) -> None:
    class Base(DeclarativeBase):
        pass

    class Person(Base):
        __tablename__ = "authors"
        id: Mapped[int] = mapped_column(primary_key=True)
        # The attribute is not the column's name: rows use the attribute, like the ORM.
        full_name: Mapped[str] = mapped_column("name", sa.String(100))

    app = _api_app(tmp_path, database_url, TESTING=True)
    versioning = Versioning(app, metadata=Base.metadata)
    with app.app_context():
        versioning.upgrade()
        rows = ({"id": i, "full_name": f"person {i}"} for i in range(1, 2501))
        assert versioning.bulk_insert(Person, rows, batch_size=1000) == 2500
        assert versioning.bulk_insert(Person.__table__, []) == 0
        # One transaction: a failure in a later batch leaves none of the earlier batches.
        clash = [{"id": 5000 + i, "name": "new"} for i in range(10)] + [{"id": 1, "name": "dup"}]
        with pytest.raises(sa.exc.IntegrityError):
            versioning.bulk_insert(Person.__table__, clash, batch_size=4)
        with pytest.raises(SeedError, match="batch_size must be a positive integer"):
            versioning.bulk_insert(Person, [], batch_size=0)
        with pytest.raises(SeedError, match="needs a Table or a mapped model class"):
            versioning.bulk_insert("authors", [])
        versioning.database().engine().dispose()
    rows_now = _scalar_query(database_url, "SELECT COUNT(*), MAX(name) FROM authors")
    assert rows_now == [(2500, "person 999")]


def test_seeds_with_flask_sqlalchemy(tmp_path: Path, sqlite_url: str) -> None:
    from flask_sqlalchemy import SQLAlchemy

    db = SQLAlchemy()

    class Author(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "authors"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(100), nullable=False)

    versioning = Versioning(db=db)

    @versioning.seed("testing")
    def writers(session: Session) -> None:
        session.add(Author(name="Octavia E. Butler"))
        session.flush()
        versioning.bulk_insert(Author, [{"name": "N. K. Jemisin"}])
        assert session.scalar(sa.select(sa.func.count()).select_from(Author)) == 2

    app = _api_app(tmp_path, sqlite_url, TESTING=True)
    db.init_app(app)
    versioning.init_app(app)
    with app.app_context():
        result = versioning.prepare()
        assert result.created == ("default",)
        assert [m.after for m in result.migrations] == [("0001",)]
        assert [(r.name, r.rows) for r in result.seeds] == [("writers", 2)]
        assert sorted(db.session.scalars(sa.select(Author.name))) == [
            "N. K. Jemisin",
            "Octavia E. Butler",
        ]
        db.session.remove()
        db.engine.dispose()


# A schema that plain drop_all cannot take apart: a foreign key cycle between two tables, a
# view, an enum (a type of its own on PostgreSQL) and a standalone sequence on PostgreSQL.
TANGLED = '''"""tangled"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("captain_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "players",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", name="fk_players_team")),
        sa.Column("status", sa.Enum("active", "retired", name="player_status"), nullable=False),
    )
    if dialect == "sqlite":
        with op.batch_alter_table("teams") as batch:
            batch.create_foreign_key("fk_teams_captain", "players", ["captain_id"], ["id"])
    else:
        op.create_foreign_key("fk_teams_captain", "teams", "players", ["captain_id"], ["id"])
    op.execute(
        "CREATE VIEW team_sizes AS SELECT team_id, COUNT(*) AS n FROM players GROUP BY team_id"
    )
    if dialect == "postgresql":
        op.execute("CREATE SEQUENCE ticket_numbers")


def downgrade():
    raise NotImplementedError
'''


def test_reset_takes_apart_cycles_views_and_types(tmp_path: Path, database_url: str) -> None:
    app = _api_app(tmp_path, database_url, revision=TANGLED, VERSIONING_ENV="development")
    teams = sa.Table(
        "teams", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("captain_id", sa.Integer)
    )
    versioning = Versioning(app)

    @versioning.seed("development")
    def team(session: Session) -> None:
        session.execute(teams.insert().values(id=1, captain_id=None))

    with app.app_context():
        versioning.prepare()
        engine = versioning.database().engine()
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO players (id, team_id, status) VALUES (1, 1, 'active')")
            )
            conn.execute(sa.text("UPDATE teams SET captain_id = 1"))

        with pytest.raises(ProtectedEnvironmentError):
            versioning.reset(env="production")
        asked: list[str] = []
        result = versioning.reset(confirm=asked.append)
        assert asked == ["development"]
        dropped = set(result.dropped["default"])
        assert {"teams", "players", "team_sizes", "alembic_version", "versioning_seeds"} <= dropped
        assert [m.after for m in result.migrations] == [("0001",)]
        assert [r.name for r in result.seeds] == ["team"]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM players")).scalar() == 0
            assert conn.execute(sa.text("SELECT captain_id FROM teams")).all() == [(None,)]
        engine.dispose()


def test_protected_environments_through_the_api(tmp_path: Path, sqlite_url: str) -> None:
    app = _api_app(
        tmp_path,
        sqlite_url,
        VERSIONING_PROTECTED_ENVS=["production", "staging"],
        VERSIONING_ENV="production",  # declared: a guessed "production" protects nothing
    )
    versioning = Versioning(app)
    with app.app_context():
        assert versioning.environment_name() == "production"
        versioning.stamp("0001")  # an empty version table may be stamped: adopting a database
        assert versioning.current() == ["0001"]
        refused: list[Any] = [
            lambda: versioning.stamp("base"),
            lambda: versioning.downgrade("base"),
            lambda: versioning.reset(env="development"),
        ]
        for call in refused:
            with pytest.raises(ProtectedEnvironmentError, match="'production' is a protected"):
                call()
        with pytest.raises(RevisionError, match="nosuchrev"):  # cannot be resolved: refused
            versioning.stamp("nosuchrev")
        assert versioning.current() == ["0001"]
        versioning.stamp("heads", purge=True)  # what is already there: no change, allowed
        assert versioning.downgrade("0001:base", sql=True).sql  # offline SQL changes nothing
        versioning.stamp("base", allow_protected=True)
        assert versioning.current() == []
        app.config["VERSIONING_ENV"] = "x"  # settings are read once, at init_app
        app.debug = True
        with pytest.raises(ProtectedEnvironmentError, match="'staging' is a protected"):
            versioning.run_seeds(env="staging", force=True)
        versioning.database().engine().dispose()


def _catalogue_metadata() -> sa.MetaData:
    """The tables REVISION creates, as models would declare them."""
    metadata = sa.MetaData()
    sa.Table(
        "authors",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    sa.Table(
        "books",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("authors.id"), nullable=False),
    )
    sa.Table(
        "countries",
        metadata,
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
    )
    return metadata


def test_autogenerate_does_not_see_the_ledger(tmp_path: Path, sqlite_url: str) -> None:
    metadata = _catalogue_metadata()
    app = _api_app(tmp_path, sqlite_url, TESTING=True)
    versioning = Versioning(app, metadata=metadata)

    @versioning.seed("testing")
    def countries(session: Session) -> None:
        versioning.bulk_insert(metadata.tables["countries"], [{"code": "FR", "name": "France"}])

    with app.app_context():
        versioning.prepare()
        assert "versioning_seeds" in table_names(sqlite_url)
        assert versioning.check().differences == ()
        assert versioning.migrate("nothing") is None
        versioning.database().engine().dispose()


def test_seeds_on_another_database(tmp_path: Path) -> None:
    main, users = tmp_path / "main.db", tmp_path / "users.db"
    app = _api_app(
        tmp_path,
        f"sqlite:///{main}",
        TESTING=True,
        VERSIONING_DATABASE_URL={"default": f"sqlite:///{main}", "users": f"sqlite:///{users}"},
    )
    bind_versions = tmp_path / "migrations" / "binds" / "users" / "versions"
    bind_versions.mkdir(parents=True)
    (bind_versions / "0001_first.py").write_text(REVISION)
    versioning = Versioning(app)
    events = sa.Table("events", sa.MetaData(), sa.Column("kind", sa.String(20)))

    @versioning.seed("testing", bind="users")
    def user_events(session: Session) -> None:
        session.execute(events.insert().values(kind="users"))

    @versioning.seed("testing")
    def main_events(session: Session) -> None:
        session.execute(events.insert().values(kind="main"))

    with app.app_context():
        result = versioning.prepare()
        assert sorted(m.database for m in result.migrations) == ["default", "users"]
        assert [(r.name, r.database) for r in result.seeds] == [
            ("user_events", "users"),
            ("main_events", "default"),
        ]
        assert versioning.prepare().seeds == ()
        status = {s.name: s.bind for s in versioning.seeds_status()}
        assert status == {"user_events": "users", "main_events": None}
        reset = versioning.reset()
        assert set(reset.dropped) == {"default", "users"}
        assert [r.name for r in reset.seeds] == ["user_events", "main_events"]
        for database in versioning.databases():
            versioning.database(database).engine().dispose()
    assert ledger(f"sqlite:///{users}") == {"user_events": ("testing", 1)}
    assert ledger(f"sqlite:///{main}") == {"main_events": ("testing", 1)}
    assert [r[0] for r in _scalar_query(f"sqlite:///{users}", "SELECT kind FROM events")] == [
        "users"
    ]


def test_bulk_insert_writes_to_the_models_bind(tmp_path: Path) -> None:
    from flask_sqlalchemy import SQLAlchemy

    db = SQLAlchemy()

    class Visit(db.Model):  # type: ignore[name-defined,misc]
        __bind_key__ = "stats"
        __tablename__ = "visits"
        id = sa.Column(sa.Integer, primary_key=True)
        path = sa.Column(sa.String(100), nullable=False)

    main, stats = f"sqlite:///{tmp_path / 'main.db'}", f"sqlite:///{tmp_path / 'stats.db'}"
    app = _api_app(tmp_path, main, TESTING=True, SQLALCHEMY_BINDS={"stats": stats})
    db.init_app(app)
    versioning = Versioning(app, db)
    with app.app_context():
        db.create_all(bind_key="stats")
        assert versioning.bulk_insert(Visit, [{"path": f"/page/{i}"} for i in range(30)]) == 30
        db.engines["stats"].dispose()
        db.engine.dispose()
    assert _scalar_query(stats, "SELECT COUNT(*) FROM visits") == [(30,)]
    assert "visits" not in table_names(main)
