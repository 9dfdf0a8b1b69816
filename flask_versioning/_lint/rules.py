"""The lint rules: what each one flags, where it applies, and what to do instead.

A rule here is data only (its id, default severity, dialects, a one-line summary and a recipe);
the code that finds violations lives in :mod:`.checks`, keyed by the same id. Keeping the two apart
lets the documentation build a rule reference from :data:`RULES` without importing Alembic, and a
test checks that every rule has its check so the two cannot drift.

Rule ids follow squawk's names where squawk has the rule, with squawk's meaning (for example
``adding-required-field`` is a new NOT NULL column without a default, and
``adding-not-nullable-field`` is ``SET NOT NULL`` on an existing column), so a team that knows
squawk reads the same words.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Rule:
    """One lint rule.

    ``recipe`` is what to do instead, written for someone holding the revision file: the safe
    sequence of steps and the Alembic calls that express it.
    """

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
        if not self.dialects:
            return "all databases"
        names = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
        return ", ".join(names.get(d, d) for d in sorted(self.dialects, key=_dialect_order))


def _dialect_order(name: str) -> tuple[int, str]:
    order = ("postgresql", "mysql", "mariadb")
    return (order.index(name) if name in order else len(order), name)


_AUTOCOMMIT = "with op.get_context().autocommit_block():"

_RULES = (
    Rule(
        id="require-concurrent-index-creation",
        severity="error",
        dialects=POSTGRESQL,
        summary="CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds.",
        recipe=(
            "Build the index concurrently, outside the revision's transaction:\n"
            f"    {_AUTOCOMMIT}\n"
            '        op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)\n'
            "autocommit_block() commits the work before it, so keep such a revision small. A "
            "concurrent build that fails leaves an INVALID index: drop it and run again."
        ),
    ),
    Rule(
        id="require-concurrent-index-deletion",
        severity="warning",
        dialects=POSTGRESQL,
        summary=(
            "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table, "
            "blocking reads and writes until queries using it finish."
        ),
        recipe=(
            "Drop it concurrently, outside the revision's transaction:\n"
            f"    {_AUTOCOMMIT}\n"
            '        op.drop_index("ix_t_c", table_name="t", postgresql_concurrently=True)'
        ),
    ),
    Rule(
        id="ban-concurrent-index-creation-in-transaction",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block, and Alembic "
            "runs each revision in one: PostgreSQL rejects it."
        ),
        recipe=(
            "Run it in an autocommit block:\n"
            f"    {_AUTOCOMMIT}\n"
            '        op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)'
        ),
    ),
    Rule(
        id="adding-foreign-key-constraint",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "Adding a foreign key checks every row while holding a SHARE ROW EXCLUSIVE lock on "
            "both tables, blocking their writes."
        ),
        recipe=(
            "Add it NOT VALID (only new rows are checked), then validate it in a later revision, "
            "which takes a lock that lets writes through:\n"
            '    op.create_foreign_key("fk_t_r", "t", "r", ["r_id"], ["id"], '
            "postgresql_not_valid=True)\n"
            "    # in the next revision:\n"
            '    op.execute("ALTER TABLE t VALIDATE CONSTRAINT fk_t_r")\n'
            "Validating in the same transaction as the ADD keeps the strong lock for the whole "
            "scan, so it must be a later revision (or after an autocommit block)."
        ),
    ),
    Rule(
        id="constraint-missing-not-valid",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "Adding a CHECK constraint scans the whole table under an ACCESS EXCLUSIVE lock, "
            "blocking reads and writes."
        ),
        recipe=(
            "Add it NOT VALID, then validate it in a later revision:\n"
            '    op.create_check_constraint("ck_t_c", "t", "c > 0", postgresql_not_valid=True)\n'
            "    # in the next revision:\n"
            '    op.execute("ALTER TABLE t VALIDATE CONSTRAINT ck_t_c")'
        ),
    ),
    Rule(
        id="disallowed-unique-constraint",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "ADD CONSTRAINT ... UNIQUE builds its index under an ACCESS EXCLUSIVE lock, blocking "
            "reads and writes while it builds."
        ),
        recipe=(
            "Build the unique index concurrently, then attach it as the constraint:\n"
            f"    {_AUTOCOMMIT}\n"
            '        op.create_index("uq_t_c", "t", ["c"], unique=True, '
            "postgresql_concurrently=True)\n"
            '    op.execute("ALTER TABLE t ADD CONSTRAINT uq_t_c UNIQUE USING INDEX uq_t_c")'
        ),
    ),
    Rule(
        id="changing-column-type",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "Changing a column's type rewrites the table and its indexes under an ACCESS "
            "EXCLUSIVE lock (a longer VARCHAR, VARCHAR to TEXT and more NUMERIC precision at the "
            "same scale are exempt: they do not rewrite)."
        ),
        recipe=(
            "Expand and contract: add a column with the new type, write both columns from the "
            "application, backfill in batches, switch reads, and drop the old column in a later "
            "release."
        ),
    ),
    Rule(
        id="adding-required-field",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "A new NOT NULL column without a default fails on a table that has rows "
            "(PostgreSQL, SQLite) or silently fills existing rows with 0 or '' (MySQL, MariaDB)."
        ),
        recipe=(
            "Give it a server default, which is instant on PostgreSQL 11+, MySQL 8.0.12+ and "
            "MariaDB 10.3+:\n"
            '    op.add_column("t", sa.Column("c", sa.Integer(), nullable=False, '
            'server_default="0"))\n'
            "or add it nullable, backfill it in batches, and make it NOT NULL in a later "
            "revision."
        ),
    ),
    Rule(
        id="adding-not-nullable-field",
        severity="error",
        dialects=POSTGRESQL,
        summary=(
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock, unless a "
            "validated CHECK (c IS NOT NULL) constraint already proves it (PostgreSQL 12+)."
        ),
        recipe=(
            "Prove it with a check constraint first, in two revisions:\n"
            '    op.create_check_constraint("ck_t_c_nn", "t", "c IS NOT NULL", '
            "postgresql_not_valid=True)\n"
            "    # in the next revision:\n"
            '    op.execute("ALTER TABLE t VALIDATE CONSTRAINT ck_t_c_nn")\n'
            '    op.alter_column("t", "c", existing_type=sa.Integer(), nullable=False)\n'
            '    op.drop_constraint("ck_t_c_nn", "t", type_="check")'
        ),
    ),
    Rule(
        id="require-timeout-settings",
        severity="warning",
        dialects=POSTGRESQL,
        summary=(
            "DDL waits for its lock behind long queries, and every query that arrives meanwhile "
            "queues behind the DDL: the table stops answering. A lock_timeout bounds the wait. "
            "Flask-Versioning's env.py sets one, with retries, on every migration "
            "(VERSIONING_DDL_LOCK_TIMEOUT), so flask db lint flags DDL on an existing table "
            "only where that is off: the setting is None, or the revision lifts it with "
            "@timeouts(lock=None)."
        ),
        recipe=(
            "Keep the lock timeout env.py sets: drop lock=None from @timeouts, or give the step "
            "a longer one of its own (@timeouts(lock=2, retries=50)). Where it must stay off, "
            "set one in the revision before the first DDL:\n"
            "    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
            "A script made with --sql carries no timeouts: whoever runs it sets lock_timeout."
        ),
    ),
    Rule(
        id="ban-copying-alter",
        severity="error",
        dialects=MYSQL,
        summary=(
            "This ALTER runs with ALGORITHM=COPY on MySQL and MariaDB: the table is copied row "
            "by row and writes wait until the copy ends. Flagged: a column type change, MODIFY "
            "or CHANGE written by hand, a foreign key added while foreign_key_checks is on, "
            "DROP PRIMARY KEY without a new one, and CONVERT TO CHARACTER SET."
        ),
        recipe=(
            "Change the schema in steps that run INSTANT or INPLACE: add a new column, "
            "backfill it in batches, switch the application, drop the old column later; or use "
            "an online schema change tool (gh-ost, pt-online-schema-change). Writing the ALTER "
            'with op.execute("ALTER TABLE t ..., ALGORITHM=INPLACE, LOCK=NONE") makes the '
            "server refuse instead of copying. A foreign key is added INPLACE after "
            'op.execute("SET foreign_key_checks = 0") (existing rows are then not checked).'
        ),
    ),
    Rule(
        id="ban-drop-table",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "Dropping a table breaks every deployed process that still queries it, and its "
            "data is gone."
        ),
        recipe=(
            "Stop using the table in the application and deploy that first; drop it in a later "
            "revision, and say why it is safe now:\n"
            '    op.drop_table("t")  # versioning: ignore[ban-drop-table] unused since 2.4'
        ),
    ),
    Rule(
        id="ban-drop-column",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "Dropping a column breaks deployed processes whose models still select it (SQLAlchemy "
            "names every mapped column in its queries)."
        ),
        recipe=(
            "Remove the attribute from the model and deploy that first; drop the column in a "
            "later revision, and say why it is safe now:\n"
            '    op.drop_column("t", "c")  # versioning: ignore[ban-drop-column] unmapped in 2.4'
        ),
    ),
    Rule(
        id="renaming-column",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "Renaming a column breaks deployed processes that still use the old name until "
            "every one of them runs the new code."
        ),
        recipe=(
            "Rename the Python attribute only and keep the column: "
            'new_name: Mapped[int] = mapped_column("old_name"). To rename the column itself: add '
            "the new column, write both, backfill, switch reads, drop the old one later."
        ),
    ),
    Rule(
        id="renaming-table",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "Renaming a table breaks deployed processes that still query the old name until "
            "every one of them runs the new code."
        ),
        recipe=(
            'Rename the model class only and keep __tablename__ = "old_name". To rename the '
            "table itself: create the new table, write both, backfill, switch reads, drop the "
            "old one later (on PostgreSQL a view with the old name can bridge the switch)."
        ),
    ),
    Rule(
        id="unbatched-data-change",
        severity="warning",
        dialects=ALL_DIALECTS,
        summary=(
            "One UPDATE, DELETE or INSERT ... SELECT over a whole table locks every row it "
            "touches until the revision commits, and can run for a long time."
        ),
        recipe=(
            "Change rows in bounded batches, each committed on its own:\n"
            f"    {_AUTOCOMMIT}\n"
            "        for start in range(0, 1_000_000, 10_000):\n"
            '            op.execute(f"UPDATE t SET c = 0 WHERE id >= {start} AND id < '
            '{start + 10_000}")\n'
            "A statement with LIMIT counts as batched. For a small table, suppress it with a "
            "reason."
        ),
    ),
    Rule(
        id="irreversible-downgrade",
        severity="warning",
        dialects=ALL_DIALECTS,
        summary=(
            "downgrade() is empty or raises: the revision cannot be rolled back, and a "
            "downgrade stops there."
        ),
        recipe=(
            "Write the downgrade that undoes upgrade(). When the change truly cannot be undone "
            "(rows deleted, a type narrowed), say so on the def line:\n"
            "    def downgrade():  # versioning: ignore[irreversible-downgrade] rows deleted"
        ),
    ),
    Rule(
        id="revision-not-renderable",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "The revision could not be imported, or its upgrade() could not run in offline "
            "(--sql) mode, so its SQL was not checked; the source-level rules still ran."
        ),
        recipe=(
            "Fix the error shown. A revision that reads rows (op.get_bind().execute(...)) cannot "
            "run offline: suppress this on the line named, with the reason."
        ),
    ),
    Rule(
        id="invalid-ignore",
        severity="error",
        dialects=ALL_DIALECTS,
        summary=(
            "A '# versioning: ignore[...]' comment names an unknown rule or gives no reason; it "
            "suppresses nothing."
        ),
        recipe=(
            "Write the rule id and the reason it is safe:\n"
            "    # versioning: ignore[ban-drop-column] unmapped since 2.4"
        ),
    ),
)

#: Every rule by id, in the order the rule reference lists them.
RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _RULES})

#: Rules the engine itself reports (about the revision file, not about its SQL).
META_RULES: frozenset[str] = frozenset({"revision-not-renderable", "invalid-ignore"})

#: Prefix of findings that come from squawk (``squawk/<squawk's rule name>``).
SQUAWK_PREFIX = "squawk/"
