"""The pytest side: options, the marker and the fixtures. Only pytest is imported at start-up:
the plugin loads into every test session of every project with Flask-Versioning installed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask

    from .templates import Templates, TestDatabase


URL_ENV = "VERSIONING_TEST_DATABASE_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flask_versioning", "Flask-Versioning test databases")
    group.addoption(
        "--versioning-create-db",
        action="store_true",
        default=False,
        help="Rebuild the template databases. Without it, a session reuses the templates of "
        "the last one while the revision and baseline files are unchanged.",
    )
    group.addoption(
        "--versioning-url",
        default=None,
        help=f"Where test databases are made (also ${URL_ENV} or the ini key versioning_url); "
        "server databases are named after it. Default: a SQLite file in the temp directory.",
    )
    parser.addini("versioning_url", "Where test databases are made (see --versioning-url).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "versioning_db(clone=False, seeds=None): how versioning_db makes this test's database: "
        "clone=True gives a fresh database instead of a rolled-back transaction; seeds names the "
        "environment whose seeds are in the template.",
    )


@pytest.fixture(scope="session")
def versioning_templates(request: pytest.FixtureRequest) -> Iterator[Templates]:
    """The session's template databases, one per seeds environment, made on first use."""
    from .templates import Templates, default_url

    config = request.config
    url = (
        config.getoption("--versioning-url")
        or os.environ.get(URL_ENV)
        or config.getini("versioning_url")
        or default_url()
    )
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    factory: Callable[[str], Flask] = request.getfixturevalue("versioning_app_factory")
    templates = Templates(
        factory,
        str(url),
        worker,
        rootdir=config.rootpath,
        reuse=not config.getoption("--versioning-create-db"),
    )
    yield templates
    templates.close()


@pytest.fixture
def versioning_db(
    request: pytest.FixtureRequest, versioning_templates: Templates
) -> Iterator[TestDatabase]:
    """A migrated database for this test with the app bound to it, inside an app context: the
    template in a transaction rolled back after the test (``db.session`` commits into
    SAVEPOINTs), or with ``@pytest.mark.versioning_db(clone=True)`` a copy of its own."""
    marker = request.node.get_closest_marker("versioning_db")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    template = versioning_templates.template(options.get("seeds"))
    with template.clone() if options.get("clone") else template.transaction() as database:
        yield database
