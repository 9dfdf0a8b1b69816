"""Skipping tenants already at the target, as the start-up fast path does: the heads come from
the cached reading of the revision files (none is imported), and each tenant's version table is
read with one ``SELECT``, without the lock. A tenant whose table cannot be read (no table yet,
schema missing, server down) is not skipped: the run itself then creates it or reports why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .. import _errors as errors
from .._alembic import heads
from .._alembic.database import Database
from .._alembic.errors import translate_errors
from .._ledgers.history import active_run
from .._ledgers.versions import read_rows
from .._protection import mark_protected, run_for
from .._types import Tenant
from .tenants import dispose, tenant_database

if TYPE_CHECKING:
    from .._state import VersioningState


# A target naming one revision exactly (anything else needs Alembic to resolve it).
_REVISION_ID = re.compile(r"^[A-Za-z0-9_]+$")


def target_revisions(base: Database, targets: Sequence[str]) -> frozenset[str] | None:
    """The exact revisions a database at ``targets`` holds, when known without Alembic:
    ``heads``/``head`` from the cached heads, plain revision ids as they are, ``base`` as
    nothing. ``None`` for anything relative or partial (then nothing is skipped)."""
    wanted: set[str] = set()
    for target in targets:
        if target in ("heads", "head"):
            locations = [base.directory / "versions"]
            found = heads.script_heads(locations, lambda: _alembic_heads(base)).revisions
            if target == "head" and len(found) > 1:
                raise errors.MultipleHeadsError(found, "'head'")
            wanted.update(found)
        elif target == "base":
            continue
        elif _REVISION_ID.match(target) and target != "current":
            wanted.add(target)
        else:
            return None
    return frozenset(wanted)


def _alembic_heads(database: Database) -> list[str]:
    with translate_errors(database):
        return database.script_heads()


def read_versions(base: Database, tenants: Sequence[Tenant]) -> list[list[str] | None]:
    """Each tenant's version rows, ``None`` where they cannot be read. Schema tenants on the
    app's server share one connection of the app's engine; a URL tenant costs one of its own."""
    found: list[list[str] | None] = [None] * len(tenants)
    shared: list[tuple[int, Database]] = []
    for index, tenant in enumerate(tenants):
        database = tenant_database(base, tenant)
        if tenant.url is None:
            shared.append((index, database))
            continue
        try:
            with suppress(sa.exc.DBAPIError), database.engine().connect() as connection:
                found[index] = read_rows(connection, database)
        finally:
            dispose(database)
    if shared:
        with suppress(sa.exc.DBAPIError), base.engine().connect() as connection:
            for index, database in shared:
                try:
                    found[index] = read_rows(connection, database)
                except sa.exc.DBAPIError:
                    connection.rollback()  # PostgreSQL: the transaction is aborted
    return found


def protect_skipped(state: VersioningState, tenants: Sequence[Tenant]) -> dict[str, str]:
    """Record a protected run's protection in tenants skipped at the target (or a later
    ``downgrade base`` from a development shell would find them unprotected); returns the
    one-line error of each tenant whose ledger could not be written."""
    run = active_run() or run_for(state)
    if not run.protect:
        return {}
    failed: dict[str, str] = {}
    for tenant in tenants:
        database = tenant_database(state.database(), tenant)
        try:
            mark_protected([database], run)
        except sa.exc.SQLAlchemyError as exc:
            detail = errors.scrub(errors.one_line(getattr(exc, "orig", None) or exc, 200))
            failed[tenant.name] = f"cannot record protection in its history ledger: {detail}"
        finally:
            dispose(database)
    return failed
