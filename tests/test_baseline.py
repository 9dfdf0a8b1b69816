"""``flask db baseline`` and the use of baselines by ``upgrade``, through real ``flask`` processes
on every backend: a database made from a baseline equals one made by replay."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import FlaskProject, table_names
from schema_snapshot import schema_snapshot

OWN = ("versioning_history", "versioning_seeds")

REVISION = '''"""{message}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}


def upgrade():
{body}


def downgrade():
    pass
'''


def _body(i: int) -> str:
    """What revision ``i`` of the generated history does: tables, columns, indexes, keys."""
    if i == 1:
        return (
            '    op.create_table("kinds", sa.Column("id", sa.Integer, primary_key=True),\n'
            '                    sa.Column("name", sa.String(30), nullable=False, unique=True))\n'
            '    op.bulk_insert(sa.table("kinds", sa.column("id"), sa.column("name")),\n'
            '                   [{"id": 1, "name": "book"}, {"id": 2, "name": "film"}])'
        )
    if i % 3 == 2:
        return (
            f'    op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True),\n'
            f'        sa.Column("kind_id", sa.Integer, sa.ForeignKey("kinds.id")),\n'
            f'        sa.Column("title", sa.String(80), nullable=False, server_default="x"),\n'
            f'        sa.CheckConstraint("length(title) > 0", name="ck_t{i}_title"))'
        )
    if i % 3 == 0:
        return (
            f'    op.add_column("t{i - 1}", sa.Column("score", sa.Integer, nullable=True))\n'
            f'    op.create_index("ix_t{i - 1}_title", "t{i - 1}", ["title"])'
        )
    if i == 10:
        return "    op.execute(\"UPDATE kinds SET name = 'books' WHERE id = 1\")"
    return f'    op.create_index("uq_t{i - 2}_title", "t{i - 2}", ["title", "id"], unique=True)'


def write_history(versions: Path, count: int, start: int = 1) -> list[str]:
    """Revision files ``r001`` .. in ``versions``, each after the one before."""
    versions.mkdir(parents=True, exist_ok=True)
    revs = []
    for i in range(start, start + count):
        rev, down = f"r{i:03d}", f"r{i - 1:03d}" if i > 1 else None
        text = REVISION.format(message=f"step {i}", rev=rev, down=down, body=_body(i))
        (versions / f"{rev}_step.py").write_text(text)
        revs.append(rev)
    return revs


def snapshot(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return schema_snapshot(engine, exclude=OWN)
    finally:
        engine.dispose()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def history_directions(url: str) -> list[tuple[str, str]]:
    return [
        (str(d), str(r))
        for d, r in rows(url, "SELECT direction, revision FROM versioning_history ORDER BY id")
    ]


def on(project: FlaskProject, url: str) -> FlaskProject:
    return FlaskProject(project.path, url, project.env)


@pytest.fixture
def history(project: FlaskProject) -> list[str]:
    return write_history(project.versions, 30)


def test_baseline_equals_replay(
    project: FlaskProject, history: list[str], second_database_url: str, backend: str
) -> None:
    project.db("upgrade")  # replayed: no baseline yet
    out = project.db("baseline").stdout
    dialect = "mariadb" if backend == "mariadb" else backend
    path = project.migrations / "baselines" / f"r030.{dialect}.sql"
    assert f"Wrote baseline {path} for revision r030 ({dialect}," in out
    assert path.read_text().startswith("-- flask-versioning baseline")
    # The app's own database was not touched by writing it.
    assert history_directions(project.database_url)[-1] == ("upgrade", "r030")

    fresh = on(project, second_database_url)
    out = fresh.db("upgrade").stdout
    assert "Loaded baseline r030 (" in out and "Applied" not in out
    assert "The database is now at r030." in out
    assert snapshot(second_database_url) == snapshot(project.database_url)
    assert history_directions(second_database_url) == [("baseline", "r030")]
    assert fresh.db("current").stdout.strip().endswith("r030 (head)")


def test_newer_revisions_apply_after_the_baseline(
    project: FlaskProject, history: list[str], second_database_url: str
) -> None:
    project.db("baseline", "--at", "r020")
    project.db("upgrade")
    fresh = on(project, second_database_url)
    out = fresh.db("upgrade").stdout
    assert "Loaded baseline r020" in out
    applied = [line.split()[1] for line in out.splitlines() if line.startswith("Applied")]
    assert applied == [f"r{i:03d}" for i in range(21, 31)]
    assert snapshot(second_database_url) == snapshot(project.database_url)


def test_target_below_every_baseline_replays(project: FlaskProject, history: list[str]) -> None:
    project.db("baseline", "--at", "r020")
    out = project.db("upgrade", "r010").stdout
    assert "Loaded baseline" not in out and "Applied r010" in out


def test_data_revisions_are_listed(project: FlaskProject, history: list[str]) -> None:
    out = project.db("baseline").stdout
    assert "Warning: 2 revision(s) up to r030 change data" in out
    assert "r001_step.py: line" in out and "bulk_insert" in out
    assert "r010_step.py: line" in out


def test_include_data_copies_rows(
    project: FlaskProject, history: list[str], second_database_url: str
) -> None:
    out = project.db("baseline", "--include-data", "kinds").stdout
    assert "Copied the rows of kinds." in out
    on(project, second_database_url).db("upgrade")
    assert rows(second_database_url, "SELECT id, name FROM kinds ORDER BY id") == [
        (1, "books"),
        (2, "film"),
    ]


def test_a_database_with_tables_replays(project: FlaskProject, history: list[str]) -> None:
    project.db("baseline")
    engine = sa.create_engine(project.database_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE legacy (id INTEGER PRIMARY KEY)")
    engine.dispose()
    out = project.db("upgrade").stdout
    assert "Loaded baseline" not in out and "Applied r030" in out


def test_an_edited_baseline_is_refused_in_one_line(
    project: FlaskProject, history: list[str], backend: str
) -> None:
    project.db("baseline")
    path = next((project.migrations / "baselines").glob("r030.*.sql"))
    path.write_text(path.read_text().replace("t29", "t29x", 1))
    proc = project.db("upgrade", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: baseline {path} does not match its checksum: it was changed after it was "
        "written; regenerate it with `flask db baseline --at r030` instead"
    ]
    assert "alembic_version" not in table_names(project.database_url)


def test_a_missing_dialect_falls_back_to_replay(sqlite_project: FlaskProject) -> None:
    write_history(sqlite_project.versions, 5)
    sqlite_project.db("baseline")
    folder = sqlite_project.migrations / "baselines"
    (folder / "r005.sqlite.sql").rename(folder / "r005.postgresql.sql")
    out = sqlite_project.db("upgrade").stdout
    assert "Note: no baseline for sqlite (only for postgresql): replaying the revisions" in out
    assert "Applied r005" in out


def test_prune_is_refused_while_a_database_is_behind(
    project: FlaskProject, history: list[str], second_database_url: str
) -> None:
    project.db("upgrade", "r025")
    project.db("baseline", "--at", "r020")
    # The app's database is past it: pruning is allowed.
    behind = on(project, second_database_url)
    behind.db("upgrade", "r010")
    proc = behind.db("baseline", "--prune", check=False)
    assert proc.returncode == 1
    masked = sa.make_url(second_database_url).render_as_string(hide_password=True)
    message = proc.stderr.strip()
    assert message.startswith(f"Error: cannot prune: the default database ({masked}")
    assert message.endswith(") is at r010, behind baseline r020; upgrade it first")
    assert "\n" not in message
    assert len(project.revision_files()) == 30

    out = project.db("baseline", "--prune").stdout
    assert "Pruned 19 revision file(s) older than baseline r020." in out
    assert [p.name[:4] for p in project.revision_files()] == [f"r{i:03d}" for i in range(20, 31)]
    assert "down_revision = None" in (project.versions / "r020_step.py").read_text()
    project.db("upgrade")
    assert "r030 (head)" in project.db("current").stdout
    # A new database is still made: from the baseline, then the newer revisions.
    shutil.rmtree(project.path / "__pycache__", ignore_errors=True)
    fresh = on(project, second_database_url)
    engine = sa.create_engine(second_database_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        for table in reversed(sa.inspect(connection).get_table_names()):
            connection.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()
    out = fresh.db("upgrade").stdout
    assert "Loaded baseline r020" in out and "Applied r030" in out
    assert snapshot(second_database_url) == snapshot(project.database_url)


def test_example_app_from_a_baseline_equals_replay(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    from example_app import create_app, versioning

    directory = tmp_path / "migrations"
    source = Path(__file__).parent.parent / "example_app" / "migrations"
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("__pycache__"))
    config = {"VERSIONING_DIRECTORY": str(directory), "TESTING": True}
    replayed = create_app({**config, "SQLALCHEMY_DATABASE_URI": database_url})
    with replayed.app_context():
        versioning.upgrade()
        result = versioning.baseline()
        assert result.path is not None and result.path.parent == directory / "baselines"
        replayed.extensions["sqlalchemy"].engine.dispose()
    fresh = create_app({**config, "SQLALCHEMY_DATABASE_URI": second_database_url})
    with fresh.app_context():
        upgraded = versioning.upgrade()
        assert [s.direction for s in upgraded.steps] == ["baseline"]
        fresh.extensions["sqlalchemy"].engine.dispose()
    assert snapshot(second_database_url) == snapshot(database_url)
