"""Just enough SQL reading for the lint rules: split statements, name what each one does.

Not a SQL parser: it reads the DDL Alembic renders and what people write in ``op.execute``, one
statement at a time (its kind, its table, and each action of an ``ALTER TABLE``). Anything it
does not recognise is kind ``"other"`` and no rule fires on it, so an unusual statement costs a
missed finding, never a false one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_QNAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"
_FLAGS = re.IGNORECASE | re.DOTALL


_TOKENS = re.compile(
    r"""
      '(?:[^'\\]|\\.|'')*'                      # a string ('' or a backslash escapes)
    | "(?:[^"]|"")*"                            # a quoted identifier
    | `[^`]*`                                   # a MySQL quoted identifier
    | (?P<tag>\$(?:[A-Za-z_]\w*)?\$).*?(?P=tag)  # a PostgreSQL dollar-quoted body
    | (?P<comment>--[^\n]*|/\*.*?\*/|^[ \t]*\#[^\n]*)  # comments (MySQL's # at a line start)
    | ;
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)


def split_statements(text: str) -> list[str]:
    """Split SQL on top-level semicolons (not those in strings, quoted names, dollar-quoted
    bodies), drop comments, and put each statement on one line with single spaces."""
    statements: list[str] = []
    current: list[str] = []
    position = 0
    for match in _TOKENS.finditer(text):
        current.append(text[position : match.start()])
        position = match.end()
        if match.group() == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(" " if match["comment"] is not None else match.group())
    statements.append("".join(current) + text[position:])
    return [s for s in (" ".join(part.split()).rstrip(";").strip() for part in statements) if s]


def name_key(name: str) -> str:
    """A name as a comparison key: no schema, no quotes, lower case even when quoted (the key
    matches names within one revision, where ``"User"`` is spelled ``User`` in Python)."""
    parts = re.findall(_IDENT, name)
    last = parts[-1] if parts else name.strip()
    if last[:1] in '"`[' and len(last) > 1:
        last = last[1:-1]
    return last.lower()


@dataclass(frozen=True)
class Action:
    """One action of an ``ALTER TABLE``: ``name`` is the column or constraint; ``detail`` the
    constraint type (``foreign key``...), the new type, or the algorithm."""

    kind: str
    text: str
    name: str | None = None
    detail: str | None = None
    new_name: str | None = None


@dataclass(frozen=True)
class Statement:
    sql: str
    kind: str
    table: str | None = None
    index: str | None = None
    concurrently: bool = False
    actions: tuple[Action, ...] = ()
    new_name: str | None = None


def _patterns(*rows: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((kind, re.compile(pattern, _FLAGS)) for kind, pattern in rows)


#: Statement kinds, tried in order; named groups fill the :class:`Statement`.
_STATEMENTS = _patterns(
    (
        "create_table",
        r"^CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMPORARY|TEMP|UNLOGGED)\s+)?TABLE\s+"
        rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>{_QNAME})",
    ),
    (
        "create_index",
        r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
        rf"(?:(?P<index>{_QNAME})\s+)?ON\s+(?:ONLY\s+)?(?P<table>{_QNAME})",
    ),
    (
        "drop_index",
        r"^DROP\s+INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?"
        rf"(?P<index>{_QNAME})(?:\s+ON\s+(?P<table>{_QNAME}))?",
    ),
    ("drop_table", rf"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>{_QNAME})"),
    ("rename_table", rf"^RENAME\s+TABLE\s+(?P<table>{_QNAME})\s+TO\s+(?P<new>{_QNAME})"),
    (
        "alter_table",
        rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_QNAME})\s+(?P<rest>.*)$",
    ),
    (
        "data_change",
        r"^(?:UPDATE|DELETE|MERGE)\b|^(?:INSERT|REPLACE)\b.*\bSELECT\b|"
        r"^WITH\b.*\b(?:UPDATE|DELETE|INSERT)\b",
    ),
    (
        "set_lock_timeout",
        r"^SET\s+(?:SESSION\s+|LOCAL\s+)?lock_timeout\b|^.*?\bset_config\s*\(\s*'lock_timeout'",
    ),
    (
        "foreign_key_checks_off",
        r"^SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?foreign_key_checks\s*=\s*(?:0|OFF|FALSE)\b",
    ),
    ("session", r"^(?:SET|SELECT|SHOW|EXPLAIN|VALUES)\b"),
    ("ddl", r"^(?:ALTER|DROP|TRUNCATE|CREATE|COMMENT|GRANT|REVOKE)\b"),
)
_TRANSACTION = {
    **dict.fromkeys(("BEGIN", "START TRANSACTION", "BEGIN TRANSACTION", "BEGIN WORK"), "begin"),
    **dict.fromkeys(("COMMIT", "COMMIT WORK", "END", "ROLLBACK"), "commit"),
}


