"""Seeds follow the schema: a downgrade that drops a seed's table forgets the seed in the same
transaction, so the next seeds run (``flask db seed``, an auto-upgrade start, tenants) writes
its rows again; and a seed never runs DDL, on any backend, so a failed seed leaves no rows.

Everything runs in this process (the API, Flask's CLI runner, apps created with auto-upgrade)
on SQLite, PostgreSQL and MariaDB; the database is read back with fresh connections.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import table_names, version_rows
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from flask_versioning import SeedFailed, Tenant, Versioning


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))


countries = sa.Table(
    "countries",
    Base.metadata,
    sa.Column("code", sa.String(2), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
)
books = sa.Table(
    "books",
    Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
)

# 0001 makes the reference table, 0002 the catalogue: a downgrade to 0001 drops only the latter.
R0001 = '''"""countries"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "countries",
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )


def downgrade():
    op.drop_table("countries")
'''

R0002 = '''"""catalogue"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "books",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
    )


def downgrade():
    op.drop_table("books")
    op.drop_table("authors")
'''

SEEDED = {"countries": 3, "authors": 2, "books": 4}


def declare_seeds(versioning: Versioning) -> None:
    """Three development seeds, each writing its tables a different way: ``bulk_insert`` on a
    Core table, the ORM, and textual SQL (which names its table only in the text)."""

    @versioning.seed("development", "testing")
    def reference(session: Session) -> None:
        versioning.bulk_insert(
            countries,
            [
                {"code": c, "name": n}
                for c, n in [("FR", "France"), ("JP", "Japan"), ("KE", "Kenya")]
            ],
        )

    @versioning.seed("development", "testing", order=1)
    def people(session: Session) -> None:
        session.add_all([Author(name="Ursula K. Le Guin"), Author(name="Terry Pratchett")])

    @versioning.seed("development", "testing", order=2)
    def catalogue(session: Session) -> None:
        for i in range(4):
            session.execute(sa.text("INSERT INTO books (title) VALUES (:t)"), {"t": f"Book {i}"})


def make_app(tmp_path: Path, url: str, *, seeds: bool = True, **config: Any) -> Flask:
    """An app in this process on ``url`` (plain SQLAlchemy metadata), for development unless
    ``config`` says otherwise."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "0001_countries.py").write_text(R0001)
    (versions / "0002_catalogue.py").write_text(R0002)
    app = Flask("seeds_schema", root_path=str(tmp_path))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development")
    app.config.update(config)
    versioning = Versioning(metadata=Base.metadata)
    if seeds:
        declare_seeds(versioning)
    versioning.init_app(app)
    return app


def ext(app: Flask) -> Versioning:
    return app.extensions["versioning"].extension  # type: ignore[no-any-return]


def query(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    """Rows per app table that exists."""
    present = table_names(url)
    return {t: int(query(url, f"SELECT COUNT(*) FROM {t}")[0][0]) for t in SEEDED if t in present}


def ledger(url: str) -> set[str]:
    """The seeds the ledger says ran."""
    return {row[0] for row in query(url, "SELECT name FROM versioning_seeds")}


def applied(results: Any) -> list[str]:
    return [r.name for r in results if r.status == "applied"]


# -- 1. a downgrade forgets the seeds whose tables it dropped ---------------------------------


def test_downgrade_then_upgrade_reseeds_through_the_api(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url)
    versioning = ext(app)
    with app.app_context():
        versioning.upgrade()
        assert applied(versioning.run_seeds()) == ["reference", "people", "catalogue"]
        assert counts(database_url) == SEEDED

        # Down to 0001: authors and books are gone, and so are the seeds that wrote them; the
        # reference data stays, and so does its record.
        versioning.downgrade("0001")
        assert ledger(database_url) == {"reference"}
        assert {s.name: s.pending for s in versioning.seeds_status()} == {
            "reference": False,
            "people": True,
            "catalogue": True,
        }
        versioning.upgrade()
        assert applied(versioning.run_seeds()) == ["people", "catalogue"]
        assert counts(database_url) == SEEDED  # the reference rows were not written twice

        # Down to base: the version table empties and the ledger with it.
        versioning.downgrade("base")
        assert version_rows(database_url) == []
        assert ledger(database_url) == set()
        versioning.upgrade()
        assert counts(database_url) == {"countries": 0, "authors": 0, "books": 0}
        assert applied(versioning.run_seeds()) == ["reference", "people", "catalogue"]
        assert counts(database_url) == SEEDED

        # Plain Alembic on the extension's config runs the same env.py, and forgets too.
        from alembic import command

        command.downgrade(versioning.alembic_config(), "base")
        assert ledger(database_url) == set()
        versioning.database().engine().dispose()


def test_downgrade_base_then_upgrade_reseeds_through_the_cli(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    runner = app.test_cli_runner()

    def db(*args: str) -> str:
        result = runner.invoke(args=["db", *args])
        assert result.exit_code == 0, result.output
        return result.output

    db("upgrade")
    assert "Seeded catalogue (development)" in db("seed")
    db("downgrade", "base")
    assert ledger(database_url) == set()
    listing = db("seed", "--list")
    assert listing.count("pending") == 3, listing
    db("upgrade")
    out = db("seed")
    assert "Seeded reference (development): 3 rows" in out
    assert "Seeded people (development): 2 rows" in out
    assert "Seeded catalogue (development)" in out
    assert counts(database_url) == SEEDED
    assert "every seed has run already" in db("seed")


def test_an_auto_upgrade_start_reseeds_after_downgrade_base(
    tmp_path: Path, database_url: str
) -> None:
    # A developer's `flask --debug run`: a debug start, which protects nothing.
    first = make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE=True, DEBUG=True)
    assert counts(database_url) == SEEDED  # the first start upgraded and seeded
    with first.app_context():
        ext(first).downgrade("base")
        ext(first).database().engine().dispose()
    assert ledger(database_url) == set()
    assert "countries" not in table_names(database_url)

    second = make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE=True, DEBUG=True)
    assert counts(database_url) == SEEDED
    assert ledger(database_url) == {"reference", "people", "catalogue"}
    with second.app_context():
        ext(second).database().engine().dispose()


