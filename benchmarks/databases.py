"""Throwaway databases for benchmark runs, and checks that a run really reached head.

Every timed run that changes the schema gets a database of its own, so no run profits from the
work of the one before it. Checking the schema afterwards, instead of trusting an exit code,
keeps a tool that silently did nothing from looking fast. The checks look at tables and columns
only, never at a version table, because each tool may name its version table differently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from .apps import Step, schema_of

POSTGRES_ENV = "VERSIONING_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_url(path: Path) -> str:
    """The URL of an SQLite file; the file need not exist yet."""
    return f"sqlite:///{path}"


def _engine(url: str, *, autocommit: bool = False) -> sa.Engine:
    """An engine without a pool, so the harness never holds a connection a run might wait on."""
    if autocommit:
        return sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    return sa.create_engine(url, poolclass=sa.NullPool)


@dataclass
class Postgres:
    """A PostgreSQL server on which the harness may create and drop databases.

    ``problem`` is set when the server cannot be used; scenarios then skip their PostgreSQL
    cases with that message instead of failing halfway through.
    """

    admin_url: str
    problem: str | None = None
    version: str | None = None

    @classmethod
    def from_environment(cls) -> Postgres:
        """Connect once to the configured admin URL to learn whether it is usable."""
        server = cls(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL))
        engine = _engine(server.admin_url, autocommit=True)
        try:
            with engine.connect() as conn:
                server.version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
        except Exception as exc:  # any failure means "not usable", whatever the driver raised
            server.problem = (
                f"PostgreSQL at {server.safe_admin_url} is not usable: "
                + (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            )
        finally:
            engine.dispose()
        return server

    @property
    def safe_admin_url(self) -> str:
        """The admin URL with any password masked, for messages and the report."""
        return sa.make_url(self.admin_url).render_as_string(hide_password=True)

    def create(self) -> str:
        """Create an empty database and return a URL for it that keeps the password."""
        name = f"fvbench_{uuid.uuid4().hex[:12]}"
        engine = _engine(self.admin_url, autocommit=True)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            engine.dispose()
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a database made by :meth:`create`, ending any session a crashed run left open."""
        name = sa.make_url(url).database
        engine = _engine(self.admin_url, autocommit=True)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            engine.dispose()


def schema_problem(url: str, steps: Sequence[Step]) -> str | None:
    """Say what is missing if the database at ``url`` does not have the schema of ``steps``.

    Returns ``None`` when every table exists and the newest revision's change is in place. Only
    the last added column is inspected column by column: reading every table's columns would
    make verifying a 1,000-revision chain slower than some of the runs being verified.
    """
    expected = schema_of(steps)
    engine = _engine(url)
    try:
        inspector = sa.inspect(engine)
        present = set(inspector.get_table_names())
        missing = [name for name in expected if name not in present]
        if missing:
            return f"{len(missing)} of {len(expected)} tables missing (first: {missing[0]})"
        last = steps[-1] if steps else None
        if last is not None and last.column is not None:
            columns = {col["name"] for col in inspector.get_columns(last.table)}
            if last.column not in columns:
                return f"column {last.table}.{last.column} of {last.revision} missing"
    except sa.exc.SQLAlchemyError as exc:
        return f"could not inspect the database: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def count_rows(url: str, table: str) -> int:
    """Count the rows of ``table`` with a fresh connection, to see what a run committed."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
    finally:
        engine.dispose()