def parse(sql: str) -> Statement:
    """Classify one statement as :func:`split_statements` gives it."""
    if sql.upper() in _TRANSACTION:
        return Statement(sql, _TRANSACTION[sql.upper()])
    for kind, pattern in _STATEMENTS:
        if m := pattern.match(sql):
            g = m.groupdict()
            rest = g.get("rest")
            return Statement(
                sql,
                kind,
                table=g.get("table"),
                index=g.get("index"),
                concurrently=bool(g.get("conc")),
                actions=tuple(_action(part) for part in _split_actions(rest)) if rest else (),
                new_name=g.get("new"),
            )
    return Statement(sql, "other")


def _split_actions(text: str) -> list[str]:
    """Split an ALTER TABLE's actions on commas outside parentheses and quotes."""
    parts: list[str] = []
    depth, start, quote = 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


#: ``ALTER TABLE`` actions, tried in order; named groups fill the :class:`Action`.
_ACTIONS = _patterns(
    (
        "add_constraint",
        rf"^ADD\s+(?:CONSTRAINT\s+(?P<name>{_IDENT})\s+)?"
        r"(?P<detail>FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY|EXCLUDE)\b",
    ),
    ("other", r"^ADD\s+(?:INDEX|KEY|FULLTEXT|SPATIAL)\b"),
    ("add_column", rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT})\s"),
    (
        "alter_type",
        rf"^ALTER\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\s+(?P<detail>.*)$",
    ),
    ("set_not_null", rf"^ALTER\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+SET\s+NOT\s+NULL"),
    ("modify_column", rf"^MODIFY\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s"),
    ("modify_column", rf"^CHANGE\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+(?P<new>{_IDENT})\s"),
    ("drop_primary_key", r"^DROP PRIMARY KEY"),
    ("drop_column", rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<name>{_IDENT})(?:\s|$)"),
    ("validate_constraint", rf"^VALIDATE\s+CONSTRAINT\s+(?P<name>{_IDENT})"),
    ("other", r"^RENAME\s+(?:CONSTRAINT|INDEX|KEY)\b"),
    ("rename_table", rf"^RENAME\s+(?:TO\s+|AS\s+)?(?P<new>{_QNAME})$"),
    ("rename_column", rf"^RENAME\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+TO\s+(?P<new>{_IDENT})"),
    ("convert_charset", r"^CONVERT\s+TO\s+(?:CHARACTER\s+SET|CHARSET)\b"),
    ("algorithm", r"^ALGORITHM\s*=?\s*(?P<detail>\w+)"),
)
_DETAIL_CASE = {"add_constraint": str.lower, "algorithm": str.upper}
_DROP_NOT_COLUMN = {"CONSTRAINT", "INDEX", "KEY", "PRIMARY", "FOREIGN", "CHECK", "PARTITION"}
_GENERATED_DEFAULT = re.compile(
    r"\bDEFAULT\b|\bGENERATED\b|\bAUTO_INCREMENT\b|\bAUTOINCREMENT\b|\bIDENTITY\b|"
    r"\b(?:SMALL|BIG)?SERIAL\d?\b",
    _FLAGS,
)


def _action(text: str) -> Action:
    for kind, pattern in _ACTIONS:
        if m := pattern.match(text):
            g = m.groupdict()
            if kind == "drop_column" and g["name"].upper() in _DROP_NOT_COLUMN:
                break  # DROP CONSTRAINT, DROP INDEX...
            detail = g.get("detail")
            if detail is not None and kind in _DETAIL_CASE:
                detail = _DETAIL_CASE[kind](detail)
            return Action(kind, text, g.get("name"), detail, g.get("new"))
    return Action("other", text)


def add_column_is_required(action: Action) -> bool:
    """An ``ADD COLUMN`` that is NOT NULL with no default, identity or generated value."""
    return bool(re.search(r"\bNOT\s+NULL\b", action.text, _FLAGS)) and not bool(
        _GENERATED_DEFAULT.search(action.text)
    )


def references(sql: str) -> list[str]:
    """Tables named in ``REFERENCES`` clauses (a new table's foreign keys lock those tables)."""
    return re.findall(rf"\bREFERENCES\s+({_QNAME})", sql, _FLAGS)


def sets_local(sql: str) -> bool:
    """Whether a lock_timeout setting lasts only until the transaction ends."""
    return bool(
        re.match(r"^SET\s+LOCAL\b", sql, _FLAGS)
        or re.search(r"set_config\s*\([^)]*,\s*true\s*\)", sql, _FLAGS)
    )
