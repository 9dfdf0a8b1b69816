"""The development pages: the pending-migrations page and the status page.

Loaded by :meth:`Versioning.init_app <flask_versioning.Versioning.init_app>` only when one of
them is wanted (debug mode, or ``VERSIONING_STATUS_PAGE`` set), so a production start never
imports this package. Anything that changes a database from a page is debug-only,
loopback-only and CSRF-protected (:mod:`.guard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

if TYPE_CHECKING:
    from flask import Flask

    from .._state import VersioningState

#: The blueprint's name, which prefixes its endpoints (``versioning_web.status``).
BLUEPRINT = "versioning_web"
#: Where the Apply form posts when the status page is off.
DEFAULT_PREFIX = "/_versioning"


def register(app: Flask, state: VersioningState) -> None:
    """Install the pages ``state.settings`` asks for on ``app``; the pending page's hook goes
    first, as the app's own hooks may query the tables that are not there yet."""
    settings = state.settings
    blueprint = Blueprint(BLUEPRINT, __name__, url_prefix=settings.status_page or DEFAULT_PREFIX)
    if settings.wants_pending_page(app.debug):
        from .pending import PendingGate

        gate = PendingGate(BLUEPRINT)
        blueprint.add_url_rule("/apply", "apply", gate.apply, methods=["POST"])
        app.before_request_funcs.setdefault(None, []).insert(0, gate.before_request)
    if settings.status_page:
        from .status import status_page

        blueprint.add_url_rule("/", "status", status_page)
    app.register_blueprint(blueprint)
