"""``flask db`` commands on paths the walkthrough does not take: ``init`` on its own,
``current --check-heads`` when behind, ``check`` finding differences, ``stamp --sql``."""

from __future__ import annotations

from conftest import FlaskProject, table_names, version_rows


def test_init_creates_the_directory_and_says_where(sqlite_project: FlaskProject) -> None:
    out = sqlite_project.db("init").stdout
    assert out.strip() == f"Migrations directory: {sqlite_project.migrations}"
    assert (sqlite_project.migrations / "env.py").is_file()
    assert (sqlite_project.migrations / "script.py.mako").is_file()
    assert sqlite_project.versions.is_dir()
    env_py = (sqlite_project.migrations / "env.py").read_bytes()
    # Again: nothing is overwritten.
    assert sqlite_project.db("init").stdout == out
    assert (sqlite_project.migrations / "env.py").read_bytes() == env_py
    assert table_names(sqlite_project.database_url) == set()


def test_current_check_heads_fails_until_the_database_is_at_head(
    sqlite_project: FlaskProject,
) -> None:
    sqlite_project.db("migrate", "-m", "users")
    (revision,) = [p.name.split("_")[0] for p in sqlite_project.revision_files()]
    proc = sqlite_project.db("current", "--check-heads", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: the database is not at all heads (missing: {revision})"
    ]
    sqlite_project.db("upgrade")
    proc = sqlite_project.db("current", "--check-heads")
    assert proc.stdout.strip() == f"{revision} (head)"


def test_check_lists_the_differences_and_exits_1(sqlite_project: FlaskProject) -> None:
    sqlite_project.db("migrate", "-m", "users")
    sqlite_project.db("upgrade")
    assert "No differences" in sqlite_project.db("check").stdout
    proc = sqlite_project.db("check", check=False, TEST_MODELS="user,post")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("  add table posts (id INTEGER NOT NULL, ") for line in lines)
    assert "  add index ix_posts_title on posts (title)" in lines
    assert (
        proc.stderr.strip()
        == f"Error: {len(lines)} difference(s) between the models and the database"
    )
    assert "posts" not in table_names(sqlite_project.database_url)


def test_stamp_sql_prints_the_statements_and_touches_nothing(
    sqlite_project: FlaskProject,
) -> None:
    sqlite_project.db("migrate", "-m", "users")
    (revision,) = [p.name.split("_")[0] for p in sqlite_project.revision_files()]
    before = table_names(sqlite_project.database_url)
    out = sqlite_project.db("stamp", "--sql", revision).stdout
    assert "CREATE TABLE alembic_version" in out
    assert f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')" in out
    assert "The database is now stamped" not in out
    assert table_names(sqlite_project.database_url) == before
    assert version_rows(sqlite_project.database_url) == []
    sqlite_project.db("stamp", revision)
    assert version_rows(sqlite_project.database_url) == [revision]
