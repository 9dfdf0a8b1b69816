"""The migration lock's edges (locking.py): where SQLite lock files go, keys that are long or
unsafe for a file name, a lock whose connection dies under it, and a lock file that cannot be
opened.

Contention is checked between threads, which the lock treats as separate contenders exactly
like separate processes (test_locking.py covers real processes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import table_names
from flask import Flask

from flask_versioning import DatabaseError, LockTimeout, Versioning
from flask_versioning._locking import migration_lock

KEY = "flask_versioning.edges"


@contextlib.contextmanager
def held_elsewhere(url: str, key: str) -> Iterator[None]:
    """Hold the lock on ``key`` in another thread for the duration of the block.

    The holder lets go when the block ends and never before, so whatever fails to get the lock
    inside the block failed while the lock was held, however slow the machine.
    """
    taken, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with migration_lock(engine, key=key, timeout=None):
                taken.set()
                release.wait()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            taken.set()
        finally:
            engine.dispose()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(120) and not failure, failure
        yield
    finally:
        release.set()
        thread.join(120)


def takes(url: str, key: str, timeout: float, statements: list[str] | None = None) -> bool:
    """Whether this thread gets the lock within ``timeout`` seconds.

    ``statements``, when given, collects the SQL the attempt sent to the server.
    """
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    if statements is not None:

        @sa.event.listens_for(engine, "before_cursor_execute")
        def record(*args: Any) -> None:
            statements.append(args[2])

    try:
        with migration_lock(engine, key=key, timeout=timeout):
            return True
    except LockTimeout:
        return False
    finally:
        engine.dispose()


def test_long_keys_that_share_a_prefix_are_different_locks(database_url: str) -> None:
    prefix = "k" * 80
    with held_elsewhere(database_url, prefix + ".one"):
        assert not takes(database_url, prefix + ".one", timeout=0)
        assert takes(database_url, prefix + ".two", timeout=0)


def test_timeout_zero_tries_once_and_a_wait_is_logged_once(
    backend: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_versioning")
    with held_elsewhere(database_url, KEY):
        statements: list[str] = []
        assert not takes(database_url, KEY, timeout=0, statements=statements)
        # One try and no wait: the servers were asked once, and nothing said it was waiting
        # (the polling lock file says so before every second try).
        attempts = [s for s in statements if "lock(" in s.lower()]
        assert len(attempts) == (0 if backend == "sqlite" else 1), statements
        assert "waiting for the migration lock" not in caplog.text
        caplog.clear()
        assert not takes(database_url, KEY, timeout=0.6)
        waits = [r for r in caplog.records if "waiting for the migration lock" in r.getMessage()]
        # MariaDB waits inside one GET_LOCK call (up to 5 s): a shorter wait ends in that
        # call, before the line is due; the polling backends say it on their first retry.
        assert len(waits) == (0 if backend == "mariadb" else 1)
        assert all(repr(KEY) in w.getMessage() for w in waits)
    assert takes(database_url, KEY, timeout=0)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_lock_connection_killed_while_held_does_not_fail_the_exit(database_url: str) -> None:
    """The server drops the lock with its session; leaving the block must not raise."""
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    admin = sa.create_engine(database_url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with migration_lock(engine, key=KEY, timeout=5), admin.connect() as conn:
            if engine.dialect.name == "postgresql":
                pids = conn.exec_driver_sql(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database())"
                ).scalars()
                killed = [
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar()
                    for p in pids
                ]
            else:
                database = conn.exec_driver_sql("SELECT DATABASE()").scalar()
                holder = conn.execute(
                    sa.text("SELECT IS_USED_LOCK(:n)"), {"n": f"flask_versioning.{database}.{KEY}"}
                ).scalar()
                assert holder is not None
                conn.exec_driver_sql(f"KILL {int(holder)}")
                killed = [True]
            assert killed == [True]
            # The server lets go of it when the killed session ends, which it does on its own
            # schedule: another contender gets it. The long timeout measures nothing; it only
            # bounds how long a lock the server never drops takes to fail the test.
            assert takes(database_url, KEY, timeout=60), "the killed session kept the lock"
        assert takes(database_url, KEY, timeout=0)
    finally:
        engine.dispose()
        admin.dispose()


def test_sqlite_lock_files_sit_in_a_folder_next_to_the_database_with_a_safe_name(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'app.db'}"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key="../../escape me", timeout=0):
            pass
        with migration_lock(engine, key="plain.key-1", timeout=0):
            pass
    finally:
        engine.dispose()
    assert sorted(p.name for p in data.iterdir()) == [".flask-versioning"]
    names = sorted(p.name for p in (data / ".flask-versioning").iterdir())
    assert "app.db.plain.key-1.lock" in names
    odd = [n for n in names if n.startswith("app.db..._.._escape_me-")]
    assert len(odd) == 1 and odd[0].endswith(".lock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    # The folder tells git to ignore everything in it, itself included.
    assert (data / ".flask-versioning" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_every_spelling_of_one_sqlite_file_is_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    plain = f"sqlite:///{real / 'app.db'}"
    spellings = [
        f"sqlite:///{tmp_path / 'link' / 'app.db'}",
        f"sqlite:///file:{real / 'app.db'}?uri=true",
        f"sqlite:///file://localhost{real / 'app.db'}?uri=true",
    ]
    with held_elsewhere(plain, KEY):
        for url in spellings:
            assert not takes(url, KEY, timeout=0), url
    for url in spellings:
        assert takes(url, KEY, timeout=0), url
    assert sorted(p.name for p in (real / ".flask-versioning").iterdir()) == [
        ".gitignore",
        f"app.db.{KEY}.lock",
    ]


def test_a_database_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'app.db'}"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with (
            pytest.raises(DatabaseError) as info,
            migration_lock(engine, key=KEY, timeout=0),
        ):
            pytest.fail("the lock was taken without a lock file")
    finally:
        engine.dispose()
    message = str(info.value)
    assert message == (
        f"cannot use the SQLite database {tmp_path / 'missing-dir' / 'app.db'}: its directory "
        "does not exist"
    )
    assert not (tmp_path / "missing-dir").exists()  # nothing was created on the way


def test_upgrade_stops_cleanly_when_its_lock_file_cannot_be_opened(
    tmp_path: Path, sqlite_url: str
) -> None:
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))

    def app(**config: object) -> tuple[Flask, Versioning]:
        flask_app = Flask("lockapp", root_path=str(tmp_path))
        flask_app.config.update(
            VERSIONING_DATABASE_URL=sqlite_url, VERSIONING_ENV="development", **config
        )
        return flask_app, Versioning(flask_app, metadata=metadata)

    flask_app, versioning = app()
    with flask_app.app_context():
        assert versioning.migrate("notes") is not None
        versioning.upgrade()
    # Whatever lock files the upgrade used: put a directory in their place.
    locks = list(tmp_path.glob(".flask-versioning/app.db.*.lock"))
    assert locks
    for lock in locks:
        lock.unlink()
        lock.mkdir()
    flask_app, versioning = app()
    with flask_app.app_context(), pytest.raises(DatabaseError) as info:
        versioning.downgrade("base")
    message = str(info.value)
    assert "cannot open the migration lock file" in message
    assert "set VERSIONING_LOCK = False" in message and "\n" not in message
    assert "notes" in table_names(sqlite_url)  # nothing was undone
    # The way out the message gives works.
    flask_app, versioning = app(VERSIONING_LOCK=False)
    with flask_app.app_context():
        versioning.downgrade("base")
    assert "notes" not in table_names(sqlite_url)
    assert all(lock.is_dir() for lock in locks)


def test_the_lock_file_is_left_in_place_and_reused(tmp_path: Path, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    lock = tmp_path / ".flask-versioning" / f"app.db.{KEY}.lock"
    try:
        with migration_lock(engine, key=KEY, timeout=None):
            assert lock.is_file()
        inode = os.stat(lock).st_ino
        with migration_lock(engine, key=KEY, timeout=None):
            assert os.stat(lock).st_ino == inode
    finally:
        engine.dispose()
    assert lock.is_file()
