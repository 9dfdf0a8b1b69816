"""The workflow of an Alembic tutorial, typed as a user would, on every backend."""

from __future__ import annotations

import re

import sqlalchemy as sa
from conftest import FlaskProject, table_names, version_rows


def _rev_of(path_line: str) -> str:
    match = re.search(r"versions/(\w+?)_", path_line)
    assert match, path_line
    return match.group(1)


def test_tutorial_walkthrough(project: FlaskProject) -> None:
    # No init step: the first revision creates the directory with our env.py.
    out = project.db("revision", "-m", "empty start").stdout
    assert "Generated" in out
    assert (project.migrations / "env.py").read_text().count("run_migrations()") == 1
    (empty,) = project.revision_files()
    first = _rev_of(str(empty))
    assert "def upgrade() -> None:\n    pass" in empty.read_text()

    out = project.db("upgrade", "head").stdout
    assert f"Applied {first} (empty start) in" in out
    assert version_rows(project.database_url) == [first]

    # Autogenerate the models: the file creates the tables.
    out = project.db("migrate", "-m", "create users").stdout
    users_file = next(p for p in project.revision_files() if "create_users" in p.name)
    second = _rev_of(str(users_file))
    assert "op.create_table('users'" in users_file.read_text()
    project.db("upgrade")
    assert "users" in table_names(project.database_url)

    # Add a model with an index, a unique and a check constraint.
    project.env["TEST_MODELS"] = "user,post"
    project.db("migrate", "-m", "add posts")
    posts_file = next(p for p in project.revision_files() if "add_posts" in p.name)
    third = _rev_of(str(posts_file))
    text = posts_file.read_text()
    assert "op.create_table('posts'" in text
    assert "sa.UniqueConstraint('slug', name='uq_posts_slug')" in text
    assert "sa.CheckConstraint('score >= 0', name='ck_posts_score')" in text
    assert "create_index(" in text and "ix_posts_title" in text

    out = project.db("upgrade").stdout
    assert re.search(rf"Applied {third} \(add posts\) in \d+ ms", out)
    engine = sa.create_engine(project.database_url, poolclass=sa.NullPool)
    try:
        inspector = sa.inspect(engine)
        assert {"users", "posts"} <= set(inspector.get_table_names())
        assert "ix_posts_title" in {i["name"] for i in inspector.get_indexes("posts")}
        uniques = {u["name"] for u in inspector.get_unique_constraints("posts")}
        unique_indexes = {i["name"] for i in inspector.get_indexes("posts") if i["unique"]}
        assert "uq_posts_slug" in uniques | unique_indexes
        checks = {c["name"] for c in inspector.get_check_constraints("posts")}
        assert "ck_posts_score" in checks
    finally:
        engine.dispose()

    # current / history / show
    assert project.db("current").stdout.strip() == f"{third} (head)"
    history = project.db("history").stdout.splitlines()
    assert history[0].startswith(f"{second} -> {third} (head), add posts")
    assert history[-1].startswith(f"<base> -> {first}, empty start")
    indicated = project.db("history", "-i").stdout
    assert f"{third} (current) (head)" in indicated or f"{third} (head) (current)" in indicated
    shown = project.db("show", third[:6]).stdout
    assert f"Rev: {third} (head)" in shown and "add posts" in shown
    assert "Rev: " + second in project.db("show", second).stdout

    # downgrade -1 (a negative number is a revision, not an option), then +1 again
    out = project.db("downgrade", "-1").stdout
    assert f"Reverted {third} (add posts)" in out
    assert version_rows(project.database_url) == [second]
    assert "posts" not in table_names(project.database_url)
    project.db("upgrade", "+1")
    assert version_rows(project.database_url) == [third]

    # all the way down and back up to a named revision
    project.db("downgrade", "base")
    assert version_rows(project.database_url) == []
    assert not {"users", "posts"} & table_names(project.database_url)
    out = project.db("current", "-v").stdout
    assert "base" in out
    project.db("upgrade", second)
    assert version_rows(project.database_url) == [second]
    assert "users" in table_names(project.database_url)
    assert "posts" not in table_names(project.database_url)
    project.db("upgrade")
    assert version_rows(project.database_url) == [third]
    out = project.db("upgrade").stdout
    assert f"Nothing to do: the database is at {third}." in out


