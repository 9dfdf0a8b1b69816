"""``flask db graph``: the revision history as text, Mermaid, DOT or SVG, with the databases
marked where they stand, run as a user runs it (a real ``flask`` process, every backend)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import FlaskProject

SVG = "{http://www.w3.org/2000/svg}"


def _rev(output: str) -> str:
    match = re.search(r"Generated .*/([0-9a-f]{12})_", output)
    assert match, output
    return match.group(1)


def _two_revisions(project: FlaskProject, *, upgrade: bool) -> tuple[str, str]:
    first = _rev(project.db("migrate", "-m", "create users").stdout)
    if upgrade:
        project.db("upgrade")
    second = _rev(project.db("migrate", "-m", "add posts", TEST_MODELS="user,post").stdout)
    return first, second


def test_text_shows_the_history_and_where_the_database_stands(project: FlaskProject) -> None:
    first, second = _two_revisions(project, upgrade=True)
    out = project.db("graph").stdout
    assert out.splitlines() == [
        f"* {second} (head) add posts",
        f"* {first} (base) create users  <- default",
    ]


def test_a_database_at_base_is_noted(project: FlaskProject) -> None:
    first = _rev(project.db("migrate", "-m", "create users").stdout)
    out = project.db("graph").stdout
    assert out.splitlines() == [
        f"* {first} (base) (head) create users",
        "(default: no revision applied)",
    ]


def test_branches_and_merges_and_last(project: FlaskProject) -> None:
    first, second = _two_revisions(project, upgrade=True)
    side = _rev(project.db("revision", "-m", "side work", "--head", first, "--splice").stdout)
    merge = _rev(project.db("merge", "heads", "-m", "join").stdout)
    lines = project.db("graph").stdout.splitlines()
    # Which parent of the merge takes the first lane follows the merge file's order.
    assert lines[:2] == [f"* {merge} (head) (mergepoint) join", "|\\"]
    assert sorted(line[:4] for line in lines[2:4]) == ["* | ", "| * "]
    assert {line[4:] for line in lines[2:4]} == {f"{side} side work", f"{second} add posts"}
    assert lines[4:] == ["|/", f"* {first} (base) (branchpoint) create users  <- default"]
    assert project.db("graph", "--last", "1").stdout.splitlines() == [
        f"* {merge} (head) (mergepoint) join",
        "|\\",
        f"~ ~ (3 older revisions not shown; default at {first})",
    ]


def test_every_format_and_output_file(project: FlaskProject) -> None:
    first, second = _two_revisions(project, upgrade=True)

    mermaid = project.db("graph", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart BT\n")
    assert f"r_{first} --> r_{second}" in mermaid
    assert 'd_1(["default"])' in mermaid and f"r_{first} -.- d_1" in mermaid

    dot = project.db("graph", "-f", "dot").stdout
    assert dot.startswith("digraph revisions {")
    assert f'"{first}" -> "{second}";' in dot

    target = project.path / "graph.svg"
    result = project.db("graph", "-f", "svg", "-o", str(target))
    assert result.stdout == f"Wrote the svg graph to {target}\n"
    root = ET.fromstring(target.read_text(encoding="utf-8"))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert first in texts and second in texts and "default" in texts


def test_a_database_that_cannot_be_reached_is_noted(sqlite_project: FlaskProject) -> None:
    first = _rev(sqlite_project.db("migrate", "-m", "create users").stdout)
    down = "postgresql+psycopg://someone:s3cret@127.0.0.1:9/nowhere"
    result = sqlite_project.db("graph", DATABASE_URL=down)
    lines = result.stdout.splitlines()
    assert lines[0] == f"* {first} (base) (head) create users"
    assert lines[1].startswith("(default: cannot be read (cannot use the database at ")
    assert "someone:***@127.0.0.1:9/nowhere" in lines[1]
    assert "s3cret" not in result.stdout + result.stderr


def test_bad_input_is_one_line(sqlite_project: FlaskProject) -> None:
    sqlite_project.db("migrate", "-m", "create users")
    unknown = sqlite_project.db("graph", "--bind", "nope", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr == "Error: unknown database 'nope' (this app has: default)\n"

    bad_format = sqlite_project.db("graph", "--format", "png", check=False)
    assert bad_format.returncode == 2 and "'png' is not one of" in bad_format.stderr

    zero = sqlite_project.db("graph", "--last", "0", check=False)
    assert zero.returncode == 2 and "0 is not in the range x>=1" in zero.stderr

    missing = sqlite_project.path / "no" / "such" / "dir" / "g.txt"
    unwritable = sqlite_project.db("graph", "-o", str(missing), check=False)
    assert unwritable.returncode == 1
    assert unwritable.stderr == f"Error: cannot write {missing}: No such file or directory\n"
    for result in (unknown, bad_format, zero, unwritable):
        assert "Traceback" not in result.stderr


TWO_DATABASES = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_versioning import Versioning

db = SQLAlchemy()


class Thing(db.Model):
    __tablename__ = "things"
    id = sa.Column(sa.Integer, primary_key=True)


class Account(db.Model):
    __bind_key__ = "users"
    __tablename__ = "accounts"
    id = sa.Column(sa.Integer, primary_key=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config["SQLALCHEMY_BINDS"] = {"users": os.environ["USERS_URL"]}
    db.init_app(app)
    Versioning(app, db)
    return app
"""


def test_several_histories(tmp_path: Path, database_url: str, second_database_url: str) -> None:
    (tmp_path / "app.py").write_text(TWO_DATABASES)
    project = FlaskProject(tmp_path, database_url, {"USERS_URL": second_database_url})
    things = _rev(project.db("migrate", "-m", "things", "--bind", "default").stdout)
    accounts = _rev(project.db("migrate", "-m", "accounts", "--bind", "users").stdout)
    project.db("upgrade", "--bind", "users")

    both = project.db("graph").stdout.splitlines()
    assert both == [
        f"[default] * {things} (base) (head) things",
        "[default] (default: no revision applied)",
        f"[users] * {accounts} (base) (head) accounts  <- users",
    ]
    one = project.db("graph", "--bind", "users", "-f", "mermaid").stdout
    assert f"r_{accounts}" in one and things not in one

    refused = project.db("graph", "-f", "svg", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: this app has 2 histories (default, users): choose one with --bind\n"
    )


def test_the_readme_shows_the_example_apps_real_graph(tmp_path: Path) -> None:
    """The Mermaid picture in README.md is what the command prints for example_app at head."""
    root = Path(__file__).resolve().parent.parent
    project = FlaskProject(root, f"sqlite:///{tmp_path / 'demo.db'}", {"FLASK_APP": "example_app"})
    project.db("upgrade")
    printed = project.db("graph", "--format", "mermaid").stdout
    readme = (root / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert shown is not None, "README.md has no mermaid block"
    assert shown.group(1) == printed
