"""Every ``VERSIONING_*`` key, its default and its validation, in one place: checked once at
``init_app``, so a bad value fails at start-up with a clear message, not inside a migration.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from ._errors import ConfigurationError

# -- apps made where the start-up work must not run --------------------------------------------
# Here rather than in ``_autoupgrade`` (which reads it) because code in lower layers sets it: a
# worker process of a tenants run (``--jobs``) loads the app inside it, since the parent process
# decides what runs. The worker loads the app in its own process and thread, so a context
# variable reaches it; nothing needs to travel through the environment.

_start_skipped: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flask_versioning_skip_start", default=None
)


@contextlib.contextmanager
def skipped(reason: str) -> Iterator[None]:
    """Apps created inside this block neither upgrade nor check at start, for ``reason``.

    For code that makes apps on databases it prepares itself: the pytest plugin calls the
    user's factory for a template that does not exist yet, or for a copy of one already at
    head, and decides itself which seeds go in; a tenants run's worker process loads the app
    while the parent process decides what runs.
    """
    token = _start_skipped.set(reason)
    try:
        yield
    finally:
        _start_skipped.reset(token)


def start_skip_reason() -> str | None:
    """The reason given to the innermost :func:`skipped` block around this call, if any."""
    return _start_skipped.get()


#: The table that remembers how far each batched backfill got (``online.backfill``).
BACKFILL_TABLE = "versioning_backfills"

#: Defaults for every key; ``init_app`` fills missing keys with ``setdefault`` so the effective
#: configuration can be read back from ``app.config``.
DEFAULTS: dict[str, Any] = {
    "VERSIONING_DIRECTORY": "migrations",
    "VERSIONING_DATABASE_URL": None,
    "VERSIONING_BINDS": None,
    "VERSIONING_VERSION_TABLE": "alembic_version",
    "VERSIONING_VERSION_TABLE_SCHEMA": None,
    "VERSIONING_CONTEXT": {},
    "VERSIONING_FILE_TEMPLATE": None,
    "VERSIONING_POST_WRITE_HOOKS": {},
    "VERSIONING_AUTO_UPGRADE": False,
    "VERSIONING_AUTO_UPGRADE_TARGET": "heads",
    "VERSIONING_AUTO_UPGRADE_ON_ERROR": "raise",
    "VERSIONING_LOCK": True,
    "VERSIONING_LOCK_TIMEOUT": 300.0,
    "VERSIONING_ENV": None,
    "VERSIONING_AUTO_SEED": None,
    "VERSIONING_PROTECTED_ENVS": ("production",),
    "VERSIONING_SEED_TABLE": "versioning_seeds",
    "VERSIONING_HISTORY": True,
    "VERSIONING_HISTORY_TABLE": "versioning_history",
    "VERSIONING_VALIDATE_ON_START": None,
    "VERSIONING_PENDING_PAGE": None,
    "VERSIONING_STATUS_PAGE": None,
    "VERSIONING_LINT": None,
    "VERSIONING_LINEAR_HISTORY": True,
    "VERSIONING_TENANTS": None,
    "VERSIONING_DDL_LOCK_TIMEOUT": 0.4,
    "VERSIONING_DDL_LOCK_RETRIES": 20,
    "VERSIONING_DDL_RETRY_DELAY": 2.0,
    "VERSIONING_DDL_STATEMENT_TIMEOUT": 60.0,
    "VERSIONING_SAFE_DDL": True,
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated configuration of one app."""

    directory: Path
    #: The default database's URL (``VERSIONING_DATABASE_URL``, or its ``"default"`` entry).
    database_url: str | None
    version_table: str
    version_table_schema: str | None
    context: Mapping[str, Any]
    file_template: str | None
    post_write_hooks: Mapping[str, str]
    auto_upgrade: bool
    auto_upgrade_target: str
    auto_upgrade_on_error: str
    lock: bool
    lock_timeout: float | None
    env: str | None
    auto_seed: bool | None
    protected_envs: tuple[str, ...]
    seed_table: str
    #: The applied-history ledger's table (``VERSIONING_HISTORY_TABLE``).
    history_table: str = "versioning_history"
    #: ``VERSIONING_HISTORY``: whether this app keeps the history ledger, every step adding
    #: its row in the step's own transaction (failing the step when it cannot). ``False``: the
    #: ledger is *off*, nothing writes or reads it, and readers report it as off rather than
    #: as an empty or missing history.
    keeps_history: bool = True
    #: ``VERSIONING_VALIDATE_ON_START``: ``"refuse"``, ``"log"`` or ``None``.
    validate_on_start: str | None = None
    #: URLs of the other databases, from a ``VERSIONING_DATABASE_URL`` dict, in config order.
    bind_urls: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The binds to manage (``VERSIONING_BINDS``); ``None``: every bind the app has.
    binds: tuple[str, ...] | None = None
    #: ``VERSIONING_PENDING_PAGE``: ``None`` on in debug mode, ``False`` never; see
    #: :meth:`wants_pending_page`.
    pending_page: bool | None = None
    #: ``VERSIONING_STATUS_PAGE``: the status page's URL prefix, or ``None`` (off).
    status_page: str | None = None

    def wants_pending_page(self, debug: bool) -> bool:
        """Whether ``init_app`` installs the pending-migrations page on an app.

        ``None`` installs it when the app is in debug mode at ``init_app`` (``flask run
        --debug``), so a production start never even imports it; ``True`` installs it in any
        case, for apps that turn debug on later (``app.run(debug=True)``). Either way the page
        only ever answers in debug mode, and never with auto-upgrade on: that upgrades itself.
        """
        if self.pending_page is False or self.auto_upgrade:
            return False
        return self.pending_page is True or debug

    #: ``VERSIONING_LINT`` as given: ``None`` or a dict. Its rule ids and severities are checked
    #: by the linter's ``LintConfig`` when a command lints (see :func:`_lint_setting`).
    lint: Mapping[str, Any] | None = None
    #: ``VERSIONING_LINEAR_HISTORY``: new script directories get a ``versions/HEADS`` file, and
    #: directories that have one are guarded by it. ``False``: neither.
    linear_history: bool = True
    #: ``VERSIONING_TENANTS``: where the tenants come from, a dotted path (``"pkg.mod:func"``)
    #: or the callable itself; ``None``: the ``@versioning.tenants`` function, if any.
    tenants: str | Callable[[], Any] | None = None
    #: ``VERSIONING_DDL_LOCK_TIMEOUT``: the longest a migration's statement waits for a lock
    #: per attempt, in seconds (``None``: as long as the server lets it, and no retries).
    ddl_lock_timeout: float | None = 0.4
    #: ``VERSIONING_DDL_LOCK_RETRIES``: attempts after the first, per step (statement on MariaDB).
    ddl_lock_retries: int = 20
    #: ``VERSIONING_DDL_RETRY_DELAY``: the longest sleep between two attempts, in seconds.
    ddl_retry_delay: float = 2.0
    #: ``VERSIONING_DDL_STATEMENT_TIMEOUT``: the longest a migration's statement may run.
    ddl_statement_timeout: float | None = 60.0
    #: ``VERSIONING_SAFE_DDL``: autogenerate writes the forms that do not lock a live table
    #: (concurrent indexes, NOT VALID constraints, online ALTERs) on PostgreSQL and MariaDB.
    safe_ddl: bool = True

    @property
    def own_tables(self) -> tuple[str, ...]:
        """Tables of ours besides Alembic's version table: autogenerate must never see them."""
        return (self.seed_table, self.history_table, BACKFILL_TABLE)

    @classmethod
    def from_app(cls, app: Flask, directory: str | os.PathLike[str] | None = None) -> Settings:
        """Read and validate the ``VERSIONING_*`` keys of ``app``. ``VERSIONING_DIRECTORY``
        wins over ``directory`` (the extension's), so deployments can move it without code."""
        for key, value in DEFAULTS.items():
            if key == "VERSIONING_DIRECTORY" and directory is not None:
                app.config.setdefault(key, os.fspath(directory))
            else:
                app.config.setdefault(key, value)
        c = app.config
        path = Path(c["VERSIONING_DIRECTORY"])
        if not path.is_absolute():
            path = Path(app.root_path) / path

        on_error = c["VERSIONING_AUTO_UPGRADE_ON_ERROR"]
        if on_error not in ("raise", "log"):
            raise ConfigurationError(
                f"VERSIONING_AUTO_UPGRADE_ON_ERROR must be 'raise' or 'log', not {on_error!r}"
            )
        timeout = c["VERSIONING_LOCK_TIMEOUT"]
        if timeout is not None:
            try:
                timeout = float(timeout)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"VERSIONING_LOCK_TIMEOUT must be a number of seconds or None, not {timeout!r}"
                ) from None
            if timeout < 0:
                raise ConfigurationError("VERSIONING_LOCK_TIMEOUT must not be negative")
        for key in ("VERSIONING_CONTEXT", "VERSIONING_POST_WRITE_HOOKS"):
            if not isinstance(c[key], Mapping):
                raise ConfigurationError(f"{key} must be a dict, not {type(c[key]).__name__}")
        database_url, bind_urls = _database_urls(c["VERSIONING_DATABASE_URL"])
        binds = c["VERSIONING_BINDS"]
        if isinstance(binds, str):
            binds = (binds,)
        if binds is not None and not all(isinstance(b, str) for b in binds):
            raise ConfigurationError("VERSIONING_BINDS must be a list of bind names or None")
        tenants = c["VERSIONING_TENANTS"]
        if not (tenants is None or isinstance(tenants, str) or callable(tenants)):
            raise ConfigurationError(
                "VERSIONING_TENANTS must be a dotted path ('package.module:function') or a "
                f"callable, not {type(tenants).__name__}"
            )
        protected = c["VERSIONING_PROTECTED_ENVS"]
        if isinstance(protected, str):  # "production,staging" from an environment variable
            protected = tuple(p.strip() for p in protected.split(",") if p.strip())
        if protected is None or not all(isinstance(p, str) for p in protected):
            raise ConfigurationError(
                f"VERSIONING_PROTECTED_ENVS must be a list of environment names, not {protected!r}"
            )
        return cls(
            directory=path,
            database_url=database_url,
            version_table=str(c["VERSIONING_VERSION_TABLE"]),
            version_table_schema=c["VERSIONING_VERSION_TABLE_SCHEMA"],
            context=dict(c["VERSIONING_CONTEXT"]),
            file_template=c["VERSIONING_FILE_TEMPLATE"],
            post_write_hooks=dict(c["VERSIONING_POST_WRITE_HOOKS"]),
            auto_upgrade=_flag("VERSIONING_AUTO_UPGRADE", c["VERSIONING_AUTO_UPGRADE"]),
            auto_upgrade_target=str(c["VERSIONING_AUTO_UPGRADE_TARGET"]),
            auto_upgrade_on_error=on_error,
            lock=_flag("VERSIONING_LOCK", c["VERSIONING_LOCK"]),
            lock_timeout=timeout,
            env=c["VERSIONING_ENV"],
            auto_seed=_optional_flag("VERSIONING_AUTO_SEED", c["VERSIONING_AUTO_SEED"]),
            protected_envs=tuple(protected),
            seed_table=str(c["VERSIONING_SEED_TABLE"]),
            keeps_history=_flag("VERSIONING_HISTORY", c["VERSIONING_HISTORY"]),
            history_table=str(c["VERSIONING_HISTORY_TABLE"]),
            validate_on_start=_choice(
                "VERSIONING_VALIDATE_ON_START", c["VERSIONING_VALIDATE_ON_START"], "refuse", "log"
            ),
            bind_urls=bind_urls,
            binds=tuple(binds) if binds is not None else None,
            pending_page=_optional_flag("VERSIONING_PENDING_PAGE", c["VERSIONING_PENDING_PAGE"]),
            status_page=_url_prefix("VERSIONING_STATUS_PAGE", c["VERSIONING_STATUS_PAGE"]),
            lint=_lint_setting(c["VERSIONING_LINT"]),
            linear_history=_flag("VERSIONING_LINEAR_HISTORY", c["VERSIONING_LINEAR_HISTORY"]),
            tenants=tenants or None,
            safe_ddl=_flag("VERSIONING_SAFE_DDL", c["VERSIONING_SAFE_DDL"]),
            **_ddl_settings(c),
        )