def test_check_before_and_after_a_model_change(project: FlaskProject) -> None:
    project.db("migrate", "-m", "users")
    project.db("upgrade")
    out = project.db("check").stdout
    assert "No differences" in out

    project.env["TEST_MODELS"] = "user,post"
    proc = project.db("check", check=False)
    assert proc.returncode == 1
    assert "add table posts (" in proc.stdout
    assert "difference(s) between the models and the database" in proc.stderr
    assert "Traceback" not in proc.stderr

    # migrate with nothing changed says so, exits 0, writes nothing
    project.env["TEST_MODELS"] = "user"
    before = project.revision_files()
    out = project.db("migrate", "-m", "nothing").stdout
    assert "No changes" in out
    assert project.revision_files() == before
    project.db("migrate", "-m", "forced", "--allow-empty")
    assert len(project.revision_files()) == len(before) + 1


SEED_REVISION = '''"""seed rows

Revision ID: seed01
Revises: {down}
"""

import sqlalchemy as sa
from alembic import context, op

revision = "seed01"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.get_x_argument(as_dictionary=True).get("seed") != "true":
        return
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String))
    op.bulk_insert(users, [{{"id": i, "name": f"user {{i}}"}} for i in range(1, 51)])


def downgrade() -> None:
    op.execute("DELETE FROM users")
'''


def _count_users(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one())
    finally:
        engine.dispose()


def test_x_arguments_reach_revisions_in_both_positions(project: FlaskProject) -> None:
    project.db("migrate", "-m", "users", "--rev-id", "users01")
    (project.versions / "seed01_seed_rows.py").write_text(SEED_REVISION.format(down="users01"))
    project.db("init", "--linear")  # a revision written by hand: record the heads it makes

    project.db("upgrade", "head")
    assert _count_users(project.database_url) == 0  # no -x: no rows

    project.db("downgrade", "-1")
    project.db("-x", "seed=true", "upgrade", "head")  # Alembic's order
    assert _count_users(project.database_url) == 50

    project.db("downgrade", "-1")
    assert _count_users(project.database_url) == 0
    project.db("upgrade", "-x", "seed=true", "head")  # after the command
    assert _count_users(project.database_url) == 50


def test_branches_merge_and_stamp(project: FlaskProject) -> None:
    project.db("revision", "-m", "root", "--rev-id", "root")
    project.db("revision", "-m", "left", "--rev-id", "left", "--head", "root")
    project.db("revision", "-m", "right", "--rev-id", "right", "--head", "root", "--splice")

    heads = project.db("heads").stdout
    assert "left (head)" in heads and "right (head)" in heads
    branches = project.db("branches").stdout
    assert "root" in branches and "-> left" in branches and "-> right" in branches

    # one head needed, two present: the error names them and points at merge
    proc = project.db("upgrade", "head", check=False)
    assert proc.returncode == 1
    assert "left" in proc.stderr and "right" in proc.stderr
    assert "flask db merge" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    # Two heads are refused while versions/HEADS keeps the history linear; the guard off,
    # both branches apply.
    refused = project.db("upgrade", "heads", check=False)
    assert refused.returncode == 1 and "nothing was applied" in refused.stderr
    project.db("upgrade", "heads", VERSIONING_LINEAR_HISTORY="false")
    assert version_rows(project.database_url) == ["left", "right"]

    project.db("merge", "heads", "-m", "join", "--rev-id", "joined")
    assert project.db("heads").stdout.strip().startswith("joined (head)")
    project.db("upgrade")
    assert version_rows(project.database_url) == ["joined"]

    # stamp moves the version table without running anything; --purge starts from empty
    project.db("stamp", "root")
    assert version_rows(project.database_url) == ["root"]
    project.db("stamp", "--purge", "left")
    assert version_rows(project.database_url) == ["left"]
    project.db("stamp", "base")
    assert version_rows(project.database_url) == []


def test_offline_sql_never_touches_the_database(project: FlaskProject) -> None:
    project.db("migrate", "-m", "users", "--rev-id", "users01")
    # (autogenerate, like Alembic's, may create the empty version table; nothing more)
    before = table_names(project.database_url)
    assert "users" not in before
    out = project.db("upgrade", "--sql").stdout
    assert "CREATE TABLE users" in out
    assert "INSERT INTO alembic_version" in out
    assert "users01" in out
    assert table_names(project.database_url) == before
    if before:
        assert version_rows(project.database_url) == []

    out = project.db("upgrade", "--sql", "--tag", "release-7", "base:users01").stdout
    assert "CREATE TABLE users" in out
    out = project.db("downgrade", "--sql", "users01:base").stdout
    assert "DROP TABLE users" in out
    assert table_names(project.database_url) == before

    proc = project.db("downgrade", "--sql", "base", check=False)
    assert proc.returncode == 1 and "<from>:<to>" in proc.stderr
