"""The development pages in-process, through Flask's test client: what each request gets back
and what the real database holds afterwards.

The browser tests (``test_web_browser.py``) drive the same pages in Chromium against a real
``flask run --debug``; here the many refusals are checked one by one, including a client
address other than loopback, which only a WSGI environ can fake.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import table_names, version_rows
from flask import Flask
from flask.testing import FlaskClient

from flask_versioning import ConfigurationError, Versioning

USERS, POSTS, BROKEN = "1f0c8a9e2b01", "2a7d3c4b5e02", "3b9e4d5c6f03"

REVISION = '''"""{message}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    {body}


def downgrade():
    pass
'''
BODIES = {
    USERS: 'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50), nullable=False))',
    POSTS: 'op.create_table("posts", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("title", sa.String(200), nullable=False))',
    BROKEN: 'op.execute("INSERT INTO no_such_table (id) VALUES (1)")',
}
MESSAGES = {USERS: "create users", POSTS: "add posts", BROKEN: "fill a table that is not there"}


def write_revisions(directory: Path, *revisions: str) -> None:
    versions = directory / "versions"
    down = None
    for rev in revisions:
        text = REVISION.format(message=MESSAGES[rev], rev=rev, down=down, body=BODIES[rev])
        (versions / f"{rev}_{MESSAGES[rev].replace(' ', '_')}.py").write_text(text)
        down = rev
    if (versions / "HEADS").exists():  # the linear-history file comes with the revisions
        (versions / "HEADS").write_text(f"{down} {MESSAGES[str(down)]}\n")


def make_app(
    tmp_path: Path, url: str, *revisions: str, debug: bool = True, **config: Any
) -> tuple[Flask, Versioning]:
    """An app with ``revisions`` on disk and a database that has none of them applied."""
    metadata = sa.MetaData()
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )
    app = Flask("pages", root_path=str(tmp_path))
    app.config.update(SQLALCHEMY_DATABASE_URI=url, DEBUG=debug, **config)
    versioning = Versioning(app, metadata=metadata)
    with app.app_context():
        write_revisions(versioning.init(), *(revisions or (USERS, POSTS)))

    @app.get("/hello")
    def hello() -> str:
        return "hello from the app"

    @app.get("/users")
    def users() -> str:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect() as connection:
                count = connection.execute(sa.text("SELECT COUNT(*) FROM users")).scalar()
        finally:
            engine.dispose()
        return f"{count} users"

    return app, versioning


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str) -> Flask:
    return make_app(tmp_path, sqlite_url)[0]


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def token_of(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


# -- the page -------------------------------------------------------------------------------------


def test_every_request_gets_the_page_while_behind(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    if backend == "postgresql":  # trust authentication ignores it: a password that must not show
        database_url = sa.make_url(database_url).set(password="s3cret").render_as_string(False)
    app, _ = make_app(tmp_path, database_url)
    client = app.test_client()
    response = client.get("/users?page=2")
    html = text(response)
    assert response.status_code == 503
    assert "<h1>Migrations are pending</h1>" in html
    assert "<code>/users?page=2</code>" in html
    assert '<input type="hidden" name="next" value="/users?page=2">' in html
    assert '<form method="post" action="/_versioning/apply">' in html
    assert 'Stands at</dt><dd class="current"><code>base</code> (no revision applied)' in html
    # Both revisions, in the order they will run, each with its file and its own SQL.
    items = re.findall(r'<li class="revision">(.*?)</li>', html, re.DOTALL)
    assert len(items) == 2
    assert f'<code class="rev">{USERS}</code> create users' in items[0]
    assert f"versions/{USERS}_create_users.py" in items[0]
    assert "CREATE TABLE users" in items[0] and "posts" not in items[0]
    assert f'<code class="rev">{POSTS}</code> add posts' in items[1]
    assert "CREATE TABLE posts" in items[1] and "CREATE TABLE users" not in items[1]
    assert "s3cret" not in html
    if backend == "postgresql":
        assert ":***@" in html
    # Any page at all, and no script anywhere: the page works offline and cannot be framed.
    assert client.get("/no/such/page").status_code == 503
    assert "<script" not in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert table_names(database_url) == set()


def test_apply_upgrades_and_returns_to_the_page_asked(tmp_path: Path, database_url: str) -> None:
    app, _ = make_app(tmp_path, database_url)
    client = app.test_client()
    token = token_of(text(client.get("/users?page=2")))
    response = client.post("/_versioning/apply", data={"token": token, "next": "/users?page=2"})
    html = text(response)
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="2; url=/users?page=2">' in html
    applied = re.findall(r'<code class="rev">(\w+)</code> ([\w ]+)', html)
    assert applied == [(USERS, "create users"), (POSTS, "add posts")]
    assert f"<dt>default</dt><dd><code>{POSTS}</code></dd>" in html
    assert table_names(database_url) == {"alembic_version", "versioning_history", "users", "posts"}
    assert version_rows(database_url) == [POSTS]
    # Checked again after the upgrade: the app answers.
    page = client.get("/users?page=2")
    assert (page.status_code, text(page)) == (200, "0 users")


def test_a_failing_revision_says_where_the_database_stands(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, USERS, BROKEN)
    client = app.test_client()
    token = token_of(text(client.get("/hello")))
    response = client.post("/_versioning/apply", data={"token": token, "next": "/hello"})
    html = text(response)
    assert response.status_code == 500
    error = re.search(r'<p class="error" id="error">(.*?)</p>', html)
    assert error is not None
    assert error.group(1).startswith(f"revision {BROKEN} failed: OperationalError: ")
    assert "no such table: no_such_table" in error.group(1)
    assert error.group(1).endswith(f"the version table says {USERS})")
    assert "\n" not in error.group(1) and "Traceback" not in html
    assert f"<dt>default</dt><dd><code>{USERS}</code></dd>" in html
    assert version_rows(sqlite_url) == [USERS]
    # The page comes back, with what is still pending.
    again = text(client.get("/hello"))
    assert f'<code class="rev">{BROKEN}</code>' in again and USERS not in re.findall(
        r'<code class="rev">(\w+)</code>', again
    )


def test_one_check_per_process(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url)
    client = app.test_client()
    token = token_of(text(client.get("/hello")))
    with app.app_context():
        versioning.upgrade()  # behind the page's back
    # The answer of the first check is kept: no query per request.
    assert client.get("/hello").status_code == 503
    # Applying checks again and finds nothing left to do; from then on the app answers.
    done = text(client.post("/_versioning/apply", data={"token": token, "next": "/hello"}))
    assert "Nothing was left to apply" in done
    assert text(client.get("/hello")) == "hello from the app"


def test_a_new_revision_file_is_noticed(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url, USERS)
    with app.app_context():
        versioning.upgrade()
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    versions = tmp_path / "migrations" / "versions"
    before = versions.stat().st_mtime_ns
    write_revisions(tmp_path / "migrations", USERS, POSTS)  # what a git pull brings
    if versions.stat().st_mtime_ns == before:  # two writes within one tick of the file system
        os.utime(versions, ns=(before, before + 1_000_000))
    page = client.get("/hello")
    assert page.status_code == 503
    assert f'<code class="rev">{POSTS}</code> add posts' in text(page)


def test_pending_is_what_upgrade_applies(tmp_path: Path, sqlite_url: str) -> None:
    """``Versioning.pending()``: the revisions an upgrade runs, in its order, branches too."""
    # Branches on purpose: without the linear-history guard, which refuses two heads.
    app, versioning = make_app(tmp_path, sqlite_url, VERSIONING_LINEAR_HISTORY=False)
    side = "4c0f5e6d7a04"
    (tmp_path / "migrations" / "versions" / f"{side}_side.py").write_text(
        REVISION.format(message="side", rev=side, down=USERS, body="pass")
    )
    with app.app_context():
        first, *rest = [s.revision for s in versioning.pending()]
        assert (first, sorted(rest)) == (USERS, sorted([POSTS, side]))
        versioning.upgrade(side)
        waiting = [s.revision for s in versioning.pending()]
        assert waiting == [POSTS]
        applied = versioning.upgrade().steps
        assert [step.revision for step in applied] == waiting
        assert versioning.pending() == []


def test_a_database_that_cannot_be_reached_is_not_a_pending_page(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    assert text(app.test_client().get("/hello")) == "hello from the app"


# -- refusals -------------------------------------------------------------------------------------


def test_a_post_without_a_valid_token_changes_nothing(client: FlaskClient, sqlite_url: str) -> None:
    client.get("/hello")
    for data in ({}, {"token": ""}, {"token": "1700000000.0123abcd"}, {"token": "x.y"}):
        response = client.post("/_versioning/apply", data={**data, "next": "/hello"})
        assert response.status_code == 403
        assert "the form&#39;s token is missing or has expired" in text(response)
    assert table_names(sqlite_url) == set()


def test_a_token_of_another_process_is_refused(
    tmp_path: Path, client: FlaskClient, sqlite_url: str
) -> None:
    other, _ = make_app(tmp_path / "other", f"sqlite:///{tmp_path / 'other.db'}")
    foreign = token_of(text(other.test_client().get("/hello")))
    response = client.post("/_versioning/apply", data={"token": foreign})
    assert response.status_code == 403
    assert table_names(sqlite_url) == set()


@pytest.mark.parametrize(
    "address", ["192.168.1.20", "10.0.0.1", "::ffff:192.168.1.20", "2001:db8::1"]
)
def test_other_machines_are_refused(client: FlaskClient, sqlite_url: str, address: str) -> None:
    token = token_of(text(client.get("/hello")))
    remote = {"REMOTE_ADDR": address}
    response = client.post("/_versioning/apply", data={"token": token}, environ_base=remote)
    assert response.status_code == 403
    assert f"the request came from {address}" in text(response)
    # Their page says migrations are pending and nothing more: no token, no SQL, no URL.
    page = client.get("/hello", environ_base=remote)
    assert page.status_code == 503
    assert "token" not in text(page) and "sqlite" not in text(page)
    assert table_names(sqlite_url) == set()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_addresses_are_accepted(
    client: FlaskClient, sqlite_url: str, address: str
) -> None:
    remote = {"REMOTE_ADDR": address}
    token = token_of(text(client.get("/hello", environ_base=remote)))
    response = client.post("/_versioning/apply", data={"token": token}, environ_base=remote)
    assert response.status_code == 200
    assert version_rows(sqlite_url) == [POSTS]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "localhost.evil.example"])
def test_a_host_that_is_not_loopback_is_refused(
    client: FlaskClient, sqlite_url: str, host: str
) -> None:
    # DNS rebinding: another site's name pointing at 127.0.0.1 never sees a token...
    page = client.get("/hello", headers={"Host": host})
    assert page.status_code == 503 and "token" not in text(page)
    # ...and a token it got anyway is refused.
    token = token_of(text(client.get("/hello")))
    response = client.post("/_versioning/apply", data={"token": token}, headers={"Host": host})
    assert response.status_code == 403
    assert "answers only at a loopback address" in text(response)
    assert table_names(sqlite_url) == set()


@pytest.mark.parametrize(
    "host", ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "app.localhost"]
)
def test_loopback_host_names_are_accepted(client: FlaskClient, host: str) -> None:
    page = client.get("/hello", headers={"Host": host})
    assert "Apply pending migrations" in text(page)


def test_a_post_from_another_site_is_refused(client: FlaskClient, sqlite_url: str) -> None:
    token = token_of(text(client.get("/hello")))
    for origin in ("https://evil.example", "null"):
        response = client.post(
            "/_versioning/apply", data={"token": token}, headers={"Origin": origin}
        )
        assert response.status_code == 403
        assert "sent by another site" in text(response)
    assert table_names(sqlite_url) == set()
    same = client.post(
        "/_versioning/apply", data={"token": token}, headers={"Origin": "http://localhost:5000"}
    )
    assert same.status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_the_return_address_stays_on_this_site(client: FlaskClient, target: str) -> None:
    token = token_of(text(client.get("/hello")))
    html = text(client.post("/_versioning/apply", data={"token": token, "next": target}))
    assert '<meta http-equiv="refresh" content="2; url=/">' in html
    assert "evil" not in html


def test_a_protected_environment_gets_no_page_and_no_apply(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, VERSIONING_ENV="production")
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    response = client.post("/_versioning/apply", data={"token": "whatever"})
    assert response.status_code == 403
    assert "&#39;production&#39; is a protected environment" in text(response)
    assert table_names(sqlite_url) == set()


def test_a_database_whose_history_is_protected_gets_no_page(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Production applied the first revision; a development app pointed at that database
    later sees the second one pending, and gets neither the page nor a working Apply."""
    production = tmp_path / "production"
    production.mkdir()
    prod_app, prod_versioning = make_app(
        production, sqlite_url, USERS, debug=False, VERSIONING_ENV="production"
    )
    with prod_app.app_context():
        prod_versioning.upgrade()
    app, _ = make_app(tmp_path, sqlite_url, USERS, POSTS)
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    # Even a valid token (taken from the gate itself: no page ever showed one) applies nothing.
    gate = app.before_request_funcs[None][0].__self__  # type: ignore[attr-defined]
    response = client.post("/_versioning/apply", data={"token": gate.token.issue()})
    assert "posts" not in table_names(sqlite_url)
    assert response.status_code == 200 and "Applied" not in text(response)


def test_every_writing_route_is_debug_only_loopback_only_and_token_protected(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Whatever routes the pages gain later, none that accepts a write goes unguarded."""
    app, _ = status_app(tmp_path, sqlite_url)
    client = app.test_client()
    writing = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("versioning_web.")
        and set(rule.methods or ()) - {"GET", "HEAD", "OPTIONS"}
    ]
    assert writing == ["/_dev/versioning/apply"]
    token = token_of(text(client.get("/hello")))
    for url in writing:
        assert client.post(url).status_code == 403
        remote = {"REMOTE_ADDR": "192.0.2.7"}
        assert client.post(url, data={"token": token}, environ_base=remote).status_code == 403
        assert client.get(url).status_code != 200  # a GET never applies anything
        app.debug = False
        assert client.post(url, data={"token": token}).status_code == 404
        app.debug = True
    assert table_names(sqlite_url) == set()


# -- when the page is there at all ----------------------------------------------------------------


def test_no_page_without_debug(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, debug=False)
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    assert client.post("/_versioning/apply", data={"token": "x"}).status_code == 404


def test_no_page_when_testing(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, TESTING=True)
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    assert client.post("/_versioning/apply", data={"token": "x"}).status_code == 404
    assert table_names(sqlite_url) == set()


def test_no_page_when_turned_off(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, VERSIONING_PENDING_PAGE="false")
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"
    assert client.post("/_versioning/apply", data={"token": "x"}).status_code == 404


def test_on_for_an_app_that_turns_debug_on_later(tmp_path: Path, sqlite_url: str) -> None:
    app, _ = make_app(tmp_path, sqlite_url, debug=False, VERSIONING_PENDING_PAGE=True)
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"  # installed, but not in debug
    app.debug = True
    assert client.get("/hello").status_code == 503


IMPORTS = """
import sys
from flask import Flask
from flask_versioning import Versioning
app = Flask(__name__)
app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", DEBUG={debug})
app.config["VERSIONING_STATUS_PAGE"] = {status!r}
Versioning(app, metadata=__import__("sqlalchemy").MetaData())
print("flask_versioning.web" in sys.modules)
"""


@pytest.mark.process
@pytest.mark.parametrize(
    ("debug", "status", "loaded"),
    [(False, None, "False"), (True, None, "True"), (False, "/_versioning", "True")],
)
def test_the_pages_are_loaded_only_when_wanted(
    tmp_path: Path, debug: bool, status: str | None, loaded: str
) -> None:
    source = IMPORTS.format(debug=debug, status=status)
    proc = subprocess.run(
        [sys.executable, "-c", source], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout.split()[0] == loaded


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("VERSIONING_PENDING_PAGE", "sometimes", "VERSIONING_PENDING_PAGE must be True, False"),
        ("VERSIONING_STATUS_PAGE", "_versioning", "VERSIONING_STATUS_PAGE must be a URL prefix"),
        ("VERSIONING_STATUS_PAGE", "/", "VERSIONING_STATUS_PAGE must be a URL prefix"),
        ("VERSIONING_STATUS_PAGE", 3, "VERSIONING_STATUS_PAGE must be a URL prefix"),
    ],
)
def test_bad_settings_are_one_line(key: str, value: object, message: str) -> None:
    app = Flask("bad")
    app.config.update({"SQLALCHEMY_DATABASE_URI": "sqlite://", key: value})
    with pytest.raises(ConfigurationError, match=message):
        Versioning(app, metadata=sa.MetaData())


# -- the status page ------------------------------------------------------------------------------


def status_app(tmp_path: Path, url: str, **config: Any) -> tuple[Flask, Versioning]:
    config.setdefault("VERSIONING_STATUS_PAGE", "/_dev/versioning/")
    return make_app(tmp_path, url, **config)


def test_status_page_sections(tmp_path: Path, database_url: str) -> None:
    app, versioning = status_app(tmp_path, database_url)

    @versioning.seed("development")
    def people(session: Any) -> None:
        session.execute(sa.text("INSERT INTO users (name) VALUES ('ada')"))

    with app.app_context():
        versioning.upgrade(USERS)
    client = app.test_client()
    # Behind: the pending page answers everything else; the status page still answers.
    response = client.get("/_dev/versioning/")
    html = text(response)
    assert response.status_code == 200
    assert f'<dd class="current"><code>{USERS}</code>' in html
    assert f'<dd class="heads"><code>{POSTS}</code>' in html
    svg = re.search(r'<figure class="graph">(<svg.*?</svg>)', html, re.DOTALL)
    assert svg is not None
    root = ET.fromstring(svg.group(1))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert USERS in texts and POSTS in texts and "default" in texts
    assert "<code>people</code>" in html and "not yet" in html
    assert "the database is not up to date (missing " + POSTS in html

    with app.app_context():
        versioning.upgrade()
        versioning.run_seeds()
    html = text(client.get("/_dev/versioning/"))
    assert "not yet" not in html and "UTC (development)" in html
    # The models have no posts table: check lists the difference.
    assert "1 difference between the models and the database" in html
    assert "<li><code>remove table posts (in the database, not in the models)</code></li>" in html


def test_status_page_survives_a_database_that_is_down(tmp_path: Path) -> None:
    app, _ = status_app(tmp_path, "postgresql+psycopg://nobody:s3cret@127.0.0.1:9/nowhere")
    html = text(app.test_client().get("/_dev/versioning/"))
    assert html.count('<p class="error">cannot use the database at ') >= 3
    assert "nobody:***@127.0.0.1:9/nowhere" in html and "s3cret" not in html
    assert "<svg" in html  # the history is still drawn, with the database noted under it
    assert "default: cannot be read" in html


def test_status_page_only_here_and_in_debug(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = status_app(tmp_path, sqlite_url, VERSIONING_PENDING_PAGE=False)

    @versioning.seed("development")
    def nothing(session: Any) -> None:
        pass

    client = app.test_client()
    assert client.get("/_dev/versioning/").status_code == 200
    assert table_names(sqlite_url) == set()  # reading it creates nothing, not even a ledger
    remote = client.get("/_dev/versioning/", environ_base={"REMOTE_ADDR": "192.168.1.20"})
    assert remote.status_code == 403 and "svg" not in text(remote)
    assert client.get("/_dev/versioning/", headers={"Host": "evil.example"}).status_code == 403
    # No Apply form behind it when the pending page is off.
    assert client.post("/_dev/versioning/apply").status_code == 404
    app.debug = False
    assert client.get("/_dev/versioning/").status_code == 404
