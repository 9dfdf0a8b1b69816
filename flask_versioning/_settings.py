"""Every ``VERSIONING_*`` key, its default and its validation, in one place: checked once at
``init_app``, so a bad value fails at start-up with a clear message, not inside a migration.
Values may be text, as environment variables give them (``"false"``, ``"none"``, ``"0.5"``).
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

# Here rather than in ``_autoupgrade`` (which reads it) because lower layers set it: a tenants
# run's worker process loads the app in its own thread, so a context variable reaches it.
_start_skipped: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flask_versioning_skip_start", default=None
)


@contextlib.contextmanager
def skipped(reason: str) -> Iterator[None]:
    """Apps created inside this block neither upgrade nor check at start, for ``reason``: for
    code that prepares their databases itself (the pytest plugin, a tenants worker)."""
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

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_OFF = frozenset({"", "none", "off"})


def _optional_flag(key: str, value: Any) -> bool | None:
    """``None``, a bool, or a bool spelled as text (where ``bool("false")`` would mean on)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{key} must be True, False or None, not {value!r}")


def _flag(key: str, value: Any) -> bool:
    flag = _optional_flag(key, value)
    if flag is None:
        raise ConfigurationError(f"{key} must be True or False, not None")
    return flag


def _text(key: str, value: Any) -> str:
    return str(value)


def _as_is(key: str, value: Any) -> Any:
    return value


