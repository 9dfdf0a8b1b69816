"""One describer of drift: ``check --all-tenants`` and the status page say what ``check`` says."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from flask_versioning import Tenant, Versioning

R1 = '''"""items"""
from alembic import op
import sqlalchemy as sa

revision = "r1"
down_revision = None


def upgrade():
    op.create_table("items", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("items")
'''


def test_tenants_check_says_what_check_says(tmp_path: Path) -> None:
    metadata = sa.MetaData()
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )
    sa.Table("owners", metadata, sa.Column("id", sa.Integer, primary_key=True))
    app = Flask("driftapp", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    versioning = Versioning(app, metadata=metadata)
    versioning.tenants(lambda: [Tenant("a", url=f"sqlite:///{tmp_path / 'a.db'}")])
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1_items.py").write_text(R1)

    with app.app_context():
        versioning.upgrade()
        versioning.for_tenants("all").upgrade()
        expected = [d.description for d in versioning.check().differences]
        [tenant] = versioning.for_tenants("all").check()

    assert expected == [
        "add table owners (id INTEGER NOT NULL)",
        "add column items.name VARCHAR(50) NOT NULL",
    ]
    assert (tenant.tenant, list(tenant.value)) == ("a", expected)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "check", "--all-tenants"])
    assert result.exit_code == 1
    shown = [line for line in result.output.splitlines() if line.startswith("[a]   ")]
    assert shown == [f"[a]   {line}" for line in expected]
