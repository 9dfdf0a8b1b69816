"""The linear-history guard at deploy time: every path that upgrades refuses a history with two
heads, or a ``versions/HEADS`` that is conflicted or disagrees with the files, in one line with
the fix, before anything runs; and ``rebase`` explains a revision its database already applied.

The story: ``aaa111`` is the common parent; this checkout wrote and applied ``bbb222`` (table
``b``), and ``git merge`` brought in a colleague's ``ccc333`` (table ``c``) on the same parent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import APP_SOURCE, FlaskProject, table_names, version_rows
from flask import Flask

from flask_versioning import RevisionError, Tenant, Versioning

REVISION = '''"""{message}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down_value!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("{table}")
'''

CONFLICTED = "# header\n<<<<<<< HEAD\nbbb222 add b\n=======\nccc333 add c\n>>>>>>> feature-c\n"
#: What each HEADS file says once the merge brought ``ccc333`` in.
HEADS_STATES = {
    "conflicted": CONFLICTED,
    "stale": "bbb222 add b\n",  # the merge kept our side of the file
    "both listed": "bbb222 add b\nccc333 add c\n",  # agrees, but two heads
}


MERGE = '''"""join"""


revision = "ddd444"
down_revision = ("bbb222", "ccc333")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
'''


def write_revision(versions: Path, rev: str, down: str | None, table: str) -> None:
    text = REVISION.format(
        message=f"add {table}", rev=rev, down=down or "", down_value=down, table=table
    )
    (versions / f"{rev}_add_{table}.py").write_text(text)


def make_app(root: Path, url: str, **config: object) -> tuple[Flask, Versioning]:
    app = Flask("deployapp", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development", **config)
    return app, Versioning(app, metadata=sa.MetaData())


def merged_checkout(root: Path, url: str, heads: str) -> Path:
    """The directory after the merge, with ``bbb222`` applied to the database at ``url``."""
    app, versioning = make_app(root, url)
    with app.app_context():
        versions = versioning.init() / "versions"
        write_revision(versions, "aaa111", None, "a")
        write_revision(versions, "bbb222", "aaa111", "b")
        versioning.init(linear=True)
        versioning.upgrade()
        write_revision(versions, "ccc333", "aaa111", "c")
        (versions / "HEADS").write_text(heads)
    assert version_rows(url) == ["bbb222"]
    return versions


def assert_refusal(message: str) -> None:
    assert "\n" not in message
    assert message.startswith("nothing was applied to the "), message
    assert "flask db rebase ccc333" in message, message
    assert "flask db merge" in message, message
    assert "VERSIONING_LINEAR_HISTORY = False" in message, message


def assert_untouched(url: str) -> None:
    assert "c" not in table_names(url)
    assert version_rows(url) == ["bbb222"]


@pytest.mark.parametrize("state", list(HEADS_STATES))
def test_the_api_refuses_and_applies_nothing(tmp_path: Path, database_url: str, state: str) -> None:
    merged_checkout(tmp_path, database_url, HEADS_STATES[state])
    app, versioning = make_app(tmp_path, database_url)
    with app.app_context():
        with pytest.raises(RevisionError) as info:
            versioning.upgrade()
        assert_refusal(str(info.value))
        if state == "conflicted":
            assert "still has git's conflict markers" in str(info.value)
        # The SQL a deploy would run later is refused too, and so is one named revision.
        with pytest.raises(RevisionError, match="nothing was applied"):
            versioning.upgrade(sql=True)
        with pytest.raises(RevisionError, match="nothing was applied"):
            versioning.upgrade("ccc333")
        # So are prepare and reset, which upgrade too.
        with pytest.raises(RevisionError, match="nothing was applied"):
            versioning.prepare()
    assert_untouched(database_url)


def test_the_command_line_refuses_in_one_line(tmp_path: Path, sqlite_url: str) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    app, _ = make_app(tmp_path, sqlite_url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: nothing was applied to the default database: ")
    assert "'flask db rebase ccc333' to put it after bbb222" in line
    assert "Traceback" not in result.output
    assert_untouched(sqlite_url)


def test_a_production_start_fails_closed(tmp_path: Path, database_url: str) -> None:
    merged_checkout(tmp_path, database_url, CONFLICTED)
    with pytest.raises(RevisionError) as info:
        make_app(tmp_path, database_url, VERSIONING_AUTO_UPGRADE=True)
    assert_refusal(str(info.value))
    assert_untouched(database_url)


def test_a_start_that_logs_errors_starts_without_migrating(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    with caplog.at_level(logging.ERROR, logger="flask_versioning"):
        make_app(
            tmp_path,
            sqlite_url,
            VERSIONING_AUTO_UPGRADE=True,
            VERSIONING_AUTO_UPGRADE_ON_ERROR="log",
        )
    assert "nothing was applied to the default database" in caplog.text
    assert_untouched(sqlite_url)


def test_a_start_at_head_does_not_look(tmp_path: Path, sqlite_url: str) -> None:
    """Only a database that is behind is checked: the start at head stays one SELECT. Here the
    merge was resolved with a merge revision, applied, but HEADS still has its markers."""
    versions = merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    (versions / "ddd444_join.py").write_text(MERGE)
    app, versioning = make_app(tmp_path, sqlite_url, VERSIONING_LINEAR_HISTORY=False)
    with app.app_context():
        versioning.upgrade()  # the guard off: applies ccc333 and the merge
    assert version_rows(sqlite_url) == ["ddd444"]
    make_app(tmp_path, sqlite_url, VERSIONING_AUTO_UPGRADE=True)  # starts
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context(), pytest.raises(RevisionError, match="git's conflict markers"):
        versioning.upgrade()


def test_the_apply_button_refuses(tmp_path: Path, sqlite_url: str) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    app, _ = make_app(tmp_path, sqlite_url, DEBUG=True)
    app.debug = True

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    with app.test_client() as client:
        page = client.get("/hello").get_data(as_text=True)
        assert "ccc333" in page
        assert "no SQL preview: nothing was applied" in page
        token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
        response = client.post("/_versioning/apply", data={"token": token, "next": "/hello"})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "nothing was applied to the default database" in body
    assert "flask db rebase ccc333" in body
    assert_untouched(sqlite_url)


@pytest.fixture
def tenant_urls(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {name: f"sqlite:///{tmp_path / f'tenant_{name}.db'}" for name in ("t1", "t2")}


def test_tenants_inline_each_fail_and_stay_where_they_were(
    tmp_path: Path, sqlite_url: str, tenant_urls: dict[str, str]
) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    app, versioning = make_app(tmp_path, sqlite_url)
    versioning.tenants(lambda: [Tenant(n, url=u) for n, u in tenant_urls.items()])
    with app.app_context():
        results = versioning.for_tenants("all").upgrade()
    assert [(r.tenant, r.status) for r in results] == [("t1", "failed"), ("t2", "failed")]
    for result in results:
        assert result.error is not None
        assert result.error.startswith(f"nothing was applied to the {result.tenant} database")
        assert "flask db rebase ccc333" in result.error
    for url in tenant_urls.values():
        assert table_names(url) == set()


TENANT_APP = APP_SOURCE.replace(
    "versioning = Versioning()\n",
    "versioning = Versioning()\n\n\n@versioning.tenants\ndef tenants():\n"
    "    return json.loads(os.environ['TEST_TENANTS'])\n",
)


@pytest.mark.process
def test_tenants_in_worker_processes_fail_and_stay_where_they_were(
    tmp_path: Path, sqlite_url: str, tenant_urls: dict[str, str]
) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    (tmp_path / "app.py").write_text(TENANT_APP)
    project = FlaskProject(tmp_path, sqlite_url, env={"TEST_TENANTS": json.dumps(tenant_urls)})
    proc = project.db("upgrade", "--all-tenants", "--jobs", "2", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    for name in tenant_urls:
        assert f"nothing was applied to the {name} database" in out, out
    assert "2 of 2 tenants failed" in out, out
    for url in tenant_urls.values():
        assert table_names(url) == set()


def test_rebase_explains_a_revision_this_database_applied(
    tmp_path: Path, database_url: str
) -> None:
    """The colleague's ccc333 was tried out locally before the merge: the advice says that only
    this database steps back, and following it lands both revisions in a straight line."""
    versions = merged_checkout(tmp_path, database_url, CONFLICTED)
    app, versioning = make_app(tmp_path, database_url, VERSIONING_LINEAR_HISTORY=False)
    with app.app_context():
        versioning.downgrade("aaa111")
        versioning.upgrade("ccc333")  # the guard off: the checkout of the colleague's branch
    assert version_rows(database_url) == ["ccc333"]
    app, versioning = make_app(tmp_path, database_url)
    with app.app_context():
        with pytest.raises(RevisionError) as info:
            versioning.rebase("ccc333")
        message = str(info.value)
        assert "\n" not in message
        assert "has already applied ccc333" in message
        assert "not the file or anyone's branch" in message
        assert (
            "run 'flask db downgrade aaa111' (reverts ccc333 in that database only; its rows "
            "there are lost), then 'flask db rebase ccc333 --onto bbb222', then "
            "'flask db upgrade' (applies bbb222, then ccc333 again)"
        ) in message
        # bbb222 is applied nowhere now: moving it instead needs no downgrade.
        assert (
            "move it instead, which needs no downgrade: 'flask db rebase bbb222 --onto ccc333'"
            in message
        )
        # Following the safe sequence:
        versioning.downgrade("aaa111")
        assert versioning.rebase("ccc333", onto="bbb222").new_parent == "bbb222"
        versioning.upgrade()
    assert version_rows(database_url) == ["ccc333"]
    assert {"a", "b", "c"} <= table_names(database_url)
    assert "<<<<<<<" not in (versions / "HEADS").read_text()


def test_rebase_offers_no_shortcut_when_both_heads_are_applied(
    tmp_path: Path, sqlite_url: str
) -> None:
    merged_checkout(tmp_path, sqlite_url, CONFLICTED)
    app, versioning = make_app(tmp_path, sqlite_url, VERSIONING_LINEAR_HISTORY=False)
    with app.app_context():
        versioning.upgrade()
    assert version_rows(sqlite_url) == ["bbb222", "ccc333"]
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context(), pytest.raises(RevisionError) as info:
        versioning.rebase("ccc333")
    assert "'flask db downgrade aaa111'" in str(info.value)
    assert "needs no downgrade" not in str(info.value)
