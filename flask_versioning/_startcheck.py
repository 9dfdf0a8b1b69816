"""What ``init_app`` runs at start: ``VERSIONING_VALIDATE_ON_START``, then the automatic upgrade.

A revision file changed after it was applied no longer describes the schema the database has
(an edit meant for a new revision, a checkout that differs from what was deployed). Validating
reads every applied file, so it is opt-in: ``"refuse"`` stops app creation with
:class:`~flask_versioning.HistoryMismatch`, ``"log"`` logs the same line. It runs before the
upgrade, so a refused start changes nothing, and is skipped where the upgrade is: above all in
``flask db ...``, so that ``flask db validate --repair`` can still run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask

from . import _errors as errors
from ._autoupgrade import auto_upgrade, skip_reason
from ._operations.standing import validate
from ._types import ValidationResult

if TYPE_CHECKING:
    from ._state import VersioningState

logger = logging.getLogger("flask_versioning")


def start(app: Flask, state: VersioningState, *, command: str) -> None:
    """Validate, then upgrade, as the settings ask; ``command`` is our CLI group's name."""
    if state.settings.validate_on_start is not None:
        validate_on_start(app, state, command=command)
    if state.settings.auto_upgrade:
        auto_upgrade(app, state, command=command)


def validate_on_start(app: Flask, state: VersioningState, *, command: str) -> None:
    """Validate every database of ``app`` as ``VERSIONING_VALIDATE_ON_START`` says."""
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
    if state.settings.validate_on_start == "refuse":
        revisions = [r.revision for result in failures for r in result.problems]
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
