"""``VERSIONING_VALIDATE_ON_START``: refuse (or log) a start on revisions edited after applying.

A revision file changed after it was applied means the code no longer describes the schema
the database has: an edit meant for a new revision went into an old one, or a checkout
differs from what was deployed. Flyway validates on every migrate for this reason. Here it is
opt-in, because it reads every applied revision file on each start (the start-up path stays
one ``SELECT`` without it): ``"refuse"`` stops app creation with
:class:`~flask_versioning.HistoryMismatch`, ``"log"`` logs the same line at ERROR level.

It runs before the automatic upgrade, so a refused start changes nothing, and is skipped in
the processes the automatic upgrade skips: above all ``flask db ...``, so that ``flask db
validate --repair`` can still run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask

from . import _errors as errors
from ._autoupgrade import skip_reason
from ._operations.standing import validate
from ._types import ValidationResult

if TYPE_CHECKING:
    from ._state import VersioningState

__all__ = ["describe", "validate_on_start"]

logger = logging.getLogger("flask_versioning")


def validate_on_start(app: Flask, state: VersioningState, *, command: str) -> None:
    """Validate every database of ``app`` as ``VERSIONING_VALIDATE_ON_START`` says."""
    mode = state.settings.validate_on_start
    if mode is None:
        return
    reason = skip_reason(command)
    if reason is not None:
        logger.debug("validation at start skipped: %s", reason)
        return
    with app.app_context():
        failures = [
            result
            for database in state.databases()
            if not (result := validate(state, database, repair=False, allow_protected=False)).ok
        ]
    if not failures:
        return
    message = "; ".join(describe(result) for result in failures)
    revisions = [r.revision for result in failures for r in result.problems]
    if mode == "refuse":
        raise errors.HistoryMismatch(
            f"{message} (VERSIONING_VALIDATE_ON_START = 'refuse')", revisions
        )
    logger.error("%s (VERSIONING_VALIDATE_ON_START = 'log')", message)


def describe(result: ValidationResult) -> str:
    """One line naming each applied revision whose file changed or vanished."""
    if result.error is not None and not result.problems:
        return f"the {result.database} database cannot be validated: {result.error}"
    parts = [
        f"{r.revision} ({'file missing' if r.state == 'missing' else 'file changed since'})"
        for r in result.problems
    ]
    return (
        f"the {result.database} database has applied revisions whose files changed or "
        f"vanished since: {', '.join(parts)}; review them, then record them with "
        "'flask db validate --repair'"
    )