def _ddl_settings(c: Mapping[str, Any]) -> dict[str, Any]:
    """The ``VERSIONING_DDL_*`` keys: numbers of seconds (``None`` for off where allowed) and
    a count of retries, also read as text from environment variables."""
    values: dict[str, Any] = {}
    for key, name, optional in (
        ("VERSIONING_DDL_LOCK_TIMEOUT", "ddl_lock_timeout", True),
        ("VERSIONING_DDL_RETRY_DELAY", "ddl_retry_delay", False),
        ("VERSIONING_DDL_STATEMENT_TIMEOUT", "ddl_statement_timeout", True),
    ):
        value = c[key]
        if optional and (value is None or str(value).strip().lower() in ("", "none", "off")):
            values[name] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if isinstance(value, bool) or not number >= 0:
            allowed = (
                "a number of seconds (0 or more) or None" if optional else "a number of seconds"
            )
            raise ConfigurationError(f"{key} must be {allowed}, not {value!r}")
        values[name] = number
    retries = c["VERSIONING_DDL_LOCK_RETRIES"]
    try:
        count = int(retries)
    except (TypeError, ValueError):
        count = -1
    if isinstance(retries, bool) or count < 0 or str(count) != str(retries).strip():
        raise ConfigurationError(
            f"VERSIONING_DDL_LOCK_RETRIES must be a whole number of at least 0, not {retries!r}"
        )
    values["ddl_lock_retries"] = count
    return values


