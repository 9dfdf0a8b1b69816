"""``Versioning.bulk_insert``: many rows into a table or model, at ``executemany`` speed.

A table gets Core ``INSERT``; a model gets SQLAlchemy 2's ORM bulk ``INSERT``, which maps
attribute names to columns and fills a single-table-inheritance discriminator. Neither builds
objects nor fires per-row events, so validators and ``before_insert`` events do not apply;
column defaults do.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic.errors import reraise

if TYPE_CHECKING:
    # Imported where used at run time: sqlalchemy.orm slows a plain-Core app's start.
    from sqlalchemy.orm import Session

    from .._state import VersioningState


#: The session of the seed running in this context, so that ``bulk_insert`` in a hook writes
#: in the seed's transaction without the hook passing the session along.
active_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "flask_versioning_seed_session", default=None
)


def bulk_insert(
    state: VersioningState,
    target: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int,
    session: Session | sa.Connection | None,
) -> int:
    """Insert ``rows`` in batches, returning the number sent: in the seed's transaction inside
    a seed, in ``session``'s when given, else in one of its own on the table's database."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise errors.SeedError(f"batch_size must be a positive integer, not {batch_size!r}")
    from sqlalchemy.orm import Mapper, Session

    orm = not isinstance(target, sa.Table)
    if orm:
        mapper = sa.inspect(target, raiseerr=False)
        if not isinstance(mapper, Mapper):
            raise errors.SeedError(
                f"bulk_insert needs a Table or a mapped model class, not {target!r}"
            )
        if not isinstance(mapper.local_table, sa.Table):
            raise errors.SeedError(f"bulk_insert needs a model mapped to a table, not {target!r}")
        table, statement = mapper.local_table, sa.insert(mapper.class_)
    else:
        table, statement = target, sa.insert(target)

    using = session if session is not None else active_session.get()
    if isinstance(using, Session):
        using.flush()  # pending ORM objects first: bulk rows often refer to them
        if not orm:
            using = using.connection(bind_arguments={"clause": statement})
    if isinstance(using, Session | sa.Connection):
        return _send(using, statement, rows, batch_size, orm)
    # Flask-SQLAlchemy marks a bind's tables (``__bind_key__``) in their MetaData's info.
    database = state.database(table.metadata.info.get("bind_key"))
    try:
        with database.engine().begin() as connection:
            return _send(connection, statement, rows, batch_size, orm)
    except sa.exc.DBAPIError as exc:
        reraise(database, exc, "'bulk_insert'")


def _send(
    target: Session | sa.Connection,
    statement: sa.Insert,
    rows: Iterable[Mapping[str, Any]],
    size: int,
    orm: bool,
) -> int:
    """Run ``statement`` per batch of ``size`` rows: a generator of millions of rows never
    sits in memory at once."""
    if orm and isinstance(target, sa.Connection):
        from sqlalchemy.orm import Session

        # A session on the caller's connection joins its transaction; closing it commits nothing.
        with Session(bind=target) as session:
            return _send(session, statement, rows, size, orm)
    if isinstance(rows, Sequence):
        batches: Iterable[Sequence[Mapping[str, Any]]] = (
            rows[start : start + size] for start in range(0, len(rows), size)
        )
    else:
        iterator = iter(rows)
        batches = iter(lambda: list(itertools.islice(iterator, size)), [])
    total = 0
    for batch in batches:
        target.execute(statement, batch)
        total += len(batch)
    return total
