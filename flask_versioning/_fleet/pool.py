"""Worker processes for ``jobs > 1``.

Processes, not threads: Alembic's ``command`` and ``op`` proxies are module globals, so two
migrations cannot run in one process at once.

Where it is safe, a worker is a fork of this process: Linux (macOS frameworks are not
fork-safe, and Windows has no fork), and this process running one thread (a fork copies only
the calling thread, so a lock another thread holds would never be released in the child). The
worker then has the app, its imports and its read revision files already, and starts in
milliseconds. Before forking, the pools of the app's own engines are emptied, so that no
database connection is shared by two processes (SQLAlchemy's rule for ``os.fork()``); every
tenant gets engines of its own anyway.

Otherwise, or when the caller passes ``app_loader``, a worker comes from a fresh interpreter:
a fork server that has imported SQLAlchemy, Flask and Alembic once (``spawn`` where there is
none), and each worker loads the app once, the way the ``flask`` command found it.

Either way a worker runs one tenant at a time on request. The pool is ours rather than
:class:`concurrent.futures.ProcessPoolExecutor`, because that one marks the whole pool broken
when a worker dies: here a worker killed half-way (the OOM killer, ``kill -9``) fails only the
tenant it was running, which is then read back to say where it stands, and a new worker takes
its place. The tenant's migration lock is a server session lock or an ``flock``, so it went
with the dead process.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import multiprocessing
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .. import _errors as errors
from .._settings import skipped
from .._state import get_state
from .._types import Tenant, TenantResult
from .tasks import Task, failure, run_task, where_now
from .tenants import dispose, tenant_database

if TYPE_CHECKING:
    from flask import Flask

    from .._state import VersioningState

__all__ = ["WORKER_REASON", "FlaskLoader", "default_loader", "run_pool"]


@dataclasses.dataclass(frozen=True)
class FlaskLoader:
    """Loads the app as the ``flask`` command does: ``--app``/``FLASK_APP`` (or ``wsgi.py`` /
    ``app.py`` in the working directory), or a custom group's ``create_app``."""

    import_path: str | None
    create_app: Callable[..., Flask] | None = None

    def __call__(self) -> Flask:
        from flask.cli import ScriptInfo

        info = ScriptInfo(
            app_import_path=self.import_path, create_app=self.create_app, set_debug_flag=False
        )
        return info.load_app()


def default_loader() -> Callable[[], Flask]:
    """How workers get the app: as the running ``flask`` command found it, else by Flask's
    own discovery in the module that created the current app (``flask --app <module>``)."""
    import click
    from flask import current_app
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    info = ctx.find_object(ScriptInfo) if ctx is not None else None
    if info is not None:
        return FlaskLoader(info.app_import_path, info.create_app)
    name = current_app.import_name
    if name in ("__main__", "__mp_main__"):
        raise errors.ConfigurationError(
            "jobs > 1 loads the app in worker processes, and an app made in __main__ cannot be "
            "found there: pass app_loader= (a module-level function returning the app)"
        )
    return FlaskLoader(name)


@dataclasses.dataclass(frozen=True)
class _Setup:
    #: How a fresh interpreter gets the app; ``None`` in a fork, which has ``app``.
    loader: Callable[[], Flask] | None
    #: The parent's script directory: a worker whose app differs refuses to run.
    directory: str
    #: The parent's app, in a fork (never pickled: a fork copies it).
    app: Flask | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, errors.VersioningError):
        return errors.scrub(str(exc))
    return errors.scrub(f"{type(exc).__name__}: {errors.one_line(exc, 300)}")


#: Why the app a worker loads neither upgrades nor checks at start.
WORKER_REASON = "this is a worker process of a fleet run; the command decides what runs"


def worker_main(conn: Connection, setup: _Setup) -> None:
    """A worker: load the app, say ``ready``, then run tenants until told to stop."""
    # Ctrl-C in the terminal reaches every process of the group: the parent decides, and a
    # tenant being migrated finishes rather than stopping half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with skipped(WORKER_REASON):
        _serve(conn, setup)