@pytest.fixture
def tenant_urls(
    backend: str, database_url: str, second_database_url: str
) -> Iterator[dict[str, tuple[str | None, str | None]]]:
    """Tenants on the backend under test: a database of its own, and on PostgreSQL a schema
    of the app's database too (name -> (url, schema))."""
    tenants: dict[str, tuple[str | None, str | None]] = {"own": (second_database_url, None)}
    if backend != "postgresql":
        yield tenants
        return
    schema = f"fv{uuid.uuid4().hex[:8]}_t"
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    tenants["schema"] = (None, schema)
    try:
        yield tenants
    finally:
        engine.dispose()


def _tenant_counts(url: str, schema: str | None) -> tuple[dict[str, int], set[str]]:
    prefix = f'"{schema}".' if schema else ""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names(schema=schema))
            rows = {
                t: int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {prefix}{t}").scalar() or 0)
                for t in SEEDED
                if t in present
            }
            names = {
                r[0] for r in conn.exec_driver_sql(f"SELECT name FROM {prefix}versioning_seeds")
            }
        return rows, names
    finally:
        engine.dispose()


@pytest.mark.process
def test_tenants_reseed_after_downgrade_base(
    tmp_path: Path, database_url: str, tenant_urls: dict[str, tuple[str | None, str | None]]
) -> None:
    app = make_app(tmp_path, database_url)
    versioning = ext(app)

    @versioning.tenants
    def tenants() -> list[Tenant]:
        return [Tenant(name, url=url, schema=schema) for name, (url, schema) in tenant_urls.items()]

    def each(results: Any) -> dict[str, str]:
        assert all(r.error is None for r in results), [r.error for r in results]
        return {r.tenant: r.status for r in results}

    where = {n: (u or database_url, s) for n, (u, s) in tenant_urls.items()}
    with app.app_context():
        each(versioning.for_tenants("all").upgrade())
        each(versioning.for_tenants("all").run_seeds())
        for url, schema in where.values():
            assert _tenant_counts(url, schema) == (SEEDED, {"reference", "people", "catalogue"})
        each(versioning.for_tenants("all", jobs=2).downgrade("base"))  # in worker processes
        for url, schema in where.values():
            assert _tenant_counts(url, schema) == ({}, set())
        each(versioning.for_tenants("all").upgrade())
        each(versioning.for_tenants("all").run_seeds())
        for url, schema in where.values():
            assert _tenant_counts(url, schema) == (SEEDED, {"reference", "people", "catalogue"})


def test_a_seed_writing_two_tables_is_forgotten_when_either_goes(
    tmp_path: Path, sqlite_url: str
) -> None:
    app = make_app(tmp_path, sqlite_url, seeds=False)
    versioning = ext(app)

    @versioning.seed("development")
    def both(session: Session) -> None:
        session.execute(countries.insert().values(code="FR", name="France"))
        session.add(Author(name="Colette"))

    @versioning.seed("development")
    def nothing(session: Session) -> None:
        session.execute(sa.select(countries))  # reads only: no table to follow

    with app.app_context():
        versioning.upgrade()
        versioning.run_seeds()
        versioning.downgrade("0001")  # drops authors, keeps countries
        assert ledger(sqlite_url) == {"nothing"}
        versioning.database().engine().dispose()


# -- 2. seeds never run DDL -----------------------------------------------------------------


def _ddl_seed(versioning: Versioning, statement: Callable[[Session], None]) -> None:
    @versioning.seed("development")
    def with_ddl(session: Session) -> None:
        session.execute(countries.insert(), [{"code": f"C{i}", "name": "x"} for i in range(4)])
        statement(session)


