"""Whether a database URL can be used here (a name SQLAlchemy knows, a driver installed), said
in one line before SQLAlchemy's 30-line traceback; and the sync driver for an async one."""

from __future__ import annotations

import sqlalchemy as sa

from .. import _errors as errors

#: The URL to write for a backend, with the extra that installs its driver.
_ADVICE = {
    "postgresql": ("postgresql+psycopg://", "postgres"),
    "mysql": ("mysql+pymysql://", "mysql"),
    "mariadb": ("mariadb+pymysql://", "mysql"),
}
#: The drivers those extras install.
_EXTRA_DRIVERS = {"psycopg", "pymysql"}
#: pip's name for a driver module, where it is not the module's.
_PIP = {"MySQLdb": "mysqlclient"}
#: Names other tools write that SQLAlchemy does not accept, and SQLAlchemy's name for them.
_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}

#: Async drivers and the sync driver of the same database that migrations use instead.
SYNC_DRIVERS = {
    "asyncpg": "psycopg",
    "psycopg_async": "psycopg",
    "aiosqlite": "pysqlite",
    "aiomysql": "pymysql",
    "asyncmy": "pymysql",
}


def sync_url(url: str | sa.URL) -> sa.URL:
    """``url`` with an async driver replaced by its sync counterpart (``SYNC_DRIVERS``):
    migrations are synchronous, and the async driver need not even be installed where only
    ``flask db`` runs. asyncpg's ``ssl=`` becomes libpq's ``sslmode=`` (the same words)."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    backend, _, driver = parsed.drivername.partition("+")
    replacement = SYNC_DRIVERS.get(driver)
    if replacement is None:
        return parsed
    query = dict(parsed.query)
    if driver == "asyncpg" and "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    name = backend if replacement == "pysqlite" else f"{backend}+{replacement}"
    return parsed.set(drivername=name, query=query)


def check_url(url: str | sa.URL, where: str) -> None:
    """Raise :class:`~flask_versioning.ConfigurationError` when ``url`` (``where`` names it)
    names an unknown database or a driver not installed (for async ones: the sync one)."""
    try:
        parsed = sync_url(url)
    except sa.exc.ArgumentError:
        return  # not a URL at all: SQLAlchemy's own message says so in one line
    backend = parsed.get_backend_name()
    if backend in _ALIASES:
        right, extra = _ADVICE[_ALIASES[backend]]
        raise errors.ConfigurationError(
            f"{where} starts with '{backend}://', a name SQLAlchemy does not accept: write "
            f"'{right}' ({_install(extra)})"
        )
    try:
        dialect = parsed.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise errors.ConfigurationError(
            f"{where} names a database or driver SQLAlchemy does not know "
            f"({errors.mask_url(parsed)}): check the part before "
            "'://', e.g. 'postgresql+psycopg' or 'mysql+pymysql'"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = (exc.name or parsed.get_driver_name()).partition(".")[0]
        package = _PIP.get(module, module)
        advice = _ADVICE.get(backend)
        if advice is None:
            fix = f"pip install {package}"
        elif parsed.get_driver_name() in _EXTRA_DRIVERS:
            fix = _install(advice[1])
        else:
            fix = f"write '{advice[0]}' ({_install(advice[1])}), or pip install {package}"
        raise errors.ConfigurationError(
            f"{where} ({errors.mask_url(parsed)}) needs the driver {module!r}, which is not "
            f"installed: {fix}"
        ) from None


def _install(extra: str) -> str:
    return f'pip install "flask-versioning[{extra}]"'