def _lint_setting(value: Any) -> Mapping[str, Any] | None:
    """``VERSIONING_LINT``'s shape: ``None`` or a dict.

    The rule ids and severities inside are checked by the linter's own ``LintConfig`` when a
    command first lints (``flask db lint``, ``migrate``, ``plan``), with the same one-line
    errors. Not here: the rules live with the linter, which imports Alembic, and reading them
    at start-up would put Alembic on the path of every app start.
    """
    if value is None or isinstance(value, Mapping):
        return value
    raise ConfigurationError(
        "VERSIONING_LINT must be a dict such as {'rules': {'ban-drop-column': 'warning'}} "
        f"or None, not {value!r}"
    )


def _choice(key: str, value: Any, *allowed: str) -> str | None:
    if value is None or value in allowed:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
        return None
    choices = " or ".join(repr(a) for a in allowed)
    raise ConfigurationError(f"{key} must be {choices} or None, not {value!r}")


def _database_urls(value: Any) -> tuple[str | None, dict[str, str]]:
    """Split ``VERSIONING_DATABASE_URL`` (a URL, or a dict of them by database name, where
    ``"default"`` or ``None`` is the default database) into the default URL and the binds'."""
    if value is None:
        return None, {}
    if not isinstance(value, Mapping):
        return _url_text(value, "VERSIONING_DATABASE_URL"), {}
    default: str | None = None
    binds: dict[str, str] = {}
    for name, url in value.items():
        text = _url_text(url, f"VERSIONING_DATABASE_URL[{name!r}]")
        if name is None or name == "default":
            default = text
        elif isinstance(name, str) and name:
            binds[name] = text
        else:
            raise ConfigurationError(
                f"VERSIONING_DATABASE_URL keys must be database names, not {name!r}"
            )
    return default, binds


