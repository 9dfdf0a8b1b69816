"""The migration linter's engine: every rule on revision files written the way users write them.

For each rule there is a revision that triggers it, one that does the same job the safe way
(clean for that rule), and the triggering one with an inline ignore; dialect-specific rules run
for each of their dialects. The findings asserted are the ones ``flask db lint`` will print:
rule, severity, line, message and recipe. The safe revisions are also applied to a real
database of each backend, so the recipes the linter recommends are known to run.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from flask_versioning import ConfigurationError, VersioningError
from flask_versioning._lint import (
    RULES,
    Finding,
    LintConfig,
    exit_code,
    format_findings,
    format_text,
    lint_revision,
    render_revision,
    summary,
)
from flask_versioning._lint.checks import CHECKS
from flask_versioning._lint.engine import squawk_executable
from flask_versioning._lint.findings import format_github, format_json
from flask_versioning._lint.render import load_revision
from flask_versioning._lint.rules import META_RULES

ALL = ("postgresql", "mysql", "mariadb", "sqlite")
HEADER = '''"""{message}

Revision ID: 1a2b3c4d5e6f
Revises:
Create Date: 2026-01-01 00:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "1a2b3c4d5e6f"
down_revision = None
branch_labels = None
depends_on = None
'''
DOWNGRADE = 'def downgrade():\n    op.drop_column("account", "nickname")'
REASON = "reviewed: account has 40 rows"


def revision(upgrade: str, downgrade: str = DOWNGRADE, message: str = "change") -> str:
    body = textwrap.indent(textwrap.dedent(upgrade).strip("\n"), "    ")
    return f"{HEADER.format(message=message)}\n\ndef upgrade():\n{body}\n\n\n{downgrade}\n"


def write(tmp_path: Path, text: str, name: str = "1a2b3c4d5e6f_change.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def lint(tmp_path: Path, text: str, dialect: str, **kw: object) -> list[Finding]:
    return lint_revision(write(tmp_path, text), dialect=dialect, **kw)  # type: ignore[arg-type]


def rules_of(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of ``text`` where ``fragment`` first appears."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@dataclass(frozen=True)
class Case:
    """``trigger`` marks the flagged line with ``#!``; ``message`` is part of the finding."""

    rule: str
    trigger: str
    safe: str
    message: str
    trigger_downgrade: str = DOWNGRADE
    safe_downgrade: str = DOWNGRADE

    def text(self, mode: str) -> str:
        if mode == "safe":
            return revision(self.safe, self.safe_downgrade)
        ignore = f"# versioning: ignore[{self.rule}] {REASON}" if mode == "ignored" else ""
        text = revision(self.trigger, self.trigger_downgrade)
        return text.replace("  #!", f"  {ignore}" if ignore else "")

    @property
    def line(self) -> int:
        text = revision(self.trigger, self.trigger_downgrade)
        return next(i for i, line in enumerate(text.splitlines(), 1) if "#!" in line)

    @property
    def dialects(self) -> tuple[str, ...]:
        dialects = RULES[self.rule].dialects
        return tuple(d for d in ALL if d in dialects) if dialects else ALL


AUTOCOMMIT = "with op.get_context().autocommit_block():"
CASES = [
    Case(
        "require-concurrent-index-creation",
        'op.create_index("ix_account_email", "account", ["email"])  #!',
        f"""
        {AUTOCOMMIT}
            op.create_index(
                "ix_account_email", "account", ["email"], postgresql_concurrently=True
            )
        """,
        "CREATE INDEX ix_account_email without CONCURRENTLY blocks writes to account",
    ),
    Case(
        "require-concurrent-index-deletion",
        'op.drop_index("ix_account_name", table_name="account")  #!',
        f"""
        {AUTOCOMMIT}
            op.drop_index("ix_account_name", table_name="account", postgresql_concurrently=True)
        """,
        "DROP INDEX ix_account_name without CONCURRENTLY",
    ),
    Case(
        "ban-concurrent-index-creation-in-transaction",
        """
        op.create_index(  #!
            "ix_account_email", "account", ["email"], postgresql_concurrently=True
        )
        """,
        f"""
        {AUTOCOMMIT}
            op.create_index(
                "ix_account_email", "account", ["email"], postgresql_concurrently=True
            )
        """,
        "CREATE INDEX CONCURRENTLY ix_account_email runs inside the revision's transaction",
    ),
    Case(
        "adding-foreign-key-constraint",
        'op.create_foreign_key("fk_post_account", "post", "account", ["account_id"], ["id"])  #!',
        """
        op.create_foreign_key(
            "fk_post_account", "post", "account", ["account_id"], ["id"],
            postgresql_not_valid=True,
        )
        """,
        "adding foreign key fk_post_account on post without NOT VALID",
    ),
    Case(
        "constraint-missing-not-valid",
        'op.create_check_constraint("ck_post_score", "post", "score >= 0")  #!',
        """
        op.create_check_constraint(
            "ck_post_score", "post", "score >= 0", postgresql_not_valid=True
        )
        """,
        "adding check ck_post_score on post without NOT VALID",
    ),
    Case(
        "disallowed-unique-constraint",
        'op.create_unique_constraint("uq_account_email", "account", ["email"])  #!',
        f"""
        {AUTOCOMMIT}
            op.create_index(
                "uq_account_email", "account", ["email"], unique=True,
                postgresql_concurrently=True,
            )
        op.execute(
            "ALTER TABLE account ADD CONSTRAINT uq_account_email "
            "UNIQUE USING INDEX uq_account_email"
        )
        """,
        "adding unique constraint uq_account_email builds its index on account",
    ),
    Case(
        "changing-column-type",
        'op.alter_column("account", "age", existing_type=sa.Integer(), type_=sa.BigInteger())  #!',
        'op.add_column("account", sa.Column("age_big", sa.BigInteger()))',
        "changing account.age to BIGINT rewrites account",
    ),
    Case(
        "adding-required-field",
        'op.add_column("account", sa.Column("tier", sa.String(20), nullable=False))  #!',
        """
        op.add_column(
            "account",
            sa.Column("tier", sa.String(20), nullable=False, server_default="free"),
        )
        """,
        "adding NOT NULL column account.tier without a default",
    ),
    Case(
        "adding-not-nullable-field",
        'op.alter_column("account", "plan", existing_type=sa.String(20), nullable=False)  #!',
        """
        op.execute("ALTER TABLE account VALIDATE CONSTRAINT ck_account_plan_nn")
        op.alter_column("account", "plan", existing_type=sa.String(20), nullable=False)
        op.drop_constraint("ck_account_plan_nn", "account", type_="check")
        """,
        "SET NOT NULL on account.plan scans the table",
    ),
    Case(
        "require-timeout-settings",
        'op.add_column("account", sa.Column("bio", sa.Text()))  #!',
        """
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.add_column("account", sa.Column("bio", sa.Text()))
        """,
        "ALTER TABLE on account runs without a lock_timeout",
    ),
    Case(
        "ban-copying-alter",
        'op.alter_column("account", "age", existing_type=sa.Integer(), type_=sa.BigInteger())  #!',
        'op.add_column("account", sa.Column("age_big", sa.BigInteger()))',
        "changing the type of account.age makes",
    ),
    Case(
        "ban-drop-table",
        'op.drop_table("legacy")  #!',
        """
        op.create_table("scratch", sa.Column("id", sa.Integer(), primary_key=True))
        op.execute("INSERT INTO scratch (id) VALUES (1)")
        op.drop_table("scratch")
        """,
        "dropping table legacy breaks deployed code",
    ),
    Case(
        "ban-drop-column",
        'op.drop_column("account", "legacy_flag")  #!',
        'op.add_column("account", sa.Column("legacy_flag2", sa.Boolean()))',
        "dropping column account.legacy_flag",
        safe_downgrade='def downgrade():\n    op.drop_column("account", "legacy_flag2")',
    ),
    Case(
        "renaming-column",
        """
        op.alter_column(  #!
            "account", "name", new_column_name="full_name", existing_type=sa.String(50)
        )
        """,
        'op.add_column("account", sa.Column("full_name", sa.String(50)))',
        "renaming account.name to full_name",
    ),
    Case(
        "renaming-table",
        'op.rename_table("legacy", "archive")  #!',
        'op.create_table("archive", sa.Column("id", sa.Integer(), primary_key=True))',
        "renaming table legacy to archive",
    ),
    Case(
        "unbatched-data-change",
        """op.execute("UPDATE account SET plan = 'free' WHERE plan IS NULL")  #!""",
        """
        for start in range(0, 30_000, 10_000):
            op.execute(
                f"UPDATE account SET plan = 'free' WHERE plan IS NULL "
                f"AND id >= {start} AND id < {start + 10_000}"
            )
        """,
        "UPDATE in one statement changes every matching row",
    ),
    Case(
        "irreversible-downgrade",
        'op.add_column("account", sa.Column("nickname", sa.String(50)))',
        'op.add_column("account", sa.Column("nickname", sa.String(50)))',
        "downgrade() raises (line 21): the revision cannot be rolled back",
        trigger_downgrade='def downgrade():  #!\n    raise NotImplementedError("one way")',
    ),
]
PARAMS = [pytest.param(c, d, id=f"{c.rule}-{d}") for c in CASES for d in c.dialects]


def test_every_rule_has_a_check_and_a_case_here() -> None:
    assert set(CHECKS) == set(RULES) - META_RULES
    assert {c.rule for c in CASES} == set(RULES) - META_RULES
    for rule in RULES.values():
        assert rule.summary and rule.recipe and rule.severity in ("error", "warning")
        assert rule.id == rule.id.lower() and " " not in rule.id


@pytest.mark.parametrize(("case", "dialect"), PARAMS)
def test_the_rule_fires_on_the_unsafe_revision(tmp_path: Path, case: Case, dialect: str) -> None:
    findings = lint(tmp_path, case.text("trigger"), dialect)
    found = [f for f in findings if f.rule == case.rule]
    assert [(f.line, f.severity) for f in found] == [(case.line, RULES[case.rule].severity)]
    assert case.message in found[0].message
    assert found[0].recipe == RULES[case.rule].recipe
    assert "revision-not-renderable" not in rules_of(findings)


@pytest.mark.parametrize(("case", "dialect"), PARAMS)
def test_the_safe_way_is_clean(tmp_path: Path, case: Case, dialect: str) -> None:
    findings = lint(tmp_path, case.text("safe"), dialect)
    assert case.rule not in rules_of(findings)
    assert "revision-not-renderable" not in rules_of(findings)


@pytest.mark.parametrize(("case", "dialect"), PARAMS)
def test_an_inline_ignore_with_a_reason_suppresses(
    tmp_path: Path, case: Case, dialect: str
) -> None:
    findings = lint(tmp_path, case.text("ignored"), dialect)
    assert case.rule not in rules_of(findings)
    assert "invalid-ignore" not in rules_of(findings)


@pytest.mark.parametrize(
    ("rule", "dialect"), [(c.rule, d) for c in CASES for d in ALL if d not in c.dialects]
)
def test_dialect_rules_stay_quiet_on_other_databases(
    tmp_path: Path, rule: str, dialect: str
) -> None:
    case = next(c for c in CASES if c.rule == rule)
    assert rule not in rules_of(lint(tmp_path, case.text("trigger"), dialect))


# -- details of particular rules ----------------------------------------------------------


def test_raw_sql_in_op_execute_is_judged_like_the_op(tmp_path: Path) -> None:
    text = revision(
        """
        op.execute("CREATE INDEX ix_account_email ON account (email)")
        op.execute("ALTER TABLE account DROP COLUMN legacy_flag; DROP TABLE legacy")
        op.execute(sa.text("ALTER TABLE account RENAME COLUMN name TO full_name"))
        """
    )
    found = {(f.rule, f.line) for f in lint(tmp_path, text, "postgresql")}
    assert found >= {
        ("require-concurrent-index-creation", line_of(text, "CREATE INDEX")),
        ("ban-drop-column", line_of(text, "DROP COLUMN")),
        ("ban-drop-table", line_of(text, "DROP TABLE")),
        ("renaming-column", line_of(text, "RENAME COLUMN")),
    }


def test_hand_written_sql_splits_where_the_database_would(tmp_path: Path) -> None:
    """Semicolons and keywords inside a function body, a string or a comment are not
    statements; a column named like a keyword is a column."""
    text = revision(
        '''
        op.execute("""
            CREATE FUNCTION touch() RETURNS trigger AS $$
            BEGIN
                NEW.updated = now(); -- COMMIT; DROP TABLE account;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            ALTER TABLE account ADD COLUMN check_flag INTEGER NOT NULL DEFAULT 0;
            UPDATE account SET plan = 'a;DROP TABLE account'
                WHERE id IN (SELECT id FROM account WHERE plan IS NULL LIMIT 1000)
        """)
        '''
    )
    assert [(f.rule, f.line) for f in lint(tmp_path, text, "postgresql")] == [
        ("require-timeout-settings", line_of(text, "op.execute"))
    ]


def test_tables_created_in_the_same_revision_are_not_locked_by_anyone(tmp_path: Path) -> None:
    text = revision(
        """
        op.create_table(
            "tag",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(50), nullable=False),
        )
        op.create_index("ix_tag_name", "tag", ["name"])
        op.add_column("tag", sa.Column("slug", sa.String(50), nullable=False))
        op.create_check_constraint("ck_tag_name", "tag", "name <> ''")
        """
    )
    assert lint(tmp_path, text, "postgresql") == []


def test_widening_a_varchar_does_not_rewrite_but_shrinking_does(tmp_path: Path) -> None:
    text = revision(
        """
        op.alter_column("account", "name", existing_type=sa.String(50), type_=sa.String(100))
        op.alter_column("account", "email", existing_type=sa.String(100), type_=sa.Text())
        op.alter_column("account", "plan", existing_type=sa.String(20), type_=sa.String(10))
        """
    )
    found = [f for f in lint(tmp_path, text, "postgresql") if f.rule == "changing-column-type"]
    assert [(f.line, f.message) for f in found] == [
        (
            line_of(text, '"plan"'),
            "changing account.plan to VARCHAR(10) rewrites account under a lock that blocks "
            "reads and writes",
        )
    ]


def test_validating_in_the_transaction_that_added_not_valid_gains_nothing(
    tmp_path: Path,
) -> None:
    text = revision(
        f"""
        op.create_check_constraint(
            "ck_post_score", "post", "score >= 0", postgresql_not_valid=True
        )
        op.execute("ALTER TABLE post VALIDATE CONSTRAINT ck_post_score")
        op.create_check_constraint("ck_post_id", "post", "id > 0", postgresql_not_valid=True)
        {AUTOCOMMIT}
            op.execute("ALTER TABLE post VALIDATE CONSTRAINT ck_post_id")
        """
    )
    found = [f for f in lint(tmp_path, text, "postgresql") if f.rule.startswith("constraint")]
    assert [(f.line, f.message) for f in found] == [
        (
            line_of(text, "VALIDATE CONSTRAINT ck_post_score"),
            "VALIDATE CONSTRAINT ck_post_score runs in the transaction that added it, so the "
            "ADD's lock is held for the whole scan: validate it in a later revision",
        )
    ]


@pytest.mark.parametrize("dialect", ["mysql", "mariadb"])
def test_mysql_copying_alters_and_their_in_place_forms(tmp_path: Path, dialect: str) -> None:
    text = revision(
        """
        op.create_foreign_key("fk_post_account", "post", "account", ["account_id"], ["id"])
        op.execute("ALTER TABLE post CONVERT TO CHARACTER SET utf8mb4")
        op.execute("ALTER TABLE account MODIFY age BIGINT, ALGORITHM=INPLACE, LOCK=NONE")
        op.alter_column("account", "plan", existing_type=sa.String(20), nullable=False)
        with op.batch_alter_table("account") as batch_op:
            batch_op.alter_column("age", existing_type=sa.Integer(), type_=sa.BigInteger())
        op.execute("SET foreign_key_checks = 0")
        op.create_foreign_key("fk_post_author", "post", "account", ["author_id"], ["id"])
        """
    )
    server = "MariaDB" if dialect == "mariadb" else "MySQL"
    found = [f for f in lint(tmp_path, text, dialect) if f.rule == "ban-copying-alter"]
    assert [(f.line, f.message) for f in found] == [
        (
            line_of(text, "fk_post_account"),
            f"adding foreign key fk_post_account while foreign_key_checks is on makes {server} "
            "copy post (ALGORITHM=COPY); writes wait until it ends",
        ),
        (
            line_of(text, "CONVERT TO"),
            f"CONVERT TO CHARACTER SET makes {server} copy post (ALGORITHM=COPY); writes wait "
            "until it ends",
        ),
        (
            line_of(text, "batch_op.alter_column"),
            f"changing the type of account.age makes {server} copy account (ALGORITHM=COPY); "
            "writes wait until it ends",
        ),
    ]


def test_an_empty_downgrade_is_irreversible_unless_upgrade_is_empty_too(tmp_path: Path) -> None:
    empty = 'def downgrade():\n    """Nothing to undo."""\n    pass'
    text = revision('op.add_column("account", sa.Column("x", sa.Integer()))', empty)
    found = [f for f in lint(tmp_path, text, "sqlite") if f.rule == "irreversible-downgrade"]
    assert [(f.line, f.severity, f.message) for f in found] == [
        (
            line_of(text, "def downgrade"),
            "warning",
            "downgrade() is empty: the revision cannot be rolled back",
        )
    ]
    merge = revision("pass", "def downgrade():\n    pass", message="merge heads")
    assert lint(tmp_path, merge, "sqlite") == []


def test_sqlite_batch_blocks_are_checked_from_source(tmp_path: Path) -> None:
    """Offline, a recreating batch block cannot render on SQLite (Alembic must reflect the
    table); that is not reported, and what follows the block is still checked from source."""
    text = revision(
        """
        with op.batch_alter_table("account") as batch_op:
            batch_op.drop_column("legacy_flag")
            batch_op.alter_column("name", new_column_name="full_name")
        op.execute("DELETE FROM account WHERE plan IS NULL")
        """
    )
    assert [(f.rule, f.line) for f in lint(tmp_path, text, "sqlite")] == [
        ("ban-drop-column", line_of(text, "drop_column")),
        ("renaming-column", line_of(text, "new_column_name")),
        ("unbatched-data-change", line_of(text, "DELETE")),
    ]


# -- suppression --------------------------------------------------------------------------


def test_ignore_comments_above_on_a_later_line_of_the_call_or_in_a_batch_block(
    tmp_path: Path,
) -> None:
    text = revision(
        f"""
        # versioning: ignore[ban-drop-column] {REASON}
        # (the comment block may go on)
        op.drop_column("account", "a")
        op.drop_column(
            "account", "b",  # versioning: ignore[ban-drop-column, ban-drop-table] {REASON}
        )
        op.drop_column("account", "c")
        with op.batch_alter_table("account") as batch_op:
            batch_op.drop_column("d")  # versioning: ignore[ban-drop-column] {REASON}
        """
    )
    config = LintConfig.from_setting({"rules": {"require-timeout-settings": "off"}})
    found = lint(tmp_path, text, "postgresql", config=config)
    assert [(f.rule, f.line) for f in found] == [
        ("ban-drop-column", line_of(text, '"account", "c"'))
    ]


def test_an_ignore_does_not_reach_the_next_statement(tmp_path: Path) -> None:
    text = revision(
        f"""
        op.drop_column("account", "a")  # versioning: ignore[ban-drop-column] {REASON}
        op.drop_column("account", "b")
        """
    )
    assert [(f.rule, f.line) for f in lint(tmp_path, text, "sqlite")] == [
        ("ban-drop-column", line_of(text, '"account", "b"'))
    ]


def test_an_ignore_without_a_reason_or_with_an_unknown_rule_suppresses_nothing(
    tmp_path: Path,
) -> None:
    text = revision(
        """
        op.drop_column("account", "a")  # versioning: ignore[ban-drop-column]
        op.drop_table("legacy")  # versioning: ignore[ban-drop-tables] gone since 2.0
        """
    )
    first, second = line_of(text, "drop_column"), line_of(text, "drop_table")
    assert [(f.rule, f.line, f.severity, f.message) for f in lint(tmp_path, text, "sqlite")] == [
        (
            "ban-drop-column",
            first,
            "error",
            "dropping column account.a breaks deployed code whose models still select it",
        ),
        (
            "invalid-ignore",
            first,
            "error",
            "ignore[ban-drop-column] gives no reason, so it suppresses nothing: write why it is "
            "safe after the bracket",
        ),
        (
            "ban-drop-table",
            second,
            "error",
            "dropping table legacy breaks deployed code that still queries it",
        ),
        (
            "invalid-ignore",
            second,
            "error",
            "ignore[ban-drop-tables] names an unknown rule (did you mean 'ban-drop-table'?); it "
            "suppresses nothing",
        ),
    ]


# -- configuration ------------------------------------------------------------------------


def test_config_changes_severities_and_turns_rules_off(tmp_path: Path) -> None:
    text = revision(
        """
        op.drop_column("account", "a")
        op.create_index("ix_account_email", "account", ["email"])
        """
    )
    default = lint(tmp_path, text, "postgresql")
    assert [(f.rule, f.severity) for f in default] == [
        ("ban-drop-column", "error"),
        ("require-timeout-settings", "warning"),
        ("require-concurrent-index-creation", "error"),
    ]
    assert exit_code(default) == 1
    config = LintConfig.from_setting(
        {
            "rules": {
                "ban-drop-column": "warning",
                "require-timeout-settings": "off",
                "require-concurrent-index-creation": "info",
            }
        }
    )
    tuned = lint(tmp_path, text, "postgresql", config=config)
    assert [(f.rule, f.severity) for f in tuned] == [
        ("ban-drop-column", "warning"),
        ("require-concurrent-index-creation", "info"),
    ]
    assert exit_code(tuned) == 0
    assert summary(tuned) == "1 warning, 1 info" and summary(default) == "2 errors, 1 warning"
    assert summary([]) == "no findings"
    assert LintConfig.from_setting(None) == LintConfig.from_setting({}) == LintConfig()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "strict",
            "VERSIONING_LINT must be a dict such as {'rules': {'ban-drop-column': 'warning'}}, "
            "not 'strict'",
        ),
        ({"rule": {}}, "VERSIONING_LINT has an unknown key 'rule'; the only key is 'rules'"),
        (
            {"rules": ["ban-drop-column"]},
            "VERSIONING_LINT['rules'] must map rule ids to 'error', 'warning', 'info' or 'off', "
            "not ['ban-drop-column']",
        ),
        (
            {"rules": {"ban-drop-colum": "off"}},
            "VERSIONING_LINT['rules'] names an unknown rule 'ban-drop-colum' (did you mean "
            "'ban-drop-column'?)",
        ),
        (
            {"rules": {"ban-drop-column": "fatal"}},
            "VERSIONING_LINT['rules']['ban-drop-column'] must be 'error', 'warning', 'info' or "
            "'off', not 'fatal'",
        ),
    ],
)
def test_bad_config_is_one_clear_line(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        LintConfig.from_setting(value)
    assert str(info.value) == message


# -- output formats -----------------------------------------------------------------------

TWO_FINDINGS = revision(
    """
    op.drop_column("account", "a")
    op.execute("UPDATE account SET plan = 'free', name = 'x'")
    """
)
DROP_LINE = line_of(TWO_FINDINGS, "drop_column")
UPDATE_LINE = line_of(TWO_FINDINGS, "UPDATE")


def test_text_output_gives_location_rule_message_and_indented_recipe(tmp_path: Path) -> None:
    findings = lint(tmp_path, TWO_FINDINGS, "sqlite")
    path = tmp_path / "1a2b3c4d5e6f_change.py"
    text = format_text(findings)
    lines = text.splitlines()
    assert lines[0] == (
        f"{path}:{DROP_LINE}: error ban-drop-column: dropping column account.a breaks deployed "
        "code whose models still select it"
    )
    assert lines[1] == "    " + RULES["ban-drop-column"].recipe.splitlines()[0]
    assert f"{path}:{UPDATE_LINE}: warning unbatched-data-change: UPDATE in one statement" in text
    assert len(format_text(findings, recipes=False).splitlines()) == 2
    assert format_findings(findings, "text") == text


def test_json_output_is_a_list_of_objects(tmp_path: Path) -> None:
    data = json.loads(format_findings(lint(tmp_path, TWO_FINDINGS, "sqlite"), "json"))
    assert [{k: d[k] for k in ("rule", "severity", "line")} for d in data] == [
        {"rule": "ban-drop-column", "severity": "error", "line": DROP_LINE},
        {"rule": "unbatched-data-change", "severity": "warning", "line": UPDATE_LINE},
    ]
    assert data[0]["path"] == str(tmp_path / "1a2b3c4d5e6f_change.py")
    assert data[0]["message"].startswith("dropping column account.a")
    assert data[0]["recipe"] == RULES["ban-drop-column"].recipe
    assert json.loads(format_json([])) == []


def test_github_output_is_workflow_annotations(tmp_path: Path) -> None:
    lines = format_findings(lint(tmp_path, TWO_FINDINGS, "sqlite"), "github").splitlines()
    path = tmp_path / "1a2b3c4d5e6f_change.py"
    assert len(lines) == 2
    assert lines[0].startswith(
        f"::error file={path},line={DROP_LINE},title=ban-drop-column::dropping column account.a"
    )
    assert "%0A%0ARemove the attribute" in lines[0]  # the recipe follows, escaped
    assert lines[1].startswith(
        f"::warning file={path},line={UPDATE_LINE},title=unbatched-data-change::UPDATE in one"
    )
    odd = Finding("ban-drop-table", "info", Path("a,b:c.py"), 3, "50% done\r\n")
    assert format_github([odd]) == (
        "::notice file=a%2Cb%3Ac.py,line=3,title=ban-drop-table::50%25 done%0D%0A"
    )


def test_exit_code_is_one_only_for_errors() -> None:
    warning = Finding("irreversible-downgrade", "warning", Path("r.py"), 1, "m")
    error = Finding("ban-drop-table", "error", Path("r.py"), 1, "m")
    assert exit_code([]) == 0 and exit_code([warning]) == 0 and exit_code([warning, error]) == 1


# -- broken revisions and bad usage -------------------------------------------------------


def test_a_revision_that_is_not_python_is_one_finding(tmp_path: Path) -> None:
    text = revision('op.drop_column("account", "a"')
    findings = lint(tmp_path, text, "postgresql")
    assert [(f.rule, f.severity, f.line) for f in findings] == [
        ("revision-not-renderable", "error", line_of(text, "drop_column"))
    ]
    assert findings[0].message.startswith("1a2b3c4d5e6f_change.py is not valid Python: ")


def test_a_revision_that_cannot_import_is_one_finding_and_source_rules_still_run(
    tmp_path: Path,
) -> None:
    text = revision('op.drop_column("account", "a")').replace(
        "import sqlalchemy as sa", "import sqlalchemy as sa\nimport no_such_module_here"
    )
    findings = lint(tmp_path, text, "postgresql")
    assert [(f.rule, f.line) for f in findings] == [
        ("revision-not-renderable", line_of(text, "no_such_module_here")),
        ("ban-drop-column", line_of(text, "drop_column")),
    ]
    assert findings[0].message == (
        "importing 1a2b3c4d5e6f_change.py failed: ModuleNotFoundError: No module named "
        "'no_such_module_here'"
    )


def test_a_revision_that_reads_rows_cannot_render_offline(tmp_path: Path) -> None:
    text = revision(
        """
        conn = op.get_bind()
        ids = [row.id for row in conn.execute(sa.text("SELECT id FROM account"))]
        op.execute("DELETE FROM account WHERE plan IS NULL")
        """
    )
    findings = lint(tmp_path, text, "postgresql")
    assert [(f.rule, f.line) for f in findings] == [
        ("revision-not-renderable", line_of(text, "SELECT id")),
        ("unbatched-data-change", line_of(text, "DELETE")),
    ]
    assert findings[0].message.startswith("upgrade() cannot run offline for postgresql: ")
    ignored = text.replace(
        '"SELECT id FROM account"))]',
        '"SELECT id FROM account"))]  # versioning: ignore[revision-not-renderable] reads ids',
    )
    assert rules_of(lint(tmp_path, ignored, "postgresql")) == ["unbatched-data-change"]


def test_multi_database_revisions_render_per_engine(tmp_path: Path) -> None:
    text = HEADER.format(message="multidb") + textwrap.dedent(
        """

        def upgrade(engine_name: str) -> None:
            globals()["upgrade_%s" % engine_name]()


        def downgrade(engine_name: str) -> None:
            globals()["downgrade_%s" % engine_name]()


        def upgrade_() -> None:
            op.create_index("ix_account_email", "account", ["email"])
            op.drop_column("account", "legacy_flag")


        def downgrade_() -> None:
            op.drop_index("ix_account_email", table_name="account")


        def upgrade_archive() -> None:
            op.create_table("box", sa.Column("id", sa.Integer(), primary_key=True))


        def downgrade_archive() -> None:
            pass
        """
    )
    path = write(tmp_path, text)
    config = LintConfig.from_setting({"rules": {"require-timeout-settings": "off"}})
    default = lint_revision(path, dialect="postgresql", engine_name="", config=config)
    assert [(f.rule, f.line) for f in default] == [
        ("require-concurrent-index-creation", line_of(text, "op.create_index")),
        ("ban-drop-column", line_of(text, "op.drop_column")),
    ]
    archive = lint_revision(path, dialect="postgresql", engine_name="archive", config=config)
    assert [(f.rule, f.line) for f in archive] == [
        ("irreversible-downgrade", line_of(text, "def downgrade_archive"))
    ]
    unnamed = lint_revision(path, dialect="postgresql", config=config)
    assert [(f.rule, f.severity, f.line) for f in unnamed] == [
        ("revision-not-renderable", "info", line_of(text, "def upgrade(engine_name")),
        ("ban-drop-column", "error", line_of(text, "op.drop_column")),
        ("irreversible-downgrade", "warning", line_of(text, "def downgrade_archive")),
    ]
    assert unnamed[0].message == (
        "multi-database revision: its SQL is checked only with an engine name"
    )


def test_bad_usage_raises_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, revision("pass"))
    with pytest.raises(ConfigurationError, match=r"^cannot lint for database dialect 'oracel': "):
        lint_revision(path, dialect="oracel")
    with pytest.raises(VersioningError, match=r"^revision file not found: .*missing\.py$"):
        lint_revision(tmp_path / "missing.py", dialect="sqlite")
    with pytest.raises(ValueError, match="unknown lint output format 'xml'"):
        format_findings([], "xml")


def test_rendered_sql_is_available_for_plan(tmp_path: Path) -> None:
    text = revision(
        f"""
        op.add_column("account", sa.Column("bio", sa.Text()))
        {AUTOCOMMIT}
            op.create_index(
                "ix_account_bio", "account", ["bio"], postgresql_concurrently=True
            )
        """
    )
    rendering = render_revision(write(tmp_path, text), dialect="postgresql")
    assert rendering.error is None
    assert rendering.sql == (
        "ALTER TABLE account ADD COLUMN bio TEXT;\n\nCOMMIT;\n\n"
        "CREATE INDEX CONCURRENTLY ix_account_bio ON account (bio);\n\nBEGIN;\n\n"
    )
    add, block, index = (line_of(text, s) for s in ("add_column", AUTOCOMMIT, "create_index"))
    assert rendering.line_map == [add, add, block, block, index, index, block, block]


# -- squawk (optional) --------------------------------------------------------------------

needs_squawk = pytest.mark.skipif(squawk_executable() is None, reason="squawk is not installed")


@needs_squawk
def test_squawk_findings_on_the_rendered_sql_map_to_revision_lines(tmp_path: Path) -> None:
    text = revision(
        f"""
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.drop_column("account", "a")  # versioning: ignore[ban-drop-column] {REASON}
        op.create_index("ix_account_email", "account", ["email"])
        """
    )
    config = LintConfig.from_setting({"rules": {"squawk/require-statement-timeout": "off"}})
    findings = lint(tmp_path, text, "postgresql", squawk=True, config=config)
    squawk = {(f.rule, f.line, f.severity) for f in findings if f.rule.startswith("squawk/")}
    index = line_of(text, "create_index")
    assert ("squawk/require-concurrent-index-creation", index, "error") in squawk
    assert not {r for r, _, _ in squawk} & {
        "squawk/ban-drop-column",  # covered by the ignore of the rule of the same name
        "squawk/require-statement-timeout",  # turned off
    }


def test_asking_for_squawk_without_it_is_bad_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    if squawk_executable() is not None:  # installed beside this Python: PATH does not hide it
        pytest.skip("squawk is installed next to the interpreter")
    path = write(tmp_path, revision("pass"))
    with pytest.raises(VersioningError, match=r"^squawk is not installed; install it with: pip"):
        lint_revision(path, dialect="postgresql", squawk=True)
    assert lint_revision(path, dialect="sqlite", squawk=True) == []


# -- the safe recipes run on real databases -----------------------------------------------

SCHEMA = [
    "CREATE TABLE account (id INTEGER PRIMARY KEY, name VARCHAR(50), email VARCHAR(100), "
    "age INTEGER, plan VARCHAR(20), legacy_flag INTEGER)",
    "CREATE TABLE post (id INTEGER PRIMARY KEY, account_id INTEGER, author_id INTEGER, "
    "score INTEGER)",
    "CREATE TABLE legacy (id INTEGER PRIMARY KEY)",
    "CREATE INDEX ix_account_name ON account (name)",
    "INSERT INTO account (id, name, plan) VALUES (1, 'ada', 'free')",
]
PG_SCHEMA = [
    "ALTER TABLE account ADD CONSTRAINT ck_account_plan_nn CHECK (plan IS NOT NULL) NOT VALID"
]


def _reset(engine: sa.Engine) -> None:
    """Drop what the previous case left and create the tables the cases expect."""
    names = sa.inspect(engine).get_table_names()
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":
            conn.exec_driver_sql("SET foreign_key_checks = 0")
        for name in names:
            cascade = " CASCADE" if engine.dialect.name == "postgresql" else ""
            conn.exec_driver_sql(f"DROP TABLE {name}{cascade}")
        if engine.dialect.name == "mysql":
            conn.exec_driver_sql("SET foreign_key_checks = 1")
        for statement in SCHEMA + (PG_SCHEMA if engine.dialect.name == "postgresql" else []):
            conn.exec_driver_sql(statement)


def test_the_safe_revisions_apply_on_a_real_database(
    tmp_path: Path, backend: str, database_url: str
) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    dialect = engine.dialect.name
    applied: list[str] = []
    try:
        for case in CASES:
            if dialect not in case.dialects:
                continue
            _reset(engine)
            path = write(tmp_path, case.text("safe"), f"safe_{len(applied)}.py")
            module = load_revision(path)
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                with Operations.context(context), context.begin_transaction():
                    module.upgrade()
            applied.append(case.rule)
            assert case.rule not in rules_of(lint_revision(path, dialect=dialect))
    finally:
        engine.dispose()
    assert set(applied) == {c.rule for c in CASES if dialect in c.dialects}
