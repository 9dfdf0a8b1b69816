"""Alembic's and the drivers' exceptions (multi-line, with statements, parameters, sometimes
a URL) turned into ours: one line that says what to do and never holds a password."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import sqlalchemy as sa

from .. import _errors as errors

if TYPE_CHECKING:
    from .database import Database


@contextlib.contextmanager
def database_errors(database: Database) -> Iterator[None]:
    """Turn a failure to reach or use the database into one masked line, for the paths that
    never load Alembic; :func:`translate_errors` does this and more."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError):
            detail = errors.scrub(errors.one_line(exc.orig if exc.orig else exc))
            where = errors.mask_url(database.url)
            raise errors.DatabaseError(f"cannot use the database at {where}: {detail}") from exc
        raise


@contextlib.contextmanager
def translate_errors(database: Database, action: str = "this command") -> Iterator[None]:
    """Turn Alembic's and SQLAlchemy's errors into ours, with one-line messages."""
    from alembic.script.revision import MultipleHeads, RevisionError
    from alembic.util import CommandError

    try:
        with database_errors(database):
            yield
    except errors.VersioningError:
        raise
    except (CommandError, RevisionError) as exc:
        cause = exc if isinstance(exc, MultipleHeads) else exc.__cause__
        if isinstance(cause, MultipleHeads):
            raise errors.MultipleHeadsError(cause.heads, action) from exc
        message = errors.one_line(exc)
        if message.startswith("Multiple heads are present"):
            raise errors.MultipleHeadsError(database.script_heads(), action) from exc
        if message == "Target database is not up to date.":
            message = (
                "the database is not at the head revision(s): run 'flask db upgrade' first, "
                "then autogenerate"
            )
        raise errors.RevisionError(message) from exc
    except (SyntaxError, ImportError) as exc:
        where = getattr(exc, "filename", None) or ""
        raise errors.RevisionError(
            f"a revision file cannot be loaded{f' ({where})' if where else ''}: "
            f"{type(exc).__name__}: {errors.one_line(exc)}"
        ) from exc


def reraise(database: Database, exc: Exception, action: str) -> NoReturn:
    """Raise ``exc`` as the rest of the API would: connection errors as one masked line."""
    with translate_errors(database, action):
        raise exc
    raise AssertionError("unreachable")  # pragma: no cover - the block always raises
