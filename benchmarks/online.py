"""Migrating under traffic: ``python -m benchmarks.online [--smoke] [--backends ...]``.

A table of a million rows; client threads read and insert at a steady rate and record every
latency; one transaction holds a lock on the table for ten seconds; meanwhile ``flask db
upgrade`` runs one revision that adds a column, then creates an index on that table. The same
revision files run under Flask-Migrate and under Flask-Versioning with its default settings,
one after the other in one run, on PostgreSQL and on MariaDB. The figures go to the
"Migrating under traffic" section of ``benchmarks/RESULTS.md`` (``--smoke``: printed only, with
a small table and a short blocker).

Load goes only to 127.0.0.1, and every loop is bounded by the scenario's deadline.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

SERVERS = {
    "postgresql": os.environ.get(
        "VERSIONING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "VERSIONING_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
TOOLS = {
    "migrate": "Flask-Migrate",
    "ours": "Flask-Versioning",
    "ours-safe": "Flask-Versioning, safe form",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- online:start -->", "<!-- online:end -->"

APP = """
import os
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    if os.environ["TOOL"] == "migrate":
        from flask_migrate import Migrate

        Migrate(app, db)
    else:
        from flask_versioning import Versioning

        Versioning(app, db)
    return app
"""

BASE = '''"""items

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("a", sa.Integer(), nullable=False),
        sa.Column("payload", sa.String(40), nullable=False),
    )


def downgrade():
    op.drop_table("items")
