"""Baselines meet ``-x`` and data revisions: an empty database made from a baseline says, in one
line, which revisions it did not replay; ``--no-baseline`` (``baseline=False``) replays them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from conftest import table_names
from flask import Flask

from flask_versioning import Versioning

HEADER = '''"""{message}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None

'''
# docs/cli.md's -x example: rows only with -x seed=true.
R1 = (
    HEADER.format(message="create colors", rev="r1", down=None)
    + """
def upgrade():
    from alembic import context

    colors = op.create_table("colors", sa.Column("name", sa.String(20), primary_key=True))
    if context.get_x_argument(as_dictionary=True).get("seed") == "true":
        op.bulk_insert(colors, [{"name": "red"}, {"name": "green"}])


def downgrade():
    op.drop_table("colors")
"""
)
R2 = (
    HEADER.format(message="create shapes", rev="r2", down="r1")
    + """
def upgrade():
    op.create_table("shapes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("shapes")
"""
)
R3 = (
    HEADER.format(message="create sizes", rev="r3", down="r2")
    + """
def upgrade():
    op.create_table("sizes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("sizes")
"""
)
# The same history without any data change or -x.
PLAIN_R1 = (
    HEADER.format(message="create colors", rev="r1", down=None)
    + """
def upgrade():
    op.create_table("colors", sa.Column("name", sa.String(20), primary_key=True))


def downgrade():
    op.drop_table("colors")
"""
)


def make_app(root: Path, url: str) -> tuple[Flask, Versioning]:
    app = Flask("baselinex", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development")
    return app, Versioning(app, metadata=sa.MetaData())


def write_history(root: Path, url: str, first: str = R1) -> None:
    """r1, r2, r3 on disk and a baseline at r2 for ``url``'s backend (the database stays empty)."""
    app, versioning = make_app(root, url)
    with app.app_context():
        versions = versioning.init() / "versions"
        for name, source in (("r1_colors.py", first), ("r2_shapes.py", R2), ("r3_sizes.py", R3)):
            (versions / name).write_text(source)
        versioning.init(linear=True)
        versioning.baseline(at="r2")
    assert table_names(url) == set()


def color_rows(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT COUNT(*) FROM colors")).scalar_one())
    finally:
        engine.dispose()


def test_the_upgrade_names_what_it_did_not_replay(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    write_history(tmp_path, database_url)
    app, versioning = make_app(tmp_path, database_url)
    with app.app_context():
        result = versioning.upgrade(x_args=["seed=true"])
    assert [(s.direction, s.revision) for s in result.steps] == [
        ("baseline", "r2"),
        ("upgrade", "r3"),
    ]
    assert result.notes == (
        "the default database was made from baseline r2 without replaying the 2 revisions it "
        "stands for: r1 changes data; r1 reads -x arguments and never saw -x seed; upgrade an "
        "empty database with --no-baseline (baseline=False) to replay them",
    )
    assert color_rows(database_url) == 0

    app, versioning = make_app(tmp_path, second_database_url)
    with app.app_context():
        replayed = versioning.upgrade(x_args=["seed=true"], baseline=False)
    assert [(s.direction, s.revision) for s in replayed.steps] == [
        ("upgrade", "r1"),
        ("upgrade", "r2"),
        ("upgrade", "r3"),
    ]
    assert replayed.notes == ()
    assert color_rows(second_database_url) == 2


def test_data_revisions_are_named_without_x(tmp_path: Path, sqlite_url: str) -> None:
    write_history(
        tmp_path,
        sqlite_url,
        first=R1.replace(
            '    if context.get_x_argument(as_dictionary=True).get("seed") == "true":\n    ', ""
        ),
    )
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        (note,) = versioning.upgrade().notes
    assert "r1 changes data;" in note and "-x" not in note.split("; upgrade")[0]


def test_nothing_is_said_when_nothing_was_skipped(tmp_path: Path, sqlite_url: str) -> None:
    write_history(tmp_path, sqlite_url, first=PLAIN_R1)
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        result = versioning.upgrade()
    assert result.steps[0].direction == "baseline" and result.notes == ()


def test_x_arguments_that_no_replaced_revision_reads(tmp_path: Path, sqlite_url: str) -> None:
    write_history(tmp_path, sqlite_url, first=PLAIN_R1)
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        (note,) = versioning.upgrade(x_args=["token=s3cret"]).notes
    assert "none of them reads -x arguments, so -x token reached none of them" in note
    assert "s3cret" not in note


def test_the_command_line_says_it_in_one_line_and_no_baseline_replays(
    tmp_path: Path, sqlite_url: str
) -> None:
    write_history(tmp_path, sqlite_url)
    app, _ = make_app(tmp_path, sqlite_url)
    result = app.test_cli_runner().invoke(args=["db", "-x", "seed=true", "upgrade"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("Note: ")]
    assert notes == [
        "Note: the default database was made from baseline r2 without replaying the 2 revisions "
        "it stands for: r1 changes data; r1 reads -x arguments and never saw -x seed; upgrade "
        "an empty database with --no-baseline (baseline=False) to replay them"
    ]
    assert color_rows(sqlite_url) == 0

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    app, _ = make_app(tmp_path, fresh)
    result = app.test_cli_runner().invoke(
        args=["db", "upgrade", "--no-baseline", "-x", "seed=true"]
    )
    assert result.exit_code == 0, result.output
    assert "Loaded baseline" not in result.output and "Note:" not in result.output
    assert "Applied r1 (create colors)" in result.output
    assert color_rows(fresh) == 2


def test_prepare_says_it_too_and_takes_no_baseline(tmp_path: Path, sqlite_url: str) -> None:
    write_history(tmp_path, sqlite_url)
    app, _ = make_app(tmp_path, sqlite_url)
    result = app.test_cli_runner().invoke(args=["db", "prepare"])
    assert result.exit_code == 0, result.output
    assert "Note: the default database was made from baseline r2" in result.output
    assert "r1 changes data" in result.output

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    app, versioning = make_app(tmp_path, fresh)
    result = app.test_cli_runner().invoke(args=["db", "prepare", "--no-baseline"])
    assert result.exit_code == 0, result.output
    assert "Loaded baseline" not in result.output and "Note:" not in result.output
    with app.app_context():
        assert versioning.current() == ["r3"]
