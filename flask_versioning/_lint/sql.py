"""Just enough SQL reading for the lint rules: split statements, name what each one does.

This is not a SQL parser. It reads the DDL that Alembic renders and the statements people write in
``op.execute``, one statement at a time: the statement kind, the table, and for ``ALTER TABLE``
each comma-separated action. Anything it does not recognise is kind ``"other"`` and no rule
fires on it, so an unusual statement costs a missed finding, never a false one.
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
    """Split SQL text on top-level semicolons; drop comments; collapse whitespace.

    Semicolons inside strings, quoted names and dollar-quoted function bodies do not split.
    """
    statements: list[str] = []
    current: list[str] = []
    position = 0
    for match in _TOKENS.finditer(text):
        current.append(text[position : match.start()])
        position = match.end()
        if match.group() == ";":
            statements.append("".join(current))
            current = []
        elif match["comment"] is not None:
            current.append(" ")
        else:
            current.append(match.group())
    current.append(text[position:])
    statements.append("".join(current))
    return [s for s in (normalize(part) for part in statements) if s]


def normalize(statement: str) -> str:
    """One statement on one line: single spaces, no trailing semicolon."""
    return " ".join(statement.split()).rstrip(";").strip()


def name_key(name: str) -> str:
    """A table, index or column name as a comparison key: no schema, no quotes, lower case.

    Case is folded even for quoted names: the key only matches names within one revision,
    where ``op.create_table("User")`` renders as ``"User"`` and is spelled ``User`` in Python.
    """
    parts = re.findall(_IDENT, name)
    last = parts[-1] if parts else name.strip()
    if last[:1] in '"`[' and len(last) > 1:
        last = last[1:-1]
    return last.lower()


@dataclass(frozen=True)
class Action:
    """One action of an ``ALTER TABLE`` (the statement may hold several, comma-separated).

    ``kind`` is one of: ``add_column``, ``add_constraint``, ``alter_type``, ``set_not_null``,
    ``modify_column`` (MySQL MODIFY/CHANGE), ``drop_column``, ``rename_column``,
    ``rename_table``, ``validate_constraint``, ``drop_primary_key``, ``convert_charset``,
    ``algorithm``, ``other``. ``name`` is the column, constraint or new table name; ``detail``
    the constraint type (``foreign key``, ``check``, ``unique``, ``primary key``), the new type,
    or the algorithm.
    """

    kind: str
    text: str
    name: str | None = None
    detail: str | None = None
    new_name: str | None = None


@dataclass(frozen=True)
class Statement:
    """One SQL statement and what the rules need to know about it."""

    sql: str
    kind: str
    table: str | None = None
    index: str | None = None
    concurrently: bool = False
    actions: tuple[Action, ...] = ()
    new_name: str | None = None

    @property
    def upper(self) -> str:
        return self.sql.upper()


_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMPORARY|TEMP|UNLOGGED)\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>{_QNAME})",
    _FLAGS,
)
_CREATE_INDEX = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:(?P<index>{_QNAME})\s+)?ON\s+(?:ONLY\s+)?(?P<table>{_QNAME})",
    _FLAGS,
)
_DROP_INDEX = re.compile(
    rf"^DROP\s+INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?P<index>{_QNAME})"
    rf"(?:\s+ON\s+(?P<table>{_QNAME}))?",
    _FLAGS,
)
_DROP_TABLE = re.compile(rf"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>{_QNAME})", _FLAGS)
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_QNAME})\s+(?P<rest>.*)$",
    _FLAGS,
)
_RENAME_TABLE = re.compile(
    rf"^RENAME\s+TABLE\s+(?P<table>{_QNAME})\s+TO\s+(?P<new>{_QNAME})", _FLAGS
)
_DATA_CHANGE = re.compile(
    r"^(?:UPDATE|DELETE|MERGE)\b|^(?:INSERT|REPLACE)\b.*\bSELECT\b|"
    r"^WITH\b.*\b(?:UPDATE|DELETE|INSERT)\b",
    _FLAGS,
)
_SET_LOCK_TIMEOUT = re.compile(
    r"^SET\s+(?:SESSION\s+|LOCAL\s+)?lock_timeout\b|\bset_config\s*\(\s*'lock_timeout'", _FLAGS
)
_SET_FK_CHECKS_OFF = re.compile(
    r"^SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?foreign_key_checks\s*=\s*(?:0|OFF|FALSE)\b", _FLAGS
)
_TRANSACTION = {
    "BEGIN": "begin",
    "START TRANSACTION": "begin",
    "BEGIN TRANSACTION": "begin",
    "BEGIN WORK": "begin",
    "COMMIT": "commit",
    "COMMIT WORK": "commit",
    "END": "commit",
    "ROLLBACK": "commit",
}


def parse(sql: str) -> Statement:
    """Classify one normalised statement (see :func:`split_statements`)."""
    upper = sql.upper()
    if upper in _TRANSACTION:
        return Statement(sql, _TRANSACTION[upper])
    if m := _CREATE_TABLE.match(sql):
        return Statement(sql, "create_table", table=m["table"])
    if m := _CREATE_INDEX.match(sql):
        return Statement(
            sql, "create_index", table=m["table"], index=m["index"], concurrently=bool(m["conc"])
        )
    if m := _DROP_INDEX.match(sql):
        return Statement(
            sql, "drop_index", table=m["table"], index=m["index"], concurrently=bool(m["conc"])
        )
    if m := _DROP_TABLE.match(sql):
        return Statement(sql, "drop_table", table=m["table"])
    if m := _RENAME_TABLE.match(sql):
        return Statement(sql, "rename_table", table=m["table"], new_name=m["new"])
    if m := _ALTER_TABLE.match(sql):
        actions = tuple(_action(part) for part in _split_actions(m["rest"]))
        return Statement(sql, "alter_table", table=m["table"], actions=actions)
    if _DATA_CHANGE.match(sql):
        return Statement(sql, "data_change")
    if _SET_LOCK_TIMEOUT.search(sql):
        return Statement(sql, "set_lock_timeout")
    if _SET_FK_CHECKS_OFF.match(sql):
        return Statement(sql, "foreign_key_checks_off")
    if re.match(r"^(?:SET|SELECT|SHOW|EXPLAIN|VALUES)\b", sql, _FLAGS):
        return Statement(sql, "session")
    if re.match(r"^(?:ALTER|DROP|TRUNCATE|CREATE|COMMENT|GRANT|REVOKE)\b", sql, _FLAGS):
        return Statement(sql, "ddl")
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
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_CONSTRAINT_TYPES = (
    ("FOREIGN KEY", "foreign key"),
    ("CHECK", "check"),
    ("UNIQUE", "unique"),
    ("PRIMARY KEY", "primary key"),
    ("EXCLUDE", "exclude"),
)
_DROP_NOT_COLUMN = {"CONSTRAINT", "INDEX", "KEY", "PRIMARY", "FOREIGN", "CHECK", "PARTITION"}
_GENERATED_DEFAULT = re.compile(
    r"\bDEFAULT\b|\bGENERATED\b|\bAUTO_INCREMENT\b|\bAUTOINCREMENT\b|\bIDENTITY\b|"
    r"\b(?:SMALL|BIG)?SERIAL\d?\b",
    _FLAGS,
)


def _action(text: str) -> Action:
    upper = text.upper()
    if m := re.match(rf"^ADD\s+(?:CONSTRAINT\s+(?P<name>{_IDENT})\s+)?(?P<rest>.*)$", text, _FLAGS):
        rest = m["rest"].upper()
        for keyword, detail in _CONSTRAINT_TYPES:
            if re.match(rf"{keyword}\b", rest):
                return Action("add_constraint", text, name=m["name"], detail=detail)
        if m["name"] is None and re.match(r"^(?:INDEX|KEY|FULLTEXT|SPATIAL)\b", rest):
            return Action("other", text)
    if m := re.match(
        rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT})\s", text, _FLAGS
    ):
        return Action("add_column", text, name=m["name"])
    if m := re.match(
        rf"^ALTER\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\s+(?P<type>.*)$",
        text,
        _FLAGS,
    ):
        return Action("alter_type", text, name=m["name"], detail=m["type"])
    if m := re.match(
        rf"^ALTER\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+SET\s+NOT\s+NULL", text, _FLAGS
    ):
        return Action("set_not_null", text, name=m["name"])
    if m := re.match(rf"^MODIFY\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s", text, _FLAGS):
        return Action("modify_column", text, name=m["name"])
    if m := re.match(
        rf"^CHANGE\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+(?P<new>{_IDENT})\s", text, _FLAGS
    ):
        return Action("modify_column", text, name=m["name"], new_name=m["new"])
    if upper.startswith("DROP PRIMARY KEY"):
        return Action("drop_primary_key", text)
    if m := re.match(
        rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<name>{_IDENT})(?:\s|$)", text, _FLAGS
    ):
        if m["name"].upper() not in _DROP_NOT_COLUMN:
            return Action("drop_column", text, name=m["name"])
        return Action("other", text)
    if m := re.match(rf"^VALIDATE\s+CONSTRAINT\s+(?P<name>{_IDENT})", text, _FLAGS):
        return Action("validate_constraint", text, name=m["name"])
    if re.match(r"^RENAME\s+(?:CONSTRAINT|INDEX|KEY)\b", text, _FLAGS):
        return Action("other", text)
    if m := re.match(rf"^RENAME\s+(?:TO\s+|AS\s+)?(?P<new>{_QNAME})$", text, _FLAGS):
        return Action("rename_table", text, new_name=m["new"])
    if m := re.match(
        rf"^RENAME\s+(?:COLUMN\s+)?(?P<name>{_IDENT})\s+TO\s+(?P<new>{_IDENT})", text, _FLAGS
    ):
        return Action("rename_column", text, name=m["name"], new_name=m["new"])
    if re.match(r"^CONVERT\s+TO\s+(?:CHARACTER\s+SET|CHARSET)\b", text, _FLAGS):
        return Action("convert_charset", text)
    if m := re.match(r"^ALGORITHM\s*=?\s*(?P<alg>\w+)", text, _FLAGS):
        return Action("algorithm", text, detail=m["alg"].upper())
    return Action("other", text)


def add_column_is_required(action: Action) -> bool:
    """An ``ADD COLUMN`` that is NOT NULL with no default, identity or generated value."""
    return bool(re.search(r"\bNOT\s+NULL\b", action.text, _FLAGS)) and not bool(
        _GENERATED_DEFAULT.search(action.text)
    )


def constraint_not_valid(action: Action) -> bool:
    return bool(re.search(r"\bNOT\s+VALID\b", action.text, _FLAGS))


def unique_uses_index(action: Action) -> bool:
    return bool(re.search(r"\bUSING\s+INDEX\s+(?!TABLESPACE)", action.text, _FLAGS))


def has_limit(sql: str) -> bool:
    return bool(re.search(r"\bLIMIT\s+\d+", sql, _FLAGS))


def references(sql: str) -> list[str]:
    """Tables named in ``REFERENCES`` clauses (a new table's foreign keys lock those tables)."""
    return re.findall(rf"\bREFERENCES\s+({_QNAME})", sql, _FLAGS)


def sets_local(sql: str) -> bool:
    """Whether a lock_timeout setting lasts only until the transaction ends."""
    return bool(
        re.match(r"^SET\s+LOCAL\b", sql, _FLAGS)
        or re.search(r"set_config\s*\([^)]*,\s*true\s*\)", sql, _FLAGS)
    )
