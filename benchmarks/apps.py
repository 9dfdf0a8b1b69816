"""Write the same small Flask app and revision chain for each tool, and run it in subprocesses.

Every tool gets its own directory holding an app module (``benchapp.py``) that is written to
disk, so a whole ``flask`` process can load it through ``FLASK_APP`` exactly as a user's app
would be loaded. The revision files are plain Alembic files with fixed ids (``r0001``,
``r0002``, ...) and fixed dates, byte-for-byte identical for all three tools, so the only
difference between the three directories is what each tool needs around those files:

- Flask-Versioning: ``versioning/versions/``; ``VERSIONING_DIRECTORY`` points at
  ``versioning`` and the package writes its own ``env.py`` and ``script.py.mako``.
- Flask-Migrate: ``migrations/`` with the ``alembic.ini``, ``env.py`` and ``script.py.mako``
  that ``flask db init`` produces (run once per harness run, then copied), revisions in
  ``migrations/versions/``.
- Flask-Alembic: its default ``script_location``, ``migrations`` under the app's root path.
  Flask-Alembic adds the script location itself to ``version_locations`` and has no
  ``env.py``, so the revision files sit directly in ``migrations/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

OURS = "ours"
MIGRATE = "migrate"
ALEMBIC = "alembic"
RAW = "raw"
PEERS = (MIGRATE, ALEMBIC)
MIGRATION_TOOLS = (OURS, MIGRATE, ALEMBIC)
LABELS = {
    OURS: "Flask-Versioning",
    MIGRATE: "Flask-Migrate",
    ALEMBIC: "Flask-Alembic",
    RAW: "SQLAlchemy Core executemany",
}

APP_MODULE = "benchapp"
START_PROBE = "start_probe.py"
SEED_PROBE = "seed_probe.py"
RESULT_PREFIX = "BENCH_RESULT "
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Step:
    """One generated revision: it creates ``table``, or adds ``column`` to it when set."""

    number: int
    table: str
    column: str | None = None

    @property
    def revision(self) -> str:
        """The fixed revision id, the same for every tool."""
        return f"r{self.number:04d}"


def plan_chain(count: int) -> list[Step]:
    """A linear chain of ``count`` revisions: every fourth adds a column, the rest add tables.

    Mixing the two operations keeps the chain closer to a real project's history than a chain
    of table creations alone, while staying trivially deterministic.
    """
    steps: list[Step] = []
    table = ""
    for number in range(1, count + 1):
        if number % 4 == 0 and table:
            steps.append(Step(number, table, f"c{number:04d}"))
        else:
            table = f"t{number:04d}"
            steps.append(Step(number, table))
    return steps


def revisions_for_tables(tables: int) -> int:
    """The shortest chain from :func:`plan_chain` whose head has exactly ``tables`` tables."""
    count = created = 0
    while created < tables:
        count += 1
        if count % 4 != 0:
            created += 1
    return count


def schema_of(steps: Sequence[Step]) -> dict[str, list[str]]:
    """Each table the chain creates, mapped to the extra columns later revisions add to it."""
    schema: dict[str, list[str]] = {}
    for step in steps:
        if step.column is None:
            schema[step.table] = []
        else:
            schema[step.table].append(step.column)
    return schema


_REVISION = Template('''\
"""$message

Revision ID: $revision
Revises: $revises
Create Date: 2024-01-01 00:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = $revision_repr
down_revision = $down_repr
branch_labels = None
depends_on = None


def upgrade():
$upgrade


