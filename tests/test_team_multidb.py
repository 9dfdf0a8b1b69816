"""The review commands on an app with two databases, each with its own history."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import FlaskProject
from test_multidb import APP


def test_lint_plan_check_and_heads_per_database(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    project = FlaskProject(tmp_path, database_url, {"USERS_URL": second_database_url})
    out = project.db("migrate", "-m", "start").stdout
    users_rev = re.search(r"binds/users/versions/([0-9a-f]{12})_", out)
    assert users_rev
    users_heads = tmp_path / "migrations" / "binds" / "users" / "versions" / "HEADS"
    assert users_heads.read_text().splitlines()[-1] == f"{users_rev.group(1)} start"
    assert (tmp_path / "migrations" / "versions" / "HEADS").is_file()

    out = project.db("plan").stdout
    assert "[default] The database is at base; 'upgrade heads' would apply 1 revision:" in out
    assert "[users] The database is at base; 'upgrade heads' would apply 1 revision:" in out
    assert "CREATE TABLE accounts" in out and "CREATE TABLE things" in out
    out = project.db("plan", "--bind", "users").stdout
    assert "[default]" not in out and "CREATE TABLE things" not in out

    project.db("upgrade")
    assert project.db("check").stdout.count("No differences") == 2
    proc = project.db("check", "--format", "json", check=False, TEST_NAME_COLUMN="1")
    reports = {r["database"]: r for r in json.loads(proc.stdout)}
    assert reports["default"]["ok"] is True
    (difference,) = reports["users"]["differences"]
    assert difference["description"] == "add column accounts.name VARCHAR(50) NULL"

    data = json.loads(project.db("lint", "--format", "json").stdout)
    assert data == []
    out = project.db("lint", "--bind", "users").stdout
    assert out.strip() == "No findings."
