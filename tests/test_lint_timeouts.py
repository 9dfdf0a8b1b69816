"""``require-timeout-settings`` agrees with the runtime: ``env.py`` sets a lock timeout on every
migration, so the rule flags DDL only where none is in force, which is where the server shows
``lock_timeout`` as ``0`` while the step runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_lint_engine import line_of, lint, revision
from test_online_locks import _base, _make_app, _rows

from flask_versioning._lint import LintConfig

ADD = 'op.add_column("account", sa.Column("bio", sa.Text()))'
RUNTIME = LintConfig(lock_timeout=True)
IMPORT = "from flask_versioning.online import timeouts\n"


def _decorated(decorator: str, body: str = ADD, imports: str = "") -> str:
    text = revision(body)
    text = text.replace("def upgrade():", f"{decorator}\ndef upgrade():", 1)
    return text.replace(
        "import sqlalchemy as sa\n", f"import sqlalchemy as sa\n{imports or IMPORT}", 1
    )


def _timeouts(tmp_path: Path, text: str, config: LintConfig) -> list[tuple[int, str]]:
    return [
        (f.line, f.message)
        for f in lint(tmp_path, text, "postgresql", config=config)
        if f.rule == "require-timeout-settings"
    ]


def test_ddl_under_the_runtime_lock_timeout_is_not_flagged(tmp_path: Path) -> None:
    text = revision(ADD)
    assert _timeouts(tmp_path, text, RUNTIME) == []
    # The linter alone, not knowing how the revision runs, still asks for one.
    [(line, message)] = _timeouts(tmp_path, text, LintConfig())
    assert line == line_of(text, "op.add_column")
    assert message.startswith("ALTER TABLE on account runs without a lock_timeout (none is set)")


@pytest.mark.parametrize(
    ("decorator", "imports"),
    [
        ("@timeouts(lock=None)", IMPORT),
        ("@timeouts(lock=0, retries=0)", IMPORT),
        ("@fv.timeouts(statement=None, lock=None)", "from flask_versioning import online as fv\n"),
    ],
)
def test_a_revision_lifting_the_lock_timeout_is_flagged(
    tmp_path: Path, decorator: str, imports: str
) -> None:
    text = _decorated(decorator, imports=imports)
    [(line, message)] = _timeouts(tmp_path, text, RUNTIME)
    assert line == line_of(text, "op.add_column")
    assert "(@timeouts(lock=None) lifts the one env.py sets)" in message


@pytest.mark.parametrize(
    ("decorator", "body"),
    [
        ("@timeouts(statement=None)", ADD),
        ("@timeouts(lock=2, retries=50)", ADD),
        ("@timeouts(lock=None)", f"op.execute(\"SET LOCAL lock_timeout = '5s'\")\n{ADD}"),
    ],
)
def test_a_revision_keeping_a_lock_timeout_is_not_flagged(
    tmp_path: Path, decorator: str, body: str
) -> None:
    assert _timeouts(tmp_path, _decorated(decorator, body), RUNTIME) == []


# -- the linter's verdict and the server's lock_timeout, side by side ------------------------------

SEEN = '''"""see the lock timeout

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

from flask_versioning.online import timeouts

revision = "{rev}"
down_revision = "{down}"


{decorator}
def upgrade():
    op.execute("CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout")
    op.add_column("accounts", sa.Column("note", sa.String(20)))


def downgrade():
    op.drop_column("accounts", "note")
    op.drop_table("seen")
'''


@pytest.mark.parametrize(
    ("decorator", "config"),
    [
        ("", {}),
        ("@timeouts(statement=None)", {}),
        ("@timeouts(lock=None)", {}),
        ("", {"VERSIONING_DDL_LOCK_TIMEOUT": None}),
    ],
    ids=["defaults", "statement-lifted", "lock-lifted", "setting-off"],
)
def test_flask_db_lint_flags_exactly_where_the_server_has_no_lock_timeout(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
    decorator: str,
    config: dict[str, Any],
) -> None:
    if backend != "postgresql":
        pytest.skip("require-timeout-settings is a PostgreSQL rule")
    database_url = request.getfixturevalue("database_url")  # made only once not skipped
    first = _base(tmp_path, database_url)
    second = "c7" + first  # longer than any generated id: never equal to it
    text = SEEN.format(rev=second, down=first, decorator=decorator)
    (tmp_path / "migrations" / "versions" / f"{second}_seen.py").write_text(text)
    app, versioning, db = _make_app(tmp_path, database_url, **config)

    linted = app.test_cli_runner().invoke(args=["db", "lint", second])
    with app.app_context():
        versioning.upgrade()
        db.engine.dispose()

    [(server,)] = _rows(database_url, "SELECT lock_timeout FROM seen")
    flagged = "require-timeout-settings" in linted.output
    assert flagged == (server == "0"), (server, linted.output)
    assert flagged == ("lock=None" in decorator or bool(config)), linted.output
