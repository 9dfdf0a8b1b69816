"""Where protection comes from and what happens when it cannot be known.

The declared environment decides (a served start guesses only for an app that declares
nothing); a ledger that cannot be read refuses destructive commands (failing closed) and makes
``status`` say so; a protected run marks every tenant it was given; and a ledger edited or
dropped by hand shows in ``status`` and ``validate``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from test_protection_paths import MAIN, REVISION, _versions

from flask_versioning import ProtectedEnvironmentError, Versioning


def _app(root: Path, url: str, **config: Any) -> Flask:
    app = Flask("protectapp", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_LINEAR_HISTORY=False, **config)
    Versioning(app)
    return app


def _files(root: Path) -> None:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    for rev, down, labels in MAIN:
        (versions / f"{rev}.py").write_text(REVISION.format(rev=rev, down=down, labels=labels))


def _ledger(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT * FROM versioning_history ORDER BY id"))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _served_start(root: Path, url: str, **config: Any) -> None:
    """What gunicorn does: create the app, not in debug or testing mode, auto-upgrading."""
    _files(root)
    _app(root, url, VERSIONING_AUTO_UPGRADE=True, **config)


# -- the declared environment decides ---------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "development"])
def test_a_declared_unprotected_environment_never_records_protection(
    tmp_path: Path, database_url: str, env: str
) -> None:
    _served_start(tmp_path, database_url, VERSIONING_ENV=env)
    rows = _ledger(database_url)
    assert [(r["environment"], bool(r["declared"]), bool(r["protected"])) for r in rows] == [
        (env, True, False)
    ] * 3
    shell = _app(tmp_path, database_url)
    code, output = _cli(shell, "status")
    assert code == 0 and "  protected: no\n" in output
    code, output = _cli(shell, "downgrade", "base")
    assert code == 0, output
    assert _versions(database_url) == []


def test_a_served_start_that_declares_nothing_is_a_guessed_production(
    tmp_path: Path, database_url: str
) -> None:
    _served_start(tmp_path, database_url)
    rows = _ledger(database_url)
    assert {(r["environment"], bool(r["declared"]), bool(r["protected"])) for r in rows} == {
        ("production", False, True)
    }
    shell = _app(tmp_path, database_url, VERSIONING_ENV="development")
    output = _cli(shell, "status")[1]
    assert "  environment: production (guessed: not declared, no --debug), recorded " in output
    assert (
        "  protected: yes, guessed (a served, non-debug start that declared no environment), "
        "recorded by a 'production' app on " in output
    )
    code, output = _cli(shell, "downgrade", "-3")
    assert code == 1
    [line] = output.strip().splitlines()
    assert "its history records a 'production' app (guessed: a served, non-debug start" in line
    assert _versions(database_url) == ["r3"]


def test_a_shell_without_debug_does_not_claim_production(tmp_path: Path, sqlite_url: str) -> None:
    _files(tmp_path)
    shell = _app(tmp_path, sqlite_url)
    assert _cli(shell, "upgrade")[0] == 0
    output = _cli(shell, "status")[1]
    assert "  environment: production (guessed: not declared, no --debug), recorded " in output
    assert "  protected: no\n" in output


# -- failing closed ---------------------------------------------------------------------------


def _protected(root: Path, url: str) -> Flask:
    """A database migrated by a declared production app; returns a development shell's app."""
    _files(root)
    production = _app(root, url, VERSIONING_ENV="production")
    with production.app_context():
        production.extensions["versioning"].extension.upgrade()
    return _app(root, url, VERSIONING_ENV="development")


def test_a_ledger_that_cannot_be_read_refuses_and_says_why(
    tmp_path: Path, database_url: str
) -> None:
    shell = _protected(tmp_path, database_url)
    _execute(database_url, "ALTER TABLE versioning_history RENAME COLUMN protected TO prot")
    for args in (("downgrade", "base"), ("stamp", "base"), ("reset", "--yes")):
        code, output = _cli(shell, *args)
        assert code == 1, (args, output)
        [line] = output.strip().splitlines()
        assert line.startswith("Error: refusing to "), line
        assert "is unknown: its history ledger (versioning_history) cannot be read (" in line
        assert "protected" in line.rsplit("cannot be read (", 1)[1]  # the database's reason
    assert _versions(database_url) == ["r3"]
    code, output = _cli(shell, "status")
    assert code == 0
    assert "  protected: unknown (the history ledger cannot be read" in output
    assert "protected: no" not in output


