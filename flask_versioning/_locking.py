"""A cross-process lock around everything that changes a database's schema or version table.

Several processes often start the same app at once (gunicorn workers, Kubernetes replicas, a
release job): upgrading together, two of them would run the same ``CREATE TABLE``.
:func:`migration_lock` makes them take turns; the others wait, then find nothing left to do.

The lock is always one the server or the OS drops when its holder dies (a session advisory
lock, a ``GET_LOCK`` name, an ``flock``), never a row in a table that a killed process would
leave behind. So server-side locks live on a connection of their own, closed with the lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING
from urllib.parse import unquote

import sqlalchemy as sa

from ._alembic.errors import database_errors
from ._errors import DatabaseError, LockTimeout, mask_url

if TYPE_CHECKING:
    from ._alembic.database import Database

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

logger = logging.getLogger("flask_versioning")

_HINT = (
    "another process is migrating this database; raise VERSIONING_LOCK_TIMEOUT or set "
    "VERSIONING_LOCK = False if your setup cannot hold locks"
)

# Polling bounds: a release is noticed soon, and twenty waiting replicas do not flood the server.
_POLL_MIN = 0.01
_POLL_MAX = 0.2

# The longest one GET_LOCK call waits, so that a read timeout on its connection never fires.
_MYSQL_CHUNK = 5.0

# Depth of the locks held, per (URL without password, key, thread): only the outermost takes
# the real lock, so seeds run under an upgrade's lock do not wait for it; another thread
# contends like another process.
_held: dict[tuple[str, str, int], int] = {}
_held_guard = threading.Lock()

# In-memory SQLite databases exist only inside this process: a thread lock suffices.
_memory_locks: dict[tuple[str, str], threading.Lock] = {}


@contextmanager
def migration_lock(engine: sa.Engine, *, key: str, timeout: float | None) -> Iterator[None]:
    """Hold the cross-process lock named ``key`` for the database behind ``engine``.

    ``timeout``: seconds to wait for another holder (``None`` waits for ever, ``0`` tries
    once), then :class:`~flask_versioning.LockTimeout`. PostgreSQL holds a session advisory
    lock keyed by a hash of ``key``; MariaDB/MySQL a ``GET_LOCK`` whose name includes the
    database, as those names are global to the server; SQLite an ``flock`` on a file of
    :func:`sqlite_lock_path` (an in-memory database a lock local to this process); any other
    backend none (run migrations from one process there).

    Nested calls for the same URL and key in the same thread are re-entrant. If the lock
    connection drops while held, the server releases the lock and the migration runs
    unprotected: the price of a lock that can never be left behind.
    """
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be None or a number of seconds >= 0, not {timeout!r}")
    # Only this thread adds or removes its own entry: testing it outside the guard is safe.
    held_key = (engine.url.render_as_string(hide_password=True), key, threading.get_ident())
    with ExitStack() as stack:
        if held_key not in _held:
            stack.enter_context(_acquire(engine, key, timeout))
        with _held_guard:
            _held[held_key] = _held.get(held_key, 0) + 1
        try:
            yield
        finally:
            with _held_guard:
                _held[held_key] -= 1
                if not _held[held_key]:
                    del _held[held_key]


@contextmanager
def database_lock(database: Database) -> Iterator[None]:
    """Hold the migration lock of ``database`` unless ``VERSIONING_LOCK`` is off; keyed by the
    version table (and its schema), so two histories sharing a database, such as tenants in
    schemas of one PostgreSQL database, do not wait for each other."""
    s = database.settings
    if not s.lock:
        yield
        return
    table = (
        f"{s.version_table_schema}.{s.version_table}" if s.version_table_schema else s.version_table
    )
    with ExitStack() as stack:
        with database_errors(database):  # the lock's connection is the first one made
            key = f"flask_versioning:{table}"
            stack.enter_context(migration_lock(database.engine(), key=key, timeout=s.lock_timeout))
        yield


def _acquire(engine: sa.Engine, key: str, timeout: float | None) -> AbstractContextManager[None]:
    name = engine.dialect.name
    if name in ("postgresql", "mysql", "mariadb"):
        return _server_lock(engine, key, timeout)
    if name == "sqlite":
        path = sqlite_path(engine.url)
        if path is None:
            return _memory_lock(engine, key, timeout)
        return _file_lock(engine, key, timeout, path)
    logger.debug(
        "no migration lock for %r: %s has no supported lock; migrate from one process only",
        key,
        name,
    )
    return nullcontext()


def _timed_out(engine: sa.Engine, key: str, lock_name: str, waited: float) -> LockTimeout:
    return LockTimeout(
        f"could not acquire the migration lock {key!r} ({lock_name}) on "
        f"{mask_url(engine.url)} after waiting {waited:.1f} s: {_HINT}"
    )


def _waiting(key: str, lock_name: str) -> None:
    # Once per wait: workers sitting silently at start-up are explained in the log.
    logger.info("waiting for the migration lock %r (%s) held by another process", key, lock_name)


def _poll(
    attempt: Callable[[], bool], engine: sa.Engine, key: str, lock_name: str, timeout: float | None
) -> None:
    """Call ``attempt`` until it returns True, sleeping from 10 ms growing to 200 ms between
    tries (a lock freed soon is noticed soon, a long wait costs little); :class:`LockTimeout`
    after ``timeout`` seconds."""
    started = time.monotonic()
    delay = _POLL_MIN
    while not attempt():
        pause = delay
        if timeout is not None:
            remaining = started + timeout - time.monotonic()
            if remaining <= 0:
                raise _timed_out(engine, key, lock_name, time.monotonic() - started)
            pause = min(delay, remaining)
        if delay == _POLL_MIN:
            _waiting(key, lock_name)
        time.sleep(pause)
        delay = min(delay * 1.5, _POLL_MAX)


@contextmanager
def _server_lock(engine: sa.Engine, key: str, timeout: float | None) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock or a MariaDB/MySQL ``GET_LOCK`` name on a connection
    detached from the engine's pool: closing it ends the session (the server drops the lock
    whatever the unlock did), it never returns to the pool holding the lock, and its pool slot
    is free for the migration itself (``pool_size=1``). Autocommit keeps it out of a
    transaction as long as it is held."""
    conn = engine.connect()
    try:
        conn.detach()
        # Set on the driver connection rather than through execution_options: the latter
        # registers a reset hook on the pool entry this connection has just left.
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        engine.dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
        take = _postgresql_take if engine.dialect.name == "postgresql" else _mysql_take
        lock_name, unlock = take(conn, engine, key, timeout)
    except BaseException:
        conn.close()
        raise
    logger.debug("acquired %s for %r", lock_name, key)
    try:
        yield
    finally:
        try:
            conn.execute(unlock)
        except Exception as exc:  # closing below releases the lock anyway
            logger.debug(
                "could not release %s cleanly (%s); closing its connection", lock_name, exc
            )
        finally:
            conn.close()
        logger.debug("released %s for %r", lock_name, key)


