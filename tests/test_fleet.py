"""Tenants: a command run on many databases or schemas, and what a user sees of it.

Tenants are SQLite files, PostgreSQL schemas of the app's database plus a PostgreSQL database of
their own, and MariaDB databases on the app's server plus one given by URL. The commands run in
real ``flask`` processes (``--jobs 2`` starts real worker processes); tables and version rows
are read back from the tenants themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FLASK, MYSQL_URL, FlaskProject
from flask import Flask

from flask_versioning import ConfigurationError, Tenant, Versioning, _fleet
from flask_versioning._autoupgrade import skip_reason
from flask_versioning._fleet.pool import _Setup, can_fork, worker_main

APP = """
import json
import os
import threading
import time

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Tenant, Versioning

db = SQLAlchemy()
versioning = Versioning()


class Item(db.Model):
    __tablename__ = "items"
    __table_args__ = (sa.Index("ix_items_name", "name", unique=True),)
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=False)


@versioning.tenants
def tenants():
    return [Tenant(n, url=u, schema=s) for n, u, s in json.loads(os.environ["TEST_TENANTS"])]


@versioning.seed("development")
def starter(session):
    session.add(Item(name="starter"))


def create_app():
    if os.environ.get("TEST_APP_THREAD"):
        # An app that runs a thread of its own (a scheduler, a metrics exporter).
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

HEADER = """import os
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import op

"""

R1 = (
    HEADER
    + """revision = "r1"
down_revision = None


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )


def downgrade():
    op.drop_table("items")
"""
)

# Fails in a tenant holding two items of the same name: the data decides, not the code.
R2 = (
    HEADER
    + """revision = "r2"
down_revision = "r1"


def upgrade():
    op.create_index("ix_items_name", "items", ["name"], unique=True)


def downgrade():
    op.drop_index("ix_items_name", table_name="items")
"""
)

# Writes its process id to TEST_BLOCK_DIR and waits there for a file named "go", so a test can
# kill the worker running it. On PostgreSQL the table is created first (the kill must roll it
# back); elsewhere DDL is not transactional, so it waits before changing anything.
R3 = (
    HEADER
    + """revision = "r3"
down_revision = "r2"


def _wait():
    folder = Path(os.environ["TEST_BLOCK_DIR"])
    (folder / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    while not (folder / "go").exists():
        time.sleep(0.05)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.create_table("blocked", sa.Column("id", sa.Integer, primary_key=True))
        _wait()
    else:
        _wait()
        op.create_table("blocked", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("blocked")
"""
)