def _serve(conn: Connection, setup: _Setup) -> None:
    try:
        app = setup.app if setup.app is not None else _load(setup.loader)
        with app.app_context():
            found = str(get_state().settings.directory)
        if found != setup.directory:
            raise errors.ConfigurationError(
                f"the app a worker process loaded keeps its migrations in {found}, not in "
                f"{setup.directory}: pass app_loader= to load the same app"
            )
    except BaseException as exc:
        conn.send(("broken", _describe(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        tenant, task, create = message
        with app.app_context():
            result = run_task(get_state(), tenant, task, create=create)
        try:
            conn.send(("done", result))
        except OSError:
            return


def _load(loader: Callable[[], Flask] | None) -> Flask:
    if loader is None:  # pragma: no cover - run_pool always gives one without a fork
        raise errors.ConfigurationError("a worker process was given no way to load the app")
    return loader()


@dataclasses.dataclass(eq=False)
class _Worker:
    index: int
    process: Any  # a multiprocessing Process of the fork server's or spawn's context
    conn: Connection
    tenant: Tenant | None = None
    started: float = 0.0
    #: Whether it loaded the app: one that dies before is not replaced (it would die again).
    ready: bool = False


Record = Callable[[int, TenantResult[Any]], bool]
Start = Callable[[int, Tenant], None]


def run_pool(
    state: VersioningState,
    tenants: Sequence[Tenant],
    task: Task,
    *,
    jobs: int,
    create: bool,
    loader: Callable[[], Flask] | None,
    start: Start,
    record: Record,
    interrupt: Callable[[], None] | None = None,
) -> bool:
    """Run ``task`` on ``tenants`` in ``jobs`` processes; returns whether Ctrl-C stopped the
    run (the first one lets the running tenants finish and starts no other).

    ``loader`` (a picklable function returning the app) makes the workers fresh interpreters
    that load the app with it; ``None``: forks of this process where that is safe, else fresh
    interpreters loading the app as the ``flask`` command found it.

    ``start(worker, tenant)`` is called as a tenant is handed out; ``record(worker, result)``
    as one finishes, and returns ``True`` to stop handing out more (``fail_fast``);
    ``interrupt()`` as Ctrl-C is taken.
    """
    directory = str(state.settings.directory)
    if loader is None and can_fork():
        from flask import current_app

        setup = _Setup(None, directory, current_app._get_current_object())  # type: ignore[attr-defined]
        _empty_pools(state)
        context: Any = multiprocessing.get_context("fork")
    else:
        setup = _Setup(loader or default_loader(), directory)
        try:
            pickle.dumps(setup)
        except Exception as exc:
            raise errors.ConfigurationError(
                f"the app loader cannot be sent to worker processes ({_describe(exc)}): use "
                "a module-level function"
            ) from exc
        context = _context(_driver_modules(state))
    queue = collections.deque(tenants)
    workers: dict[int, _Worker] = {}
    stopping = False

    def launch(index: int) -> None:
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(child_end, setup),
            name=f"flask-versioning-tenant-worker-{index}",
            daemon=True,
        )
        if setup.app is None:
            process.start()
        else:
            # What the parent holds is moved out of the collector's reach for the fork: a
            # child's collections then never walk (and so copy) the pages it shares with the
            # parent, and cost what the child itself made, not the whole app.
            gc.freeze()
            try:
                process.start()
            finally:
                gc.unfreeze()
        child_end.close()  # the child holds its end: its death is our end's EOF
        workers[index] = _Worker(index, process, parent_end)

    def hand_out(worker: _Worker) -> None:
        if stopping or not queue:
            worker.tenant = None
            return
        tenant = queue.popleft()
        try:
            worker.conn.send((tenant, task, create))
        except OSError:
            queue.appendleft(tenant)  # it just died: its sentinel says so on the next turn
            return
        worker.tenant, worker.started = tenant, time.perf_counter()
        start(worker.index, tenant)

    def died(worker: _Worker) -> None:
        nonlocal stopping
        worker.process.join(5)
        workers.pop(worker.index, None)
        worker.conn.close()
        if not worker.ready:
            raise errors.ConfigurationError(
                f"a worker process died while loading the app ({_how(worker)})"
            )
        tenant = worker.tenant
        if tenant is not None:
            stopping = record(worker.index, _lost(state, tenant, worker)) or stopping
        if queue and not stopping:
            launch(worker.index)

    def serve() -> None:
        nonlocal stopping
        while workers and (any(w.tenant for w in workers.values()) or (queue and not stopping)):
            handles: list[Any] = [w.conn for w in workers.values()]
            handles += [w.process.sentinel for w in workers.values()]
            ready = set(wait(handles))
            for worker in list(workers.values()):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                message = _receive(worker)
                if message is None:
                    died(worker)
                    continue
                kind, payload = message
                if kind == "broken":
                    raise errors.ConfigurationError(
                        f"a worker process could not load the app: {payload}"
                    )
                if kind == "done":
                    worker.tenant = None
                    stopping = record(worker.index, payload) or stopping
                if kind in ("ready", "done"):
                    worker.ready = True
                    hand_out(worker)

    for index in range(1, min(jobs, len(tenants)) + 1):
        launch(index)
    interrupted = False
    try:
        try:
            serve()
        except KeyboardInterrupt:
            # Hand out nothing more, and let the tenants being migrated finish (the workers
            # ignore SIGINT); a second Ctrl-C stops waiting.
            stopping = interrupted = True
            if interrupt is not None:
                interrupt()
            serve()
    finally:
        _stop(workers.values())
    return interrupted


#: Imported once by the fork server; one that is not installed is skipped.
_PRELOAD = [
    __name__,
    "flask.cli",
    "alembic.command",
    "alembic.runtime.environment",
    "alembic.script",
    "flask_sqlalchemy",
    "flask_sqlalchemy_lite",
]


def can_fork() -> bool:
    """Whether workers may be forks of this process: Linux, and one thread running."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _empty_pools(state: VersioningState) -> None:
    """Close the pooled connections of the app's engines before forking: a connection both
    processes hold would be used, or closed, under the other's feet. The parent connects again
    when it next needs one."""
    for database in state.databases():
        try:
            database.engine().dispose()
        except Exception:  # an engine that cannot be made holds no connection
            continue


def _context(extra: Sequence[str] = ()) -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([*_PRELOAD, *extra])
        return context
    return multiprocessing.get_context("spawn")


def _driver_modules(state: VersioningState) -> list[str]:
    """The app's SQLAlchemy dialect and driver (``psycopg``, ``pymysql``), for the fork
    server to import once instead of every worker on its first tenant."""
    try:
        dialect = state.database().engine().dialect
        dbapi = getattr(dialect, "loaded_dbapi", None)
    except Exception:
        return []
    names = [type(dialect).__module__]
    if dbapi is not None:
        names.append(dbapi.__name__)
    return names


def _receive(worker: _Worker) -> tuple[str, Any] | None:
    """The worker's next message; ``None`` when it died (EOF, or its sentinel fired)."""
    try:
        if worker.conn.poll():
            message: tuple[str, Any] = worker.conn.recv()
            return message
    except (EOFError, OSError):
        return None
    return None if not worker.process.is_alive() else ("nothing", None)


def _lost(state: VersioningState, tenant: Tenant, worker: _Worker) -> TenantResult[Any]:
    """The result of a tenant whose worker died under it, read back from the database."""
    duration = time.perf_counter() - worker.started
    message = (
        f"the worker process (pid {worker.process.pid}) died while running it ({_how(worker)})"
    )
    database = None
    try:
        database = tenant_database(state.database(), tenant)
        now = where_now(database)
    except Exception as exc:
        return failure(tenant, None, exc, duration)
    finally:
        if database is not None:
            dispose(database)
    where = "unknown" if now is None else ", ".join(now) or "base"
    return TenantResult(
        tenant.name,
        "failed",
        error=f"{message}; the database is at {where}; run the command again to finish it",
        after=now,
        duration=duration,
    )


def _how(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop(workers: Any) -> None:
    """Ask the workers to exit; one still running a tenant (the parent failed or was
    interrupted twice) is terminated, as multiprocessing would do at exit anyway."""
    for worker in list(workers):
        try:
            if worker.tenant is None:
                worker.conn.send(None)
            else:
                worker.process.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 10
    for worker in list(workers):
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(1)
        worker.conn.close()