def _postgresql_take(
    conn: sa.Connection, engine: sa.Engine, key: str, timeout: float | None
) -> tuple[str, sa.TextClause]:
    # Polling pg_try_advisory_lock rather than blocking in pg_advisory_lock keeps the wait
    # interruptible and out of reach of a statement_timeout set on the role or the server.
    # The key is a signed 64-bit hash, the same in every process (``hash()`` is salted).
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    lock_key = int.from_bytes(digest, "big", signed=True)
    lock_name = f"PostgreSQL advisory lock {lock_key}"
    query = sa.text("SELECT pg_try_advisory_lock(:k)").bindparams(k=lock_key)
    _poll(lambda: bool(conn.execute(query).scalar()), engine, key, lock_name, timeout)
    return lock_name, sa.text("SELECT pg_advisory_unlock(:k)").bindparams(k=lock_key)


def _mysql_name(database: str, key: str) -> str:
    """The ``GET_LOCK`` name: global to the server, so it includes the database name; hashed
    when longer than MySQL's 64 characters."""
    name = f"flask_versioning.{database}.{key}"
    if len(name) <= 64:
        return name
    digest = hashlib.blake2b(f"{database}\0{key}".encode(), digest_size=16).hexdigest()
    return f"flask_versioning.{digest}"


def _mysql_take(
    conn: sa.Connection, engine: sa.Engine, key: str, timeout: float | None
) -> tuple[str, sa.TextClause]:
    # The server knows the current database even when it came from connect_args.
    database = conn.execute(sa.text("SELECT DATABASE()")).scalar() or ""
    name = _mysql_name(str(database), key)
    lock_name = f"MySQL lock {name!r}"
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    delay = _POLL_MIN
    waiting = False
    while True:
        remaining = _MYSQL_CHUNK if deadline is None else deadline - time.monotonic()
        wait = max(0.0, min(remaining, _MYSQL_CHUNK))
        call_started = time.monotonic()
        got = conn.execute(
            sa.text("SELECT GET_LOCK(:name, :wait)").bindparams(name=name, wait=wait)
        ).scalar()
        if got == 1:
            return lock_name, sa.text("SELECT RELEASE_LOCK(:name)").bindparams(name=name)
        if got is None:
            raise DatabaseError(
                f"GET_LOCK failed for the migration lock {key!r} ({lock_name}) on "
                f"{mask_url(engine.url)}: the server returned NULL"
            )
        if deadline is not None and time.monotonic() >= deadline:
            raise _timed_out(engine, key, lock_name, time.monotonic() - started)
        if not waiting:
            _waiting(key, lock_name)
            waiting = True
        # A server that rounds fractional waits down returns at once; do not spin on it.
        if time.monotonic() - call_started < wait / 2:
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)