def downgrade():
$downgrade
''')


def render_revision(step: Step, down_revision: str | None) -> str:
    """The text of one revision file, written the way ``alembic revision`` would lay it out."""
    if step.column is None:
        message = f"create table {step.table}"
        upgrade = (
            "    op.create_table(\n"
            f'        "{step.table}",\n'
            '        sa.Column("id", sa.Integer(), nullable=False),\n'
            '        sa.Column("name", sa.String(length=64), nullable=False),\n'
            '        sa.PrimaryKeyConstraint("id"),\n'
            "    )"
        )
        downgrade = f'    op.drop_table("{step.table}")'
    else:
        message = f"add column {step.table}.{step.column}"
        upgrade = (
            f'    op.add_column("{step.table}", sa.Column("{step.column}", sa.Integer(),'
            " nullable=True))"
        )
        downgrade = f'    op.drop_column("{step.table}", "{step.column}")'
    return _REVISION.substitute(
        message=message,
        revision=step.revision,
        revises=down_revision or "",
        revision_repr=repr(step.revision),
        down_repr=repr(down_revision),
        upgrade=upgrade,
        downgrade=downgrade,
    )


def revision_filename(step: Step) -> str:
    """The file name of a revision, sortable and the same in every tool's layout."""
    action = "create" if step.column is None else "add"
    return f"{step.revision}_{action}_{step.table}.py"


def write_chain(directory: Path, steps: Sequence[Step]) -> None:
    """Write the revision files for ``steps`` into ``directory``, creating it if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    previous: str | None = None
    for step in steps:
        (directory / revision_filename(step)).write_text(render_revision(step, previous))
        previous = step.revision


# The app module. ``create_app`` is what FLASK_APP loads; ``start_app`` is what each tool's
# documentation suggests doing when the app starts and the database should be brought to head.
_APP_MODULE = Template('''\
"""Benchmark app for $label, written by benchmarks/apps.py: change the generator, not this."""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
$tool_import

HERE = os.path.dirname(os.path.abspath(__file__))
db = SQLAlchemy()
tool = None

# The tables the revision chain creates, when this app declares models for autogenerate.
SCHEMA = $schema
for _name, _extra in SCHEMA.items():
    db.Table(
        _name,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        *[sa.Column(_column, sa.Integer, nullable=True) for _column in _extra],
    )


# Seconds spent in the tool's own lines (its set-up in create_app, its upgrade call at start):
# what the tool adds to an app's start, without Flask's and Flask-SQLAlchemy's share.
TOOL_SECONDS = []


def create_app():
    global tool
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BENCH_DATABASE_URL"]
    db.init_app(app)
    _t = time.perf_counter()
$tool_init
    TOOL_SECONDS.append(time.perf_counter() - _t)
    return app


def start_app():
    app = create_app()
    _t = time.perf_counter()
$tool_start
    TOOL_SECONDS.append(time.perf_counter() - _t)
    return app
''')

_TOOL_CODE: dict[str, tuple[str, str, str]] = {
    OURS: (
        "from flask_versioning import Versioning",
        '    app.config["VERSIONING_DIRECTORY"] = "versioning"\n'
        '    app.config["VERSIONING_AUTO_UPGRADE"] = os.environ.get("BENCH_AUTO_UPGRADE") == "1"\n'
        "    tool = Versioning(app, db)",
        "    # VERSIONING_AUTO_UPGRADE already brought the database to head inside create_app().",
    ),
    MIGRATE: (
        "from flask_migrate import Migrate, upgrade",
        '    tool = Migrate(app, db, directory=os.path.join(HERE, "migrations"))',
        "    with app.app_context():\n        upgrade()",
    ),
    ALEMBIC: (
        "from flask_alembic import Alembic",
        "    tool = Alembic(app)",
        "    with app.app_context():\n        tool.upgrade()",
    ),
    RAW: ("", "    tool = None", "    pass"),
}

# Times app start in a fresh interpreter. The optional file barrier lets the concurrent
# scenario release every process at the same moment, after each has finished its imports.
_START_PROBE = f'''\
"""Time app start in a fresh process; written by benchmarks/apps.py."""

import json
import os
import sys
import time

t0 = time.perf_counter()
import {APP_MODULE}

t1 = time.perf_counter()
barrier = os.environ.get("BENCH_BARRIER_DIR")
if barrier:
    open(os.path.join(barrier, "ready-%d" % os.getpid()), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(barrier, "go")):
        if time.monotonic() > deadline:
            sys.exit("benchmark barrier timed out")
        time.sleep(0.001)
t2 = time.perf_counter()
{APP_MODULE}.start_app()
t3 = time.perf_counter()
tool_seconds = sum({APP_MODULE}.TOOL_SECONDS)
print(
    "{RESULT_PREFIX}" + json.dumps({{"import": t1 - t0, "start": t3 - t2, "tool": tool_seconds}}),
    flush=True,
)
'''

# Times inserting generated rows, either through Flask-Versioning's helper or through a plain
# Core executemany, with the rows built before the clock starts.
_SEED_PROBE = f'''\
"""Time inserting rows in a fresh process; written by benchmarks/apps.py."""

