"""``flask db plan``: what an upgrade would run, from where the database stands, and proof that
looking changes nothing and waits for no lock."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import FlaskProject, table_names, version_rows
from test_team_lint import DROP, revision

from flask_versioning._locking import migration_lock

ADD_EMAIL = 'op.add_column("users", sa.Column("email", sa.String(100), nullable=True))'
LOCK_KEY = "flask_versioning:alembic_version"


def columns(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return sorted(c["name"] for c in sa.inspect(engine).get_columns("users"))
    finally:
        engine.dispose()


def test_plan_shows_each_pending_revision_and_changes_nothing(project: FlaskProject) -> None:
    first_out = project.db("migrate", "-m", "users").stdout
    first = first_out.split("versions/")[1][:12]
    project.db("upgrade")
    second, second_path = revision(project, "add email", ADD_EMAIL)
    third, third_path = revision(project, "drop name", DROP)
    url = project.database_url
    before = (table_names(url), version_rows(url), columns(url))

    # Another process holds the migration lock: plan neither waits for it nor fails.
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key=LOCK_KEY, timeout=0):
            proc = project.db("plan", VERSIONING_LOCK_TIMEOUT="0")
    finally:
        engine.dispose()
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == f"The database is at {first}; 'upgrade heads' would apply 2 revisions:"
    second_at = lines.index(
        f"Revision {second} (add email): migrations/versions/{second_path.name}"
    )
    third_at = lines.index(f"Revision {third} (drop name): migrations/versions/{third_path.name}")
    assert second_at < third_at
    add = "\n".join(lines[second_at:third_at])
    assert "ALTER TABLE users ADD" in add and "email VARCHAR(100)" in add
    drop = "\n".join(lines[third_at:])
    assert "ALTER TABLE users DROP" in drop
    assert f"  migrations/versions/{third_path.name}:" in drop and "error ban-drop-column" in drop
    assert "ban-drop-column" not in add
    assert (table_names(url), version_rows(url), columns(url)) == before

    # A target, a relative step, and the applied ones for context.
    out = project.db("plan", second).stdout
    assert "would apply 1 revision:" in out and third not in out
    out = project.db("plan", "+1").stdout
    assert f"Revision {second} " in out and f"Revision {third} " not in out
    out = project.db("plan", "--all").stdout
    assert out.splitlines()[1] == f"Applied {first} (users)"
    assert (table_names(url), version_rows(url), columns(url)) == before

    project.db("upgrade")
    proc = project.db("plan")
    assert proc.stdout.strip() == f"Nothing to do: the database is at {third}."


def test_plan_of_a_sqlite_file_that_does_not_exist_creates_nothing(
    sqlite_project: FlaskProject,
) -> None:
    project = sqlite_project
    revision(project, "notes", 'op.create_table("notes", sa.Column("id", sa.Integer))')
    assert not (project.path / "app.db").exists()
    out = project.db("plan").stdout
    assert out.startswith("The database is at base; 'upgrade heads' would apply 1 revision:")
    assert "CREATE TABLE notes" in out
    assert not (project.path / "app.db").exists()
    assert not (project.path / ".flask-versioning").exists()  # no lock was taken


def test_sql_that_cannot_be_rendered_offline_is_said_so(sqlite_project: FlaskProject) -> None:
    project = sqlite_project
    reads = 'op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()'
    rev, _ = revision(project, "reads rows", reads)
    proc = project.db("plan", check=False)
    assert proc.returncode == 1  # an incomplete plan is not a plan to approve
    assert f"Error: the plan is incomplete: the SQL of 1 revision ({rev})" in proc.stderr
    out = proc.stdout
    assert f"Revision {rev} (reads rows)" in out
    assert "    -- SQL not rendered past this point: upgrade() cannot run offline" in out