def test_a_role_without_select_on_the_ledger_is_refused(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("a role and its grants: PostgreSQL")
    shell = _protected(tmp_path, database_url)
    role = f"fv_app_{uuid.uuid4().hex[:8]}"
    _execute(
        database_url,
        f"CREATE ROLE {role} LOGIN PASSWORD 's3cret'",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON alembic_version TO {role}",
        f"GRANT INSERT ON versioning_history TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    )
    try:
        url = sa.make_url(database_url).set(username=role, password="s3cret")
        app_url = url.render_as_string(hide_password=False)
        shell = _app(tmp_path, app_url, VERSIONING_ENV="development")
        code, output = _cli(shell, "downgrade", "base")
        assert code == 1, output
        [line] = output.strip().splitlines()
        assert "is unknown: its history ledger (versioning_history) cannot be read (" in line
        assert "permission denied for table versioning_history" in line
        assert "s3cret" not in output
        assert _versions(database_url) == ["r3"]
        output = _cli(shell, "status")[1]
        assert "  protected: unknown (" in output and "s3cret" not in output
        with shell.app_context():
            with pytest.raises(ProtectedEnvironmentError, match="unknown"):
                shell.extensions["versioning"].extension.stamp("r1")
            # --allow-protected overrides; the role may write the stamp and its ledger row.
            shell.extensions["versioning"].extension.stamp("r1", allow_protected=True)
        assert _versions(database_url) == ["r1"]
    finally:
        _execute(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


# -- tenants ----------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_protected_run_marks_tenants_already_at_head(
    tmp_path: Path, database_url: str, second_database_url: str, jobs: int
) -> None:
    _files(tmp_path)
    tenants = {"acme": database_url, "globex": second_database_url}

    def app(env: str) -> Flask:
        made = _app(tmp_path, database_url, VERSIONING_ENV=env)
        made.extensions["versioning"].extension.tenants(lambda: tenants)
        return made

    development, production = app("development"), app("production")
    with development.app_context():
        # acme is brought to head by a development app: nothing protects it yet.
        [result] = development.extensions["versioning"].extension.for_tenants(["acme"]).upgrade()
        assert result.status == "changed", result
    with production.app_context():
        chosen = production.extensions["versioning"].extension.for_tenants("all", jobs=jobs)
        results = chosen.upgrade()
    assert [(r.tenant, r.status) for r in results] == [("acme", "skipped"), ("globex", "changed")]
    assert _ledger(database_url)[-1]["direction"] == "protect"
    with development.app_context():
        chosen = development.extensions["versioning"].extension.for_tenants("all", jobs=jobs)
        results = chosen.downgrade("base")
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("is protected" in (r.error or "") for r in results)
    assert _versions(database_url) == _versions(second_database_url) == ["r3"]


# -- tampering --------------------------------------------------------------------------------


def test_protect_rows_deleted_by_hand_show(tmp_path: Path, database_url: str) -> None:
    shell = _protected(tmp_path, database_url)
    with shell.app_context():
        shell.extensions["versioning"].extension.upgrade()  # nothing to do
        shell.extensions["versioning"].extension.downgrade("r2")
        shell.extensions["versioning"].extension.upgrade()
    # Someone removes every row a protected run wrote: the protection is gone...
    _execute(database_url, "DELETE FROM versioning_history WHERE protected = TRUE")
    output = _cli(shell, "status")[1]
    assert "  protected: no\n" in output
    # ...but not silently.
    assert "  history ledger (versioning_history) row(s) 1-3 are missing: deleted by hand" in output
    code, output = _cli(shell, "validate")
    assert code == 0
    assert "Warning: history ledger (versioning_history) row(s) 1-3 are missing" in output
    # Rows of a protected environment edited so that they no longer protect.
    _execute(database_url, "UPDATE versioning_history SET environment = 'production'")
    assert (
        "row(s) 4, 5 were written by a protected environment but do not protect"
        in (_cli(shell, "status")[1])
    )


def test_a_dropped_ledger_shows(tmp_path: Path, database_url: str) -> None:
    shell = _protected(tmp_path, database_url)
    _execute(database_url, "DROP TABLE versioning_history")
    code, output = _cli(shell, "status")
    assert code == 0
    assert (
        "  the history ledger (versioning_history) is missing although revisions are applied "
        "(r3): it was dropped, or the database was migrated only by other tools" in output
    )
    output = _cli(shell, "validate")[1]
    assert "Warning: the history ledger (versioning_history) is missing" in output


def test_the_apply_button_leaves_a_database_of_unknown_protection_alone(
    tmp_path: Path, sqlite_url: str
) -> None:
    from test_web_pages import POSTS, USERS, make_app, text

    production = tmp_path / "production"
    production.mkdir()
    prod_app, prod_versioning = make_app(
        production, sqlite_url, USERS, debug=False, VERSIONING_ENV="production"
    )
    with prod_app.app_context():
        prod_versioning.upgrade()
    _execute(sqlite_url, "ALTER TABLE versioning_history RENAME COLUMN protected TO prot")
    app, _ = make_app(tmp_path, sqlite_url, USERS, POSTS)
    client = app.test_client()
    assert text(client.get("/hello")) == "hello from the app"  # no page offering to apply
    gate = app.before_request_funcs[None][0].__self__  # type: ignore[attr-defined]
    response = client.post("/_versioning/apply", data={"token": gate.token.issue()})
    assert response.status_code == 200 and "Applied" not in text(response)
    engine = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    try:
        assert "posts" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
