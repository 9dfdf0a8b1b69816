"""The plain form of an operation, run as online as the server allows: what the helpers of
:mod:`.safe` run where no catalog trick is needed.

On MariaDB and MySQL each ``ALTER`` asks for ``ALGORITHM=INSTANT``, then ``ALGORITHM=INPLACE,
LOCK=NONE``; where the server refuses both it runs with the server's choice, and says so in one
log line. On SQLite a change that needs it runs in batch mode; elsewhere the Alembic operation
runs as it is.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import MigrateOperation, Operations, ops
from alembic.runtime.migration import MigrationContext

from .blockers import errno

log = logging.getLogger("flask_versioning")

#: MariaDB/MySQL errors for an ALGORITHM or LOCK clause the server cannot honour for this
#: change (``ER_ALTER_OPERATION_NOT_SUPPORTED`` and ``..._REASON``, MariaDB's
#: ``ER_ALTER_OPERATION_NOT_SUPPORTED_REASON_*`` and the "not supported" of a ``LOCK``).
_REFUSED = frozenset({1845, 1846, 4092})
#: The clauses asked for, in order; the last resort is none (the server's own choice).
_ALGORITHMS = ("ALGORITHM=INSTANT", "ALGORITHM=INPLACE, LOCK=NONE")
#: What SQLite can change only in batch mode.
_BATCH = ops.AlterColumnOp | ops.CreateForeignKeyOp | ops.CreateUniqueConstraintOp


def plain(context: Any, operation: MigrateOperation) -> None:
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
            if errno(exc) not in _REFUSED:
                raise
            reasons.append(" ".join(str(exc.orig).split()))
    log.warning(
        "the server refused ALGORITHM=INSTANT and INPLACE, LOCK=NONE (%s); running with its "
        "own choice, which may copy the table and block writes while it does: %s",
        reasons[-1],
        " ".join(sql.split())[:200],
    )
    connection.exec_driver_sql(sql)
