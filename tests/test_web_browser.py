"""The development pages in a real browser: Debian's Chromium driven by Playwright, against a
real ``flask run --debug`` on SQLite and PostgreSQL.

Playwright's own browser download is never used: the browser is the ``chromium`` on ``PATH``
(``.ci/run`` installs Debian's package when it is missing). Screenshots go to
``tests/artifacts/`` (or ``VERSIONING_TEST_ARTIFACTS``); ``docs/_screenshots.py`` runs these
same tests to refresh the pictures in the documentation.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FLASK, IN_CI, FlaskProject, table_names, version_rows

pytestmark = [pytest.mark.browser, pytest.mark.process]

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("VERSIONING_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")

APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from markupsafe import escape

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()
MODELS = os.environ.get("TEST_MODELS", "user,post").split(",")


class User(db.Model):
    __tablename__ = "users"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=False)


if "post" in MODELS:

    class Post(db.Model):
        __tablename__ = "posts"
        id = sa.Column(sa.Integer, primary_key=True)
        title = sa.Column(sa.String(200), nullable=False, index=True)
        author_id = sa.Column(sa.ForeignKey("users.id"), nullable=False)


@versioning.seed("development")
def people(session):
    session.add_all([User(name="Ada Lovelace"), User(name="Grace Hopper")])


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("VERSIONING_") and not key.startswith("VERSIONING_TEST_"):
            app.config[key] = value
    db.init_app(app)
    versioning.init_app(app, db)

    @app.get("/hello")
    def hello():
        return "hello from the app"

    @app.get("/users")
    def users():
        names = db.session.scalars(sa.select(User.name).order_by(User.name)).all()
        items = "".join(f"<li>{escape(name)}</li>" for name in names)
        return f"<h1>Users</h1><p>{len(names)} users</p><ul>{items}</ul>"

    return app
"""


