"""The migration lock keeps separate processes out of each other's way, on every backend.

Contenders are real processes (``python -c`` children) on real databases, because the failures
this lock exists for only show up between processes: two workers upgrading at once, or a worker
killed while it holds the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _server_database

from flask_versioning import LockTimeout, mask_url
from flask_versioning._locking import migration_lock

ROOT = Path(__file__).resolve().parent.parent
KEY = "flask_versioning.test"

# A contender in its own process. "append" waits for the `go` file, then twice takes the lock
# and writes start/end markers around a short sleep. "hold" takes the lock, says so in `ready`,
# keeps it until `release` appears, and writes the time it let go to `released`.
CHILD = """
import os, sys, time
from pathlib import Path
import sqlalchemy as sa
from flask_versioning._locking import migration_lock

url, key, mode, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
engine = sa.create_engine(url, poolclass=sa.NullPool)

def wait_for(path):
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)

if mode == "append":
    (work / f"ready-{os.getpid()}").touch()
    wait_for(work / "go")
    for _ in range(2):
        with migration_lock(engine, key=key, timeout=20):
            with open(work / "markers", "a") as f:
                f.write(f"start {os.getpid()}\\n")
            time.sleep(0.15)
            with open(work / "markers", "a") as f:
                f.write(f"end {os.getpid()}\\n")
else:
    with migration_lock(engine, key=key, timeout=20):
        (work / "ready").touch()
        wait_for(work / "release")
    (work / "released.tmp").write_text(repr(time.time()))
    (work / "released.tmp").rename(work / "released")
    time.sleep(0.5)
engine.dispose()
"""


def spawn(url: str, key: str, mode: str, work: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, key, mode, str(work)], cwd=ROOT, env=env
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"child exited with {proc.returncode} before {path.name}"
        assert time.monotonic() < deadline, f"child did not create {path.name}"
        time.sleep(0.01)


def finish(*procs: subprocess.Popen[bytes]) -> None:
    """Reap every child (killing any that hang), then check they all succeeded."""
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert [proc.returncode for proc in procs] == [0] * len(procs)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def holder(database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A child process that holds the lock on ``KEY`` until ``<work>/release`` appears."""
    work = tmp_path / "holder"
    work.mkdir()
    proc = spawn(database_url, KEY, "hold", work)
    try:
        wait_for(work / "ready", proc)
        yield proc, work
    finally:
        (work / "release").touch()
        finish(proc)


def try_lock(url: str, key: str, timeout: float) -> float:
    """Take and release the lock from this process; return how long taking it took."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        started = time.monotonic()
        with migration_lock(engine, key=key, timeout=timeout):
            return time.monotonic() - started
    finally:
        engine.dispose()


def test_processes_take_turns(database_url: str, tmp_path: Path) -> None:
    procs = [spawn(database_url, KEY, "append", tmp_path) for _ in range(2)]
    try:
        for proc in procs:
            wait_for(tmp_path / f"ready-{proc.pid}", proc)
        (tmp_path / "go").touch()
    finally:
        finish(*procs)
    lines = (tmp_path / "markers").read_text().splitlines()
    assert len(lines) == 8
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ")
        assert end == "end " + start.split()[1], lines


def test_timeout_names_the_lock_and_hides_the_password(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    url = sa.make_url(database_url)
    password = url.password
    if backend == "postgresql" and not password:
        # Trust authentication ignores a password, so the masking has something to hide.
        password = "secret"
        url = url.set(password=password)
    work = tmp_path / "holder"
    work.mkdir()
    proc = spawn(database_url, KEY, "hold", work)
    try:
        wait_for(work / "ready", proc)
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            started = time.monotonic()
            with (
                pytest.raises(LockTimeout) as caught,
                migration_lock(engine, key=KEY, timeout=0.5),
            ):
                pytest.fail("the lock was taken while another process held it")
            waited = time.monotonic() - started
        finally:
            engine.dispose()
        message = str(caught.value)
        assert 0.45 <= waited < 3
        assert "\n" not in message
        assert repr(KEY) in message
        assert {"postgresql": "advisory lock", "mariadb": "MySQL lock", "sqlite": "lock file"}[
            backend
        ] in message
        assert mask_url(url) in message
        assert "VERSIONING_LOCK_TIMEOUT" in message
        if password:
            assert password not in message

        # A waiter gets the lock promptly once the holder lets go (the holder stays alive, so
        # it is the release that frees the lock, not the end of its connection).
        (work / "release").touch()
        try_lock(database_url, KEY, timeout=10)
        acquired = time.time()
        wait_for(work / "released", proc)
        released = float((work / "released").read_text())
        assert acquired - released < 0.75
    finally:
        (work / "release").touch()
        finish(proc)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_holder_does_not_keep_the_lock(database_url: str, tmp_path: Path) -> None:
    proc = spawn(database_url, KEY, "hold", tmp_path)
    try:
        wait_for(tmp_path / "ready", proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert try_lock(database_url, KEY, timeout=10) < 3


def test_nested_lock_is_reentrant(engine: sa.Engine, database_url: str) -> None:
    def other_thread_times_out() -> bool:
        result: list[bool] = []

        def contend() -> None:
            try:
                try_lock(database_url, KEY, timeout=0.2)
            except LockTimeout:
                result.append(True)
            else:
                result.append(False)

        thread = threading.Thread(target=contend)
        thread.start()
        thread.join(10)
        return result == [True]

    second = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key=KEY, timeout=1):
            # Same engine and another engine on the same URL: neither waits for itself.
            with (
                migration_lock(engine, key=KEY, timeout=0),
                migration_lock(second, key=KEY, timeout=0),
            ):
                pass
            # Leaving the inner blocks kept the real lock: another thread still waits for it.
            assert other_thread_times_out()
        # Leaving the outer block released it.
        try_lock(database_url, KEY, timeout=2)
    finally:
        second.dispose()


@pytest.fixture
def other_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same server (or a second SQLite file)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'other.db'}"
    else:
        yield from _server_database(backend)


def test_other_keys_and_databases_are_not_blocked(
    database_url: str,
    other_database_url: str,
    holder: tuple[subprocess.Popen[bytes], Path],
) -> None:
    with pytest.raises(LockTimeout):
        try_lock(database_url, KEY, timeout=0)
    # A generous timeout: these must not wait for the holder at all, which holds for ever.
    try_lock(database_url, KEY + ".other", timeout=2)
    try_lock(other_database_url, KEY, timeout=2)


def test_in_memory_sqlite_locks_within_the_process() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with migration_lock(engine, key=KEY, timeout=0):
            result: list[BaseException] = []

            def contend() -> None:
                try:
                    with migration_lock(engine, key=KEY, timeout=0.1):
                        pass
                except LockTimeout as exc:
                    result.append(exc)

            thread = threading.Thread(target=contend)
            thread.start()
            thread.join(10)
            assert len(result) == 1
        with migration_lock(engine, key=KEY, timeout=0):
            pass
    finally:
        engine.dispose()


def test_negative_timeout_is_rejected(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    try:
        with (
            pytest.raises(ValueError, match="timeout"),
            migration_lock(engine, key=KEY, timeout=-1),
        ):
            pass
    finally:
        engine.dispose()
