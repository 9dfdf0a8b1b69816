"""PostgreSQL's schema as SQL, built from the server's catalog and its own deparsing functions.

Not ``pg_dump --schema-only``: it is a separate program that must be installed and at least as
new as the server, it needs the password outside the URL, recent releases wrap the dump in
``\\restrict <random key>`` (so the same schema never dumps to the same file), and it qualifies
every name with the schema it was read from. Not SQLAlchemy's reflection compiled back into DDL
either: that loses what has no SQLAlchemy type (domains, extension types) and rewrites what has
no exact inverse (a ``serial`` of a renamed table would get a sequence named after the new
name, where the replayed database keeps the old one).

Instead, what ``pg_dump`` does inside the server: ``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``, ``quote_ident`` and
``quote_literal`` always match the server's version and print exactly what the catalog holds.
Names are not qualified, so the baseline loads into whatever schema is current. Only the current
schema is dumped; what it cannot reproduce (other schemas' tables, functions, triggers, rules,
row-level security, non-enum types, partitioned, inherited and foreign tables) is refused by
name rather than left out.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from .._errors import VersioningError

#: Objects that belong to an extension are created by ``CREATE EXTENSION``, not by the dump.
_NOT_EXTENSION = """NOT EXISTS (
    SELECT 1 FROM pg_depend e
    WHERE e.classid = {catalog}::regclass AND e.objid = {oid} AND e.deptype = 'e')"""

_UNSUPPORTED = {
    "functions or procedures": f"""
        SELECT p.proname FROM pg_proc p WHERE p.pronamespace = :ns
        AND {_NOT_EXTENSION.format(catalog="'pg_proc'", oid="p.oid")}""",
    "triggers": """
        SELECT t.tgname || ' on ' || c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = :ns AND NOT t.tgisinternal AND c.relname <> ALL(:excluded)""",
    "rules": """
        SELECT r.rulename || ' on ' || c.relname FROM pg_rewrite r
        JOIN pg_class c ON c.oid = r.ev_class
        WHERE c.relnamespace = :ns AND r.rulename <> '_RETURN'""",
    "row-level security policies": """
        SELECT c.relname FROM pg_class c WHERE c.relnamespace = :ns AND c.relrowsecurity
        UNION SELECT p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        WHERE c.relnamespace = :ns""",
    "user-defined types other than enums": f"""
        SELECT t.typname FROM pg_type t WHERE t.typnamespace = :ns
        AND (t.typtype IN ('b', 'd', 'r', 'm')
             OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
        AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
        AND {_NOT_EXTENSION.format(catalog="'pg_type'", oid="t.oid")}""",
    "partitioned, inherited or foreign tables": """
        SELECT c.relname FROM pg_class c WHERE c.relnamespace = :ns
        AND (c.relkind IN ('p', 'f') OR c.relispartition
             OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid))""",
    "tables in other schemas": f"""
        SELECT n.nspname || '.' || c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.oid <> :ns
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
        AND c.relname <> ALL(:excluded)
        AND {_NOT_EXTENSION.format(catalog="'pg_class'", oid="c.oid")}""",
}

_EXTENSIONS = """
    SELECT quote_ident(x.extname), x.extnamespace = :ns, quote_ident(n.nspname)
    FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
    WHERE x.extname <> 'plpgsql' ORDER BY x.extname"""

_ENUMS = f"""
    SELECT quote_ident(t.typname),
           array_agg(quote_literal(e.enumlabel) ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = :ns AND {_NOT_EXTENSION.format(catalog="'pg_type'", oid="t.oid")}
    GROUP BY t.oid, t.typname ORDER BY t.typname"""

#: Every sequence with the column that owns it: ``a`` for ``serial`` and ``OWNED BY``, ``i`` for
#: an identity column (created by the column, not by the dump).
_SEQUENCES = f"""
    SELECT quote_ident(c.relname), format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
           s.seqmin, s.seqmax, s.seqcache, s.seqcycle, d.deptype, d.refobjid, d.refobjsubid,
           t.relname
    FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    WHERE c.relkind = 'S' AND c.relnamespace = :ns
    AND {_NOT_EXTENSION.format(catalog="'pg_class'", oid="c.oid")}
    ORDER BY c.relname"""

_RELATIONS = f"""
    SELECT c.oid, c.relname, quote_ident(c.relname), c.relkind, c.relpersistence,
           array_to_string(c.reloptions, ', '),
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
    FROM pg_class c WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'v', 'm')
    AND c.relname <> ALL(:excluded)
    AND {_NOT_EXTENSION.format(catalog="'pg_class'", oid="c.oid")}
    ORDER BY c.relname"""

_COLUMNS = """
    SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
           a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
           CASE WHEN a.attcollation <> t.typcollation
                THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
    WHERE a.attrelid = ANY(:oids) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum"""

#: Constraints, primary keys and unique ones first, so that a foreign key finds its target.
#: NOT NULL constraints (PostgreSQL 18 lists them) come with the columns instead.
_CONSTRAINTS = """
    SELECT c.conrelid, quote_ident(c.conname), c.contype, pg_get_constraintdef(c.oid),
           c.convalidated
    FROM pg_constraint c WHERE c.conrelid = ANY(:oids) AND c.contype IN ('p', 'u', 'x', 'c', 'f')
    ORDER BY c.conrelid::regclass::text, position(c.contype IN 'puxcf'), c.conname"""

#: Indexes that no constraint owns (those come with their constraint).
_INDEXES = """
    SELECT i.indrelid, pg_get_indexdef(i.indexrelid),
           quote_ident(n.nspname) || '.' || quote_ident(t.relname), ic.relname
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE i.indrelid = ANY(:oids) AND NOT EXISTS (
        SELECT 1 FROM pg_constraint c
        WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
        AND c.contype IN ('p', 'u', 'x'))
    ORDER BY t.relname, ic.relname"""

_COMMENTS = """
    SELECT d.objoid, d.objsubid, quote_literal(d.description) FROM pg_description d
    WHERE d.classoid = 'pg_class'::regclass AND d.objoid = ANY(:oids)
    ORDER BY d.objoid, d.objsubid"""

#: Which view uses which other view (through its rewrite rule), to create them in order.
_VIEW_USES = """
    SELECT DISTINCT r.ev_class, d.refobjid FROM pg_depend d
    JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
    WHERE r.ev_class = ANY(:oids) AND d.refobjid = ANY(:oids) AND d.refobjid <> r.ev_class"""


_KINDS = {"r": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}


def dump_postgresql(connection: sa.Connection, excluded: Collection[str]) -> str:
    """The current schema of ``connection``'s database as SQL statements (see the module)."""
    schema = connection.execute(sa.text("SELECT current_schema()")).scalar()
    if schema is None:
        raise VersioningError("this PostgreSQL connection has no current schema (search_path)")
    ns = int(connection.execute(sa.text("SELECT to_regnamespace(:s)::oid"), {"s": schema}).one()[0])
    names = sorted(excluded)
    for what, query in _UNSUPPORTED.items():
        found = connection.execute(sa.text(query), {"ns": ns, "excluded": names}).scalars().all()
        if found:
            raise VersioningError(
                f"this database has {what} ({', '.join(sorted(found))}) that a baseline cannot "
                "reproduce yet; keep replaying the revisions for it"
            )
    return _Dump(connection, ns, names).render()


