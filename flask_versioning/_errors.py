"""The exceptions the Python API raises, each with a one-line message a user can act on (the
CLI prints it and exits 1), never holding a password: URLs go through :func:`mask_url`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

# The names of URL query parameters and DSN keys that carry a secret: ``password``,
# ``sslpassword``, ``passfile``, ``pwd``, ``secret``, ``token``, ``api_key``, ``sslkey``,
# ``auth_token``, ``credentials``... Broad on purpose: masking a harmless value costs a
# little context, printing a secret cannot be undone.
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
_MASK = "***"


def mask_url(url: str | sa.URL | None) -> str:
    """Render a database URL with every credential replaced by ``***``: the password of its
    user, and the value of every query parameter whose name carries a secret
    (``?password=``, ``?sslpassword=``, ``?token=``...).

    The one place that renders a URL for a message: every error, report and page calls it."""
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
    """Mask credentials found in free text, e.g. a driver's message: the password of any
    ``scheme://user:password@`` and the value of any ``password=...`` style pair."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _SECRET_PAIR.sub(r"\g<head>***", text)


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


#: Attribute set on an exception raised inside a safe-DDL helper, after which the revision's
#: statements that ran in autocommit mode stay applied (see ``_online.safe``).
COMMITTED_MARK = "versioning_committed"


def _where(current: tuple[str, ...] | None) -> str:
    if current is None:
        return "unknown (the version table could not be read back)"
    return ", ".join(current) or "base (no revision)"


def _standing(
    current: tuple[str, ...] | None, *, transactional: bool, rolled_back: Sequence[str]
) -> str:
    """Where a database stands after a revision stopped: rolled back or maybe half applied,
    whether the steps reported before it were kept, and the revisions it is at."""
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

    ``revision`` is the revision that was in progress and ``current`` lists where the database
    stands now, read back after the failure (``None`` when it could not be read back).
    ``rolled_back`` names the steps that ran before it in the same transaction
    (``transaction_per_migration=False``) and were rolled back with it.
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
    """Ctrl-C while a database was being migrated, once the statement it ran was cancelled on
    the server and the database read back.

    Still a :class:`KeyboardInterrupt`, so a script stops as it would. ``database`` is the
    database's name, ``revision`` the revision that was running (``None`` when none was),
    ``kept`` the steps done before it that stay, ``current`` where it stands now (``None``
    when it could not be read back); ``str()`` says all of it in one line.
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
    """A seed hook raised, or sent a statement seeds may not run; its own changes were rolled
    back.

    ``name`` is the seed that failed and ``results`` lists what ran before it in the same call
    (those seeds' rows were committed and stay). ``not_run`` names the seeds that were due after
    it and were skipped, because later seeds often build on earlier ones. ``rollback_error`` is
    set, and the message says so instead, when even the rollback failed (a lost connection,
    whose server discards the transaction when it notices).
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
    """Applied revisions whose files changed or vanished since (``validate``).

    ``revisions`` names them. Raised at start-up with ``VERSIONING_VALIDATE_ON_START =
    "refuse"``; ``flask db validate`` reports the same and ``--repair`` records the files as
    reviewed.
    """

    def __init__(self, message: str, revisions: Sequence[str] = ()) -> None:
        self.revisions = tuple(revisions)
        super().__init__(message)


class HistoryWriteError(VersioningError):
    """A step's row could not be added to the history ledger, so the step was not committed.

    A step and its record commit together or not at all: a ledger the app's role may not
    write (or that was changed by hand) fails the step, and the message names the grant to
    make, or the setting that turns the ledger off (``VERSIONING_HISTORY = False``).
    ``revision`` is the step's revision.
    """

    def __init__(self, message: str, revision: str | None = None) -> None:
        self.revision = revision
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
