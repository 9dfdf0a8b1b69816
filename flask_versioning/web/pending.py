"""The pending-migrations page: in development, a database behind its heads answers every
request with a page that says so, and a button that applies them (instead of
``OperationalError: no such column``).

:class:`PendingGate` is a ``before_request`` hook put first, so it answers before the app's own
hooks query the missing tables. The first request asks which revisions each database lacks; the
answer is kept until an upgrade from the page or until a ``versions/`` folder changes (one
``stat`` per database and request), so a revision from ``git pull`` is noticed on the next
reload. A database that cannot be reached is not a pending migration: the app's own error is
the right page then.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from typing import TYPE_CHECKING

from flask import Response, abort, current_app, request, url_for

from .._errors import VersioningError, mask_url, one_line, scrub
from .._paths import display_path
from .._state import get_state
from .._types import AppliedRevision
from .guard import FormToken, local_refusal, page, safe_next

if TYPE_CHECKING:
    from alembic.script import Script

    from .._extension import Versioning

logger = logging.getLogger("flask_versioning")

#: The comment Alembic writes in offline SQL before each revision's statements.
_RUNNING = re.compile(r"^-- Running upgrade .*?-> (?P<revision>\S+)[ \t]*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class PendingRevision:
    """One revision the database lacks, as the page lists it."""

    revision: str
    message: str
    path: str
    #: This revision's statements from the offline SQL, or ``None`` when there is no preview.
    sql: str | None


@dataclasses.dataclass(frozen=True)
class DatabaseReport:
    """One database that is behind: where it stands and what an upgrade would apply."""

    name: str
    url: str
    current: tuple[str, ...]
    heads: tuple[str, ...]
    revisions: tuple[PendingRevision, ...]
    #: Offline SQL that comes before the first revision (creating the version table).
    setup_sql: str = ""
    #: Why there is no SQL preview, in one line (``None`` when there is one).
    sql_note: str | None = None


def pending_reports(extension: Versioning) -> tuple[list[DatabaseReport], bool]:
    """The databases that are behind, and whether every database could be checked."""
    reports: list[DatabaseReport] = []
    complete = True
    for bind in extension.databases():
        try:
            scripts = extension.pending(bind=bind)
        except Exception as exc:
            logger.debug("pending page: cannot check the %s database: %s", bind or "default", exc)
            complete = False
            continue
        # A database whose history says it is protected gets no page and no button.
        if scripts and extension.protection(bind=bind) is None:
            reports.append(_report(extension, bind, scripts))
    return reports, complete


def _report(extension: Versioning, bind: str | None, scripts: list[Script]) -> DatabaseReport:
    database = extension.database(bind)
    current = tuple(extension.current(bind=bind))
    heads = tuple(extension.heads(bind=bind))
    sql: dict[str, str] = {}
    setup, note = "", None
    if len(current) > 1:
        note = (
            "no SQL preview: the database stands on several branches; "
            "'flask db upgrade --sql <from>:<to>' shows one range at a time"
        )
    else:
        target = f"{current[0]}:heads" if current else "heads"
        try:
            text = extension.upgrade(target, bind=bind, sql=True).sql or ""
        except Exception as exc:
            note = f"no SQL preview: {scrub(one_line(exc, 300))}"
        else:
            setup, sql = split_sql(text)
    revisions = tuple(
        PendingRevision(
            revision=script.revision,
            message=script.doc or "",
            path=display_path(script.path),
            sql=sql.get(script.revision) if note is None else None,
        )
        for script in scripts
    )
    return DatabaseReport(
        name=database.name,
        url=mask_url(database.url),
        current=current,
        heads=heads,
        revisions=revisions,
        setup_sql=setup,
        sql_note=note,
    )


def split_sql(text: str) -> tuple[str, dict[str, str]]:
    """Offline SQL cut at Alembic's ``-- Running upgrade a -> b`` comments, per revision.

    Returns the statements before the first revision and each revision's statements. A
    transactional backend writes ``BEGIN;`` just before the next comment; it is moved to the
    revision it opens.
    """
    marks = list(_RUNNING.finditer(text))
    starts = [0, *(mark.end() for mark in marks)]
    ends = [*(mark.start() for mark in marks), len(text)]
    segments: list[str] = []
    carry = ""
    for start, end in zip(starts, ends, strict=True):
        segment = carry + text[start:end].strip()
        carry = ""
        if segment.endswith("BEGIN;") and (segment == "BEGIN;" or segment[-7] == "\n"):
            segment, carry = segment[: -len("BEGIN;")].rstrip(), "BEGIN;\n\n"
        segments.append(segment)
    setup, *bodies = segments
    return setup, {mark["revision"]: body for mark, body in zip(marks, bodies, strict=True)}


class PendingGate:
    """The ``before_request`` hook that shows the page, and the Apply form's handler."""

    def __init__(self, blueprint: str) -> None:
        self.blueprint = blueprint
        self.token = FormToken()
        self._lock = threading.Lock()
        self._reports: list[DatabaseReport] | None = None
        self._folders: tuple[int, ...] = ()

    def refusal(self) -> tuple[int, str] | None:
        """Why the page may not act now, as an HTTP status and one line; ``None``: it may."""
        app = current_app
        if not app.debug or app.testing:
            return 404, "the pending-migrations page is only served in debug mode"
        why = get_state().extension.protection(databases=False)
        if why is not None:
            return 403, f"{why}: migrate with 'flask db upgrade'"
        return None

    def reports(self) -> list[DatabaseReport]:
        """The databases behind their heads: checked once, then kept until an upgrade or until
        a revision file is added, removed or renamed."""
        extension = get_state().extension
        with self._lock:
            if self._reports is not None and _folders(extension) == self._folders:
                return self._reports
            reports, complete = pending_reports(extension)
            if complete:
                # Read after the check: importing the revisions may have just created
                # ``versions/__pycache__``, which is no new revision.
                self._reports, self._folders = reports, _folders(extension)
            return reports

    def before_request(self) -> Response | None:
        if request.blueprint == self.blueprint or self.refusal() is not None:
            return None
        reports = self.reports()
        if not reports:
            return None
        if local_refusal(request) is not None:
            # Someone else on the network: say why the app is not answering, show nothing more.
            return page("pending_remote.html", 503, count=len(reports))
        query = request.query_string.decode("latin-1")
        here = request.script_root + request.path + (f"?{query}" if query else "")
        return page(
            "pending.html",
            503,
            databases=reports,
            action=url_for(f"{self.blueprint}.apply"),
            token=self.token.issue(),
            next=here,
        )

    def apply(self) -> Response:
        refused = self.refusal()
        if refused is not None and refused[0] == 404:
            abort(404)
        reason = refused[1] if refused else local_refusal(request)
        if reason is None and not self.token.check(request.form.get("token")):
            reason = "the form's token is missing or has expired: reload the page and try again"
        next_url = safe_next(request.form.get("next"), request.script_root)
        if reason is not None:
            return page("refused.html", 403, reason=reason, next=next_url)

        extension = get_state().extension
        applied: list[tuple[str, AppliedRevision]] = []
        error = None
        try:
            for bind in extension.databases():
                if extension.pending(bind=bind) and extension.protection(bind=bind) is None:
                    name = extension.database(bind).name

                    def progress(step: AppliedRevision, name: str = name) -> None:
                        applied.append((name, step))

                    extension.upgrade(bind=bind, progress=progress)
        except VersioningError as exc:
            error = scrub(one_line(exc))
        except Exception as exc:
            logger.exception("the pending-migrations page could not upgrade")
            error = f"{type(exc).__name__}: {scrub(one_line(exc, 300))}"
        finally:
            with self._lock:
                self._reports = None
        return page(
            "applied.html",
            500 if error else 200,
            applied=applied,
            error=error,
            positions=_positions(extension),
            next=next_url,
        )


def _folders(extension: Versioning) -> tuple[int, ...]:
    """When each database's ``versions/`` folder last gained, lost or renamed a file."""
    times = []
    for bind in extension.databases():
        try:
            times.append(os.stat(extension.database(bind).directory / "versions").st_mtime_ns)
        except OSError:
            times.append(0)
    return tuple(times)


def _positions(extension: Versioning) -> list[tuple[str, str]]:
    """Where each database stands now, as ``(name, revisions)``; a read error is one line."""
    positions = []
    for bind in extension.databases():
        name = extension.database(bind).name
        try:
            where = ", ".join(extension.current(bind=bind)) or "base (no revision applied)"
        except Exception as exc:
            where = f"cannot be read: {scrub(one_line(exc, 200))}"
        positions.append((name, where))
    return positions