def sqlite_path(url: sa.URL) -> str | None:
    """The SQLite database file (``file:`` URIs included, symlinks resolved so that every
    process agrees on it), or None for an in-memory database."""
    database = url.database or ""
    if url.query.get("uri") in ("true", "1") and database.startswith("file:"):
        path, _, query = database[5:].partition("?")
        # SQLAlchemy moves the URI's query (mode=memory) into url.query; older spellings may
        # leave it in the database part.
        if "mode=memory" in query.split("&") or url.query.get("mode") == "memory":
            return None
        if path.startswith("//"):
            path = "/" + path[2:].partition("/")[2]
        database = unquote(path)
    if database in ("", ":memory:"):
        return None
    return os.path.realpath(database)


#: The folder, next to a SQLite database, that holds its lock files.
LOCK_FOLDER = ".flask-versioning"
_LOCK_FOLDER_IGNORE = (
    "# Written by Flask-Versioning: migration lock files, never to be committed.\n*\n"
)


def sqlite_lock_path(database: str, key: str) -> str:
    """``<database's directory>/.flask-versioning/<database file name>.<key>.lock``, in a
    folder with a ``.gitignore`` of ``*``. Next to the database because only its directory is
    the same for every process that opens it (a runtime directory differs per user, ``/tmp``
    per container or ``PrivateTmp=`` service), and whoever may write the database may write
    there. ``flock`` needs no write access, so the files are created ``0o666`` (less the
    umask) and opened read-only where they cannot be written: users sharing the database
    share its lock."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:40]
    if safe != key:
        safe += "-" + hashlib.blake2b(key.encode("utf-8"), digest_size=4).hexdigest()
    folder, name = os.path.split(database)
    return os.path.join(folder, LOCK_FOLDER, f"{name}.{safe}.lock")


def _open_lock_file(path: str) -> int:
    """Open (creating if needed) the lock file and its folder, kept out of git."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        with suppress(FileExistsError):  # another process may have made it first
            os.mkdir(folder, 0o777)
            # Whoever may write the database's directory may write here: same mode bits.
            with suppress(OSError):
                os.chmod(folder, os.stat(os.path.dirname(folder)).st_mode & 0o7777)
    try:
        fd = os.open(
            os.path.join(folder, ".gitignore"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666
        )
    except OSError:
        pass  # made already, or a folder we may lock in but not write to
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_LOCK_FOLDER_IGNORE)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)  # another user's lock file: flock needs no write


def _try_lock_file(fd: int) -> bool:
    if sys.platform == "win32":
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
    else:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
    return True


def _unlock_file(fd: int) -> None:
    if sys.platform == "win32":
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _file_lock(engine: sa.Engine, key: str, timeout: float | None, database: str) -> Iterator[None]:
    # The OS drops the lock with the holder's descriptor, killed or not; a descriptor per call
    # makes two threads contend as two processes do.
    path = sqlite_lock_path(database, key)
    lock_name = f"lock file {path}"
    if not os.path.isdir(os.path.dirname(database)):
        # The database itself cannot be opened either: say that, not what it means for the lock.
        raise DatabaseError(
            f"cannot use the SQLite database {database}: its directory does not exist"
        )
    try:
        fd = _open_lock_file(path)
    except OSError as exc:
        raise DatabaseError(
            f"cannot open the migration {lock_name}: {exc.strerror}; make its directory "
            "writable or set VERSIONING_LOCK = False"
        ) from exc
    try:
        _poll(lambda: _try_lock_file(fd), engine, key, lock_name, timeout)
        logger.debug("acquired %s for %r", lock_name, key)
        try:
            yield
        finally:
            _unlock_file(fd)
            logger.debug("released %s for %r", lock_name, key)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(engine: sa.Engine, key: str, timeout: float | None) -> Iterator[None]:
    url = engine.url.render_as_string(hide_password=True)
    with _held_guard:
        lock = _memory_locks.setdefault((url, key), threading.Lock())
    started = time.monotonic()
    if not lock.acquire(timeout=-1 if timeout is None else timeout):
        raise _timed_out(engine, key, "in-process lock", time.monotonic() - started)
    try:
        yield
    finally:
        lock.release()
