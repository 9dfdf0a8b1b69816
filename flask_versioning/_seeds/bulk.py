"""``Versioning.bulk_insert``: many rows into a table or model, at ``executemany`` speed.

A table gets Core ``INSERT`` with many parameter sets; a model gets SQLAlchemy 2's ORM bulk
``INSERT`` (``session.execute(insert(Model), rows)``), which maps attribute names to columns
and fills a single-table-inheritance discriminator itself. Neither builds objects, keeps an
identity map or fires per-row events, so ORM-only behaviour (validators, ``before_insert``
events, dataclass ``default_factory``) does not apply; column defaults do.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.errors import reraise

if TYPE_CHECKING:
    # Imported where used at run time: sqlalchemy.orm costs a plain-Core app ~60 ms at start.
    from sqlalchemy.orm import Session

    from .._state import VersioningState

__all__ = ["DEFAULT_BATCH_SIZE", "active_session", "bulk_insert"]

#: What one ``executemany`` sends: large enough that the per-call overhead vanishes, small
#: enough that a generator of millions of rows never sits in memory at once.
DEFAULT_BATCH_SIZE = 10_000

#: The session of the seed running in this thread/task, so that ``bulk_insert`` called inside
#: a hook writes in the seed's transaction without the hook having to pass the session along.
active_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "flask_versioning_seed_session", default=None
)


def bulk_insert(
    state: VersioningState,
    target: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    session: Session | sa.Connection | None = None,
) -> int:
    """Insert ``rows`` (dicts) into a table or model in batches; returns the number sent.

    Inside a seed it writes in the seed's transaction; with ``session`` (a Session or a
    Connection) in that one's; otherwise in one transaction of its own on the table's database
    (a Flask-SQLAlchemy bind key, else the default database).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise errors.SeedError(f"batch_size must be a positive integer, not {batch_size!r}")
    from sqlalchemy.orm import Mapper, Session

    if isinstance(target, sa.Table):
        table, statement = target, sa.insert(target)
    else:
        mapper = sa.inspect(target, raiseerr=False)
        if not isinstance(mapper, Mapper):
            raise errors.SeedError(
                f"bulk_insert needs a Table or a mapped model class, not {target!r}"
            )
        if not isinstance(mapper.local_table, sa.Table):
            raise errors.SeedError(f"bulk_insert needs a model mapped to a table, not {target!r}")
        table, statement = mapper.local_table, sa.insert(mapper.class_)
    orm = not isinstance(target, sa.Table)

    using = session if session is not None else active_session.get()
    if isinstance(using, Session):
        using.flush()  # pending ORM objects first: bulk rows often refer to them
        if orm:
            return _send(functools.partial(using.execute, statement), rows, batch_size)
        using = using.connection(bind_arguments={"clause": statement})
    if isinstance(using, sa.Connection):
        return _on_connection(using, statement, rows, batch_size, orm=orm)
    # Flask-SQLAlchemy marks a bind's tables (``__bind_key__``) in their MetaData's info.
    database = state.database(table.metadata.info.get("bind_key"))
    try:
        with database.engine().begin() as connection:
            return _on_connection(connection, statement, rows, batch_size, orm=orm)
    except sa.exc.DBAPIError as exc:
        reraise(database, exc, "'bulk_insert'")


def _on_connection(
    connection: sa.Connection,
    statement: sa.Insert,
    rows: Iterable[Mapping[str, Any]],
    batch_size: int,
    *,
    orm: bool,
) -> int:
    if not orm:
        return _send(lambda batch: connection.execute(statement, batch), rows, batch_size)
    from sqlalchemy.orm import Session

    # A session on the caller's connection joins its transaction; closing it commits nothing.
    with Session(bind=connection) as session:
        return _send(lambda batch: session.execute(statement, batch), rows, batch_size)


def _send(
    execute: Callable[[Sequence[Mapping[str, Any]]], object],
    rows: Iterable[Mapping[str, Any]],
    batch_size: int,
) -> int:
    total = 0
    for batch in _batches(rows, batch_size):
        execute(batch)
        total += len(batch)
    return total


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[Sequence[Mapping[str, Any]]]:
    if isinstance(rows, Sequence):
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
        return
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
