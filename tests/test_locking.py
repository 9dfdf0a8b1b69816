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

from flask_versioning import LockTimeout
from flask_versioning._errors import mask_url
from flask_versioning._locking import migration_lock

# Processes racing for the lock.
pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent
KEY = "flask_versioning.test"

# A contender in its own process. It never looks at a clock to decide anything: it acts when the
# test creates a file, and records what it did as lines in the shared `events` log (appended
# one line per write, so lines from several processes never mix), which the test reads back as
# the order things happened in.
#
# "append" waits for `go`, then twice takes the lock and logs start/end around a short pause.
# "hold" takes the lock and logs "holder acquired"; once `release` appears it logs "holder
# releasing" and lets go while staying alive; once `exit` appears it logs "holder exiting" and
# ends. Waiting for a file ends early only if the test process is gone (the child is reparented),
# so the holder lets go when, and only when, the test says so.
CHILD = """
import os, sys, time
from pathlib import Path
import sqlalchemy as sa
from flask_versioning._locking import migration_lock

url, key, mode, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
engine = sa.create_engine(url, poolclass=sa.NullPool)
parent = os.getppid()

def wait_for(path):
    while not path.exists():
        if os.getppid() != parent:
            sys.exit(3)
        time.sleep(0.01)

def log(event):
    with open(work / "events", "a") as f:
        f.write(event + "\\n")

if mode == "append":
    (work / f"ready-{os.getpid()}").touch()
    wait_for(work / "go")
    for _ in range(2):
        with migration_lock(engine, key=key, timeout=None):
            log(f"start {os.getpid()}")
            time.sleep(0.15)
            log(f"end {os.getpid()}")
else:
    with migration_lock(engine, key=key, timeout=None):
        log("holder acquired")
        (work / "ready").touch()
        wait_for(work / "release")
        log("holder releasing")
    wait_for(work / "exit")
    log("holder exiting")
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


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    # The deadline only keeps a broken child from hanging the suite; nothing is measured by it.
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, f"child exited with {proc.returncode} before {path.name}"
        assert time.monotonic() < deadline, f"child did not create {path.name}"
        time.sleep(0.01)


def log(work: Path, event: str) -> None:
    """Add ``event`` to the log the children write, from the test's side."""
    with open(work / "events", "a") as f:
        f.write(event + "\n")


def events(work: Path) -> list[str]:
    path = work / "events"
    return path.read_text().splitlines() if path.exists() else []


def finish(*procs: subprocess.Popen[bytes]) -> None:
    """Reap every child (killing any that hang), then check they all succeeded."""
    for proc in procs:
        try:
            proc.wait(timeout=120)
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
        (work / "exit").touch()
        finish(proc)


def try_lock(url: str, key: str, timeout: float) -> None:
    """Take and release the lock from this process (LockTimeout if it cannot)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key=key, timeout=timeout):
            pass
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
    lines = events(tmp_path)
    assert len(lines) == 8
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ")
        assert end == "end " + start.split()[1], lines


def test_timeout_names_the_lock_and_hides_the_password(
    backend: str, database_url: str, holder: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, work = holder
    url = sa.make_url(database_url)
    password = url.password
    if backend == "postgresql" and not password:
        # Trust authentication ignores a password, so the masking has something to hide.
        password = "secret"
        url = url.set(password=password)
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
    # The wait ended on the timeout: the holder, alive, had not been told to let go.
    assert proc.poll() is None
    assert events(work) == ["holder acquired"]
    # The lock gives up only once the timeout has passed, so this cannot fail on a slow
    # machine; how much longer than the timeout it took depends on the load, so no upper bound.
    assert waited >= 0.5
    message = str(caught.value)
    assert "\n" not in message
    assert repr(KEY) in message
    assert {"postgresql": "advisory lock", "mariadb": "MySQL lock", "sqlite": "lock file"}[
        backend
    ] in message
    assert mask_url(url) in message
    assert "VERSIONING_LOCK_TIMEOUT" in message
    if password:
        assert password not in message


def test_a_waiter_gets_the_lock_from_the_release(
    database_url: str, holder: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """The holder letting go frees the lock, not the end of the holder's process."""
    proc, work = holder
    (work / "release").touch()
    # The holder stays alive until `exit` appears, which the test creates only once it is in:
    # were the lock freed only by the holder's exit, this would end in LockTimeout. The long
    # timeout measures nothing; it only bounds how long such a failure takes to show.
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with migration_lock(engine, key=KEY, timeout=60):
            assert proc.poll() is None
            log(work, "waiter acquired")
    finally:
        engine.dispose()
    (work / "exit").touch()
    finish(proc)
    assert events(work) == [
        "holder acquired",
        "holder releasing",
        "waiter acquired",
        "holder exiting",
    ]


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
    # It never let go by itself, so its death is what frees the lock. The server (or the OS,
    # for a lock file) notices the death on its own schedule: the long timeout measures
    # nothing, it only bounds how long a lock that is never dropped takes to fail the test.
    assert events(tmp_path) == ["holder acquired"]
    try_lock(database_url, KEY, timeout=60)


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
        thread.join(60)
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
        # Leaving the outer block released it, there and then.
        try_lock(database_url, KEY, timeout=0)
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
    # No timeout at all: these do not wait for the holder, which holds until the test ends.
    try_lock(database_url, KEY + ".other", timeout=0)
    try_lock(other_database_url, KEY, timeout=0)


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
            thread.join(60)
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
