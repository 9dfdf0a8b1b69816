"""What a seed sends to the database: refuse what is not row work before it runs, note the
tables it writes.

A seed's rows and its ledger row commit together or not at all only while the seed stays in
its transaction. MariaDB commits implicitly around DDL, and checking afterwards cannot undo
that, so every statement is checked before the driver sees it, on every backend alike. The
tables a seed writes are recorded with its ledger row, so that a downgrade which drops one can
forget the seed (:mod:`flask_versioning._ledgers.seeds`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .. import _errors as errors

#: What a seed may send: statements that read or write rows, SQLAlchemy's own savepoints
#: (``session.begin_nested()``), session settings and the catalog reads of an inspector.
#: Anything else (DDL, transaction control, ``LOCK``, ``CALL`` of a procedure that may run DDL)
#: is refused: unknown means no.
_ALLOWED = frozenset(
    "SELECT INSERT UPDATE DELETE MERGE REPLACE UPSERT WITH VALUES TABLE SAVEPOINT "  # noqa: SIM905
    "RELEASE SET SHOW DESCRIBE DESC EXPLAIN PRAGMA".split()
)

# One token of SQL text, for finding where each statement starts: quoted text and comments
# are skipped whole so that a ';' or a keyword inside them counts for nothing. MySQL and
# MariaDB escape quotes with a backslash too; PostgreSQL has dollar quoting.
_SQL_TOKEN = r"""
      (?P<skip>{quoted} | --[^\n]* | /\*.*?(?:\*/|$) {dollar})
    | (?P<end>;)
    | (?P<word>[A-Za-z_]+)
    | (?P<other>.)
"""
_PLAIN_QUOTES = r"""'(?:[^']|'')*'? | "(?:[^"]|"")*"? | `(?:[^`]|``)*`?"""
_BACKSLASH_QUOTES = r"""'(?:[^'\\]|\\.|'')*'? | "(?:[^"\\]|\\.|"")*"? | `(?:[^`]|``)*`?"""
_DOLLAR = r"""| (?P<dollar>\$[A-Za-z_0-9]*\$).*?(?:(?P=dollar)|$)"""
#: By whether the dialect escapes quotes with a backslash.
_TOKENS = {
    backslash: re.compile(_SQL_TOKEN.format(quoted=quoted, dollar=dollar), re.VERBOSE | re.DOTALL)
    for backslash, quoted, dollar in (
        (True, _BACKSLASH_QUOTES, ""),
        (False, _PLAIN_QUOTES, _DOLLAR),
    )
}

_NAME = r"""(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)"""
_WRITE_TARGET = re.compile(
    rf"""^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+IGNORE)?|DELETE\s+FROM)
        \s+(?P<first>{_NAME})(?:\s*\.\s*(?P<second>{_NAME}))?""",
    re.IGNORECASE | re.VERBOSE,
)


def _keywords(statement: str, *, backslash: bool) -> Iterator[tuple[str, ...]]:
    """The first two words, upper-cased, of each statement in ``statement`` (``""`` for a
    second that is missing or not a word); ``backslash`` for MySQL and MariaDB quoting."""
    words: list[str] = []
    for match in _TOKENS[backslash].finditer(statement):
        if match["end"] is not None:
            if words:
                yield (*words, "")[:2]
            words = []
        elif match["word"] is not None and len(words) < 2:
            words.append(match["word"].upper())
        elif match["other"] is not None and not match["other"].isspace() and len(words) == 1:
            words.append("")  # "(SELECT ...)" before a word starts nothing; after one, stop
    if words:
        yield (*words, "")[:2]


#: The refused words that name DDL, as the message calls them.
_DDL = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "COMMENT", "GRANT", "REVOKE"})


def _refusal(statement: str, dialect: str) -> str | None:
    """Why ``statement`` may not run in a seed, or ``None`` when it may."""
    for first, second in _keywords(statement, backslash=dialect in ("mysql", "mariadb")):
        if first == "ROLLBACK" and second == "TO":
            continue  # SQLAlchemy's nested transaction
        if first not in _ALLOWED:
            return "DDL" if first in _DDL else f"a {first} statement"
        if first == "SET" and "AUTOCOMMIT" in statement.upper():
            return "a statement switching autocommit"
    return None


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1] if part[:1] in '"`[' and len(part) > 1 else part


class StatementWatch:
    """``before_cursor_execute`` on a seed's connection. A refused statement raises
    :class:`~flask_versioning.SeedError` and stays in :attr:`refused`: a seed that catches the
    error still fails, as its transaction no longer holds what it meant to write."""

    def __init__(self) -> None:
        self.refused: errors.SeedError | None = None
        #: ``(schema, table)`` of every table the seed wrote, schema ``None`` for the default.
        self.tables: set[tuple[str | None, str]] = set()

    def __call__(
        self,
        connection: sa.Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if getattr(context, "isddl", False):
            reason: str | None = "DDL"
        else:
            reason = _refusal(statement, connection.dialect.name)
        if reason is not None:
            self.refused = errors.SeedError(
                f"it sent {reason}, which seeds may not run, and it was refused before it "
                f"ran: {errors.one_line(statement, 160)} (seeds write rows; change the schema in a "
                "revision)"
            )
            raise self.refused
        # A schema tenant's connection sends unqualified tables to its schema: record where
        # the rows really went, so that the check after a downgrade looks there.
        options = getattr(context, "execution_options", None) or {}
        translate = options.get("schema_translate_map") or {}
        clause = getattr(getattr(context, "compiled", None), "statement", None)
        if isinstance(clause, sa.sql.dml.UpdateBase):
            table = getattr(clause, "table", None)
            name = getattr(table, "name", None)
            if isinstance(name, str):
                schema = getattr(table, "schema", None)
                schema = translate.get(schema, schema) if isinstance(schema, str | None) else None
                self.tables.add((schema, name))
        elif match := _WRITE_TARGET.match(statement):  # text: the target as written
            first, second = _unquote(match["first"]), match["second"]
            self.tables.add((first, _unquote(second)) if second else (translate.get(None), first))
