"""example_app: its committed revisions pass pytest-alembic's built-in tests on every backend,
and its pages render on a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

# pytest-alembic's built-in tests, run with the fixtures below.
from pytest_alembic.tests import (  # noqa: F401
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from example_app import create_app, versioning
from example_app.models import Author, Book, db


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def alembic_config(app: Flask) -> Any:
    return versioning.alembic_config()


@pytest.fixture
def alembic_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def test_pages_render_on_a_migrated_database(app: Flask) -> None:
    versioning.upgrade()
    author = Author(name="Ursula K. Le Guin", born=1929)
    db.session.add(Book(title="The Dispossessed", year=1974, author=author))
    db.session.commit()
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Ursula K. Le Guin" in page and "The Dispossessed" in page
    book = db.session.scalars(sa.select(Book)).one()
    assert "No reviews yet" in client.get(f"/books/{book.id}").get_data(as_text=True)
    assert client.get("/books/999").status_code == 404