@dataclasses.dataclass
class Fleet:
    """An app on disk with three tenants on the backend under test."""

    project: FlaskProject
    backend: str
    #: name -> (url, schema), as the app declares them.
    tenants: dict[str, tuple[str | None, str | None]]
    created: list[str] = dataclasses.field(default_factory=list)

    def declare(self, tenants: dict[str, tuple[str | None, str | None]]) -> None:
        self.tenants = tenants
        rows = [[name, url, schema] for name, (url, schema) in tenants.items()]
        self.project.env["TEST_TENANTS"] = json.dumps(rows)

    def db(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.project.db(*args, check=check)

    def _where(self, name: str) -> tuple[sa.Engine, str | None]:
        url, schema = self.tenants[name]
        base = sa.make_url(url or self.project.database_url)
        if schema is not None and self.backend == "mariadb":
            base, schema = base.set(database=schema), None
        return sa.create_engine(base, poolclass=sa.NullPool), schema

    def rows(self, name: str) -> list[str]:
        """The tenant's version rows; [] when it has no version table."""
        engine, schema = self._where(name)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table("alembic_version", schema=schema):
                    return []
                table = f'"{schema}".alembic_version' if schema else "alembic_version"
                return sorted(
                    r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {table}")
                )
        finally:
            engine.dispose()

    def tables(self, name: str) -> set[str]:
        engine, schema = self._where(name)
        try:
            return set(sa.inspect(engine).get_table_names(schema=schema))
        finally:
            engine.dispose()

    def execute(self, name: str, sql: str) -> None:
        engine, schema = self._where(name)
        try:
            with engine.begin() as conn:
                if schema:
                    conn.exec_driver_sql(f'SET search_path TO "{schema}"')
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def app_tables(self) -> set[str]:
        """The tables of the app's own database (its default schema)."""
        engine = sa.create_engine(self.project.database_url, poolclass=sa.NullPool)
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()


def _mariadb_admin() -> sa.Engine:
    return sa.create_engine(MYSQL_URL, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")


@pytest.fixture
def fleet(
    backend: str, tmp_path: Path, database_url: str, second_database_url: str
) -> Iterator[Fleet]:
    (tmp_path / "app.py").write_text(APP)
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1_items.py").write_text(R1)
    (versions / "r2_unique_names.py").write_text(R2)
    project = FlaskProject(tmp_path, database_url)
    fleet = Fleet(project, backend, {})
    if backend == "sqlite":
        fleet.declare({n: (f"sqlite:///{tmp_path / f't_{n}.db'}", None) for n in "abc"})
        yield fleet
        return
    prefix = f"fv{uuid.uuid4().hex[:8]}"
    schemas = {n: f"{prefix}_{n}" for n in "ab"}
    fleet.declare(
        {"a": (None, schemas["a"]), "b": (None, schemas["b"]), "c": (second_database_url, None)}
    )
    if backend == "postgresql":
        engine = sa.create_engine(database_url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            for schema in schemas.values():
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        yield fleet
        return
    admin = _mariadb_admin()
    fleet.created.extend(schemas.values())
    with admin.connect() as conn:
        for schema in schemas.values():
            conn.exec_driver_sql(f"CREATE DATABASE {schema}")
    try:
        yield fleet
    finally:
        with admin.connect() as conn:
            for schema in fleet.created:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
        admin.dispose()


# -- the whole round, on every backend ----------------------------------------------------------


@pytest.mark.process
def test_upgrade_seed_check_and_skip(fleet: Fleet) -> None:
    first = fleet.db("upgrade", "--all-tenants", "--jobs", "2")
    assert "Changed (3):" in first.stdout
    assert "3 tenants in " in first.stdout and ": 3 changed." in first.stdout
    for name in "abc":
        assert fleet.rows(name) == ["r2"]
        assert {"items", "alembic_version", "versioning_history"} <= fleet.tables(name)
    # Schema tenants' tables are in their schemas, never in the app's own database.
    assert "items" not in fleet.app_tables()

    again = fleet.db("upgrade", "--all-tenants")
    assert "Skipped, already there (3): a, b, c" in again.stdout
    assert ": 3 skipped." in again.stdout

    current = fleet.db("current", "--all-tenants", "--check-heads")
    assert current.stdout.split("\n")[:3] == ["a  r2 (head)", "b  r2 (head)", "c  r2 (head)"]

    seeded = fleet.db("seed", "--all-tenants", "--jobs", "2")
    assert "3 seeded" in seeded.stdout
    assert "nothing to do" in fleet.db("seed", "--tenant", "b").stdout
    engine, schema = fleet._where("b")
    with engine.connect() as conn:
        items = sa.Table("items", sa.MetaData(), autoload_with=conn, schema=schema)
        assert [r.name for r in conn.execute(sa.select(items))] == ["starter"]
    engine.dispose()

    checked = fleet.db("check", "--all-tenants")
    assert checked.stdout.count("No differences") == 3

    down = fleet.db("downgrade", "--tenant", "c", "--tenant", "a")
    assert "a  r2 -> r1" in down.stdout and "c  r2 -> r1" in down.stdout
    assert fleet.rows("a") == ["r1"] and fleet.rows("b") == ["r2"]
    behind = fleet.db("current", "--all-tenants", "--check-heads", check=False)
    assert behind.returncode == 1
    assert "Error: 2 of 3 tenants not at all heads: a, c" in behind.stderr


# How workers start (fork or a fresh interpreter) does not depend on the backend, and every
# backend's tenants are upgraded by workers in the other tests.
@pytest.mark.process
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_app_running_threads_gets_workers_that_load_it_afresh(fleet: Fleet) -> None:
    # A fork copies only the calling thread, so a process running others is never forked:
    # the workers are fresh interpreters that load the app the way the command found it.
    fleet.project.env["TEST_APP_THREAD"] = "1"
    run = fleet.db("upgrade", "--all-tenants", "--jobs", "2")
    assert ": 3 changed." in run.stdout
    for name in "abc":
        assert fleet.rows(name) == ["r2"] and "items" in fleet.tables(name)


def test_workers_are_forks_only_while_one_thread_runs() -> None:
    assert can_fork() is sys.platform.startswith("linux")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert can_fork() is False
    finally:
        stop.set()
        thread.join()


@pytest.mark.process
def test_status_and_plan_on_tenants(fleet: Fleet) -> None:
    fleet.db("upgrade", "r1", "--tenant", "a")

    status = fleet.db("status", "--all-tenants")
    blocks = status.stdout.split("\n\n")
    assert [block.split(":", 1)[0] for block in blocks] == ["a", "b", "c"]
    assert "  current: r1\n" in blocks[0] and "r2  pending" in blocks[0]
    assert "  current: base (no revision applied)" in blocks[1]
    assert "secret" not in status.stdout

    late = fleet.db("status", "--all-tenants", "--check", check=False)
    assert late.returncode == 1
    assert "the a database is not up to date: 1 pending (r2)" in late.stderr
    assert "the c database is not up to date: 2 pending (r1, r2)" in late.stderr

    document = json.loads(fleet.db("status", "--tenant", "c", "--format", "json").stdout)
    assert [d["name"] for d in document["databases"]] == ["c"]
    assert document["up_to_date"] is False

    plan = fleet.db("plan", "--all-tenants", "--jobs", "2", "--no-progress")
    listings = plan.stdout.split("\n\nTenant")
    assert listings[0].startswith("Tenant a:\nThe database is at r1; 'upgrade heads' would ")
    assert "Revision r2" in listings[0] and "Revision r1" not in listings[0]
    assert listings[1].startswith("s b, c (2):\nThe database is at base;"), plan.stdout
    assert "CREATE TABLE items" in listings[1] and "CREATE UNIQUE INDEX" in listings[1]
    # Nothing was changed, in any tenant.
    assert [fleet.rows(n) for n in "abc"] == [["r1"], [], []]

    refused = fleet.db("status", "--all-tenants", "--bind", "default", check=False)
    assert refused.returncode == 2
    assert "--bind cannot be combined with --tenant or --all-tenants" in refused.stderr


@pytest.mark.process
def test_a_revision_fails_for_one_tenant_because_of_its_data(fleet: Fleet) -> None:
    fleet.db("upgrade", "r1", "--all-tenants")
    fleet.execute("b", "INSERT INTO items (name) VALUES ('twin'), ('twin')")

    run = fleet.db("upgrade", "--all-tenants", "--jobs", "2", check=False)
    assert run.returncode == 1
    assert "Failed (1):" in run.stdout
    failed = run.stdout.split("Failed (1):\n")[1].split("\n")
    assert failed[0].startswith("  b  revision r2 failed: IntegrityError")
    assert failed[1].strip() == "now at: r1"
    assert run.stderr.strip().endswith("Error: 1 of 3 tenants failed: b")
    assert "Traceback" not in run.stderr
    assert fleet.rows("a") == ["r2"] and fleet.rows("b") == ["r1"] and fleet.rows("c") == ["r2"]

    fleet.execute("b", "DELETE FROM items WHERE name = 'twin'")
    rerun = fleet.db("upgrade", "--all-tenants")
    assert "  b  r1 -> r2" in rerun.stdout and "Skipped, already there (2): a, c" in rerun.stdout
    assert fleet.rows("b") == ["r2"]


def test_fail_fast_starts_no_tenant_after_a_failure(fleet: Fleet) -> None:
    fleet.db("upgrade", "r1", "--all-tenants")
    fleet.execute("a", "INSERT INTO items (name) VALUES ('twin'), ('twin')")
    run = fleet.db("upgrade", "--all-tenants", "--fail-fast", check=False)
    assert run.returncode == 1
    assert "Not run, after a failure (2): b, c" in run.stdout
    assert [fleet.rows(n) for n in "abc"] == [["r1"], ["r1"], ["r1"]]


def _unreachable(fleet: Fleet, tmp_path: Path) -> dict[str, tuple[str | None, str | None]]:
    if fleet.backend == "sqlite":
        return {
            "gone": (f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}", None),
            "locked": (f"sqlite:///{tmp_path / 'a-directory'}", None),
        }
    if fleet.backend == "postgresql":
        return {
            "gone": ("postgresql+psycopg://postgres:secret@127.0.0.1:1/test", None),
            "locked": ("postgresql+psycopg://nobody:secret@127.0.0.1:5432/test", None),
        }
    return {
        "gone": ("mysql+pymysql://root:secret@127.0.0.1:1/test", None),
        "locked": ("mysql+pymysql://root:secret@127.0.0.1:3306/test", None),
    }


@pytest.mark.process
def test_unreachable_tenant_and_wrong_credentials(fleet: Fleet, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    fleet.declare({"a": fleet.tenants["a"], **_unreachable(fleet, tmp_path)})
    run = fleet.db("upgrade", "--all-tenants", "--jobs", "2", check=False)
    assert run.returncode == 1
    assert re.search(r"^  a +base -> r2 \(", run.stdout, re.MULTILINE), run.stdout
    assert "Error: 2 of 3 tenants failed: gone, locked" in run.stderr
    failed = run.stdout.split("Failed (2):\n")[1].split("\n")
    assert failed[0].startswith("  gone    ") and failed[2].startswith("  locked  ")
    assert failed[1].strip() == failed[3].strip() == "now at: unknown"
    assert "secret" not in run.stdout + run.stderr
    if fleet.backend != "sqlite":
        assert ":***@" in run.stdout
    assert fleet.rows("a") == ["r2"]


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)
def test_missing_schema_fails_unless_created(fleet: Fleet) -> None:
    missing = f"fv{uuid.uuid4().hex[:8]}_new"
    fleet.created.append(missing)
    fleet.declare({"a": fleet.tenants["a"], "new": (None, missing)})

    seen = fleet.db("status", "--all-tenants", check=False)
    assert seen.returncode == 1 and seen.stdout.startswith("a: ")
    assert f"Error: [new] the schema '{missing}' does not exist at " in seen.stderr

    run = fleet.db("upgrade", "--all-tenants", check=False)
    assert run.returncode == 1
    line = run.stdout.split("Failed (1):\n")[1].split("\n")[0]
    assert line.startswith(f"  new  the schema '{missing}' does not exist at ")
    assert line.endswith("create it, or pass --create (create=True)")
    assert "now at: unknown" in run.stdout
    assert fleet.rows("a") == ["r2"]
    assert "items" not in fleet.app_tables()  # nothing went to the app's own schema instead

    created = fleet.db("upgrade", "--all-tenants", "--create")
    assert "new  base -> r2" in created.stdout and "Skipped, already there (1): a" in created.stdout
    assert fleet.rows("new") == ["r2"] and "items" in fleet.tables("new")


def _upgrade_to_blocking_revision(
    fleet: Fleet, block: Path, *options: str
) -> subprocess.Popen[str]:
    """Every tenant at r2, then ``upgrade --all-tenants`` started towards r3, whose migration
    waits in ``block`` (see :data:`R3`)."""
    fleet.db("upgrade", "--all-tenants")
    (fleet.project.versions / "r3_blocked.py").write_text(R3)
    block.mkdir()
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": fleet.project.database_url,
        "VERSIONING_ENV": "development",
        "TEST_BLOCK_DIR": str(block),
        **fleet.project.env,
    }
    return subprocess.Popen(
        [FLASK, "db", "upgrade", "--all-tenants", *options],
        cwd=fleet.project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers share its group, so _kill_group reaches them
    )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the command and every worker it started: a worker still waiting in ``block`` after
    a failed assertion would otherwise outlive the test and keep its tenant's locks."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait_until_blocked(proc: subprocess.Popen[str], block: Path, count: int) -> None:
    """Until ``count`` processes wait in the blocking revision (the run must still be going)."""
    deadline = time.monotonic() + 90
    while len(list(block.glob("*.pid"))) < count:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


def _wait_until_dead(pid: int) -> None:
    """Until ``pid`` has stopped running (a zombie its parent has not reaped yet, or gone):
    after that it cannot go on to the released migration."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 30
    while True:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        assert time.monotonic() < deadline, f"process {pid} still running ({state})"
        time.sleep(0.01)


def _read_stderr_until(proc: subprocess.Popen[str], text: str) -> str:
    """Read ``proc``'s standard error until ``text`` appears; returns what was read, which
    ``communicate()`` will no longer return."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    read = b""
    deadline = time.monotonic() + 90
    while text.encode() not in read:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, read.decode()
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"standard error closed before {text!r}: {read.decode()}"
            read += chunk
    return read.decode()


@pytest.mark.process
def test_a_killed_worker_fails_its_tenant_and_a_rerun_completes(
    fleet: Fleet, tmp_path: Path
) -> None:
    block = tmp_path / "block"
    proc = _upgrade_to_blocking_revision(fleet, block, "--jobs", "2")
    try:
        _wait_until_blocked(proc, block, 2)
        victim = int(sorted(block.glob("*.pid"))[0].stem)
        os.kill(victim, signal.SIGKILL)
        _wait_until_dead(victim)
        (block / "go").write_text("")
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        _kill_group(proc)
    assert proc.returncode == 1, stdout + stderr
    assert f"the worker process (pid {victim}) died while running it (killed by SIGKILL)" in stdout
    assert "the database is at r2; run the command again to finish it" in stdout
    assert "Error: 1 of 3 tenants failed" in stderr
    positions = [fleet.rows(n) for n in "abc"]
    assert sorted(positions) == [["r2"], ["r3"], ["r3"]]

    rerun = fleet.project.db("upgrade", "--all-tenants", TEST_BLOCK_DIR=str(block))
    assert "Changed (1):" in rerun.stdout and "Skipped, already there (2)" in rerun.stdout
    for name in "abc":
        assert fleet.rows(name) == ["r3"] and "blocked" in fleet.tables(name)


@pytest.mark.process
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_starts_no_more_tenants_and_says_where_each_stands(
    fleet: Fleet, tmp_path: Path, jobs: str
) -> None:
    block = tmp_path / "block"
    proc = _upgrade_to_blocking_revision(fleet, block, "--jobs", jobs, "--no-progress")
    try:
        _wait_until_blocked(proc, block, int(jobs))
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends (workers ignore it)
        # The run says at once that it took the Ctrl-C; only then may the blocked tenants go.
        seen = _read_stderr_until(proc, "Ctrl-C: ")
        (block / "go").write_text("")
        stdout, stderr = proc.communicate(timeout=90)
        stderr = seen + stderr
    finally:
        _kill_group(proc)
    assert proc.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert "Interrupted (Ctrl-C): no tenant was started after it." in stdout
    lines = {line.split()[0]: line for line in stdout.splitlines()[1:] if line.startswith("  ")}
    if jobs == "2":
        # The two running were let finish; the third was never started.
        assert "r2 -> r3" in lines["a"] and "r2 -> r3" in lines["b"], stdout
        assert "not run: interrupted (Ctrl-C)" in lines["c"]
        assert "Error: 1 of 3 tenants not run: c" in stderr
        assert [fleet.rows(n) for n in "abc"] == [["r3"], ["r3"], ["r2"]]
    else:
        # Inline, the tenant running was stopped: its migration rolled back or never began.
        assert "failed: interrupted (Ctrl-C) during revision r3" in lines["a"], stdout
        assert lines["a"].endswith("(now at r2)"), stdout
        assert "not run: interrupted (Ctrl-C)" in lines["b"] and "not run" in lines["c"]
        assert "Error: 1 of 3 tenants failed: a; 2 not run: b, c" in stderr
        assert [fleet.rows(n) for n in "abc"] == [["r2"], ["r2"], ["r2"]]
        assert "blocked" not in fleet.tables("a")
    rerun = fleet.project.db("upgrade", "--all-tenants", TEST_BLOCK_DIR=str(block))
    assert [fleet.rows(n) for n in "abc"] == [["r3"], ["r3"], ["r3"]], rerun.stdout


# -- bad input, before anything runs -----------------------------------------------------------


def _app(tmp_path: Path, tenants: object) -> tuple[Flask, Versioning]:
    metadata = sa.MetaData()
    sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app = Flask("fleetapp", root_path=str(tmp_path))
    app.testing = True
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    versioning = Versioning(app, metadata=metadata)
    versioning.tenants(lambda: tenants)
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "r1_items.py").write_text(R1)
    return app, versioning


@pytest.mark.parametrize(
    ("tenants", "message"),
    [
        ({"a": "s_a", "b c": "s_b"}, "tenant name 'b c' is not safe"),
        ([Tenant("a", schema="s_a"), Tenant("a", url="sqlite://")], "'a' is declared twice"),
        ({"a": "drop table; --"}, "schema 'drop table; --' is not a safe identifier"),
        ({"../up": "sqlite:///x.db"}, "tenant name '../up' is not safe"),
        ("a,b", "must return Tenant objects or a dict"),
    ],
)
def test_bad_tenants_are_refused_before_anything_runs(
    tmp_path: Path, tenants: object, message: str
) -> None:
    app, versioning = _app(tmp_path, tenants)
    with app.app_context(), pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        versioning.for_tenants("all").upgrade()
    assert list(tmp_path.glob("*.db")) == []  # not even the app's database was opened


@pytest.mark.process
def test_the_command_line_refuses_bad_input_in_one_line(fleet_sqlite: Fleet) -> None:
    fleet = fleet_sqlite
    fleet.declare({"a": fleet.tenants["a"], "a.b": fleet.tenants["b"], "x": (None, None)})
    cases = {
        ("upgrade", "--all-tenants"): "SQLite has no schemas (tenant 'x' names schema 'x')",
        ("upgrade", "--tenant", "nope"): "unknown tenant 'nope' (3 declared: a, a.b, x)",
        ("upgrade", "--jobs", "2"): "--jobs acts on tenants: add --all-tenants or --tenant NAME",
        ("upgrade", "--all-tenants", "--shard", "4/4"): "K counts from 0 and must be below N",
        ("upgrade", "--all-tenants", "--tenant", "a"): "give --tenant NAME or --all-tenants",
        ("upgrade", "--all-tenants", "--sql"): "--sql (sql=True) cannot be combined with tenants",
        ("upgrade", "--all-tenants", "--bind", "x"): "--bind cannot be combined with --tenant",
    }
    for args, message in cases.items():
        run = fleet.db(*args, check=False)
        assert run.returncode in (1, 2), (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr
    assert fleet.rows("a") == [] and fleet.rows("a.b") == []

    fleet.project.env["TEST_TENANTS"] = '[["a", null, null], ["a", null, null]]'
    twice = fleet.db("current", "--all-tenants", check=False)
    assert twice.returncode == 1
    assert twice.stderr.strip() == (
        "Error: tenant names must be unique: 'a' is declared twice by tenants()"
    )


@pytest.fixture
def fleet_sqlite(tmp_path: Path) -> Fleet:
    (tmp_path / "app.py").write_text(APP)
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1_items.py").write_text(R1)
    fleet = Fleet(FlaskProject(tmp_path, f"sqlite:///{tmp_path / 'app.db'}"), "sqlite", {})
    fleet.declare({n: (f"sqlite:///{tmp_path / f't_{n}.db'}", None) for n in "abc"})
    return fleet


# -- shards, the Python API, progress -----------------------------------------------------------


def test_shards_cover_every_tenant_exactly_once(tmp_path: Path) -> None:
    declared = {f"tenant-{i:02d}": f"sqlite:///{tmp_path / f'{i}.db'}" for i in range(40)}
    app, versioning = _app(tmp_path, declared)
    with app.app_context():
        for count in (1, 2, 3, 7):
            seen: list[str] = []
            for index in range(count):
                results = versioning.for_tenants("all", shard=(index, count)).current()
                seen += [r.tenant for r in results]
            assert sorted(seen) == sorted(declared)  # every tenant, none twice
        # The same share on every run and machine: a hash of the name, not Python's hash().
        first = [r.tenant for r in versioning.for_tenants("all", shard=(1, 3)).current()]
        assert first == [r.tenant for r in versioning.for_tenants("all", shard=(1, 3)).current()]
        assert 5 < len(first) < 25


def test_the_python_api_returns_one_result_per_tenant(tmp_path: Path) -> None:
    declared = [Tenant(n, url=f"sqlite:///{tmp_path / f't_{n}.db'}") for n in ("a", "b")]
    declared.append(Tenant("bad", url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    app, versioning = _app(tmp_path, declared)
    events: list[tuple[str, str]] = []
    with app.app_context():
        assert [t.name for t in _fleet.declared(versioning.state)] == ["a", "b", "bad"]
        results = versioning.for_tenants(
            "all", on_event=lambda e: events.append((e.kind, e.tenant))
        ).upgrade()
        assert [(r.tenant, r.status) for r in results] == [
            ("a", "changed"),
            ("b", "changed"),
            ("bad", "failed"),
        ]
        assert results[0].before == () and results[0].after == ("r1",)
        assert results[0].value is not None and results[0].value.steps[0].revision == "r1"
        assert results[2].error is not None
        assert str(tmp_path / "missing" / "x.db") in results[2].error, results[2].error
        assert results[2].after is None
        assert events[:2] == [("start", "a"), ("finish", "a")]
        again = versioning.for_tenants(["b", "a"]).upgrade()
        assert [(r.tenant, r.status) for r in again] == [("a", "skipped"), ("b", "skipped")]
        # A tenant given as an object need not be declared.
        extra = Tenant("extra", url=f"sqlite:///{tmp_path / 't_extra.db'}")
        assert versioning.for_tenants([extra]).current()[0].value == ()
        with pytest.raises(TypeError, match="bind"):  # tenants have one database each
            versioning.for_tenants("all").upgrade(bind="default")  # type: ignore[call-arg]


@pytest.mark.process
def test_progress_bar_on_a_terminal(fleet_sqlite: Fleet) -> None:
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": fleet_sqlite.project.database_url,
        "VERSIONING_ENV": "development",
        **fleet_sqlite.project.env,
    }
    proc = subprocess.run(
        [FLASK, "db", "upgrade", "--all-tenants"],
        cwd=fleet_sqlite.project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        timeout=120,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.returncode == 0
    screen = shown.decode()
    assert "\r[#" in screen and "/3  done " in screen and "1: " in screen
    assert screen.endswith("\r\x1b[K")  # the bar is gone before the summary
    assert ": 3 changed." in proc.stdout


def test_worker_processes_never_auto_upgrade() -> None:
    assert skip_reason("db", ["gunicorn", "app:app"]) is None
    seen: list[str | None] = []

    def loader() -> Flask:  # what the worker's app factory would see at init_app
        seen.append(skip_reason("db", ["gunicorn", "app:app"]))
        raise RuntimeError("stop after loading")

    parent, child = multiprocessing.Pipe()
    sigint = signal.getsignal(signal.SIGINT)
    try:
        worker_main(child, _Setup(loader=loader, directory="migrations"))
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert parent.recv() == ("broken", "RuntimeError: stop after loading")
    assert seen == ["this is a worker process of a fleet run; the command decides what runs"]
    assert skip_reason("db", ["gunicorn", "app:app"]) is None


@pytest.mark.process
def test_the_example_reads_its_tenants_from_the_apps_database(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "tenants"
    shutil.copytree(example, tmp_path / "example", ignore=shutil.ignore_patterns("instance"))
    project = FlaskProject(tmp_path / "example", f"sqlite:///{tmp_path / 'app.db'}")
    project.db("upgrade")
    for name in ("acme", "globex"):
        project.flask("add-tenant", name)
    run = project.db("upgrade", "--all-tenants", "--jobs", "2")
    assert ": 2 changed." in run.stdout
    current = project.db("current", "--all-tenants")
    assert current.stdout.splitlines() == ["acme    0001 (head)", "globex  0001 (head)"]
    tenants = tmp_path / "example" / "instance" / "tenants"
    assert sorted(p.name for p in tenants.glob("*.db")) == ["acme.db", "globex.db"]


def _broken_loader() -> Flask:
    raise RuntimeError("no app here")


@pytest.mark.process
def test_workers_that_cannot_load_the_app_stop_the_run(tmp_path: Path) -> None:
    declared = {n: f"sqlite:///{tmp_path / f't_{n}.db'}" for n in ("a", "b")}
    app, versioning = _app(tmp_path, declared)
    with app.app_context():
        with pytest.raises(ConfigurationError, match="cannot be sent to worker processes"):
            versioning.for_tenants("all", jobs=2, app_loader=lambda: app).upgrade()
        with pytest.raises(
            ConfigurationError,
            match="a worker process could not load the app: RuntimeError: no app here",
        ):
            versioning.for_tenants("all", jobs=2, app_loader=_broken_loader).upgrade()
        assert [r.status for r in versioning.for_tenants("all").current()] == ["ok", "ok"]
        assert [r.value for r in versioning.for_tenants("all").current()] == [(), ()]
