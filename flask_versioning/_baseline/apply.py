"""Creating a schema from a baseline on an empty database (one with a history keeps replaying
its revisions); stamping the revision is the caller's part, so Alembic writes the version table.

Where DDL is transactional (PostgreSQL, SQLite) the whole baseline is one transaction, so a
failed statement leaves the database empty. MariaDB and MySQL commit each DDL statement, so a
failure there says which statements stayed applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from .._errors import VersioningError, one_line, scrub
from ._sql import split_statements
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