class _Dump:
    """One dump: the catalog rows it reads and the statements it renders from them."""

    def __init__(self, connection: sa.Connection, ns: int, excluded: list[str]) -> None:
        self.connection = connection
        self.params: dict[str, Any] = {"ns": ns, "excluded": excluded}
        relations = self._rows(_RELATIONS)
        self.params["oids"] = [row[0] for row in relations]
        self.tables = [row for row in relations if row[3] == "r"]
        self.views = {row[0]: row for row in relations if row[3] != "r"}
        self.names = {row[0]: row[2] for row in relations}
        self.kinds = {row[0]: row[3] for row in relations}
        self.columns: dict[int, list[Sequence[Any]]] = defaultdict(list)
        for row in self._rows(_COLUMNS):
            self.columns[row[0]].append(row)
        self.sequences = [row for row in self._rows(_SEQUENCES) if row[11] not in excluded]
        self.identities = {(row[9], row[10]): row for row in self.sequences if row[8] == "i"}

    def _rows(self, query: str) -> Sequence[Sequence[Any]]:
        return self.connection.execute(sa.text(query), self.params).all()

    def _column(self, table: int, number: int) -> str:
        return next(str(row[2]) for row in self.columns[table] if row[1] == number)

    def render(self) -> str:
        statements = [
            f"CREATE EXTENSION IF NOT EXISTS {name}{'' if in_schema else f' WITH SCHEMA {schema}'}"
            for name, in_schema, schema in self._rows(_EXTENSIONS)
        ]
        statements += [
            f"CREATE TYPE {name} AS ENUM ({', '.join(labels)})"
            for name, labels in self._rows(_ENUMS)
        ]
        # A sequence starts where it was declared to start, not where the dumped rows left it
        # (``--include-data`` sets the counters itself); an identity's comes with its column.
        statements += [
            f"CREATE SEQUENCE {row[0]} {_sequence_options(row)}"
            for row in self.sequences
            if row[8] != "i"
        ]
        inline: dict[int, list[str]] = defaultdict(list)
        later: list[str] = []
        foreign: list[str] = []
        for table, name, kind, definition, validated in self._rows(_CONSTRAINTS):
            alter = f"ALTER TABLE {self.names[table]} ADD CONSTRAINT {name} {definition}"
            if kind == "f":
                foreign.append(alter)
            elif validated:
                inline[table].append(f"CONSTRAINT {name} {definition}")
            else:  # NOT VALID cannot be said in CREATE TABLE
                later.append(alter)
        statements += [self._table(row, inline[row[0]]) for row in self.tables]
        statements += later + self._views()
        # pg_get_indexdef's text, with the table's schema taken out of ``ON schema.table``.
        statements += [
            str(definition).replace(f" ON {qualified} ", f" ON {self.names[table]} ", 1)
            for table, definition, qualified, _ in self._rows(_INDEXES)
        ]
        statements += foreign
        statements += [
            f"ALTER SEQUENCE {row[0]} OWNED BY {self.names[row[9]]}.{self._column(row[9], row[10])}"
            for row in self.sequences
            if row[8] == "a" and row[9] in self.names
        ]
        for oid, number, text in self._rows(_COMMENTS):
            if number:
                target = f"COLUMN {self.names[oid]}.{self._column(oid, number)}"
            else:
                target = f"{_KINDS[self.kinds[oid]]} {self.names[oid]}"
            statements.append(f"COMMENT ON {target} IS {text}")
        return "".join(f"{statement};\n\n" for statement in statements)

    def _table(self, row: Sequence[Any], constraints: list[str]) -> str:
        oid, _, name, _, persistence, options, _ = row
        lines = []
        for (
            _,
            number,
            column,
            type_,
            not_null,
            default,
            identity,
            generated,
            collation,
        ) in self.columns[oid]:
            line = f"{column} {type_}"
            if collation:
                line += f" COLLATE {collation}"
            if generated:  # "s": stored, "v": virtual (PostgreSQL 18)
                storage = "VIRTUAL" if generated == "v" else "STORED"
                line += f" GENERATED ALWAYS AS ({default}) {storage}"
            elif default is not None:
                line += f" DEFAULT {default}"
            if identity:
                sequence = self.identities[(oid, number)]
                kind = "ALWAYS" if identity == "a" else "BY DEFAULT"
                line += (
                    f" GENERATED {kind} AS IDENTITY "
                    f"(SEQUENCE NAME {sequence[0]} {_sequence_options(sequence, typed=False)})"
                )
            if not_null:
                line += " NOT NULL"
            lines.append(line)
        body = ",\n    ".join(lines + constraints)
        unlogged = "UNLOGGED " if persistence == "u" else ""
        with_ = f" WITH ({options})" if options else ""
        return f"CREATE {unlogged}TABLE {name} (\n    {body}\n){with_}"

    def _views(self) -> list[str]:
        """Views and materialized views, each after the views it uses."""
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for oid in sorted(self.views, key=lambda oid: self.views[oid][1]):
            sorter.add(oid)
        for view, used in self._rows(_VIEW_USES):
            if view in self.views and used in self.views:
                sorter.add(view, used)
        statements = []
        for oid in sorter.static_order():
            _, _, name, kind, _, options, definition = self.views[oid]
            with_ = f" WITH ({options})" if options else ""
            query = str(definition).strip().removesuffix(";")
            statements.append(f"CREATE {_KINDS[kind]} {name}{with_} AS\n{query}")
        return statements


def _sequence_options(row: Sequence[Any], *, typed: bool = True) -> str:
    """A sequence's type, start, step, bounds, cache and cycling, as ``CREATE SEQUENCE`` says;
    an identity column's sequence takes its type from the column (``typed=False``)."""
    _, type_, start, increment, minimum, maximum, cache, cycle, *_ = row
    return (
        f"{f'AS {type_} ' if typed else ''}START WITH {start} INCREMENT BY {increment} "
        f"MINVALUE {minimum} MAXVALUE {maximum} CACHE {cache}{' CYCLE' if cycle else ''}"
    )
