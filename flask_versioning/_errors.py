"""The exceptions the Python API raises, each with a one-line message a user can act on (the
CLI prints it and exits 1), never holding a password: URLs go through :func:`mask_url`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def mask_url(url: str | sa.URL | None) -> str:
    """Render a database URL with its password replaced by ``***``."""
    if url is None:
        return "<no database URL>"
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
    except Exception:
        text = str(url)
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
        return text
    return parsed.render_as_string(hide_password=True)


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def scrub(text: str) -> str:
    """Mask any ``scheme://user:password@`` found in free text, e.g. a driver's message."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def one_line(value: BaseException | str, limit: int | None = None) -> str:
    """``value`` as one line, as every message is (drivers' errors carry newlines and SQL);
    ``limit`` shortens long details (a whole statement echoed back) with ``...``."""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class VersioningError(Exception):
    """Base class of every error Flask-Versioning raises on purpose."""


class ConfigurationError(VersioningError):
    """The app or the extension is set up in a way that cannot work."""


class RevisionError(VersioningError):
    """A revision argument is unknown, ambiguous or not valid."""


class MultipleHeadsError(RevisionError):
    """One head was needed but the history has several."""

    def __init__(self, heads: Sequence[str], action: str = "this command") -> None:
        self.heads = tuple(heads)
        names = ", ".join(self.heads)
        super().__init__(
            f"multiple heads are present ({names}); {action} needs one: name a head "
            "(e.g. 'heads' or '<rev>@head') or join them with 'flask db merge heads'"
        )


class DatabaseError(VersioningError):
    """The database could not be reached or answered with an error."""


class MigrationFailed(VersioningError):
    """A revision raised while it was being applied.

    ``revision`` is the revision that was in progress and ``current`` lists where the database
    stands now, read back after the failure (``None`` when it could not be read back).
    """

    def __init__(
        self,
        revision: str | None,
        current: Sequence[str] | None,
        cause: BaseException,
        *,
        transactional: bool,
    ) -> None:
        self.revision = revision
        self.current = None if current is None else tuple(current)
        self.cause = cause
        if self.current is None:
            where = "unknown (the version table could not be read back)"
        else:
            where = ", ".join(self.current) or "base (no revision)"
        # Our own errors are already one line, sized to say what matters (a lock's holder).
        detail = one_line(cause, None if isinstance(cause, VersioningError) else 300)
        if transactional:
            state = f"its changes were rolled back; the database is at {where}"
        else:
            state = (
                f"this database cannot roll back DDL, so part of it may be applied; "
                f"the version table says {where}"
            )
        super().__init__(
            f"revision {revision or '?'} failed: {type(cause).__name__}: {detail} ({state})"
        )


class AdoptError(VersioningError):
    """A migrations folder cannot be adopted as asked; nothing was changed."""


class LockTimeout(VersioningError):
    """The migration lock was not acquired in time."""


class DDLTimeout(VersioningError):
    """A migration's statement waited for a table's lock past its lock timeout and retries
    (``kind`` ``"lock"``, with the sessions that held it in ``blockers``), or ran past its
    statement timeout (``kind`` ``"statement"``). The step was not applied."""

    def __init__(self, message: str, *, kind: str, blockers: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.blockers = tuple(blockers)


class ProtectedEnvironmentError(VersioningError):
    """A destructive command was refused because the environment is protected.

    Raised before anything is dropped or rewritten, so the database is exactly as it was.
    """


class SeedError(VersioningError):
    """A seed hook is declared or named in a way that cannot work."""


class SeedFailed(SeedError):
    """A seed hook raised; its own changes were rolled back.

    ``name`` is the seed that failed and ``results`` lists what ran before it in the same call
    (those seeds' rows were committed and stay). ``not_run`` names the seeds that were due after
    it and were skipped, because later seeds often build on earlier ones.
    """

    def __init__(
        self,
        name: str,
        environment: str,
        cause: BaseException,
        *,
        results: Sequence[object] = (),
        not_run: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.environment = environment
        self.cause = cause
        self.results = tuple(results)
        self.not_run = tuple(not_run)
        detail = one_line(cause, 300)
        message = (
            f"seed {name!r} ({environment}) failed: {type(cause).__name__}: {detail}; "
            "its changes were rolled back"
        )
        applied = [r for r in self.results if getattr(r, "status", None) == "applied"]
        if applied:
            message += f"; {len(applied)} seed(s) applied before it were kept"
        if self.not_run:
            message += f"; not run: {', '.join(self.not_run)}"
        super().__init__(message)


class HistoryMismatch(VersioningError):
    """Applied revisions whose files changed or vanished since (``validate``).

    ``revisions`` names them. Raised at start-up with ``VERSIONING_VALIDATE_ON_START =
    "refuse"``; ``flask db validate`` reports the same and ``--repair`` records the files as
    reviewed.
    """

    def __init__(self, message: str, revisions: Sequence[str] = ()) -> None:
        self.revisions = tuple(revisions)
        super().__init__(message)


class TenantsInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run on tenants: the tenants being migrated were let finish (or, inline,
    the one running was stopped and read back), no other was started.

    Still a :class:`KeyboardInterrupt`, so a script stops as it would; ``results`` holds one
    :class:`~flask_versioning.TenantResult` per chosen tenant, ``"not run"`` for those never
    started, so that where each one stands is known.
    """

    def __init__(self, results: Sequence[Any]) -> None:
        self.results = list(results)
        super().__init__(f"interrupted: {sum(r.status == 'not run' for r in results)} not run")
