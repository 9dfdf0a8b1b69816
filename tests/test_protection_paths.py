"""Protection holds on every path, judged by the effect of the resolved target.

A database migrated by a declared production app is attacked from a development app, through
the API, the in-process CLI, plain ``alembic.command`` on ``Versioning.alembic_config()`` and
tenants, with every spelling that ends a branch at base; each refusal leaves the database as
it was (version table, tables, rows, ledger). Ordinary rollbacks stay allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask

from flask_versioning import ProtectedEnvironmentError, Versioning

REVISION = '''
"""{rev}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = None


def upgrade():
    op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO t_{rev} (id) VALUES (1)")


def downgrade():
    op.drop_table("t_{rev}")
'''

MAIN = [("r1", None, None), ("r2", "r1", None), ("r3", "r2", None)]
EXTRA = [("e1", None, ("extra",)), ("e2", "e1", None)]


@dataclasses.dataclass
class Site:
    """One database, a production app that migrated it and a development app aiming at it."""

    url: str
    root: Path
    production: Flask
    development: Flask

    def versioning(self, app: Flask) -> Versioning:
        return app.extensions["versioning"].extension  # type: ignore[no-any-return]

    def snapshot(self) -> dict[str, Any]:
        """Everything a refusal must leave as it was."""
        engine = sa.create_engine(self.url, poolclass=sa.NullPool)
        try:
            with engine.connect() as connection:
                tables = sorted(sa.inspect(connection).get_table_names())
                found: dict[str, Any] = {"tables": tables}
                for table in tables:
                    rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()
                    found[table] = sorted(tuple(str(v) for v in row) for row in rows)
                return found
        finally:
            engine.dispose()


def _app(root: Path, url: str, env: str, **config: Any) -> Flask:
    app = Flask(f"app_{env}", root_path=str(root))
    app.config.update(
        VERSIONING_DATABASE_URL=url,
        VERSIONING_ENV=env,
        VERSIONING_LINEAR_HISTORY=False,
        **config,
    )
    versioning = Versioning(app)
    versioning.tenants(lambda: {"acme": url})
    return app


def _write(root: Path, revisions: list[tuple[str, str | None, tuple[str, ...] | None]]) -> None:
    versions = root / "migrations" / "versions"
    for rev, down, labels in revisions:
        (versions / f"{rev}.py").write_text(REVISION.format(rev=rev, down=down, labels=labels))


def _site(root: Path, url: str, branched: bool) -> Site:
    production = _app(root, url, "production")
    development = _app(root, url, "development")
    with production.app_context():
        production.extensions["versioning"].extension.init()
    _write(root, MAIN + (EXTRA if branched else []))
    with production.app_context():
        production.extensions["versioning"].extension.upgrade("heads")
    return Site(url, root, production, development)


@pytest.fixture
def linear(tmp_path: Path, database_url: str) -> Site:
    """r1 -> r2 -> r3, applied by a production app."""
    return _site(tmp_path, database_url, branched=False)


@pytest.fixture
def branched(tmp_path: Path, database_url: str) -> Site:
    """r1 -> r2 -> r3 and an independent branch ``extra``: e1 -> e2, both applied."""
    return _site(tmp_path, database_url, branched=True)


# -- the paths --------------------------------------------------------------------------------

Attempt = Callable[[Site, str, list[str]], None]


def _api(site: Site, verb: str, args: list[str]) -> None:
    with site.development.app_context():
        v = site.versioning(site.development)
        with pytest.raises(ProtectedEnvironmentError) as caught:
            getattr(v, verb)(args[0])
        _one_line(str(caught.value))


def _cli(site: Site, verb: str, args: list[str]) -> None:
    runner = site.development.test_cli_runner()
    result = runner.invoke(args=["db", verb, *args])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: refusing to "), line
    _one_line(line)


def _alembic(site: Site, verb: str, args: list[str]) -> None:
    with site.development.app_context():
        config = site.versioning(site.development).alembic_config()
        with pytest.raises(ProtectedEnvironmentError) as caught:
            getattr(command, verb)(config, args[0])
        _one_line(str(caught.value))


def _tenants(site: Site, verb: str, args: list[str]) -> None:
    with site.development.app_context():
        v = site.versioning(site.development)
        [result] = getattr(v.for_tenants(["acme"]), verb)(args[0])
        assert result.value is None and result.error is not None, result
        _one_line(result.error)


def _one_line(message: str) -> None:
    assert "\n" not in message.strip(), message
    assert "refusing to " in message, message
    assert "nothing was changed" in message and "--allow-protected" in message, message


PATHS: dict[str, Attempt] = {"api": _api, "cli": _cli, "alembic": _alembic, "tenants": _tenants}


def _refused(site: Site, path: str, verb: str, *args: str) -> None:
    before = site.snapshot()
    PATHS[path](site, verb, list(args))
    assert site.snapshot() == before


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(PATHS))
def test_every_spelling_of_a_downgrade_to_base_is_refused(linear: Site, path: str) -> None:
    for target in ("base", "-3", "heads-3", "r3-3", "r2-2", "r1-1", "head-3"):
        _refused(linear, path, "downgrade", target)


@pytest.mark.parametrize("path", list(PATHS))
def test_minus_one_from_the_first_revision_is_refused(linear: Site, path: str) -> None:
    with linear.development.app_context():
        # An ordinary rollback that leaves a revision applied is allowed.
        assert linear.versioning(linear.development).downgrade("r1").after == ("r1",)
    _refused(linear, path, "downgrade", "-1")


@pytest.mark.parametrize("path", list(PATHS))
def test_a_branch_ending_at_base_is_refused(branched: Site, path: str) -> None:
    for target in ("extra@base", "base", "e2-2", "e1-1"):
        _refused(branched, path, "downgrade", target)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_stamp_over_applied_history_is_refused(linear: Site, path: str) -> None:
    for target in ("base", "r1", "r2"):
        _refused(linear, path, "stamp", target)


def test_a_stamp_with_purge_is_refused(linear: Site) -> None:
    before = linear.snapshot()
    for target in ("r1", "base"):
        result = linear.development.test_cli_runner().invoke(
            args=["db", "stamp", "--purge", target]
        )
        assert result.exit_code == 1, result.output
        assert "refusing to stamp --purge" in result.output, result.output
        assert linear.snapshot() == before
    with linear.development.app_context():
        # Stamping what the version table already holds changes nothing: allowed.
        assert linear.versioning(linear.development).stamp("r3", purge=True).after == ("r3",)


def test_ordinary_rollbacks_stay_allowed(branched: Site, database_url: str) -> None:
    with branched.development.app_context():
        v = branched.versioning(branched.development)
        assert set(v.downgrade("r3-1").after) == {"e2", "r2"}
        assert set(v.downgrade("extra@-1").after) == {"e1", "r2"}
        assert set(v.downgrade("r1").after) == {"e1", "r1"}
        # The same on the other paths, as long as a revision stays applied on every branch.
        v.upgrade("heads")
        command.downgrade(v.alembic_config(), "r3-2")
    assert sorted(_versions(database_url)) == ["e2", "r1"]


def test_allow_protected_overrides_on_every_path(linear: Site, database_url: str) -> None:
    runner = linear.development.test_cli_runner()
    with linear.development.app_context():
        v = linear.versioning(linear.development)
        v.downgrade("base", allow_protected=True)
        assert _versions(database_url) == []
        v.upgrade("heads")
        config = v.alembic_config()
        config.attributes["versioning_allow_protected"] = True
        command.downgrade(config, "-3")
        assert _versions(database_url) == []
        v.upgrade("heads")
        [result] = v.for_tenants(["acme"]).stamp("base", allow_protected=True)
        assert result.error is None and _versions(database_url) == []
        v.stamp("heads")  # an empty version table: adopting a database is always allowed
    result = runner.invoke(args=["db", "downgrade", "heads-3", "--allow-protected"])
    assert result.exit_code == 0, result.output
    assert _versions(database_url) == []


def test_offline_sql_is_harmless_and_allowed(linear: Site) -> None:
    before = linear.snapshot()
    result = linear.development.test_cli_runner().invoke(
        args=["db", "downgrade", "--sql", "r3:base"]
    )
    assert result.exit_code == 0, result.output
    assert "DROP TABLE t_r1" in result.output
    assert linear.snapshot() == before


def _versions(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return sorted(
                r[0] for r in connection.execute(sa.text("SELECT * FROM alembic_version"))
            )
    finally:
        engine.dispose()
