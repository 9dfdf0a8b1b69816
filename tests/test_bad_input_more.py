"""Bad input that used to get through: credentials in a URL's query string, impossible revision
ids, messages that break the file, a deleted applied revision, system schemas as tenants, a
missing driver. Each through the path a user takes, each ending in one line."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, table_names, version_rows
from flask import Flask

from flask_versioning import (
    ConfigurationError,
    DatabaseError,
    LockTimeout,
    RevisionError,
    Versioning,
)
from flask_versioning._errors import mask_url, scrub

SECRETS = ("s3cret-pw", "ssl-s3cret", "t0ken")


def make_app(
    tmp_path: Path, url: str, *revisions: str, metadata: sa.MetaData | None = None, **config: Any
) -> tuple[Flask, Versioning]:
    """An app on ``url`` whose history is ``revisions``, in that order, none applied."""
    app = Flask("badinput", root_path=str(tmp_path))
    app.config.update(SQLALCHEMY_DATABASE_URI=url, VERSIONING_ENV="development", **config)
    versioning = Versioning(app, metadata=sa.MetaData() if metadata is None else metadata)
    with app.app_context():
        versioning.init()
        for rev in revisions:
            versioning.revision("step", rev_id=rev)
    return app, versioning


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


# -- 1. credentials anywhere in a URL -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app@db/app?password=s3cret-pw", "postgresql://app@db/app?password=***"),
        (
            "postgresql+psycopg://app:s3cret-pw@db/app?sslpassword=ssl-s3cret&sslmode=require",
            "postgresql+psycopg://app:***@db/app?sslmode=require&sslpassword=***",
        ),
        (
            "mysql+pymysql://root@h/db?charset=utf8mb4&passwd=s3cret-pw&auth_token=t0ken",
            "mysql+pymysql://root@h/db?auth_token=***&charset=utf8mb4&passwd=***",
        ),
        ("postgresql://:s3cret-pw@db/app", "postgresql://:***@db/app"),
        ("postgresql://app:s3cret@pw@db/app", "postgresql://app:***@db/app"),
        (
            "postgresql://app:s3cret-pw@db:port/app?pwd=t0ken",
            "postgresql://app:***@db:port/app?pwd=***",
        ),
        (
            "mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BPWD%3Ds3cret-pw",
            "mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BPWD%3D***",
        ),
        ("sqlite:////srv/app.db", "sqlite:////srv/app.db"),
    ],
)
def test_mask_url_masks_every_credential(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    if ":port/" not in url:  # not a URL SQLAlchemy can parse: masked as text
        assert mask_url(sa.make_url(url)) == shown
    assert not any(s in shown for s in ("s3cret", "t0ken"))


def test_scrub_masks_credentials_in_free_text() -> None:
    text = "failed: host=db password=s3cret-pw user=app; to postgresql://app@db/app?token=t0ken&x=1"
    assert scrub(text) == (
        "failed: host=db password=*** user=app; to postgresql://app@db/app?token=***&x=1"
    )
    # A driver's message about a key stays readable.
    assert scrub("Key (id)=(1) already exists.") == "Key (id)=(1) already exists."


def secret_url(url: str) -> str:
    """``url`` with the password in its query string (the server's trust authentication
    ignores it, so the database answers and every surface has something to hide)."""
    parsed = sa.make_url(url)
    return parsed.update_query_dict(
        {"password": "s3cret-pw", "sslpassword": "ssl-s3cret"}
    ).render_as_string(hide_password=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    from conftest import _server_database

    yield from _server_database("postgresql")


def assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text
    assert "password=***" in text, text


def test_status_and_its_json_mask_the_query_string(tmp_path: Path, pg_url: str) -> None:
    app, _ = make_app(tmp_path, secret_url(pg_url), "aaa001")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "status"])
    assert result.exit_code == 0, result.output
    assert_masked(result.output)
    result = runner.invoke(args=["db", "status", "--format", "json"])
    assert_masked(result.output)
    (entry,) = json.loads(result.output)["databases"]
    assert entry["url"].endswith("?password=***&sslpassword=***")


UNREACHABLE = (
    "postgresql+psycopg://app@127.0.0.1:1/nowhere?password=s3cret-pw&sslpassword=ssl-s3cret"
)


def test_cannot_use_the_database_masks_the_query_string(tmp_path: Path) -> None:
    app, versioning = make_app(tmp_path, UNREACHABLE, "aaa001")
    runner = app.test_cli_runner()
    for args in (["current"], ["upgrade"], ["status"], ["status", "--format", "json"]):
        result = runner.invoke(args=["db", *args])
        assert "Traceback" not in result.output
        assert_masked(result.output)
    line = one_line(runner.invoke(args=["db", "upgrade"]).output)
    assert line.startswith("Error: cannot use the database at postgresql+psycopg://app@127.0.0.1:1")
    with app.app_context():
        for call in (versioning.current, versioning.upgrade):
            with pytest.raises(DatabaseError) as caught:
                call()
            assert_masked(str(caught.value))


def test_lock_timeout_masks_the_query_string(tmp_path: Path, pg_url: str) -> None:
    from flask_versioning._locking import database_lock

    url = secret_url(pg_url)
    app, versioning = make_app(tmp_path, url, "aaa001", VERSIONING_LOCK_TIMEOUT=0)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with app.app_context(), database_lock(versioning.database()):
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        with app.app_context(), pytest.raises(LockTimeout) as caught:
            versioning.upgrade()
    finally:
        release.set()
        holder.join()
    assert_masked(str(caught.value))
    assert "alembic_version" not in table_names(pg_url)


def test_both_web_pages_mask_the_query_string(tmp_path: Path, pg_url: str) -> None:
    url = secret_url(pg_url)
    app, _ = make_app(tmp_path, url, "aaa001", DEBUG=True, VERSIONING_STATUS_PAGE="/_dev/v/")
    client = app.test_client()
    pending = client.get("/anything")
    assert pending.status_code == 503
    assert_masked(pending.get_data(as_text=True))
    status = client.get("/_dev/v/")
    assert status.status_code == 200
    assert_masked(status.get_data(as_text=True))
    # A database that cannot be reached: the status page's errors are masked too.
    app, _ = make_app(tmp_path / "down", UNREACHABLE, DEBUG=True, VERSIONING_STATUS_PAGE="/_dev/v/")
    html = app.test_client().get("/_dev/v/").get_data(as_text=True)
    assert "cannot use the database at" in html
    assert_masked(html)
    assert table_names(pg_url) == set()


# -- 2. reserved and duplicate revision ids -------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path, sqlite_url: str) -> tuple[Flask, Versioning]:
    # Two branches on purpose (a branch label to collide with), so no linear-history guard.
    app, versioning = make_app(
        tmp_path, sqlite_url, "aaa001", "aaa002", VERSIONING_LINEAR_HISTORY=False
    )
    with app.app_context():
        versioning.revision("side", rev_id="side01", head="aaa001", splice=True, branch_label="lbl")
    return app, versioning


def files_of(app: Flask) -> list[str]:
    return sorted(p.name for p in (Path(app.root_path) / "migrations" / "versions").glob("*.py"))


@pytest.mark.parametrize(
    ("rev_id", "needle"),
    [
        ("head", "reserves"),
        ("heads", "reserves"),
        ("base", "reserves"),
        ("current", "reserves"),
        ("aaa002", "already taken by the revision in aaa002_step.py"),
        ("lbl", "already taken by a branch label of the revision in side01_"),
    ],
)
def test_reserved_and_taken_rev_ids_are_refused(
    sqlite_app: tuple[Flask, Versioning], rev_id: str, needle: str
) -> None:
    app, versioning = sqlite_app
    before = files_of(app)
    runner = app.test_cli_runner()
    for args in (
        ["revision", "-m", "x", "--rev-id", rev_id],
        ["migrate", "-m", "x", "--rev-id", rev_id],
        ["merge", "heads", "-m", "x", "--rev-id", rev_id],
    ):
        result = runner.invoke(args=["db", *args])
        assert result.exit_code == 1, result.output
        line = one_line(result.output)
        assert line.startswith(f"Error: --rev-id {rev_id!r} ") and needle in line, line
    with app.app_context():
        for call in (
            lambda: versioning.revision("x", rev_id=rev_id),
            lambda: versioning.migrate("x", rev_id=rev_id),
            lambda: versioning.merge(message="x", rev_id=rev_id),
        ):
            with pytest.raises(RevisionError, match=needle):
                call()
    assert files_of(app) == before
    # The history still reads: every later command works.
    result = runner.invoke(args=["db", "upgrade", "heads"])
    assert result.exit_code == 0, result.output
    assert version_rows(app.config["SQLALCHEMY_DATABASE_URI"]) == ["aaa002", "side01"]


def test_a_new_id_that_only_shares_a_prefix_is_accepted(
    sqlite_app: tuple[Flask, Versioning],
) -> None:
    app, versioning = sqlite_app
    with app.app_context():
        scripts = versioning.revision("x", rev_id="aaa", head="aaa002")
    assert [s.revision for s in scripts] == ["aaa"]
    assert "aaa_x.py" in files_of(app)


# -- 3. messages that would break the file --------------------------------------------------------

MESSAGES = [
    'say """hi""" twice',
    'ends with a quote"',
    "a path C:\\new\\N{x} and \\u12",
    "ends with a backslash\\",
    "control\x00characters\x07and\x1b[31m",
    "two\nlines, 'single' and '''triple''' quotes",
    "tab\there, and ${mako} %(percent)s {braces}",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_any_message_makes_a_valid_file_that_reads_back(
    tmp_path: Path, sqlite_url: str, message: str
) -> None:
    from flask_versioning._alembic.revision_files import RevisionFile

    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app, versioning = make_app(tmp_path, sqlite_url, "aaa001", metadata=metadata)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "revision", "-m", message, "--rev-id", "cli001"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        versioning.upgrade()
        versioning.migrate(message, rev_id="auto01")  # autogenerate: the database at head
        versioning.revision(message, rev_id="api001", head="aaa001", splice=True)
        versioning.merge(message=message, rev_id="merge1")
    for rev in ("cli001", "api001", "auto01", "merge1"):
        (path,) = (Path(app.root_path) / "migrations" / "versions").glob(f"{rev}_*.py")
        data = path.read_bytes()
        compile(data, str(path), "exec")  # valid Python
        found = RevisionFile.parse(str(path), data)  # the text reader, without Alembic
        assert found is not None and found.message == message
    with app.app_context():
        docs = {s.revision: s.doc for s in versioning.history()}  # Alembic's own reading
        assert {docs[r] for r in ("cli001", "api001", "auto01", "merge1")} == {message}
        versioning.upgrade()
    assert version_rows(sqlite_url) == ["merge1"]
    assert runner.invoke(args=["db", "history"]).exit_code == 0


def test_a_template_no_message_fits_writes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url, "aaa001")
    template = Path(app.root_path) / "migrations" / "script.py.mako"
    # A project's own template that puts the message in a comment: a second line is code.
    template.write_text("# ${message}\n" + template.read_text())
    before = files_of(app)
    result = app.test_cli_runner().invoke(
        args=["db", "revision", "-m", "one\ntwo (", "--rev-id", "bad001"]
    )
    assert result.exit_code == 1
    line = one_line(result.output)
    assert line.startswith("Error: no revision was written: the file made from script.py.mako")
    assert "SyntaxError" in line and "change the message, or the template" in line
    assert files_of(app) == before
    with app.app_context():
        with pytest.raises(RevisionError, match="no revision was written"):
            versioning.revision("three\nfour (", rev_id="bad002")
        assert files_of(app) == before
        # One line is fine in a comment, and the history reads.
        versioning.revision("fine", rev_id="ok0001")
        assert [s.revision for s in versioning.history()] == ["ok0001", "aaa001"]


# -- 5. the servers' own schemas are not tenants --------------------------------------------------

SYSTEM_SCHEMAS = [
    "information_schema",
    "pg_catalog",
    "pg_toast",
    "mysql",
    "performance_schema",
    "sys",
]


def schema_tables(url: str, schema: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
            return {r[0] for r in conn.execute(sa.text(sql), {"s": schema})}
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "sqlite"], indirect=True)
def test_system_schemas_are_not_tenants(tmp_path: Path, database_url: str, backend: str) -> None:
    from flask_versioning import ConfigurationError

    app, versioning = make_app(tmp_path, database_url, "aaa001")
    own = "public" if backend == "postgresql" else sa.make_url(database_url).database
    chosen: list[str] = []
    versioning.tenants(lambda: {"t": chosen[0]})
    runner = app.test_cli_runner()
    before = {s: schema_tables(database_url, s) for s in (*SYSTEM_SCHEMAS, own)}
    for schema in (*SYSTEM_SCHEMAS, "INFORMATION_SCHEMA", "pg_temp_1", own):
        chosen[:] = [schema]
        for args in (["upgrade", "--all-tenants"], ["current", "--tenant", "t"]):
            result = runner.invoke(args=["db", *args])
            assert result.exit_code == 1, (schema, args, result.output)
            line = one_line(result.output)
            assert f"schema {schema!r}" in line, line
            assert "give the tenant a schema of its own" in line
        with app.app_context(), pytest.raises(ConfigurationError, match="a schema of its own"):
            versioning.for_tenants("all").upgrade()
    assert {s: schema_tables(database_url, s) for s in before} == before
    assert table_names(database_url) == set()


# -- 6. a URL SQLAlchemy cannot use: postgres://, a driver not installed --------------------------

BAD_URLS = [
    (
        "postgres://app:s3cret-pw@db/app",
        "starts with 'postgres://'",
        "write 'postgresql+psycopg://'",
    ),
    (
        "postgresql+psycopg2://app@db/app?password=s3cret-pw",
        "needs the driver 'psycopg2', which is not installed",
        'pip install "flask-versioning[postgres]"',
    ),
    (
        "mysql://root:s3cret-pw@db/app",
        "needs the driver 'MySQLdb', which is not installed",
        "write 'mysql+pymysql://' (pip install \"flask-versioning[mysql]\")",
    ),
    ("postgresql+nope://app@db/app", "SQLAlchemy does not know", "'postgresql+psycopg'"),
]


@pytest.mark.parametrize(("url", "what", "fix"), BAD_URLS)
def test_a_url_sqlalchemy_cannot_use_is_one_line(
    tmp_path: Path, url: str, what: str, fix: str
) -> None:
    # Plain SQLAlchemy: the engine is ours, made when a command first needs it.
    app, versioning = make_app(tmp_path, url)
    runner = app.test_cli_runner()
    for args in (["current"], ["upgrade"], ["status"]):
        result = runner.invoke(args=["db", *args])
        assert "s3cret-pw" not in result.output
        if args == ["status"]:
            assert what in result.output and fix in result.output
            continue
        assert result.exit_code == 1, result.output
        line = one_line(result.output)
        assert line.startswith("Error: the database URL ") and what in line and fix in line
    with app.app_context(), pytest.raises(ConfigurationError, match=re.escape(fix)):
        versioning.upgrade()


@pytest.mark.parametrize(("url", "what", "fix"), BAD_URLS)
def test_registered_before_flask_sqlalchemy_it_speaks_first(
    tmp_path: Path, url: str, what: str, fix: str
) -> None:
    from flask_sqlalchemy import SQLAlchemy

    for config in (
        {"SQLALCHEMY_DATABASE_URI": url},
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SQLALCHEMY_BINDS": {"reports": {"url": url}}},
    ):
        app = Flask("early", root_path=str(tmp_path))
        app.config.update(config)
        db = SQLAlchemy()
        with pytest.raises(ConfigurationError) as caught:
            Versioning(app, db)
            db.init_app(app)
        message = str(caught.value)
        where = (
            "SQLALCHEMY_DATABASE_URI"
            if "SQLALCHEMY_BINDS" not in config
            else "SQLALCHEMY_BINDS['reports']"
        )
        assert message.startswith(where) and what in message and fix in message
        assert "\n" not in message and "s3cret-pw" not in message


def test_registering_before_flask_sqlalchemy_works(tmp_path: Path, sqlite_url: str) -> None:
    """The order the documentation suggests for the early check is an order that works."""
    from flask_sqlalchemy import SQLAlchemy

    app = Flask("early", root_path=str(tmp_path))
    app.config.update(SQLALCHEMY_DATABASE_URI=sqlite_url, VERSIONING_ENV="development")
    db = SQLAlchemy()
    versioning = Versioning(app, db)
    db.init_app(app)
    with app.app_context():
        versioning.init()
        versioning.revision("one", rev_id="aaa001")
        versioning.upgrade()
        db.engine.dispose()
    assert version_rows(sqlite_url) == ["aaa001"]


@pytest.mark.process
def test_the_app_start_names_the_fix(tmp_path: Path) -> None:
    """A real start with the automatic upgrade: the last line says what to write, and no
    frame of SQLAlchemy's engine creation is printed."""
    import subprocess
    import sys

    make_app(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", "aaa001")  # the history
    (tmp_path / "app.py").write_text(
        "import sqlalchemy as sa\n"
        "from flask import Flask\n"
        "from flask_versioning import Versioning\n"
        "app = Flask(__name__)\n"
        "app.config['SQLALCHEMY_DATABASE_URI'] = 'postgres://app:s3cret-pw@127.0.0.1:1/app'\n"
        "app.config['VERSIONING_AUTO_UPGRADE'] = True\n"
        "Versioning(app, metadata=sa.MetaData())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        "flask_versioning.ConfigurationError: the database URL starts with 'postgres://', a name "
        "SQLAlchemy does not accept: write 'postgresql+psycopg://' "
        '(pip install "flask-versioning[postgres]")'
    )
    assert "sqlalchemy/engine" not in proc.stderr and "s3cret-pw" not in proc.stderr


# -- 4. a deleted applied revision in the middle of the history -----------------------------------

MISSING = (
    "the revision file of aaa002 (revised by aaa003_step.py) is missing from versions/: "
    "restore it (from version control, say); 'flask db status' shows what the database has "
    "applied"
)


@pytest.fixture
def gap(tmp_path: Path, sqlite_url: str) -> tuple[Flask, Versioning]:
    """aaa001 -> aaa002 -> aaa003, all applied, then aaa002's file deleted."""
    app, versioning = make_app(tmp_path, sqlite_url, "aaa001", "aaa002", "aaa003")
    with app.app_context():
        versioning.upgrade()
    (path,) = (tmp_path / "migrations" / "versions").glob("aaa002_*.py")
    path.unlink()
    return app, versioning


def test_a_missing_file_is_named_on_every_command(gap: tuple[Flask, Versioning]) -> None:
    app, versioning = gap
    runner = app.test_cli_runner()
    for args in (
        ["current"],
        ["current", "-v"],
        ["upgrade"],
        ["downgrade"],
        ["downgrade", "base"],
        ["history"],
        ["heads"],
        ["show", "aaa003"],
        ["stamp", "aaa001"],
        ["check"],
        ["revision", "-m", "more"],
    ):
        result = runner.invoke(args=["db", *args])
        assert result.exit_code == 1, (args, result.output)
        assert "KeyError" not in result.output and "Cycle" not in result.output
        assert result.output.strip().splitlines()[-1] == f"Error: {MISSING}", (args, result.output)
        if args not in (["current", "-v"],):
            one_line(result.output)
    with app.app_context():
        assert versioning.current() == ["aaa003"]  # the version table alone: no file needed
        for call in (
            versioning.upgrade,
            versioning.downgrade,
            versioning.history,
            lambda: versioning.stamp("aaa001"),
        ):
            with pytest.raises(RevisionError) as caught:
                call()
            assert str(caught.value) == MISSING
    assert version_rows(app.config["SQLALCHEMY_DATABASE_URI"]) == ["aaa003"]


def test_plain_alembic_on_the_config_names_it_too(gap: tuple[Flask, Versioning]) -> None:
    app, versioning = gap
    with app.app_context(), pytest.raises(RevisionError, match="aaa002"):
        versioning.alembic_config()


def test_status_lists_it_as_applied_file_missing(gap: tuple[Flask, Versioning]) -> None:
    app, _ = gap
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  heads: aaa003" in lines
    assert any(re.match(r"\s+aaa002\s+applied, file missing \(applied ", line) for line in lines)
    assert f"  {MISSING}" in lines
    data = json.loads(runner.invoke(args=["db", "status", "--format", "json"]).output)
    (entry,) = data["databases"]
    assert entry["heads"] == ["aaa003"]
    assert {r["revision"]: r["state"] for r in entry["revisions"]} == {
        "aaa001": "applied",
        "aaa002": "missing",
        "aaa003": "applied",
    }
    assert MISSING in entry["problems"]
    checked = runner.invoke(args=["db", "status", "--check"])
    assert checked.exit_code == 1
    assert checked.output.strip().splitlines()[-1].startswith("Error: ")
    assert "aaa002" in checked.output.strip().splitlines()[-1]
    assert "KeyError" not in checked.output


@pytest.mark.process
def test_the_app_start_names_the_missing_file(gap: tuple[Flask, Versioning]) -> None:
    """A real start with the automatic upgrade, where a bare ``KeyError`` traceback was."""
    import subprocess
    import sys

    app, _ = gap
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    (Path(app.root_path) / "app.py").write_text(
        "import sqlalchemy as sa\n"
        "from flask import Flask\n"
        "from flask_versioning import Versioning\n"
        "app = Flask(__name__)\n"
        f"app.config['SQLALCHEMY_DATABASE_URI'] = {url!r}\n"
        "app.config['VERSIONING_AUTO_UPGRADE'] = True\n"
        "Versioning(app, metadata=sa.MetaData())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=app.root_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"flask_versioning.RevisionError: {MISSING}"
    assert "KeyError" not in proc.stderr and "UserWarning" not in proc.stderr
    assert version_rows(url) == ["aaa003"]