def _dict(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{key} must be a dict, not {type(value).__name__}")
    return dict(value)


def _choice(key: str, value: Any) -> str | None:
    if value is None or value in ("refuse", "log"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.strip().lower() in _OFF:
        return None
    raise ConfigurationError(f"{key} must be 'refuse' or 'log' or None, not {value!r}")


def _on_error(key: str, value: Any) -> str:
    if value not in ("raise", "log"):
        raise ConfigurationError(f"{key} must be 'raise' or 'log', not {value!r}")
    return value  # type: ignore[no-any-return]


def _lock_timeout(key: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{key} must be a number of seconds or None, not {value!r}"
        ) from None
    if timeout < 0:
        raise ConfigurationError(f"{key} must not be negative")
    return timeout


def _seconds(key: str, value: Any, optional: bool = False) -> float | None:
    """A number of seconds, 0 or more; with ``optional``, ``None`` (or text for it) is off."""
    if optional and (value is None or str(value).strip().lower() in _OFF):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number >= 0:
        allowed = "a number of seconds (0 or more) or None" if optional else "a number of seconds"
        raise ConfigurationError(f"{key} must be {allowed}, not {value!r}")
    return number


def _optional_seconds(key: str, value: Any) -> float | None:
    return _seconds(key, value, optional=True)


def _count(key: str, value: Any) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if isinstance(value, bool) or count < 0 or str(count) != str(value).strip():
        raise ConfigurationError(f"{key} must be a whole number of at least 0, not {value!r}")
    return count


def _names(key: str, value: Any) -> tuple[str, ...] | None:
    """``VERSIONING_BINDS``: a name or a list of them; ``None``: every bind the app has."""
    names = (value,) if isinstance(value, str) else value
    if names is not None and not all(isinstance(b, str) for b in names):
        raise ConfigurationError(f"{key} must be a list of bind names or None")
    return None if names is None else tuple(names)


def _environments(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # "production,staging" from an environment variable
        value = tuple(p.strip() for p in value.split(",") if p.strip())
    if value is None or not all(isinstance(p, str) for p in value):
        raise ConfigurationError(f"{key} must be a list of environment names, not {value!r}")
    return tuple(value)


def _tenants(key: str, value: Any) -> str | Callable[[], Any] | None:
    if not (value is None or isinstance(value, str) or callable(value)):
        raise ConfigurationError(
            f"{key} must be a dotted path ('package.module:function') or a callable, not "
            f"{type(value).__name__}"
        )
    return value or None


def _lint(key: str, value: Any) -> Mapping[str, Any] | None:
    """``None`` or a dict. The rules inside are checked by the linter's ``LintConfig`` when a
    command lints: reading them here would put Alembic on every app start's path."""
    if value is None or isinstance(value, Mapping):
        return value
    raise ConfigurationError(
        f"{key} must be a dict such as {{'rules': {{'ban-drop-column': 'warning'}}}} "
        f"or None, not {value!r}"
    )


def _url_prefix(key: str, value: Any) -> str | None:
    """A URL prefix such as ``"/_versioning"`` (trailing slash dropped); ``None``, ``False`` or
    text such as ``"false"`` mean off."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in _OFF | _FALSE:
        return None
    if not isinstance(value, str) or not value.startswith("/") or not value.strip("/"):
        raise ConfigurationError(
            f"{key} must be a URL prefix such as '/_versioning', or None, not {value!r}"
        )
    return "/" + value.strip("/")


def _url_text(url: Any, key: str) -> str:
    import sqlalchemy as sa

    if isinstance(url, sa.URL):
        return url.render_as_string(hide_password=False)
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{key} must be a database URL, not {type(url).__name__}")
    return url


def _database_urls(key: str, value: Any) -> tuple[str | None, dict[str, str]]:
    """The default URL and the binds' from a URL, or a dict of them by database name (where
    ``"default"`` or ``None`` is the default database)."""
    if value is None:
        return None, {}
    if not isinstance(value, Mapping):
        return _url_text(value, key), {}
    default: str | None = None
    binds: dict[str, str] = {}
    for name, url in value.items():
        text = _url_text(url, f"{key}[{name!r}]")
        if name is None or name == "default":
            default = text
        elif isinstance(name, str) and name:
            binds[name] = text
        else:
            raise ConfigurationError(f"{key} keys must be database names, not {name!r}")
    return default, binds


#: Every key: its default, and the ``Settings`` field it fills through which reader. The
#: defaults also fill ``app.config`` (``setdefault``), so the effective value can be read back.
_KEYS: dict[str, tuple[Any, str, Callable[[str, Any], Any]]] = {
    "VERSIONING_DIRECTORY": ("migrations", "directory", _as_is),
    "VERSIONING_DATABASE_URL": (None, "database_urls", _database_urls),
    "VERSIONING_BINDS": (None, "binds", _names),
    "VERSIONING_VERSION_TABLE": ("alembic_version", "version_table", _text),
    "VERSIONING_VERSION_TABLE_SCHEMA": (None, "version_table_schema", _as_is),
    "VERSIONING_CONTEXT": ({}, "context", _dict),
    "VERSIONING_FILE_TEMPLATE": (None, "file_template", _as_is),
    "VERSIONING_POST_WRITE_HOOKS": ({}, "post_write_hooks", _dict),
    "VERSIONING_AUTO_UPGRADE": (False, "auto_upgrade", _flag),
    "VERSIONING_AUTO_UPGRADE_TARGET": ("heads", "auto_upgrade_target", _text),
    "VERSIONING_AUTO_UPGRADE_ON_ERROR": ("raise", "auto_upgrade_on_error", _on_error),
    "VERSIONING_LOCK": (True, "lock", _flag),
    "VERSIONING_LOCK_TIMEOUT": (300.0, "lock_timeout", _lock_timeout),
    "VERSIONING_ENV": (None, "env", _as_is),
    "VERSIONING_AUTO_SEED": (None, "auto_seed", _optional_flag),
    "VERSIONING_PROTECTED_ENVS": (("production",), "protected_envs", _environments),
    "VERSIONING_SEED_TABLE": ("versioning_seeds", "seed_table", _text),
    "VERSIONING_HISTORY": (True, "keeps_history", _flag),
    "VERSIONING_HISTORY_TABLE": ("versioning_history", "history_table", _text),
    "VERSIONING_VALIDATE_ON_START": (None, "validate_on_start", _choice),
    "VERSIONING_PENDING_PAGE": (None, "pending_page", _optional_flag),
    "VERSIONING_STATUS_PAGE": (None, "status_page", _url_prefix),
    "VERSIONING_LINT": (None, "lint", _lint),
    "VERSIONING_LINEAR_HISTORY": (True, "linear_history", _flag),
    "VERSIONING_TENANTS": (None, "tenants", _tenants),
    "VERSIONING_DDL_LOCK_TIMEOUT": (0.4, "ddl_lock_timeout", _optional_seconds),
    "VERSIONING_DDL_LOCK_RETRIES": (20, "ddl_lock_retries", _count),
    "VERSIONING_DDL_RETRY_DELAY": (2.0, "ddl_retry_delay", _seconds),
    "VERSIONING_DDL_STATEMENT_TIMEOUT": (60.0, "ddl_statement_timeout", _optional_seconds),
    "VERSIONING_SAFE_DDL": (True, "safe_ddl", _flag),
}

#: Every key's default (the configuration page lists the same).
DEFAULTS: dict[str, Any] = {key: default for key, (default, _, _) in _KEYS.items()}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated configuration of one app; each field is its ``VERSIONING_*`` key's."""

    directory: Path
    #: The default database's URL, and the other databases' (``VERSIONING_DATABASE_URL``).
    database_url: str | None
    bind_urls: Mapping[str, str]
    #: The binds to manage; ``None``: every bind the app has.
    binds: tuple[str, ...] | None
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
    #: ``VERSIONING_HISTORY``; ``False``: no ledger, and readers say so (not "empty").
    keeps_history: bool
    history_table: str
    #: ``"refuse"``, ``"log"`` or ``None``.
    validate_on_start: str | None
    #: ``None``: on in debug mode, ``False``: never (see :meth:`wants_pending_page`).
    pending_page: bool | None
    #: The status page's URL prefix, or ``None`` (off).
    status_page: str | None
    #: As given; its rules are checked by the linter's ``LintConfig`` when a command lints.
    lint: Mapping[str, Any] | None
    linear_history: bool
    #: A dotted path (``"pkg.mod:func"``) or a callable; ``None``: ``@versioning.tenants``.
    tenants: str | Callable[[], Any] | None
    #: Per statement: the lock wait per attempt (``None``: no limit, no retries), the attempts
    #: after the first, the longest sleep between two, the longest run.
    ddl_lock_timeout: float | None
    ddl_lock_retries: int
    ddl_retry_delay: float
    ddl_statement_timeout: float | None
    #: Autogenerate writes the forms that do not lock a live table (PostgreSQL, MariaDB).
    safe_ddl: bool

    def wants_pending_page(self, debug: bool) -> bool:
        """Whether ``init_app`` installs the pending-migrations page: ``None`` in debug mode at
        ``init_app``, ``True`` in any case (for apps that turn debug on later). The page only
        answers in debug mode, and never with auto-upgrade on: that upgrades itself."""
        if self.pending_page is False or self.auto_upgrade:
            return False
        return self.pending_page is True or debug

    @property
    def own_tables(self) -> tuple[str, ...]:
        """Tables of ours besides Alembic's version table: autogenerate must never see them."""
        return (self.seed_table, self.history_table, BACKFILL_TABLE)

    @classmethod
    def from_app(cls, app: Flask, directory: str | os.PathLike[str] | None = None) -> Settings:
        """Read and validate the ``VERSIONING_*`` keys of ``app``. ``VERSIONING_DIRECTORY``
        wins over ``directory`` (the extension's), so deployments can move it without code."""
        if directory is not None:
            app.config.setdefault("VERSIONING_DIRECTORY", os.fspath(directory))
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        values = {field: read(key, app.config[key]) for key, (_, field, read) in _KEYS.items()}
        values["database_url"], values["bind_urls"] = values.pop("database_urls")
        values["directory"] = Path(app.root_path) / values["directory"]
        return cls(**values)
