"""Splitting a baseline's SQL into statements, the way the database itself would read it.

A driver runs one statement per call, so a baseline is cut at the semicolons that end a
statement, never at one inside a quoted string, a quoted identifier or a comment (a default like
``'a;b'`` is ordinary in a dumped schema). PostgreSQL's dollar-quoted bodies would need a parser
of their own; a dump never writes them, so they are refused rather than cut in the middle.
"""

from __future__ import annotations

import re
from functools import cache

from .._errors import VersioningError

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
    """The statements in ``sql``, without their ending semicolons and without pieces of only
    comments and whitespace; ``source`` names the text in error messages."""
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