def _url_text(url: Any, key: str) -> str:
    import sqlalchemy as sa

    if isinstance(url, sa.URL):
        return url.render_as_string(hide_password=False)
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{key} must be a database URL, not {type(url).__name__}")
    return url


def _url_prefix(key: str, value: Any) -> str | None:
    """A URL prefix such as ``"/_versioning"`` (trailing slash dropped), or ``None`` for off.

    ``False``, ``""`` and text such as ``"false"`` mean off too, as an environment variable
    would spell it.
    """
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in {"", "none", *_FALSE}:
        return None
    if not isinstance(value, str) or not value.startswith("/") or not value.strip("/"):
        raise ConfigurationError(
            f"{key} must be a URL prefix such as '/_versioning', or None, not {value!r}"
        )
    return "/" + value.strip("/")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(key: str, value: Any) -> bool:
    """A bool, or a bool spelled as text; ``None`` is refused (it has no meaning here)."""
    flag = _optional_flag(key, value)
    if flag is None:
        raise ConfigurationError(f"{key} must be True or False, not None")
    return flag


def _optional_flag(key: str, value: Any) -> bool | None:
    """``None``, a bool, or a bool spelled as text, as environment variables give it (where
    ``bool("false")`` would silently mean on)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{key} must be True, False or None, not {value!r}")
