"""``flask db check``: every difference with what a reviewer needs (table, column, types from
and to, nullability, server default, indexes and constraints), as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FlaskProject

from flask_versioning._review.drift import describe_diffs

APP = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()
V2 = os.environ.get("TEST_VARIANT") == "2"


class Owner(db.Model):
    __tablename__ = "owners"
    id = sa.Column(sa.Integer, primary_key=True)


class Item(db.Model):
    __tablename__ = "items"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(120) if V2 else sa.String(50), nullable=not V2, index=V2)
    score = sa.Column(sa.Integer, nullable=False, server_default="1" if V2 else "0")
    owner_id = sa.Column(
        sa.Integer, sa.ForeignKey("owners.id", name="fk_items_owner_id") if V2 else None
    )
    if V2:
        note = sa.Column(sa.Text, nullable=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    versioning.init_app(app, db)
    return app
"""


@pytest.fixture
def items(tmp_path: Path, database_url: str) -> FlaskProject:
    (tmp_path / "app.py").write_text(APP)
    project = FlaskProject(tmp_path, database_url)
    project.db("migrate", "-m", "items")
    project.db("upgrade")
    return project


def test_each_difference_says_what_changed(items: FlaskProject) -> None:
    assert items.db("check").stdout.strip() == "No differences: the models match the database."
    proc = items.db("check", check=False, TEST_VARIANT="2")
    assert proc.returncode == 1
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "items.name: type VARCHAR(50) -> VARCHAR(120)" in lines
    assert "items.name: nullability NULL -> NOT NULL" in lines
    assert "add column items.note TEXT NULL" in lines
    assert "add index ix_items_name on items (name)" in lines
    assert "add foreign key fk_items_owner_id on items (owner_id) -> owners.id" in lines
    (default,) = [line for line in lines if line.startswith("items.score: server default ")]
    assert "0" in default.split(" -> ")[0] and "1" in default.split(" -> ")[1]
    assert proc.stderr.strip() == (
        f"Error: {len(lines)} difference(s) between the models and the database"
    )

    proc = items.db("check", "--format", "json", check=False, TEST_VARIANT="2")
    assert proc.returncode == 1
    (report,) = json.loads(proc.stdout)
    assert report["database"] == "default" and report["ok"] is False
    assert report["heads_problem"] is None
    assert [d["description"] for d in report["differences"]] == lines
    by_kind = {d["kind"]: d for d in report["differences"]}
    assert by_kind["modify_type"] == {
        "kind": "modify_type",
        "table": "items",
        "column": "name",
        "name": None,
        "old": "VARCHAR(50)",
        "new": "VARCHAR(120)",
        "description": "items.name: type VARCHAR(50) -> VARCHAR(120)",
    }
    assert (by_kind["modify_nullable"]["old"], by_kind["modify_nullable"]["new"]) == (
        "NULL",
        "NOT NULL",
    )
    assert by_kind["add_fk"]["name"] == "fk_items_owner_id"
    assert json.loads(items.db("check", "--format", "json").stdout)[0]["ok"] is True


def test_describing_every_kind_alembic_reports() -> None:
    metadata = sa.MetaData()
    owners = sa.Table("owners", metadata, sa.Column("id", sa.Integer, primary_key=True))
    table = sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(10), nullable=False, server_default="x"),
        sa.Column("owner_id", sa.Integer),
        schema="shop",
        comment="the items",
    )
    code = table.c.code
    unique = sa.UniqueConstraint(code, name="uq_items_code")
    check = sa.CheckConstraint("length(code) > 1", name="ck_items_code")
    table.append_constraint(unique)
    table.append_constraint(check)
    fk = sa.ForeignKeyConstraint([table.c.owner_id], [owners.c.id], name="fk_items_owner")
    table.append_constraint(fk)
    index = sa.Index("ix_items_code", code, unique=True)  # a column's index joins its table
    info: dict[str, object] = {}
    diffs = [
        ("add_table", owners),
        ("remove_table", table),
        ("add_column", "shop", "items", code),
        ("remove_column", "shop", "items", table.c.owner_id),
        [
            ("modify_type", "shop", "items", "code", info, sa.String(10), sa.Text()),
            ("modify_comment", "shop", "items", "code", info, None, "the code"),
            ("modify_default", "shop", "items", "code", info, None, sa.text("'y'")),
        ],
        ("add_index", index),
        ("remove_constraint", unique),
        ("add_constraint", check),
        ("remove_fk", fk),
        ("add_table_comment", table, None),
        ("remove_table_comment", table),
        ("something_new", "shop", "items"),
    ]
    assert [d.description for d in describe_diffs(diffs)] == [
        "add table owners (id INTEGER NOT NULL)",
        "remove table shop.items (in the database, not in the models)",
        "add column shop.items.code VARCHAR(10) NOT NULL DEFAULT 'x'",
        "remove column shop.items.owner_id (in the database, not in the models)",
        "shop.items.code: type VARCHAR(10) -> TEXT",
        "shop.items.code: comment None -> 'the code'",
        "shop.items.code: server default none -> 'y'",
        "add unique index ix_items_code on shop.items (code)",
        "remove unique constraint uq_items_code on shop.items (code)",
        "add check constraint ck_items_code on shop.items (length(code) > 1)",
        "remove foreign key fk_items_owner on shop.items (owner_id) -> owners.id",
        "shop.items: table comment None -> 'the items'",
        "shop.items: remove the table comment",
        "something_new shop.items",
    ]
