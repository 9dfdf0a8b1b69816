"""The pytest plugin on real projects: several checkouts on one machine, an app that upgrades
itself at start, a server URL naming a database that does not exist yet. Each project is a
folder with its own app, revisions and tests, run by pytester in a pytest process of its own."""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, MYSQL_URL, POSTGRES_URL, _admin_engine
from test_testing_plugin import APP, CONFTEST, REVISION, TESTS, base_url

# Pytest sessions of their own.
pytestmark = pytest.mark.process

pytest_plugins = ["pytester"]
__all__ = ["base_url"]  # the fixture, shared with test_testing_plugin

CREATE = (
    'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50), nullable=False))'
)
WIDEN = 'op.add_column("{table}", sa.Column("email", sa.String(80), nullable=True))'

# The same app starting the way many production apps do: it checks, migrates and seeds itself.
AUTO_UPGRADE_APP = APP.replace(
    'VERSIONING_ENV="testing"',
    'VERSIONING_ENV="demo", VERSIONING_AUTO_UPGRADE=True, VERSIONING_AUTO_SEED=True, '
    'VERSIONING_VALIDATE_ON_START="refuse"',
)


def write_project(root: Path, *, app: str = APP, prefix: str = "r", table: str = "users") -> Path:
    """A user's project in ``root``: the app, two revisions, the conftest and four tests.

    ``prefix`` names the revisions (``r1``, ``r2``) and ``table`` the model's table, so that
    two projects have histories that cannot be run on each other's databases.
    """
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "app.py").write_text(app.replace('"users"', f'"{table}"'))
    (root / "conftest.py").write_text(CONFTEST)
    tests = TESTS.replace('== "r2"', f'== "{prefix}2"').replace("FROM users", f"FROM {table}")
    (root / "test_users.py").write_text(tests)
    first, second = f"{prefix}1", f"{prefix}2"
    for rev, down, body in ((first, None, CREATE), (second, first, WIDEN)):
        text = REVISION.format(rev=rev, down=down, body=body.format(table=table))
        (versions / f"{rev}.py").write_text(textwrap.dedent(text))
    return root


def run_in(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    *args: str,
) -> tuple[pytest.RunResult, dict[str, dict[str, str]]]:
    """Run the project's suite from its own folder, as its developer would; its records. The
    session runs in this process: pytester restores the modules it imports."""
    monkeypatch.chdir(root)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    path = root / "record.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return result, {r["test"]: r for r in map(json.loads, lines)}


@pytest.fixture
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's sessions run outside this one's xdist worker, with a temp directory of their
    own: the default URL puts its templates there, shared by every project on the machine."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    temp = tmp_path / "machine-tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    # The sessions run in this process, whose temp directory is read once and remembered.
    monkeypatch.setattr(tempfile, "tempdir", None)
    return temp


def server_databases(backend: str, prefix: str) -> set[str]:
    """The databases on the backend's server whose names start with ``prefix``."""
    query = (
        "SELECT datname FROM pg_database WHERE datname LIKE :p"
        if backend == "postgresql"
        else "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"
    )
    engine = _admin_engine(POSTGRES_URL if backend == "postgresql" else MYSQL_URL)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sa.text(query), {"p": f"{prefix}%"}).scalars())
    finally:
        engine.dispose()


def test_two_projects_and_two_checkouts_never_share_a_template(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    user_env: Path,
    backend: str,
    base_url: str,
) -> None:
    # SQLite: the default URL, one file in the machine's temp directory for every project.
    # A server: the same --versioning-url in every project's settings.
    args = () if backend == "sqlite" else (f"--versioning-url={base_url}",)
    shop = write_project(pytester.path / "shop", prefix="s", table="orders")
    blog = write_project(pytester.path / "blog", prefix="b", table="posts")
    # A second checkout of the shop (another branch, say): the same app, revisions and tests.
    shop_branch = Path(shutil.copytree(shop, pytester.path / "shop-branch"))

    result, shop_first = run_in(pytester, monkeypatch, shop, *args)
    result.assert_outcomes(passed=4)
    assert not any(r["reused"] for r in shop_first.values())
    for root in (blog, shop_branch):
        result, records = run_in(pytester, monkeypatch, root, *args)
        result.assert_outcomes(passed=4)
        assert not any(r["reused"] for r in records.values())
        for name, record in records.items():
            assert record["url"] != shop_first[name]["url"]

    # The other projects left the shop's templates alone: its next session reuses them.
    result, shop_again = run_in(pytester, monkeypatch, shop, *args)
    result.assert_outcomes(passed=4)
    transaction = shop_again["test_commit_in_transaction_mode"]
    assert transaction["reused"] and transaction["url"] == shop_first[transaction["test"]]["url"]
    assert shop_again["test_seeded_template"]["reused"]
    if backend == "sqlite":
        assert str(user_env) in transaction["url"]
    else:
        # The template databases are named after the given database, then the project.
        name = sa.make_url(base_url).database or ""
        templates = server_databases(backend, f"{name}_fvtpl_")
        assert sa.make_url(transaction["url"]).database in templates
        assert len(templates) == 6  # three checkouts, each a plain and a seeded template


def test_an_auto_upgrade_app_works_unchanged(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    user_env: Path,
    backend: str,
    base_url: str,
) -> None:
    if backend == "sqlite":
        (user_env / "db").mkdir()
        base_url = f"sqlite:///{user_env / 'db' / 'test.db'}"
    project = write_project(pytester.path / "project", app=AUTO_UPGRADE_APP)
    result, records = run_in(pytester, monkeypatch, project, f"--versioning-url={base_url}")
    # The transaction-mode tests see no user: the template holds what the marker asks for,
    # not what the app seeds at start; the seeded test sees the demo seed once.
    result.assert_outcomes(passed=4)
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert records["test_clone_has_its_own_database"]["mode"] == "clone"

    # And again, on the templates kept from the first session.
    result, records = run_in(pytester, monkeypatch, project, f"--versioning-url={base_url}")
    result.assert_outcomes(passed=4)
    assert all(r["reused"] for r in records.values())


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "sqlite"], indirect=True)
def test_a_server_url_naming_a_database_that_does_not_exist(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    user_env: Path,
    backend: str,
    base_url: str,
) -> None:
    name = sa.make_url(base_url).database or ""
    assert server_databases(backend, name) == set()
    project = write_project(pytester.path / "project")
    result, records = run_in(pytester, monkeypatch, project, f"--versioning-url={base_url}")
    result.assert_outcomes(passed=4)
    # The templates and the clones were made through the server's maintenance database; the
    # database the URL names was not needed, and is still not there. The clone is gone.
    made = server_databases(backend, name)
    assert name not in made
    assert {
        sa.make_url(r["url"]).database for r in records.values() if r["mode"] != "clone"
    } == made
    assert len(made) == 2


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs the PostgreSQL server")
def test_a_name_the_server_would_cut_is_refused(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, user_env: Path
) -> None:
    name = "a_database_name_of_thirty_seven_chars"
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    project = write_project(pytester.path / "project")
    result, records = run_in(pytester, monkeypatch, project, f"--versioning-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "give a shorter database name in --versioning-url" in out
    assert "Traceback" not in out and records == {}
    assert server_databases("postgresql", name) == set()


def test_versioning_reuse_db_is_gone(pytester: pytest.Pytester, user_env: Path) -> None:
    # Reuse is what every session does while the revisions are unchanged (see
    # test_testing_plugin.test_modes_seeds_and_reuse); the flag that said so did nothing.
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--versioning-reuse-db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --versioning-reuse-db" in result.stderr.str()