'''

CHANGE = '''"""add b, index a

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("items", sa.Column("b", sa.Integer(), nullable=True))
    op.create_index("ix_items_a", "items", ["a"])


def downgrade():
    op.drop_index("ix_items_a", table_name="items")
    op.drop_column("items", "b")
'''


#: The same change as autogenerate writes it with ``VERSIONING_SAFE_DDL`` (the default) on
#: PostgreSQL and MariaDB: the index through the helper, first, then the column.
SAFE_CHANGE = '''"""add b, index a

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from flask_versioning.online import create_index_concurrently

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    create_index_concurrently("ix_items_a", "items", ["a"], unique=False)
    op.add_column("items", sa.Column("b", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("items", "b")
    op.drop_index("ix_items_a", table_name="items")
'''


@dataclasses.dataclass
class Op:
    start: float
    latency: float
    write: bool
    ok: bool


@dataclasses.dataclass
class Outcome:
    backend: str
    tool: str
    rows: int
    hold: float
    ops: list[Op]
    blocker_start: float
    blocker_end: float
    migration_start: float
    migration_end: float
    returncode: int
    last_line: str


def _url(server: str, name: str) -> sa.URL:
    return sa.make_url(server).set(database=name)


def _fill(url: sa.URL, backend: str, rows: int) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql(
                "INSERT INTO items (a, payload) SELECT mod(g::bigint * 7919, 100000), md5(g::text) "
                f"FROM generate_series(1, {rows}) g"
            )
            conn.exec_driver_sql("ANALYZE items")
        else:
            conn.exec_driver_sql(
                "INSERT INTO items (a, payload) SELECT mod(seq * 7919, 100000), md5(seq) "
                f"FROM seq_1_to_{rows}"
            )
    engine.dispose()


def _flask(project: Path, url: sa.URL, tool: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "TOOL": "ours" if tool == "ours-safe" else tool,
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "VERSIONING_ENV": "production",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run(project: Path, url: sa.URL, tool: str, *args: str) -> None:
    proc = _flask(project, url, tool, *args)
    out, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} ({tool}) failed:\n{out}")


def _client(
    engine: sa.Engine, write: bool, rate: float, stop: threading.Event, ops: list[Op], t0: float
) -> None:
    """One client: an operation every 1/rate seconds, each on a pooled connection."""
    period = 1.0 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        started = time.perf_counter()
        ok = True
        try:
            with engine.begin() as conn:
                if write:
                    conn.execute(
                        sa.text("INSERT INTO items (a, payload) VALUES (:a, 'client')"),
                        {"a": random.randrange(100000)},
                    )
                else:
                    conn.execute(
                        sa.text("SELECT a, payload FROM items WHERE id = :id"),
                        {"id": random.randrange(1, 1000)},
                    ).all()
        except Exception:
            ok = False
        ops.append(Op(started - t0, time.perf_counter() - started, write, ok))
        next_at += period
        delay = next_at - time.perf_counter()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.perf_counter()


def scenario(backend: str, tool: str, rows: int, hold: float, workdir: Path) -> Outcome:
    name = f"fv_online_{uuid.uuid4().hex[:10]}"
    server = SERVERS[backend]
    admin = sa.create_engine(server, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = _url(server, name)
    project = workdir / f"{backend}-{tool}"
    project.mkdir()
    (project / "app.py").write_text(APP)
    try:
        _run(project, url, tool, "db", "init")
        versions = project / "migrations" / "versions"
        versions.mkdir(exist_ok=True)
        for stray in versions.glob("*.py"):
            stray.unlink()
        heads = project / "migrations" / "versions" / "HEADS"
        heads.unlink(missing_ok=True)
        (versions / "0001_items.py").write_text(BASE)
        (versions / "0002_change.py").write_text(SAFE_CHANGE if tool == "ours-safe" else CHANGE)
        _run(project, url, tool, "db", "upgrade", "0001")
        _fill(url, backend, rows)
        return _measure(backend, tool, rows, hold, project, url)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def _measure(
    backend: str, tool: str, rows: int, hold: float, project: Path, url: sa.URL
) -> Outcome:
    engine = sa.create_engine(url, pool_size=8, max_overflow=4, pool_pre_ping=False)
    ops: list[Op] = []
    stop = threading.Event()
    t0 = time.perf_counter()
    clients = [
        threading.Thread(target=_client, args=(engine, w, 25.0, stop, ops, t0))
        for w in (False, False, True, True)
    ]
    for c in clients:
        c.start()
    stop.wait(2.0)  # a baseline before anything happens
    times: dict[str, float] = {}

    # The blocker takes its lock before the migration starts and holds it for ``hold`` seconds
    # from when the migration is first seen waiting for a lock on the table (pg_locks, the
    # processlist); a statement that never waits visibly (MariaDB's NOWAIT) starts the count
    # when the process has had its measured start-up time.
    startup = _startup(project, url, tool)
    blocker = sa.create_engine(url, poolclass=sa.NullPool)
    watcher = sa.create_engine(url, poolclass=sa.NullPool)
    with blocker.connect() as conn, watcher.connect() as watch:
        conn.exec_driver_sql("SELECT id FROM items WHERE id = 1").all()
        times["blocker_start"] = time.perf_counter() - t0
        migration_start = time.perf_counter() - t0
        proc = _flask(project, url, tool, "db", "upgrade")
        deadline = time.perf_counter() + startup + 30
        while time.perf_counter() < deadline and proc.poll() is None:  # bounded
            if _waiting(watch, backend):
                break
            if time.perf_counter() - t0 - migration_start > startup * 1.5:
                break
            stop.wait(0.01)
        times["hold_from"] = time.perf_counter() - t0
        stop.wait(hold)
        conn.rollback()
        times["blocker_end"] = time.perf_counter() - t0
    blocker.dispose()
    watcher.dispose()
    try:
        out, _ = proc.communicate(timeout=hold + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    migration_end = time.perf_counter() - t0
    stop.wait(2.0)  # after the migration
    stop.set()
    for c in clients:
        c.join(30)
    engine.dispose()
    lines = [line for line in out.splitlines() if line.strip()]
    return Outcome(
        backend,
        tool,
        rows,
        hold,
        ops,
        times.get("blocker_start", 0.0),
        times.get("blocker_end", 0.0),
        migration_start,
        migration_end,
        proc.returncode,
        lines[-1][:200] if lines else "",
    )


def _waiting(connection: sa.Connection, backend: str) -> bool:
    if backend == "postgresql":
        sql = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'items'::regclass"
    else:
        sql = (
            "SELECT count(*) FROM information_schema.PROCESSLIST "
            "WHERE STATE LIKE 'Waiting for table metadata lock%%'"
        )
    found = int(connection.exec_driver_sql(sql).scalar_one())
    connection.rollback()
    return found > 0


def _startup(project: Path, url: sa.URL, tool: str) -> float:
    started = time.perf_counter()
    _run(project, url, tool, "db", "current")
    return time.perf_counter() - started


def _p99(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def summarize(o: Outcome) -> dict[str, str]:
    during = [op for op in o.ops if o.migration_start <= op.start <= o.migration_end]
    before = [op for op in o.ops if op.start < o.blocker_start and op.write and op.ok]
    build = [
        op for op in o.ops if max(o.blocker_end, o.migration_start) <= op.start <= o.migration_end
    ]
    build_writes = [op.latency for op in build if op.write and op.ok]
    stall = max((op.latency for op in during), default=0.0)
    blocked = [op.latency for op in during if op.start <= o.blocker_end]
    lock_stall = max(blocked, default=0.0)
    failed = sum(1 for op in o.ops if not op.ok)
    before_p99 = _p99([op.latency for op in before])
    build_p99 = _p99(build_writes)
    finished = (
        f"yes, {o.migration_end - o.migration_start:.1f} s after it started "
        f"({o.migration_end - o.blocker_end:+.1f} s from its end)"
        if o.returncode == 0
        else f"no (exit {o.returncode}: {o.last_line})"
    )
    return {
        "backend": o.backend,
        "tool": TOOLS[o.tool],
        "ops": str(len(o.ops)),
        "stall": f"{stall:.3f} s",
        "lock_stall": f"{lock_stall:.3f} s",
        "p99": f"{_p99([op.latency for op in during]) * 1000:.1f} ms",
        "failed": str(failed),
        "finished": finished,
        "writes": (
            f"{build_p99 * 1000:.1f} ms vs {before_p99 * 1000:.1f} ms "
            f"({build_p99 / before_p99:.1f}x)"
            if before_p99 and build_writes
            else "n/a"
        ),
    }


def render(rows: list[dict[str, str]], command: str, rows_count: int, hold: float) -> str:
    lines = [
        START,
        "## Migrating under traffic",
        "",
        f"- Command: `{command}`; started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Table of {rows_count:,} rows; 2 readers and 2 writers at 25 operations/s each; one "
        f"transaction takes a lock on the table before `flask db upgrade` starts and holds it "
        f"{hold:g} s from when the migration is first seen waiting (or, when it never waits "
        "visibly, from the end of its start-up); the revision adds a column, then creates an "
        "index "
        "(as autogenerate writes it without `VERSIONING_SAFE_DDL`). Both tools run the same "
        "revision files, with defaults; the third row runs the file autogenerate writes with "
        "`VERSIONING_SAFE_DDL` (the default): `create_index_concurrently()` first, then the "
        "column.",
        f"- Load average (1, 5, 15 min) at the end: {_load()}",
        "- Stall: the longest single client operation started while the migration ran. "
        "Writes during the index build: client write p99 from the blocker's end to the "
        "migration's end, against the write p99 before the blocker.",
        "",
        "| Backend | Tool | Client ops | Longest stall | Longest stall while the blocker held "
        "| p99 during migration | Failed | Migration finished | Write p99, index build vs before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['tool']} | {r['ops']} | {r['stall']} | {r['lock_stall']} "
            f"| {r['p99']} | "
            f"{r['failed']} | {r['finished']} | {r['writes']} |"
        )
    lines.append(END)
    return "\n".join(lines)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _write_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.online")
    parser.add_argument("--smoke", action="store_true", help="small table, short blocker")
    parser.add_argument("--backends", default="postgresql,mariadb")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--hold", type=float, default=None, help="seconds the blocker holds")
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.smoke else 1_000_000)
    hold = args.hold or (2.0 if args.smoke else 10.0)
    summaries: list[dict[str, str]] = []
    ours_ok = True
    with tempfile.TemporaryDirectory(prefix="fv-online-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            for tool in ("migrate", "ours", "ours-safe"):
                outcome = scenario(backend, tool, rows, hold, Path(tmp))
                summary = summarize(outcome)
                summaries.append(summary)
                print(" | ".join(summary.values()), flush=True)
                ours_ok = ours_ok and (tool != "ours" or outcome.returncode == 0)
    command = "python -m benchmarks.online" + (" --smoke" if args.smoke else "")
    section = render(summaries, command, rows, hold)
    if not args.smoke:
        _write_results(section)
    return 0 if ours_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
