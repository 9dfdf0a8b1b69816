"""The pytest plugin (``flask_versioning.testing``), run by pytester on a user's project: an app
with models and revisions, tests that use ``versioning_db``, real pytest sessions."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import MYSQL_URL, POSTGRES_URL, _admin_engine

# Pytest sessions of their own.
pytestmark = pytest.mark.process

pytest_plugins = ["pytester"]

APP = """
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()


class User(db.Model):
    __tablename__ = "users"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=False)


@versioning.seed("demo")
def demo_users(session):
    session.add(User(name="demo"))


def create_app(url):
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=url, TESTING=True, VERSIONING_ENV="testing")
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""

REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}


def upgrade():
    {body}


def downgrade():
    pass
"""

CONFTEST = """
import json, os
from pathlib import Path

import pytest

from app import create_app


@pytest.fixture(scope="session")
def versioning_app_factory():
    return create_app


@pytest.fixture(autouse=True)
def record(request):
    if "versioning_db" in request.fixturenames:
        db = request.getfixturevalue("versioning_db")
        line = {"test": request.node.name, "url": db.url, "mode": db.mode,
                "reused": db.template.reused, "created_at": db.template.created_at,
                "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}
        with open(Path(__file__).parent / "record.jsonl", "a") as f:
            f.write(json.dumps(line) + "\\n")
"""

TESTS = """
import pytest
import sqlalchemy as sa

from app import User, db


def test_commit_in_transaction_mode(versioning_db):
    db.session.add(User(name="a"))
    db.session.commit()
    assert db.session.query(User).count() == 1


def test_previous_commit_was_rolled_back(versioning_db):
    assert db.session.query(User).count() == 0
    assert db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "r2"


@pytest.mark.versioning_db(clone=True)
def test_clone_has_its_own_database(versioning_db):
    db.session.add(User(name="b"))
    db.session.commit()
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM users")).scalars().all() == ["b"]


@pytest.mark.versioning_db(seeds="demo")
def test_seeded_template(versioning_db):
    assert [u.name for u in db.session.query(User)] == ["demo"]
"""


@pytest.fixture
def base_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database name on the backend; the plugin's templates and clones, named after it, are
    dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'test.db'}"
        return
    admin = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
    name = f"fvp_{tmp_path.name[-8:].replace('-', '_')}_{abs(hash(tmp_path)) % 10**6}"
    yield sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = _admin_engine(admin)
    query = (
        "SELECT datname FROM pg_database WHERE datname LIKE :p"
        if backend == "postgresql"
        else "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"
    )
    with engine.connect() as connection:
        for (db,) in connection.execute(sa.text(query), {"p": f"{name}%"}).all():
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {db}{force}")
    engine.dispose()


@pytest.fixture
def user_project(
    pytester: pytest.Pytester, base_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    # The user's session is not one of this session's xdist workers, whatever runs this one.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    if backend == "sqlite":
        Path(sa.make_url(base_url).database or "").parent.mkdir()
    else:
        engine = _admin_engine(POSTGRES_URL if backend == "postgresql" else MYSQL_URL)
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {sa.make_url(base_url).database}")
        engine.dispose()
    pytester.makepyfile(app=APP, conftest=CONFTEST, test_users=TESTS)
    versions = pytester.path / "migrations" / "versions"
    versions.mkdir(parents=True)
    create = (
        'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(50), nullable=False))'
    )
    widen = 'op.add_column("users", sa.Column("email", sa.String(80), nullable=True))'
    for rev, down, body in (("r1", None, create), ("r2", "r1", widen)):
        text = REVISION.format(rev=rev, down=down, body=body)
        (versions / f"{rev}.py").write_text(textwrap.dedent(text))
    return pytester


def records(project: pytest.Pytester) -> list[dict[str, str]]:
    path = project.path / "record.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines]


def run(project: pytest.Pytester, base_url: str, *args: str) -> pytest.RunResult:
    """A session of the user's project: in this process (pytester restores the modules it
    imports), except with xdist, whose workers are processes anyway."""
    runner = project.runpytest_subprocess if "-n" in args else project.runpytest_inprocess
    return runner("-p", "no:cacheprovider", f"--versioning-url={base_url}", *args)


def test_modes_seeds_and_reuse(user_project: pytest.Pytester, base_url: str, backend: str) -> None:
    result = run(user_project, base_url)
    result.assert_outcomes(passed=4)
    first = {r["test"]: r for r in records(user_project)}
    assert first["test_commit_in_transaction_mode"]["mode"] == "transaction"
    assert first["test_clone_has_its_own_database"]["mode"] == "clone"
    assert (
        first["test_clone_has_its_own_database"]["url"]
        != first["test_commit_in_transaction_mode"]["url"]
    )
    assert "_fvtpl_main" in first["test_commit_in_transaction_mode"]["url"]
    assert "_fvtpl_main_demo" in first["test_seeded_template"]["url"]
    assert not any(r["reused"] for r in first.values())

    # A second session reuses the templates: not migrated again.
    run(user_project, base_url).assert_outcomes(passed=4)
    second = {r["test"]: r for r in records(user_project)}
    assert all(r["reused"] for r in second.values())
    assert (
        second["test_seeded_template"]["created_at"] == first["test_seeded_template"]["created_at"]
    )

    # A new revision file changes the checksum: rebuilt; --versioning-create-db forces it.
    (user_project.path / "migrations" / "versions" / "r1.py").write_text(
        (user_project.path / "migrations" / "versions" / "r1.py").read_text() + "\n# touched\n"
    )
    run(user_project, base_url).assert_outcomes(passed=4)
    assert not any(r["reused"] for r in records(user_project))
    run(user_project, base_url, "--versioning-create-db").assert_outcomes(passed=4)
    assert not any(r["reused"] for r in records(user_project))


def test_a_baseline_makes_the_template(user_project: pytest.Pytester, base_url: str) -> None:
    user_project.syspathinsert()
    sys.modules.pop("app", None)
    from app import create_app, versioning  # type: ignore[import-not-found]

    scratch = create_app(base_url)
    with scratch.app_context():
        versioning.baseline()
        scratch.extensions["sqlalchemy"].engine.dispose()
    sys.modules.pop("app", None)
    run(user_project, base_url, "-k", "rolled_back").assert_outcomes(passed=1)
    (template,) = records(user_project)
    engine = sa.create_engine(template["url"], poolclass=sa.NullPool)
    with engine.connect() as connection:
        directions = connection.exec_driver_sql("SELECT direction FROM versioning_history")
        assert directions.scalars().all() == ["baseline"]
    engine.dispose()


def test_one_database_per_xdist_worker(user_project: pytest.Pytester, base_url: str) -> None:
    run(user_project, base_url, "-n", "2").assert_outcomes(passed=4)
    seen = records(user_project)
    assert {r["worker"] for r in seen} == {"gw0", "gw1"}
    for r in seen:
        assert f"_fvtpl_{r['worker']}" in r["url"]


def test_an_unreachable_server_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP, conftest=CONFTEST, test_users=TESTS)
    url = "postgresql+psycopg://me:secret@127.0.0.1:1/test"
    # A process of its own: the session in this one would import the driver anew, and
    # SQLAlchemy, holding the driver it imported first, would not know its errors.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--versioning-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert (
        "flask_versioning: cannot make the test database on postgresql+psycopg://me:***@127.0.0.1:1/test"
        in out
    )
    assert "secret" not in out and "Traceback" not in out
