"""Schema changes in the forms that do not lock a live table: the helpers revision files call.

``flask db lint`` names the forms; these helpers run them, each taking the arguments of the
Alembic operation it replaces, so that autogenerate's rendering of it, renamed, is the call.

On PostgreSQL every statement runs in an ``autocommit_block`` (its lock is released at once,
and ``CONCURRENTLY`` is allowed), and each helper reads the catalogs first and does only what
is missing, so a step run again after a failure finishes the work. A lock timeout is retried
here, statement by statement: what ran before it committed, so the step cannot be run again
whole. The concurrent index build and ``VALIDATE`` let reads and writes through, so they run
without the statement timeout. Offline (``--sql``) the whole sequence is written out.

Where no catalog trick is needed the plain operation runs, as online as the server allows: on
MariaDB and MySQL each ``ALTER`` asks for ``ALGORITHM=INSTANT``, then ``ALGORITHM=INPLACE,
LOCK=NONE``; where the server refuses both it runs with the server's choice, and says so in one
log line. On SQLite a change that needs it runs in batch mode.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import op
from alembic.operations import MigrateOperation, Operations, ops
from alembic.runtime.migration import MigrationContext

from .._errors import COMMITTED_MARK, DDLTimeout
from . import blockers, session

log = logging.getLogger("flask_versioning")

T = TypeVar("T")

#: PostgreSQL's longest identifier.
_NAME_MAX = 63


#: MariaDB/MySQL errors for an ALGORITHM or LOCK clause the server cannot honour for this
#: change (``ER_ALTER_OPERATION_NOT_SUPPORTED`` and ``..._REASON``, MariaDB's
#: ``ER_ALTER_OPERATION_NOT_SUPPORTED_REASON_*`` and the "not supported" of a ``LOCK``).
_REFUSED = frozenset({1845, 1846, 4092})
#: The clauses asked for, in order; the last resort is none (the server's own choice).
_ALGORITHMS = ("ALGORITHM=INSTANT", "ALGORITHM=INPLACE, LOCK=NONE")
#: What SQLite can change only in batch mode.
_BATCH = ops.AlterColumnOp | ops.CreateForeignKeyOp | ops.CreateUniqueConstraintOp


def _plain(context: Any, operation: MigrateOperation) -> None:
    """The operation itself; on MariaDB and MySQL with an online ``ALGORITHM`` asked for."""
    if context.dialect.name in ("mysql", "mariadb"):
        for sql in _render(context, operation):
            _online_alter(context, sql)
    elif context.dialect.name == "sqlite" and isinstance(operation, _BATCH):
        # A foreign key names its table ``source_table``, the others ``table_name``.
        table = str(getattr(operation, "table_name", None) or vars(operation)["source_table"])
        with op.batch_alter_table(table, schema=getattr(operation, "schema", None)) as batch:
            batch.invoke(operation)
    else:
        op.invoke(operation)


def _render(context: Any, operation: MigrateOperation) -> list[str]:
    """The statements ``operation`` runs on this dialect, as text."""
    buffer = io.StringIO()
    offline = MigrationContext.configure(
        dialect=context.dialect,
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    Operations(offline).invoke(operation)
    return [s.strip() for s in buffer.getvalue().split(";\n") if s.strip()]


def with_algorithm(sql: str, clause: str) -> str:
    """``sql`` asking for ``clause`` (``ALTER TABLE`` takes it after a comma, ``CREATE`` and
    ``DROP INDEX`` after a space)."""
    if re.match(r"\s*ALTER\s+TABLE\b", sql, re.IGNORECASE):
        return f"{sql}, {clause}"
    return f"{sql} {clause.replace(',', '')}"


def _online_alter(context: Any, sql: str) -> None:
    """Run one statement asking for an online algorithm, then without; offline, write the
    form tried first. Sent as it is (no bind parameters: a ``:`` in a default is text)."""
    if context.as_sql:
        op.execute(with_algorithm(sql, _ALGORITHMS[0]))
        return
    connection: sa.Connection = context.connection
    reasons = []
    for clause in _ALGORITHMS:
        try:
            connection.exec_driver_sql(with_algorithm(sql, clause))
            return
        except sa.exc.DBAPIError as exc:
            if blockers.errno(exc) not in _REFUSED:
                raise
            reasons.append(" ".join(str(exc.orig).split()))
    log.warning(
        "the server refused ALGORITHM=INSTANT and INPLACE, LOCK=NONE (%s); running with its "
        "own choice, which may copy the table and block writes while it does: %s",
        reasons[-1],
        " ".join(sql.split())[:200],
    )
    connection.exec_driver_sql(sql)


def _postgresql(operation: MigrateOperation | None) -> Any:
    """The migration context on PostgreSQL; elsewhere ``None``, once ``operation`` ran in
    its plain form."""
    context = op.get_context()
    if context.dialect.name == "postgresql":
        return context
    if operation is not None:
        _plain(context, operation)
    return None


def create_index_concurrently(
    index_name: str | None,
    table_name: str,
    columns: Sequence[Any],
    *,
    schema: str | None = None,
    unique: bool = False,
    **kw: Any,
) -> None:
    """``op.create_index()`` that does not block writes while the index builds.

    PostgreSQL: ``CREATE INDEX CONCURRENTLY`` in an autocommit block. An index of that name
    left INVALID by an earlier build that failed (a lock timeout, duplicate rows for a unique
    index) is dropped concurrently and built again; a valid one is left alone. MariaDB:
    ``ALGORITHM=INPLACE, LOCK=NONE`` where the server allows it.
    """
    operation = ops.CreateIndexOp(
        index_name, table_name, columns, schema=schema, unique=unique, **kw
    )
    context = _postgresql(operation)
    if context is not None:
        assert index_name is not None, "a concurrent index needs a name"
        _concurrent_index(context, operation, index_name, schema)


def drop_index_concurrently(
    index_name: str,
    table_name: str | None = None,
    *,
    schema: str | None = None,
    **kw: Any,
) -> None:
    """``op.drop_index()`` that does not lock the table against reads and writes.

    PostgreSQL: ``DROP INDEX CONCURRENTLY IF EXISTS`` in an autocommit block (so an index
    already gone, by an earlier attempt, is fine). MariaDB: ``ALGORITHM=INSTANT`` or
    ``INPLACE, LOCK=NONE`` where the server allows it.
    """
    context = _postgresql(ops.DropIndexOp(index_name, table_name, schema=schema, **kw))
    if context is None:
        return
    with _autocommit(context) as connection:
        _retrying(
            connection,
            f"dropping index {index_name}",
            lambda: op.drop_index(
                index_name, table_name, schema=schema, postgresql_concurrently=True, if_exists=True
            ),
        )


def create_foreign_key_not_valid(
    constraint_name: str | None,
    source_table: str,
    referent_table: str,
    local_cols: list[str],
    remote_cols: list[str],
    **kw: Any,
) -> None:
    """``op.create_foreign_key()`` that checks only new rows: add it with
    :func:`validate_constraint` after it, which checks the existing ones.

    PostgreSQL: ``ADD CONSTRAINT ... NOT VALID`` in a transaction of its own (its lock on both
    tables is brief: no row is read), skipped when the constraint exists. MariaDB: the usual
    ``ALTER``, ``INPLACE`` where the server allows it (only with ``foreign_key_checks`` off).
    """
    context = _postgresql(
        ops.CreateForeignKeyOp(
            constraint_name, source_table, referent_table, local_cols, remote_cols, **kw
        )
    )
    if context is None:
        return
    assert constraint_name is not None, "a NOT VALID foreign key needs a name"
    with _autocommit(context) as connection:
        if _constraint(connection, constraint_name, source_table, kw.get("source_schema")) is None:
            _retrying(
                connection,
                f"adding foreign key {constraint_name}",
                lambda: op.create_foreign_key(
                    constraint_name,
                    source_table,
                    referent_table,
                    local_cols,
                    remote_cols,
                    **kw,
                    postgresql_not_valid=True,
                ),
            )


def validate_constraint(
    constraint_name: str, table_name: str, *, schema: str | None = None
) -> None:
    """``ALTER TABLE ... VALIDATE CONSTRAINT`` in a transaction of its own (PostgreSQL).

    It reads every row, holding a lock that lets reads and writes through, and is skipped
    when the constraint is valid already. Elsewhere constraints are checked when added, and
    this does nothing.
    """
    context = _postgresql(None)
    if context is None:
        return
    with _autocommit(context) as connection:
        if _constraint(connection, constraint_name, table_name, schema) is not True:
            _validate(context, connection, constraint_name, table_name, schema)


def set_not_null(
    table_name: str,
    column_name: str,
    *,
    schema: str | None = None,
    existing_type: Any = None,
    existing_server_default: Any = False,
    existing_comment: str | None = None,
    **kw: Any,
) -> None:
    """``op.alter_column(..., nullable=False)`` without a scan under an exclusive lock.

    PostgreSQL, each statement in a transaction of its own: ``ADD CONSTRAINT <check> CHECK
    (<column> IS NOT NULL) NOT VALID``; ``VALIDATE CONSTRAINT`` (reads every row, writes go
    on); ``SET NOT NULL`` (PostgreSQL 12 and later trust the valid check and read nothing);
    then the check is dropped. A column already ``NOT NULL`` only loses a check left behind.
    MariaDB: ``MODIFY ... NOT NULL``, ``INPLACE, LOCK=NONE`` where the server allows it.
    """
    kw.pop("nullable", None)  # autogenerate's rendering says it; it is what this does
    kw.pop("existing_nullable", None)
    context = _postgresql(
        ops.AlterColumnOp(
            table_name,
            column_name,
            schema=schema,
            existing_type=existing_type,
            existing_server_default=existing_server_default,
            existing_comment=existing_comment,
            existing_nullable=True,
            modify_nullable=False,
            **kw,
        )
    )
    if context is None:
        return
    check = _check_name(table_name, column_name)
    table = _table(context, table_name, schema)
    column, quoted_check = (
        context.dialect.identifier_preparer.quote(n) for n in (column_name, check)
    )
    with _autocommit(context) as connection:
        done = _catalog(connection, _NOT_NULL, table=table_name, column=column_name, schema=schema)
        if not done:
            if _constraint(connection, check, table_name, schema) is None:
                add = f"ADD CONSTRAINT {quoted_check} CHECK ({column} IS NOT NULL) NOT VALID"
                _alter(connection, f"adding check {check}", table, add)
            if _constraint(connection, check, table_name, schema) is not True:
                _validate(context, connection, check, table_name, schema)
            what = f"setting {table_name}.{column_name} NOT NULL"
            _alter(connection, what, table, f"ALTER COLUMN {column} SET NOT NULL")
        if done is None or _constraint(connection, check, table_name, schema) is not None:
            drop = f"DROP CONSTRAINT IF EXISTS {quoted_check}"
            _alter(connection, f"dropping check {check}", table, drop)


def create_unique_constraint_concurrently(
    constraint_name: str | None,
    table_name: str,
    columns: Sequence[str],
    *,
    schema: str | None = None,
    **kw: Any,
) -> None:
    """``op.create_unique_constraint()`` whose index is built without blocking writes.

    PostgreSQL: a unique index of the constraint's name built as by
    :func:`create_index_concurrently` (an INVALID one rebuilt), then ``ADD CONSTRAINT ...
    UNIQUE USING INDEX``, which takes its lock only for a moment; skipped when the constraint
    exists. MariaDB: ``INPLACE, LOCK=NONE`` where the server allows it.
    """
    context = _postgresql(
        ops.CreateUniqueConstraintOp(
            constraint_name, table_name, list(columns), schema=schema, **kw
        )
    )
    if context is None:
        return
    assert constraint_name is not None, "a unique constraint built concurrently needs a name"
    with _autocommit(context) as connection:
        if _constraint(connection, constraint_name, table_name, schema) is not None:
            return
    index = ops.CreateIndexOp(
        constraint_name, table_name, list(columns), schema=schema, unique=True
    )
    _concurrent_index(context, index, constraint_name, schema)
    table = _table(context, table_name, schema)
    name = context.dialect.identifier_preparer.quote(constraint_name)
    with _autocommit(context) as connection:
        add = f"ADD CONSTRAINT {name} UNIQUE USING INDEX {name}"
        _alter(connection, f"adding unique constraint {constraint_name}", table, add)


# --- PostgreSQL ------------------------------------------------------------------------------


def _concurrent_index(
    context: Any, operation: ops.CreateIndexOp, index_name: str, schema: str | None
) -> None:
    table, columns = operation.table_name, operation.columns
    kw = {**operation.kw, "postgresql_concurrently": True}

    def build() -> None:
        valid = _catalog(connection, _INDEX, name=index_name, schema=schema)
        if valid is True:
            return
        if valid is False:
            log.info("index %s was left INVALID by an earlier build: building it again", index_name)
            op.drop_index(
                index_name, table, schema=schema, postgresql_concurrently=True, if_exists=True
            )
        op.create_index(
            index_name, table, columns, schema=schema, unique=bool(operation.unique), **kw
        )

    with _autocommit(context) as connection, _unbounded(connection):
        _retrying(connection, f"building index {index_name}", build)


def _validate(
    context: Any, connection: sa.Connection | None, name: str, table_name: str, schema: str | None
) -> None:
    table = _table(context, table_name, schema)
    quoted = context.dialect.identifier_preparer.quote(name)
    with _unbounded(connection):
        _alter(connection, f"validating {name}", table, f"VALIDATE CONSTRAINT {quoted}")


def _alter(connection: sa.Connection | None, what: str, table: str, change: str) -> None:
    _retrying(connection, what, lambda: op.execute(f"ALTER TABLE {table} {change}"))


_INDEX = sa.text(
    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = :name AND n.nspname = coalesce(:schema, current_schema())"
)
_CONSTRAINT = sa.text(
    "SELECT con.convalidated FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE con.conname = :name "
    "AND t.relname = :table AND n.nspname = coalesce(:schema, current_schema())"
)
_NOT_NULL = sa.text(
    "SELECT a.attnotnull FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE a.attname = :column "
    "AND t.relname = :table AND n.nspname = coalesce(:schema, current_schema()) "
    "AND NOT a.attisdropped"
)


def _catalog(connection: sa.Connection | None, query: sa.TextClause, **params: Any) -> bool | None:
    """A flag from the catalogs (valid, validated, not null); ``None`` when the object does
    not exist, or offline, where everything runs."""
    if connection is None:
        return None
    value = connection.execute(query, params).scalar()
    return None if value is None else bool(value)


def _constraint(
    connection: sa.Connection | None, name: str, table: str, schema: str | None
) -> bool | None:
    return _catalog(connection, _CONSTRAINT, name=name, table=table, schema=schema)


def _check_name(table: str, column: str) -> str:
    name = f"ck_{table}_{column}_not_null"
    return name if len(name) <= _NAME_MAX else name[: _NAME_MAX - 9] + "_not_null"


def _table(context: Any, table: str, schema: str | None) -> str:
    preparer = context.dialect.identifier_preparer
    quoted = preparer.quote(table)
    return f"{preparer.quote_schema(schema)}.{quoted}" if schema else quoted


@contextlib.contextmanager
def _autocommit(context: Any) -> Iterator[sa.Connection | None]:
    """An autocommit block, yielding its connection (``None`` offline). An error from inside
    is marked: the step's message then says that what ran before it is kept."""
    try:
        with context.autocommit_block():
            yield None if context.as_sql else context.connection
    except Exception as exc:
        setattr(exc, COMMITTED_MARK, True)
        raise


