"""The lint rules: what each one flags, where it applies, and what to do instead.

Data only (the code that finds a rule lives in :mod:`.checks` under the same id), so the docs
build the rule reference from :data:`RULES`. Ids and meanings follow squawk's where squawk has
the rule, so a team that knows squawk reads the same words.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Severity = Literal["error", "warning", "info"]

#: Severities in the order of how much they matter; ``info`` never fails a run.
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

POSTGRESQL: frozenset[str] = frozenset({"postgresql"})
MYSQL: frozenset[str] = frozenset({"mysql", "mariadb"})
#: The empty set means "every dialect".
ALL_DIALECTS: frozenset[str] = frozenset()
_DIALECT_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}


@dataclass(frozen=True)
class Rule:
    """One lint rule; ``recipe`` is what to do instead, for someone holding the revision file."""

    id: str
    severity: Severity
    dialects: frozenset[str]
    summary: str
    recipe: str

    def applies_to(self, dialect: str) -> bool:
        """Whether the rule checks revisions rendered for ``dialect`` (a SQLAlchemy name)."""
        return not self.dialects or dialect in self.dialects

    @property
    def dialect_label(self) -> str:
        """The databases the rule checks, as a reader would name them (for the docs)."""
        names = [name for key, name in _DIALECT_NAMES.items() if key in self.dialects]
        return ", ".join(names) or "all databases"


def _rule(id: str, severity: Severity, dialects: frozenset[str], text: str) -> Rule:
    """A rule from its text: the summary, a blank line, the recipe.

    Wrapped prose lines are joined; lines indented four spaces are code and stay as they are.
    """
    summary, recipe = textwrap.dedent(text).strip("\n").split("\n\n")
    lines: list[str] = []
    for line in recipe.rstrip().splitlines():
        if lines and not line.startswith(" ") and not lines[-1].startswith(" "):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return Rule(id, severity, dialects, " ".join(summary.split()), "\n".join(lines))


#: ``(id, default severity, dialects)``: the summary, a blank line, the recipe (see :func:`_rule`).
_TEXTS: dict[tuple[str, Severity, frozenset[str]], str] = {
    ("require-concurrent-index-creation", "error", POSTGRESQL): """
        CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds.

        Build the index concurrently, outside the revision's transaction:
            with op.get_context().autocommit_block():
                op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)
        autocommit_block() commits the work before it, so keep such a revision small. A concurrent
        build that fails leaves an INVALID index: drop it and run again.
        """,
    ("require-concurrent-index-deletion", "warning", POSTGRESQL): """
        DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table, blocking reads
        and writes until queries using it finish.

        Drop it concurrently, outside the revision's transaction:
            with op.get_context().autocommit_block():
                op.drop_index("ix_t_c", table_name="t", postgresql_concurrently=True)
        """,
    ("ban-concurrent-index-creation-in-transaction", "error", POSTGRESQL): """
        CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block, and Alembic runs each
        revision in one: PostgreSQL rejects it.

        Run it in an autocommit block:
            with op.get_context().autocommit_block():
                op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)
        """,
    ("adding-foreign-key-constraint", "error", POSTGRESQL): """
        Adding a foreign key checks every row while holding a SHARE ROW EXCLUSIVE lock on both
        tables, blocking their writes.

        Add it NOT VALID (only new rows are checked), then validate it in a later revision, which
        takes a lock that lets writes through:
            op.create_foreign_key("fk_t_r", "t", "r", ["r_id"], ["id"], postgresql_not_valid=True)
            # in the next revision:
            op.execute("ALTER TABLE t VALIDATE CONSTRAINT fk_t_r")
        Validating in the same transaction as the ADD keeps the strong lock for the whole scan, so
        it must be a later revision (or after an autocommit block).
        """,
    ("constraint-missing-not-valid", "error", POSTGRESQL): """
        Adding a CHECK constraint scans the whole table under an ACCESS EXCLUSIVE lock, blocking
        reads and writes.

        Add it NOT VALID, then validate it in a later revision:
            op.create_check_constraint("ck_t_c", "t", "c > 0", postgresql_not_valid=True)
            # in the next revision:
            op.execute("ALTER TABLE t VALIDATE CONSTRAINT ck_t_c")
        """,
    ("disallowed-unique-constraint", "error", POSTGRESQL): """
        ADD CONSTRAINT ... UNIQUE builds its index under an ACCESS EXCLUSIVE lock, blocking reads
        and writes while it builds.

        Build the unique index concurrently, then attach it as the constraint:
            with op.get_context().autocommit_block():
                op.create_index("uq_t_c", "t", ["c"], unique=True, postgresql_concurrently=True)
            op.execute("ALTER TABLE t ADD CONSTRAINT uq_t_c UNIQUE USING INDEX uq_t_c")
        """,
    ("changing-column-type", "error", POSTGRESQL): """
        Changing a column's type rewrites the table and its indexes under an ACCESS EXCLUSIVE lock
        (a longer VARCHAR, VARCHAR to TEXT and more NUMERIC precision at the same scale are exempt:
        they do not rewrite).

        Expand and contract: add a column with the new type, write both columns from the
        application, backfill in batches, switch reads, and drop the old column in a later release.
        """,
    ("adding-required-field", "error", ALL_DIALECTS): """
        A new NOT NULL column without a default fails on a table that has rows (PostgreSQL, SQLite)
        or silently fills existing rows with 0 or '' (MySQL, MariaDB).

        Give it a server default, which is instant on PostgreSQL 11+, MySQL 8.0.12+ and MariaDB
        10.3+:
            op.add_column("t", sa.Column("c", sa.Integer(), nullable=False, server_default="0"))
        or add it nullable, backfill it in batches, and make it NOT NULL in a later revision.
        """,
    ("adding-not-nullable-field", "error", POSTGRESQL): """
        SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock, unless a validated CHECK
        (c IS NOT NULL) constraint already proves it (PostgreSQL 12+).

        Prove it with a check constraint first, in two revisions:
            op.create_check_constraint("ck_t_c_nn", "t", "c IS NOT NULL", postgresql_not_valid=True)
            # in the next revision:
            op.execute("ALTER TABLE t VALIDATE CONSTRAINT ck_t_c_nn")
            op.alter_column("t", "c", existing_type=sa.Integer(), nullable=False)
            op.drop_constraint("ck_t_c_nn", "t", type_="check")
        """,
    ("require-timeout-settings", "warning", POSTGRESQL): """
        DDL waits for its lock behind long queries, and every query that arrives meanwhile queues
        behind the DDL: the table stops answering. A lock_timeout bounds the wait.
        Flask-Versioning's env.py sets one, with retries, on every migration
        (VERSIONING_DDL_LOCK_TIMEOUT), so flask db lint flags DDL on an existing table only where
        that is off: the setting is None, or the revision lifts it with @timeouts(lock=None).

        Keep the lock timeout env.py sets: drop lock=None from @timeouts, or give the step a longer
        one of its own (@timeouts(lock=2, retries=50)). Where it must stay off, set one in the
        revision before the first DDL:
            op.execute("SET LOCAL lock_timeout = '5s'")
        A script made with --sql carries no timeouts: whoever runs it sets lock_timeout.
        """,
    ("ban-copying-alter", "error", MYSQL): """
        This ALTER runs with ALGORITHM=COPY on MySQL and MariaDB: the table is copied row by row and
        writes wait until the copy ends. Flagged: a column type change, MODIFY or CHANGE written by
        hand, a foreign key added while foreign_key_checks is on, DROP PRIMARY KEY without a new
        one, and CONVERT TO CHARACTER SET.

        Change the schema in steps that run INSTANT or INPLACE: add a new column, backfill it in
        batches, switch the application, drop the old column later; or use an online schema change
        tool (gh-ost, pt-online-schema-change). Writing the ALTER with op.execute("ALTER TABLE t
        ..., ALGORITHM=INPLACE, LOCK=NONE") makes the server refuse instead of copying. A foreign
        key is added INPLACE after op.execute("SET foreign_key_checks = 0") (existing rows are then
        not checked).
        """,
    ("ban-drop-table", "error", ALL_DIALECTS): """
        Dropping a table breaks every deployed process that still queries it, and its data is gone.

        Stop using the table in the application and deploy that first; drop it in a later revision,
        and say why it is safe now:
            op.drop_table("t")  # versioning: ignore[ban-drop-table] unused since 2.4
        """,
    ("ban-drop-column", "error", ALL_DIALECTS): """
        Dropping a column breaks deployed processes whose models still select it (SQLAlchemy names
        every mapped column in its queries).

        Remove the attribute from the model and deploy that first; drop the column in a later
        revision, and say why it is safe now:
            op.drop_column("t", "c")  # versioning: ignore[ban-drop-column] unmapped in 2.4
        """,
    ("renaming-column", "error", ALL_DIALECTS): """
        Renaming a column breaks deployed processes that still use the old name until every one of
        them runs the new code.

        Rename the Python attribute only and keep the column: new_name: Mapped[int] =
        mapped_column("old_name"). To rename the column itself: add the new column, write both,
        backfill, switch reads, drop the old one later.
        """,
    ("renaming-table", "error", ALL_DIALECTS): """
        Renaming a table breaks deployed processes that still query the old name until every one of
        them runs the new code.

        Rename the model class only and keep __tablename__ = "old_name". To rename the table itself:
        create the new table, write both, backfill, switch reads, drop the old one later (on
        PostgreSQL a view with the old name can bridge the switch).
        """,
    ("unbatched-data-change", "warning", ALL_DIALECTS): """
        One UPDATE, DELETE or INSERT ... SELECT over a whole table locks every row it touches until
        the revision commits, and can run for a long time.

        Change rows in bounded batches, each committed on its own:
            with op.get_context().autocommit_block():
                for start in range(0, 1_000_000, 10_000):
                    op.execute(f"UPDATE t SET c = 0 WHERE id >= {start} AND id < {start + 10_000}")
        A statement with LIMIT counts as batched. For a small table, suppress it with a reason.
        """,
    ("irreversible-downgrade", "warning", ALL_DIALECTS): """
        downgrade() is empty or raises: the revision cannot be rolled back, and a downgrade stops
        there.

        Write the downgrade that undoes upgrade(). When the change truly cannot be undone (rows
        deleted, a type narrowed), say so on the def line:
            def downgrade():  # versioning: ignore[irreversible-downgrade] rows deleted
        """,
    ("revision-not-renderable", "error", ALL_DIALECTS): """
        The revision could not be imported, or its upgrade() could not run in offline (--sql) mode,
        so its SQL was not checked; the source-level rules still ran.

        Fix the error shown. A revision that reads rows (op.get_bind().execute(...)) cannot run
        offline: suppress this on the line named, with the reason.
        """,
    ("invalid-ignore", "error", ALL_DIALECTS): """
        A '# versioning: ignore[...]' comment names an unknown rule or gives no reason; it
        suppresses nothing.

        Write the rule id and the reason it is safe:
            # versioning: ignore[ban-drop-column] unmapped since 2.4
        """,
}

#: Every rule by id, in the order the rule reference lists them.
RULES: Mapping[str, Rule] = MappingProxyType(
    {key[0]: _rule(*key, text) for key, text in _TEXTS.items()}
)

#: Rules the engine itself reports (about the revision file, not about its SQL).
META_RULES: frozenset[str] = frozenset({"revision-not-renderable", "invalid-ignore"})

#: Prefix of findings that come from squawk (``squawk/<squawk's rule name>``).
SQUAWK_PREFIX = "squawk/"