# -- a real server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DevServer:
    """``flask run`` on a free port, in its own process group, stopped on exit."""

    def __init__(self, project: FlaskProject, *args: str, **env: str) -> None:
        self.project = project
        self.args = args
        self.env = {
            **os.environ,
            "FLASK_APP": "app",
            "DATABASE_URL": project.database_url,
            "VERSIONING_ENV": "development",
            **project.env,
            **env,
        }
        self.env.pop("FLASK_DEBUG", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> DevServer:
        # Another process may take the port between our probe and the server's bind: try again.
        for _attempt in range(5):
            port = free_port()
            log = self.project.path / f"server-{port}.log"
            with log.open("wb") as out:
                self.process = subprocess.Popen(
                    [FLASK, "run", "--port", str(port), *self.args],
                    cwd=self.project.path,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._ready(port):
                self.url = f"http://127.0.0.1:{port}"
                return self
            output = log.read_text(errors="replace")
            if "Address already in use" not in output:
                raise AssertionError(f"flask run exited {self.process.returncode}:\n{output}")
        raise AssertionError("no free port for flask run after 5 tries")

    def _ready(self, port: int) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
            time.sleep(0.1)
        self.__exit__()
        raise AssertionError("flask run did not start listening within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the reloader's parent and its child
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def request(
    url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), error.read().decode()


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The issue's two backends for browser tests: an embedded one and a server."""
    return str(request.param)


@pytest.fixture
def app_project(tmp_path: Path, database_url: str) -> FlaskProject:
    (tmp_path / "app.py").write_text(APP)
    return FlaskProject(tmp_path, database_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def _rev(output: str) -> str:
    match = re.search(r"Generated .*/([0-9a-f]{12})_", output)
    assert match, output
    return match.group(1)


def behind_by_two(project: FlaskProject) -> tuple[str, str]:
    """Two autogenerated revisions on disk, and a database at neither of them."""
    first = _rev(project.db("migrate", "-m", "create users", TEST_MODELS="user").stdout)
    project.db("upgrade")
    second = _rev(project.db("migrate", "-m", "add posts").stdout)
    project.db("downgrade", "base")
    return first, second


# -- the tests -------------------------------------------------------------------------------------


def test_apply_from_the_pending_page(
    app_project: FlaskProject, page: object, backend: str, database_url: str
) -> None:
    expect = playwright.expect
    first, second = behind_by_two(app_project)
    with DevServer(app_project, "--debug") as server:
        response = page.goto(f"{server.url}/users?page=2")  # type: ignore[attr-defined]
        assert response.status == 503
        expect(page.locator("h1")).to_have_text("Migrations are pending")  # type: ignore[attr-defined]
        revisions = page.locator("li.revision")  # type: ignore[attr-defined]
        expect(revisions).to_have_count(2)
        expect(revisions.nth(0)).to_contain_text(f"{first} create users")
        expect(revisions.nth(0).locator("pre.sql")).to_contain_text("CREATE TABLE users")
        expect(revisions.nth(1)).to_contain_text(f"{second} add posts")
        expect(revisions.nth(1).locator("pre.sql")).to_contain_text("CREATE TABLE posts")
        screenshot(page, f"pending-page-{backend}")

        page.get_by_role("button", name="Apply pending migrations").click()  # type: ignore[attr-defined]
        expect(page.locator("h1")).to_have_text("Migrations applied")  # type: ignore[attr-defined]
        expect(page.locator("#applied li")).to_have_count(2)  # type: ignore[attr-defined]
        expect(page.locator("#positions")).to_contain_text(second)  # type: ignore[attr-defined]
        screenshot(page, f"applied-{backend}")

        # The page refreshes to where the developer was going, and the app answers.
        page.wait_for_url(f"{server.url}/users?page=2", timeout=30_000)  # type: ignore[attr-defined]
        expect(page.locator("h1")).to_have_text("Users")  # type: ignore[attr-defined]
        expect(page.locator("p")).to_have_text("0 users")  # type: ignore[attr-defined]
    assert {"users", "posts", "alembic_version"} <= table_names(database_url)
    assert version_rows(database_url) == [second]


def test_status_page_draws_the_graph(
    app_project: FlaskProject, page: object, backend: str, database_url: str
) -> None:
    expect = playwright.expect
    first, second = behind_by_two(app_project)
    side = _rev(
        app_project.db("revision", "-m", "backfill names", "--head", first, "--splice").stdout
    )
    merge = _rev(app_project.db("merge", "heads", "-m", "merge backfill").stdout)
    app_project.db("upgrade")
    app_project.db("seed")
    with DevServer(app_project, "--debug", VERSIONING_STATUS_PAGE="/_versioning") as server:
        page.goto(f"{server.url}/_versioning/")  # type: ignore[attr-defined]
        section = page.locator("section#database-default")  # type: ignore[attr-defined]
        expect(section.locator("dd.current")).to_have_text(merge)
        graph = section.locator("figure.graph svg")
        expect(graph).to_be_visible()
        for revision in (first, second, side, merge):
            expect(graph.locator("text", has_text=revision)).to_have_count(1)
        expect(graph.locator("g.fvg-db text")).to_have_text("default")
        expect(section.locator("table.seeds")).to_contain_text("people")
        expect(section.locator("p.ok")).to_have_text("The models match the database.")
        box = graph.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 4 * 20
        screenshot(page, f"status-page-{backend}")


def test_refusals_on_a_real_server(app_project: FlaskProject, database_url: str) -> None:
    behind_by_two(app_project)
    with DevServer(app_project, "--debug") as server:
        status, html = request(f"{server.url}/hello")
        assert status == 503
        token = re.search(r'name="token" value="([^"]+)"', html)
        assert token is not None

        status, html = request(f"{server.url}/_versioning/apply", {"next": "/hello"})
        assert status == 403 and "token is missing or has expired" in html

        evil = {"Host": f"evil.example:{server.url.rsplit(':', 1)[1]}"}
        status, html = request(f"{server.url}/hello", headers=evil)
        assert status == 503 and "token" not in html
        status, html = request(f"{server.url}/_versioning/apply", {"token": token[1]}, evil)
        assert status == 403 and "answers only at a loopback address" in html

        other_site = {"Origin": "http://evil.example"}
        status, html = request(f"{server.url}/_versioning/apply", {"token": token[1]}, other_site)
        assert status == 403 and "sent by another site" in html
    assert table_names(database_url) == {"alembic_version", "versioning_history"}
    assert version_rows(database_url) == []


def test_no_page_without_debug(app_project: FlaskProject, database_url: str) -> None:
    behind_by_two(app_project)
    with DevServer(app_project) as server:
        assert request(f"{server.url}/hello") == (200, "hello from the app")
        status, html = request(f"{server.url}/users")
        assert status == 500 and "Migrations are pending" not in html  # the app's own error
        status, _ = request(f"{server.url}/_versioning/apply", {"token": "x"})
        assert status == 404
    assert version_rows(database_url) == []
