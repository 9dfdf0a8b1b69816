"""The exceptions the Python API raises, each with a one-line message a user can act on (the
CLI prints it and exits 1), never holding a password: URLs go through :func:`mask_url`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import click
import sqlalchemy as sa

# Names of query parameters and DSN keys that carry a secret. Broad on purpose: masking a
# harmless value costs a little context, printing a secret cannot be undone.
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
_MASK = "***"


def mask_url(url: str | sa.URL | None) -> str:
    """A database URL with its password and every secret query value (``?sslpassword=``...)
    replaced by ``***``: the one place that renders a URL for a message."""
    if url is None:
        return "<no database URL>"
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
    except Exception:
        return scrub(str(url))
    secret = {name: _MASK for name in parsed.query if _SECRET_NAME.search(name)}
    # Values that are connection strings themselves (``odbc_connect=...;PWD=...``).
    nested = {
        name: tuple(scrub(v) for v in value) if isinstance(value, tuple) else scrub(value)
        for name, value in parsed.query.items()
        if name not in secret
    }
    masked = parsed.set(query={**nested, **secret})
    # SQLAlchemy percent-encodes the mask in a query value; show it as typed.
    return scrub(masked.render_as_string(hide_password=True).replace("%2A%2A%2A", _MASK))


# ``scheme://user:password@``: the password runs to the last ``@`` before the host's path.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^\s/]*@")
# ``password=secret`` in a query string or a libpq/ODBC connection string, the value quoted
# or running to the next separator.
_SECRET_PAIR = re.compile(
    r"(?P<head>\b[\w.-]*(?:pass|pwd|secret|token|key|auth|credential)[\w.-]*\s*=\s*)"
    r"(?:'[^']*'|\"[^\"]*\"|[^\s&;,'\")]+)",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """Mask the credentials in free text (a driver's message): URL passwords and
    ``password=...`` style pairs."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _SECRET_PAIR.sub(r"\g<head>***", text)


def one_line(value: BaseException | str, limit: int | None = None) -> str:
    """``value`` as one line, as every message is; ``limit`` cuts long details with ``...``."""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class VersioningError(Exception):
    """Base class of every error Flask-Versioning raises on purpose."""


class ConfigurationError(VersioningError, click.ClickException):
    """The app or the extension is set up in a way that cannot work. A
    :class:`click.ClickException` too: raised as ``flask`` loads the app, before any command of
    ours runs, it prints ``Error: <message>``, not a traceback."""

    def __init__(self, message: str) -> None:
        click.ClickException.__init__(self, message)

    def format_message(self) -> str:
        return scrub(self.message)

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


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


#: Set on an exception raised in a safe-DDL helper: its autocommitted statements stay applied.
COMMITTED_MARK = "versioning_committed"


def _where(current: tuple[str, ...] | None) -> str:
    if current is None:
        return "unknown (the version table could not be read back)"
    return ", ".join(current) or "base (no revision)"


def _standing(
    current: tuple[str, ...] | None, *, transactional: bool, rolled_back: Sequence[str]
) -> str:
    """Where a database stands after a revision stopped: what was rolled back or kept."""
    where = _where(current)
    if not transactional:
        return (
            f"this database cannot roll back DDL, so part of it may be applied; "
            f"the version table says {where}"
        )
    if rolled_back:
        return (
            f"its changes were rolled back, and so were those of {', '.join(rolled_back)}, "
            f"which ran before it in the same transaction: nothing was kept; "
            f"the database is at {where}"
        )
    return f"its changes were rolled back; the database is at {where}"


class MigrationFailed(VersioningError):
    """A revision raised while it was being applied.

    ``current``: where the database stands now (``None``: could not be read back);
    ``rolled_back``: the steps before it in the same transaction, rolled back with it.
    """

    def __init__(
        self,
        revision: str | None,
        current: Sequence[str] | None,
        cause: BaseException,
        *,
        transactional: bool,
        rolled_back: Sequence[str] = (),
    ) -> None:
        self.revision = revision
        self.current = None if current is None else tuple(current)
        self.cause = cause
        self.rolled_back = tuple(rolled_back)
        # Our own errors are already one line, sized to say what matters (a lock's holder).
        detail = one_line(cause, None if isinstance(cause, VersioningError) else 300)
        state = _standing(self.current, transactional=transactional, rolled_back=rolled_back)
        if getattr(cause, COMMITTED_MARK, False) and transactional:
            # A safe-DDL helper commits each statement on its own: what ran is kept.
            state = (
                "the statements that ran outside its transaction (safe-DDL helpers) are kept, "
                "and run again the helpers skip what is done; the rest was rolled back; the "
                f"database is at {_where(self.current)}"
            )
        super().__init__(
            f"revision {revision or '?'} failed: {type(cause).__name__}: {detail} ({state})"
        )


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C while a database was migrated, once its statement was cancelled on the server.

    Still a :class:`KeyboardInterrupt`. ``revision``: the one running (or ``None``);
    ``kept``: the steps before it that stay; ``current``: where it stands now (or ``None``).
    """

    def __init__(
        self,
        database: str,
        revision: str | None,
        current: Sequence[str] | None,
        *,
        transactional: bool,
        kept: Sequence[str] = (),
        rolled_back: Sequence[str] = (),
        cancelled: bool | None = True,
    ) -> None:
        self.database = database
        self.revision = revision
        self.current = None if current is None else tuple(current)
        self.kept = tuple(kept)
        self.rolled_back = tuple(rolled_back)
        if revision is None:  # waiting for the lock, or between two steps
            message = f"interrupted (Ctrl-C) while no revision ran; now at {_where(self.current)}"
        else:
            state = _standing(self.current, transactional=transactional, rolled_back=rolled_back)
            message = f"interrupted (Ctrl-C) during revision {revision}: {state}"
        if self.kept:
            message += f"; kept: {', '.join(self.kept)}"
        if cancelled is False:
            message += "; the server still runs its statement: look for it in the server's list"
        elif cancelled is None:
            message += "; its statement could not be cancelled on the server: check there"
        super().__init__(message)


class AdoptError(VersioningError):
    """A migrations folder cannot be adopted as asked; nothing was changed."""


class LockTimeout(VersioningError):
    """The migration lock was not acquired in time."""


class DDLTimeout(VersioningError):
    """A migration's statement waited for a lock past its timeout and retries (``kind``
    ``"lock"``, the holders in ``blockers``), or ran past its statement timeout
    (``"statement"``); the step was not applied."""

    def __init__(self, message: str, *, kind: str, blockers: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.blockers = tuple(blockers)


class ProtectedEnvironmentError(VersioningError):
    """A destructive command was refused, before changing anything: the environment or the
    database is protected."""


class SeedError(VersioningError):
    """A seed hook is declared or named in a way that cannot work."""


class SeedFailed(SeedError):
    """A seed hook raised, or sent a statement seeds may not run; its changes were rolled back.

    ``results``: what ran before it (committed, kept); ``not_run``: the seeds due after it,
    skipped since later seeds often build on earlier ones; ``rollback_error``: the rollback
    failed too.
    """

    def __init__(
        self,
        name: str,
        environment: str,
        cause: BaseException,
        *,
        results: Sequence[object] = (),
        not_run: Sequence[str] = (),
        rollback_error: BaseException | None = None,
    ) -> None:
        self.name = name
        self.environment = environment
        self.cause = cause
        self.results = tuple(results)
        self.not_run = tuple(not_run)
        self.rollback_error = rollback_error
        # Our own refusals name what happened already; a driver's error needs its type.
        kind = "" if isinstance(cause, SeedError) else f"{type(cause).__name__}: "
        message = f"seed {name!r} ({environment}) failed: {kind}{one_line(cause, 300)}; "
        if rollback_error is None:
            message += "its changes were rolled back"
        else:
            message += (
                f"rolling its transaction back failed too ({one_line(rollback_error, 200)}): "
                "check its tables before running it again"
            )
        applied = [r for r in self.results if getattr(r, "status", None) == "applied"]
        if applied:
            message += f"; {len(applied)} seed(s) applied before it were kept"
        if self.not_run:
            message += f"; not run: {', '.join(self.not_run)}"
        super().__init__(message)


class HistoryMismatch(VersioningError):
    """Applied revisions (``revisions``) whose files changed or vanished since: raised at
    start with ``VERSIONING_VALIDATE_ON_START = "refuse"``."""

    def __init__(self, message: str, revisions: Sequence[str] = ()) -> None:
        self.revisions = tuple(revisions)
        super().__init__(message)


class HistoryWriteError(VersioningError):
    """A step's row could not be added to the history ledger, so the step (``revision``) was
    not committed; the message names the grant to make, or ``VERSIONING_HISTORY = False``."""

    def __init__(self, message: str, revision: str | None = None) -> None:
        self.revision = revision
        super().__init__(message)


class TenantsInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run on tenants: those running finished (inline: stopped), no other
    started. Still a :class:`KeyboardInterrupt`; ``results`` has one
    :class:`~flask_versioning.TenantResult` per chosen tenant (``"not run"``: never started).
    """

    def __init__(self, results: Sequence[Any]) -> None:
        self.results = list(results)
        super().__init__(f"interrupted: {sum(r.status == 'not run' for r in results)} not run")