def test_a_seed_running_ddl_is_refused_before_it_runs(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, seeds=False)
    versioning = ext(app)
    _ddl_seed(versioning, lambda s: s.execute(sa.text("CREATE TABLE scratch (id INTEGER)")))
    with app.app_context():
        versioning.upgrade()
        with pytest.raises(SeedFailed) as info:
            versioning.run_seeds()
        message = str(info.value)
        assert message == (
            "seed 'with_ddl' (development) failed: it sent DDL, which seeds may not run, and it "
            "was refused before it ran: CREATE TABLE scratch (id INTEGER) (seeds write rows; "
            "change the schema in a revision); its changes were rolled back"
        )
        versioning.database().engine().dispose()
    # MariaDB would have committed the four rows with the CREATE: nothing reached it.
    assert counts(database_url)["countries"] == 0
    assert "scratch" not in table_names(database_url)
    assert ledger(database_url) == set()

    # Through the CLI: exit 1, one line naming the statement.
    result = app.test_cli_runner().invoke(args=["db", "seed"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "CREATE TABLE scratch (id INTEGER)" in result.output
    assert counts(database_url)["countries"] == 0

    # Fixed, the seed runs once and writes its four rows once.
    versioning.seed_registry._hooks.clear()
    _ddl_seed(versioning, lambda s: None)
    with app.app_context():
        assert applied(versioning.run_seeds()) == ["with_ddl"]
        versioning.database().engine().dispose()
    assert counts(database_url)["countries"] == 4


def _create_scratch(session: Session) -> None:
    sa.Table("scratch", sa.MetaData(), sa.Column("id", sa.Integer)).create(session.connection())


def _swallowed(session: Session) -> None:
    with contextlib.suppress(Exception):  # a seed that hides the refusal still fails
        session.execute(sa.text("DROP TABLE books"))


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        (
            _create_scratch,
            "DDL, which seeds may not run, and it was refused before it ran: CREATE TABLE scratch",
        ),
        (_swallowed, "DROP TABLE books"),
        (lambda s: s.execute(sa.text("TRUNCATE TABLE books")), "sent DDL"),
        (lambda s: s.execute(sa.text("/* why */ ALTER TABLE books ADD x INT")), "ALTER TABLE"),
        (lambda s: s.execute(sa.text("COMMIT")), "sent a COMMIT statement"),
    ],
    ids=["compiled-ddl", "caught", "truncate", "comment-first", "commit"],
)
def test_every_kind_of_ddl_is_refused(
    tmp_path: Path, sqlite_url: str, statement: Callable[[Session], None], shown: str
) -> None:
    app = make_app(tmp_path, sqlite_url, seeds=False)
    versioning = ext(app)
    _ddl_seed(versioning, statement)
    with app.app_context():
        versioning.upgrade()
        with pytest.raises(SeedFailed, match="its changes were rolled back") as info:
            versioning.run_seeds()
        assert shown in str(info.value)
        versioning.database().engine().dispose()
    assert counts(sqlite_url) == {"countries": 0, "authors": 0, "books": 0}
    assert "scratch" not in table_names(sqlite_url) and ledger(sqlite_url) == set()


def test_row_work_is_not_refused(tmp_path: Path, database_url: str) -> None:
    """Savepoints, a caught IntegrityError inside one, session settings and inspection all
    belong to ordinary seeds."""
    app = make_app(tmp_path, database_url, seeds=False)
    versioning = ext(app)

    @versioning.seed("development")
    def careful(session: Session) -> None:
        assert sa.inspect(session.connection()).has_table("countries")
        session.execute(countries.insert().values(code="FR", name="France"))
        try:
            with session.begin_nested():
                session.execute(countries.insert().values(code="FR", name="again"))
        except sa.exc.IntegrityError:
            pass
        session.execute(sa.text("UPDATE countries SET name = :n WHERE code = 'FR'"), {"n": "Fr"})
        session.execute(sa.text("DELETE FROM books WHERE id < 0"))

    with app.app_context():
        versioning.upgrade()
        assert applied(versioning.run_seeds()) == ["careful"]
        versioning.database().engine().dispose()
    assert query(database_url, "SELECT name FROM countries") == [("Fr",)]


def test_a_ledger_without_the_tables_column_gains_it(tmp_path: Path, database_url: str) -> None:
    """A ledger made before seeds noted their tables: the column is added when seeds next run;
    its old rows name no table, so no downgrade forgets them."""
    old = sa.Table(
        "versioning_seeds",
        sa.MetaData(),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("duration", sa.Float(53), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
    )
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        old.create(conn)
        conn.execute(
            old.insert().values(
                name="reference",
                environment="development",
                runs=1,
                duration=0.0,
                applied_at=sa.func.now(),
            )
        )
    app = make_app(tmp_path, database_url)
    versioning = ext(app)
    with app.app_context():
        versioning.upgrade()
        assert applied(versioning.run_seeds()) == ["people", "catalogue"]
        versioning.downgrade("base")
        versioning.database().engine().dispose()
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("versioning_seeds")}
    engine.dispose()
    assert "written_tables" in columns
    assert ledger(database_url) == {"reference"}


def test_no_seeds_for_the_environment_names_those_that_have_some(
    tmp_path: Path, sqlite_url: str
) -> None:
    app = make_app(tmp_path, sqlite_url, VERSIONING_ENV="production")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["db", "seed"])
    assert result.exit_code == 0
    assert result.output == (
        "No seeds for production (seeds are declared for development, testing: choose one "
        "with --env NAME, VERSIONING_ENV or flask --debug).\n"
    )
