"""Creating a schema from a baseline on an empty database.

A baseline only ever applies to an *empty* database (no version table and no tables): a database
with a history keeps replaying its real revisions. Stamping the revision is the caller's part
(Alembic's ``stamp``), so that the version table is written the way Alembic writes it.

Where DDL is transactional (PostgreSQL, SQLite) the whole baseline runs in one transaction: a
statement that fails leaves the database empty, as it was. PostgreSQL gets the statements in
batches, one round trip each (see :func:`_run_batch`). MariaDB and MySQL commit each DDL
statement on their own, so a failure there says so, and which statements were applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from .._errors import VersioningError, scrub
from ._sql import split_statements
from .dump import RAW, dialect_key
from .files import Baseline


def is_empty(connection: sa.Connection, *, version_table: str, schema: str | None = None) -> bool:
    """Whether the database has neither the version table nor any table or view.

    ``schema`` is the version table's schema (``None``: the default one); other tables are
    looked for in the default schema, where a baseline creates them.
    """
    inspector = sa.inspect(connection)
    if inspector.has_table(version_table, schema=schema):
        return False
    return not inspector.get_table_names() and not inspector.get_view_names()


def load_baseline(connection: sa.Connection, baseline: Baseline, *, commit: bool = True) -> int:
    """Run ``baseline``'s statements on ``connection``; returns how many were run.

    With ``commit`` (the default) the statements are committed, together with anything the
    connection's current transaction already holds, and a failure rolls back. Pass
    ``commit=False`` to stamp the version table in the same transaction before committing
    yourself (then a failure leaves the rollback to you, too). A failed statement raises a
    one-line :class:`VersioningError` naming the file, the statement and what stayed applied.
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
            batches = _batches(statements) if key == "postgresql" else []
            for start, batch in batches:
                if _run_batch(connection, batch):
                    done = start + len(batch)
                    continue
                for statement in batch:
                    connection.exec_driver_sql(statement, execution_options=RAW)
                    done += 1
            for statement in statements[done:]:
                connection.exec_driver_sql(statement, execution_options=RAW)
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


def _batches(statements: list[str]) -> list[tuple[int, list[str]]]:
    return [
        (start, statements[start : start + _BATCH]) for start in range(0, len(statements), _BATCH)
    ]


def _run_batch(connection: sa.Connection, batch: list[str]) -> bool:
    """Send ``batch`` in one call under a savepoint; whether it went through.

    Thousands of statements one call each cost about as much client time as the server spends
    on them; one call per batch costs almost nothing. A batch that fails is rolled back to its
    savepoint and the caller runs it statement by statement, which names the statement that
    fails, and also covers a driver that cannot run several statements in one call. Each
    statement ends on a line of its own, so that a trailing comment cannot swallow the next.
    """
    savepoint = connection.begin_nested()
    try:
        connection.exec_driver_sql("\n;\n".join(batch), execution_options=RAW)
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


@contextmanager
def _loading(connection: sa.Connection, key: str) -> Iterator[None]:
    """What each backend needs around the statements.

    SQLite: Python's driver only opens a transaction before INSERT/UPDATE/DELETE, so DDL would
    commit statement by statement; an explicit ``BEGIN`` makes the load one transaction.
    MariaDB/MySQL: tables come in name order, so a foreign key may name a table that does not
    exist yet; foreign key checks are off for the load and restored afterwards.
    """
    if key == "sqlite":
        driver = connection.connection.driver_connection
        if not getattr(driver, "in_transaction", True):
            connection.exec_driver_sql("BEGIN", execution_options=RAW)
        yield
    elif key in ("mariadb", "mysql"):
        checks = connection.exec_driver_sql(
            "SELECT @@SESSION.foreign_key_checks", execution_options=RAW
        ).scalar()
        connection.exec_driver_sql("SET SESSION foreign_key_checks = 0", execution_options=RAW)
        try:
            yield
        finally:
            connection.exec_driver_sql(
                f"SET SESSION foreign_key_checks = {int(checks or 0)}", execution_options=RAW
            )
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
    statement = " ".join(statements[done].split()) if done < len(statements) else "?"
    if len(statement) > 80:
        statement = statement[:77] + "..."
    detail = scrub(" ".join(str(exc.orig).split()))
    if len(detail) > 300:
        detail = detail[:297] + "..."
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