@contextlib.contextmanager
def _unbounded(connection: sa.Connection | None) -> Iterator[None]:
    """No statement timeout for a statement that lets the app's reads and writes through."""
    state = session.state_of(connection)
    if connection is None or state is None or state.effective.statement_timeout is None:
        yield
        return
    connection.exec_driver_sql("SET statement_timeout = 0")
    try:
        yield
    finally:
        session.apply(connection, state)


def _retrying(connection: sa.Connection | None, what: str, run: Callable[[], T]) -> T:
    """Run ``run`` (statements in autocommit mode), again after a lock timeout, with the
    step's growing lock timeouts and jittered sleeps; then fail naming the likely holder."""
    state = session.state_of(connection)
    if connection is None or state is None or state.dialect != "postgresql":
        return run()
    policy = state.effective

    def at(attempt: int) -> None:
        state.attempt = attempt
        session.apply(connection, state)

    def exhausted(exc: Exception, attempts: int) -> None:
        found = blockers.likely(connection.engine, blockers.backend_pid(connection))
        raise DDLTimeout(
            f"{what}: the lock was not granted in {attempts} attempts (lock timeout "
            f"{policy.lock_timeout:g} s), {blockers.describe(found, likely=True)}; end that "
            "session and run the migration again, or allow more attempts with "
            "VERSIONING_DDL_LOCK_RETRIES or @timeouts(retries=...)",
            kind="lock",
            blockers=found,
        ) from exc

    return session.retrying(state, run, at, exhausted)
