"""Lint and plan render revisions with the ``-x`` arguments given (none by default), so the
pattern the docs recommend (``context.get_x_argument(as_dictionary=True).get("seed")``) lints
clean; and ``plan`` exits 1 whenever it could not render a revision."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import table_names
from flask import Flask

from flask_versioning import Tenant, Versioning

# The revision of docs/cli.md's and docs/seeds.md's -x example, as written there.
COLORS = '''"""create colors"""
import sqlalchemy as sa
from alembic import op

revision = "c0101"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from alembic import context

    colors = op.create_table("colors", sa.Column("name", sa.String(20), primary_key=True))
    if context.get_x_argument(as_dictionary=True).get("seed") == "true":
        op.bulk_insert(colors, [{"name": "red"}, {"name": "green"}])


def downgrade() -> None:
    op.drop_table("colors")
'''

# Reads rows only when online, as Alembic's docs suggest for data migrations.
ONLINE_ONLY = '''"""count colors"""
import sqlalchemy as sa
from alembic import context, op

revision = "c0202"
down_revision = "c0101"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("colors", sa.Column("hex", sa.String(7), nullable=True))
    if not context.is_offline_mode():
        op.get_bind().execute(sa.text("SELECT COUNT(*) FROM colors")).scalar()


def downgrade() -> None:
    op.drop_column("colors", "hex")
'''

# Needs a live connection whatever the mode: cannot be rendered offline.
READS_ROWS = '''"""read rows"""
import sqlalchemy as sa
from alembic import op

revision = "c0303"
down_revision = "c0202"
branch_labels = None
depends_on = None


def upgrade() -> None:
    count = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM colors")).scalar()
    op.execute(f"UPDATE colors SET hex = '#{count:06d}'")


def downgrade() -> None:
    pass
'''


# Cannot render without its -x argument.
NEEDS_X = COLORS.replace(
    "    colors = op.create_table(",
    "    if not context.get_x_argument(as_dictionary=True).get('tenant'):\n"
    "        raise RuntimeError('run me with -x tenant=...')\n"
    "    colors = op.create_table(",
)


def make_app(root: Path, url: str, *revisions: tuple[str, str]) -> tuple[Flask, Versioning]:
    app = Flask("xargs", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development")
    versioning = Versioning(app, metadata=sa.MetaData())
    with app.app_context():
        versions = versioning.init() / "versions"
        for name, source in revisions:
            (versions / name).write_text(source)
        versioning.init(linear=True)
    return app, versioning


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str) -> Flask:
    return make_app(
        tmp_path, sqlite_url, ("c0101_colors.py", COLORS), ("c0202_hex.py", ONLINE_ONLY)
    )[0]


def invoke(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_documented_pattern_lints_clean(app: Flask) -> None:
    code, out = invoke(app, "lint")
    assert "revision-not-renderable" not in out
    assert "proxy object" not in out
    assert code == 0, out


@pytest.mark.parametrize("where", ["group", "command"])
def test_x_arguments_reach_the_revisions_in_lint(
    tmp_path: Path, sqlite_url: str, where: str
) -> None:
    app, _ = make_app(tmp_path, sqlite_url, ("c0101_colors.py", NEEDS_X))
    code, out = invoke(app, "lint")
    assert code == 1
    assert "revision-not-renderable" in out and "run me with -x tenant=..." in out
    args = ["-x", "tenant=acme", "lint"] if where == "group" else ["lint", "-x", "tenant=acme"]
    code, out = invoke(app, *args)
    assert code == 0, out
    assert "revision-not-renderable" not in out


def test_plan_renders_with_and_without_x(tmp_path: Path, database_url: str) -> None:
    app, versioning = make_app(
        tmp_path, database_url, ("c0101_colors.py", COLORS), ("c0202_hex.py", ONLINE_ONLY)
    )
    code, out = invoke(app, "plan")
    assert code == 0, out
    assert "CREATE TABLE colors" in out
    assert "INSERT INTO colors" not in out
    assert "SQL not rendered" not in out
    for args in (["-x", "seed=true", "plan"], ["plan", "-x", "seed=true"]):
        code, out = invoke(app, *args)
        assert code == 0, out
        assert "INSERT INTO colors (name) VALUES ('red')" in out, out
    with app.app_context():
        plan = versioning.plan(x_args=["seed=true"])
        assert [s.revision for s in plan.pending] == ["c0101", "c0202"]
        assert "INSERT INTO colors" in plan.pending[0].sql
        assert plan.unrendered == ()
        assert "INSERT INTO colors" not in versioning.plan().pending[0].sql
        findings = versioning.lint(x_args=["seed=true"])
        assert not [f for f in findings if f.rule == "revision-not-renderable"]
    # Planning changed nothing.
    assert "colors" not in table_names(database_url)


def test_plan_exits_1_when_a_revision_cannot_be_rendered(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(
        tmp_path,
        sqlite_url,
        ("c0101_colors.py", COLORS),
        ("c0202_hex.py", ONLINE_ONLY),
        ("c0303_rows.py", READS_ROWS),
    )
    code, out = invoke(app, "plan")
    assert code == 1, out
    assert "-- SQL not rendered past this point" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("Error: the plan is incomplete: the SQL of 1 revision (c0303) could")
    with app.app_context():
        assert [s.revision for s in versioning.plan().unrendered] == ["c0303"]
    code, out = invoke(app, "lint")
    assert code == 1 and "revision-not-renderable" in out


def test_tenant_plans_get_the_x_arguments(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url, ("c0101_colors.py", COLORS))
    tenant = Tenant("t1", url=f"sqlite:///{tmp_path / 't1.db'}")
    versioning.tenants(lambda: [tenant])
    with app.app_context():
        (result,) = versioning.for_tenants("all").plan(x_args=["seed=true"])
    assert result.value is not None
    assert "INSERT INTO colors" in result.value.pending[0].sql