import json
import sys
import time

import sqlalchemy as sa

import {APP_MODULE}

mode, count = sys.argv[1], int(sys.argv[2])
app = {APP_MODULE}.create_app()
table = sa.Table(
    "seed_rows",
    {APP_MODULE}.db.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
)
rows = [{{"id": i, "name": "row %d" % i, "amount": i % 997}} for i in range(1, count + 1)]
with app.app_context():
    engine = {APP_MODULE}.db.engine
    table.create(engine)
    t0 = time.perf_counter()
    if mode == "ours":
        {APP_MODULE}.tool.bulk_insert(table, rows)
    else:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    t1 = time.perf_counter()
print("{RESULT_PREFIX}" + json.dumps({{"seconds": t1 - t0}}), flush=True)
'''


@dataclass
class ProcessOutcome:
    """What one subprocess did: its wall time as seen by the harness, and its output."""

    seconds: float
    returncode: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the process exited 0 (a timed-out process has no return code)."""
        return self.returncode == 0

    def result(self) -> dict[str, float] | None:
        """The JSON a probe printed on its result line, if it printed one."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(RESULT_PREFIX):
                data = json.loads(line[len(RESULT_PREFIX) :])
                return {str(k): float(v) for k, v in data.items()}
        return None

    def error(self) -> str:
        """A one-line account of a failure: the last exception line, or the last output line."""
        if self.returncode is None:
            return f"timed out after {self.seconds:.0f}s"
        return f"exit {self.returncode}: {summarize_error(self.stderr or self.stdout)}"


def summarize_error(output: str) -> str:
    """The most telling line of a failed process's output, for the report.

    SQLAlchemy errors span several lines (SQL, parameters, a link), so the last line is rarely
    the useful one; the last ``SomeError: message`` line is.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.replace(".", "").replace("_", "").isalnum() and head.endswith(
            ("Error", "Exception", "Violation", "Exit", "Interrupt")
        ):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run_process(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> ProcessOutcome:
    """Run a process to completion and time it from launch to exit."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return ProcessOutcome(
            time.perf_counter() - start, None, _text(exc.stdout), _text(exc.stderr)
        )
    return ProcessOutcome(time.perf_counter() - start, done.returncode, done.stdout, done.stderr)


def _text(data: str | bytes | None) -> str:
    """Output captured before a timeout, which subprocess may hand back as bytes."""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def base_env() -> dict[str, str]:
    """The harness's environment without variables that would select some other Flask app or
    change how the benchmark apps behave.

    ``PYTHONDONTWRITEBYTECODE`` goes too: with it, no process ever writes bytecode, so every
    run compiled the revision files again (whatever the warm-up did) and, worse for fairness,
    compiled from source whichever of a working copy's modules changed since their ``.pyc``
    was written, while the peers, installed by pip, came with theirs. A server that has
    started before has both compiled.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "BENCH_")) and k != "PYTHONDONTWRITEBYTECODE"
    }


def flask_command() -> list[str]:
    """The ``flask`` script installed next to this interpreter, so every process uses the same
    environment as the harness; ``python -m flask`` if the script is missing."""
    script = Path(sys.executable).parent / "flask"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "flask"]


@dataclass
class BenchApp:
    """One tool's app directory, with a database URL chosen per process."""

    tool: str
    root: Path
    steps: list[Step]
    timeout: float
    database_url: str = ""

    @property
    def head(self) -> str | None:
        """The id of the newest revision, which every tool should report as head."""
        return self.steps[-1].revision if self.steps else None

    @property
    def script_dir(self) -> Path:
        """The tool's script directory: revisions, plus ``env.py`` where the tool has one."""
        return self.root / ("versioning" if self.tool == OURS else "migrations")

    @property
    def versions_dir(self) -> Path:
        """Where this tool looks for revision files."""
        if self.tool == OURS:
            return self.root / "versioning" / "versions"
        if self.tool == MIGRATE:
            return self.root / "migrations" / "versions"
        return self.root / "migrations"

    def env(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a process: the harness's own, plus what selects this app.

        The repository root goes on ``PYTHONPATH`` so the working copy of ``flask_versioning``
        is what gets imported, whether or not it is installed in the virtualenv.
        """
        env = base_env()
        paths = [str(self.root), str(REPO_ROOT)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        env.update(
            PYTHONPATH=os.pathsep.join(paths),
            FLASK_APP=f"{APP_MODULE}:create_app",
            FLASK_SKIP_DOTENV="1",
            BENCH_DATABASE_URL=url,
            BENCH_AUTO_UPGRADE="0",
        )
        env.update(extra or {})
        return env

    def flask(
        self, args: Sequence[str], url: str, extra_env: Mapping[str, str] | None = None
    ) -> ProcessOutcome:
        """Run a whole ``flask`` process for this app, e.g. ``["db", "upgrade"]``."""
        return run_process(
            [*flask_command(), *args],
            cwd=self.root,
            env=self.env(url, extra_env),
            timeout=self.timeout,
        )

    def probe_command(self, probe: str, *args: str) -> list[str]:
        """The command line that runs one of the probe scripts with this interpreter."""
        return [sys.executable, str(self.root / probe), *args]

    def probe(
        self, probe: str, url: str, *args: str, extra_env: Mapping[str, str] | None = None
    ) -> ProcessOutcome:
        """Run a probe script in a fresh interpreter and return what it printed."""
        return run_process(
            self.probe_command(probe, *args),
            cwd=self.root,
            env=self.env(url, extra_env),
            timeout=self.timeout,
        )


@dataclass
class Workspace:
    """The temporary directory that holds every app a benchmark run builds."""

    root: Path
    timeout: float
    _migrate_template: Path | None = None
    _serial: int = 0
    cache: dict[tuple[object, ...], BenchApp] = field(default_factory=dict)

    def build(
        self, tool: str, steps: Sequence[Step], *, with_models: bool = False, tag: str = ""
    ) -> BenchApp:
        """Write a fresh app for ``tool`` with the given chain, in its own directory."""
        self._serial += 1
        name = f"{self._serial:03d}-{tag or 'app'}-{tool}"
        root = self.root / name
        root.mkdir(parents=True)
        app = BenchApp(tool, root, list(steps), self.timeout)
        schema = schema_of(steps) if with_models else {}
        tool_import, tool_init, tool_start = _TOOL_CODE[tool]
        (root / f"{APP_MODULE}.py").write_text(
            _APP_MODULE.substitute(
                label=LABELS[tool],
                tool_import=tool_import,
                schema=repr(schema),
                tool_init=tool_init,
                tool_start=tool_start,
            )
        )
        (root / START_PROBE).write_text(_START_PROBE)
        (root / SEED_PROBE).write_text(_SEED_PROBE)
        if tool == MIGRATE:
            template = self.migrate_template()
            shutil.copytree(
                template, root / "migrations", ignore=shutil.ignore_patterns("versions")
            )
        if tool != RAW:
            write_chain(app.versions_dir, steps)
        return app

    def migrate_template(self) -> Path:
        """The ``migrations`` directory that ``flask db init`` writes, made once and reused.

        Running the real command, rather than copying files out of Flask-Migrate's package,
        gives exactly the files a Flask-Migrate user starts from, whatever the version.
        """
        if self._migrate_template is None:
            root = self.root / "flask-migrate-init"
            root.mkdir()
            (root / f"{APP_MODULE}.py").write_text(
                _APP_MODULE.substitute(
                    label=LABELS[MIGRATE],
                    tool_import=_TOOL_CODE[MIGRATE][0],
                    schema="{}",
                    tool_init=_TOOL_CODE[MIGRATE][1],
                    tool_start=_TOOL_CODE[MIGRATE][2],
                )
            )
            init = BenchApp(MIGRATE, root, [], self.timeout)
            outcome = init.flask(["db", "init"], f"sqlite:///{root / 'unused.db'}")
            if not outcome.ok:
                raise RuntimeError(f"flask db init failed: {outcome.error()}")
            self._migrate_template = root / "migrations"
        return self._migrate_template
