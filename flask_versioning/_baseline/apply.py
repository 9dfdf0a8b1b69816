"""Creating a schema from a baseline on an empty database (one with a history keeps replaying
its revisions); stamping the revision is the caller's part, so Alembic writes the version table.

Where DDL is transactional (PostgreSQL, SQLite) the whole baseline is one transaction, so a
failed statement leaves the database empty. MariaDB and MySQL commit each DDL statement, so a
failure there says which statements stayed applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import sqlalchemy as sa

from .._errors import VersioningError, one_line, scrub
from .dump import dialect_key, raw
from .files import Baseline


def is_empty(connection: sa.Connection, *, version_table: str, schema: str | None = None) -> bool:
    """Whether the database has neither the version table (in ``schema``) nor any table or
    view in the default schema, where a baseline creates them."""
    inspector = sa.inspect(connection)
    if inspector.has_table(version_table, schema=schema):
        return False
    return not inspector.get_table_names() and not inspector.get_view_names()


def load_baseline(connection: sa.Connection, baseline: Baseline, *, commit: bool = True) -> int:
    """Run ``baseline``'s statements on ``connection``; returns how many were run.

    With ``commit`` they are committed with whatever the transaction holds, and a failure rolls
    back; ``commit=False`` leaves both to the caller, to stamp in the same transaction. A failed
    statement raises one line naming the file, the statement and what stayed applied.
    """
    key = dialect_key(connection)
    if key != baseline.dialect:
        raise VersioningError(
            f"baseline {baseline.path} is for {baseline.dialect}, this database is {key}"
        )
    statements = split_statements(baseline.sql, dialect=key, source=f"baseline {baseline.path}")
    done = 0
    try:
        with _loading(connection, key):
            # PostgreSQL gets batches of statements, one round trip each.
            while key == "postgresql" and done < len(statements):
                batch = statements[done : done + _BATCH]
                if _run_batch(connection, batch):
                    done += len(batch)
                    continue
                for statement in batch:
                    raw(connection, statement)
                    done += 1
            for statement in statements[done:]:
                raw(connection, statement)
                done += 1
        if commit:
            connection.commit()
    except sa.exc.DBAPIError as exc:
        if commit:
            connection.rollback()
        raise _failure(baseline, key, statements, done, exc, rolled_back=commit) from exc
    return done


#: Statements sent to PostgreSQL in one round trip.
_BATCH = 500


def _run_batch(connection: sa.Connection, batch: list[str]) -> bool:
    """Send ``batch`` in one call under a savepoint (one call per statement costs as much
    client time as the server spends on them); whether it went through. A failed batch is run
    again statement by statement, which names the failing one and covers a driver that cannot
    run several in one call. Each statement ends on a line of its own, so that a trailing
    comment cannot swallow the next."""
    try:
        with connection.begin_nested():  # rolled back to the savepoint on failure
            raw(connection, "\n;\n".join(batch))
    except sa.exc.DBAPIError:
        return False
    return True


@contextmanager
def _loading(connection: sa.Connection, key: str) -> Iterator[None]:
    """What each backend needs around the statements. SQLite's driver opens a transaction only
    before INSERT/UPDATE/DELETE, so an explicit ``BEGIN`` makes the load one transaction;
    MariaDB/MySQL tables come in name order, so foreign key checks are off during the load."""
    if key == "sqlite":
        driver = connection.connection.driver_connection
        if not getattr(driver, "in_transaction", True):
            raw(connection, "BEGIN")
        yield
    elif key in ("mariadb", "mysql"):
        checks = raw(connection, "SELECT @@SESSION.foreign_key_checks").scalar()
        raw(connection, "SET SESSION foreign_key_checks = 0")
        try:
            yield
        finally:
            raw(connection, f"SET SESSION foreign_key_checks = {int(checks or 0)}")
    else:
        yield


def _failure(
    baseline: Baseline,
    key: str,
    statements: list[str],
    done: int,
    exc: sa.exc.DBAPIError,
    *,
    rolled_back: bool,
) -> VersioningError:
    statement = one_line(statements[done], 80) if done < len(statements) else "?"
    detail = one_line(scrub(one_line(str(exc.orig))), 300)
    if key in ("mariadb", "mysql"):
        state = (
            f"this database cannot roll back DDL: the {done} statement(s) before it stay "
            "applied; drop its tables before trying again"
            if done
            else "nothing was applied"
        )
    elif rolled_back:
        state = "it was rolled back, the database is empty as before"
    else:
        state = "roll back the transaction it ran in"
    return VersioningError(
        f"baseline {baseline.path} failed at statement {done + 1} ({statement}): {detail}; {state}"
    )


_COMMON = (
    r"(?P<line>--[^\n]*)",
    r"(?P<block>/\*.*?\*/)",
    r'(?P<ident>"(?:[^"]|"")*")',
    r"(?P<semi>;)",
)
_STRING = r"(?P<string>'(?:[^']|'')*')"
#: MariaDB/MySQL read a backslash in a string as an escape (SHOW CREATE TABLE writes `'a\\b'`),
#: and quote identifiers with backticks.
_MYSQL = ("'\"`", (r"(?P<string>'(?:[^'\\]|\\.|'')*')", r"(?P<backtick>`(?:[^`]|``)*`)"))
#: Per dialect: the characters that open a quoted token, and the tokens beyond the common ones.
_DIALECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    # E'...' strings take backslash escapes (quote_literal writes them for a backslash); a `$`
    # that does not continue an identifier opens a dollar-quoted body.
    "postgresql": (
        "'\"",
        (
            r"(?P<estring>(?<![A-Za-z0-9_$])[Ee]'(?:[^'\\]|\\.|'')*')",
            _STRING,
            r"(?P<dollar>(?<![A-Za-z0-9_$])\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$)",
        ),
    ),
}
_OTHER = ("'\"[", (_STRING, r"(?P<bracket>\[[^\]]*\])"))


@cache
def _tokens(dialect: str) -> re.Pattern[str]:
    """Quoted things, comments, semicolons, and the rest: long runs of ordinary text in one
    match, which keeps the split fast on a schema of thousands of statements."""
    openers, extra = _DIALECTS.get(dialect, _OTHER)
    special = openers + ";/\\-" + ("$Ee" if dialect == "postgresql" else "")
    rest = r"(?P<rest>[^" + re.escape(special) + r"]+|.)"
    return re.compile("|".join((*_COMMON, *extra, rest)), re.DOTALL)


def _is_code(kind: str | None, text: str, dialect: str) -> bool:
    """Whether a token is code rather than a comment or whitespace (MariaDB and MySQL run the
    body of a ``/*! ... */`` comment)."""
    if kind == "line":
        return False
    if kind == "block":
        return dialect in ("mysql", "mariadb") and text.startswith("/*!")
    return not text.isspace()


def split_statements(sql: str, *, dialect: str, source: str = "the SQL") -> list[str]:
    """The statements in ``sql``, cut at the semicolons that end one, never inside a quoted
    string, identifier or comment (a default like ``'a;b'`` is ordinary in a dump); pieces of
    only comments and whitespace are left out. A dump never writes PostgreSQL's dollar-quoted
    bodies, so they are refused rather than cut. ``source`` names the text in error messages."""
    statements: list[str] = []
    openers = _DIALECTS.get(dialect, _OTHER)[0]
    start: int | None = None  # where the statement's first piece of code begins
    for match in _tokens(dialect).finditer(sql):
        kind = match.lastgroup
        if kind == "semi":
            if start is not None:
                statements.append(sql[start : match.start()].strip())
            start = None
        elif kind == "dollar":
            line = sql.count("\n", 0, match.start()) + 1
            raise VersioningError(
                f"{source} has a dollar-quoted body ({match.group()}) on line {line}: functions "
                "and DO blocks are not supported in baselines; create them in a revision after "
                "the baseline"
            )
        elif kind == "rest" and match.group() in openers:
            line = sql.count("\n", 0, match.start()) + 1
            raise VersioningError(
                f"{source} has an unterminated quote ({match.group()}) on line {line}"
            )
        elif start is None and _is_code(kind, match.group(), dialect):
            start = match.start()
    if start is not None:
        statements.append(sql[start:].strip())
    return statements
