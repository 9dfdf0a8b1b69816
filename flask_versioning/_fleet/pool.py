"""Worker processes for ``jobs > 1``: processes, because Alembic's ``command`` and ``op``
proxies are module globals, so one process runs one migration at a time.

A worker is a fork of this process where that is safe (Linux, one thread running), and starts
with the app already loaded; the app's engine pools are emptied first, so no connection is
shared. Otherwise, or with ``app_loader``, it is a fresh interpreter from a fork server that
imported the heavy modules once (``spawn`` where there is none) and loads the app itself. The
pool is ours, not :class:`~concurrent.futures.ProcessPoolExecutor` (broken as a whole when a
worker dies): a worker killed half-way fails only its tenant, which is read back to say where
it stands, and is replaced; the tenant's migration lock died with it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
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
from .tasks import Task, describe, read_back, run_task

if TYPE_CHECKING:
    from flask import Flask

    from .._state import VersioningState


def load_app(import_path: str | None, create_app: Callable[..., Flask] | None = None) -> Flask:
    """The app as the ``flask`` command loads it: ``--app``/``FLASK_APP`` (or ``wsgi.py`` /
    ``app.py`` in the working directory), or a custom group's ``create_app``."""
    from flask.cli import ScriptInfo

    info = ScriptInfo(app_import_path=import_path, create_app=create_app, set_debug_flag=False)
    return info.load_app()


def _default_loader() -> Callable[[], Flask]:
    """How workers get the app: as the running ``flask`` command found it, else by Flask's
    own discovery in the module that created the current app (``flask --app <module>``)."""
    import click
    from flask import current_app
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    info = ctx.find_object(ScriptInfo) if ctx is not None else None
    if info is not None:
        return functools.partial(load_app, info.app_import_path, info.create_app)
    name = current_app.import_name
    if name in ("__main__", "__mp_main__"):
        raise errors.ConfigurationError(
            "jobs > 1 loads the app in worker processes, and an app made in __main__ cannot be "
            "found there: pass app_loader= (a module-level function returning the app)"
        )
    return functools.partial(load_app, name)


@dataclasses.dataclass(frozen=True)
class _Setup:
    #: How the worker gets the app; in a fork, the parent's app (a fork copies, never pickles).
    loader: Callable[[], Flask]
    #: The parent's script directory: a worker whose app differs refuses to run.
    directory: str


def worker_main(conn: Connection, setup: _Setup) -> None:
    """A worker: load the app, say ``ready``, then run tenants until told to stop."""
    # Ctrl-C in the terminal reaches every process of the group: the parent decides, and a
    # tenant being migrated finishes rather than stopping half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with skipped("this is a worker process of a fleet run; the command decides what runs"):
        try:
            app = setup.loader()
            with app.app_context():
                found = str(get_state().settings.directory)
            if found != setup.directory:
                raise errors.ConfigurationError(
                    f"the app a worker process loaded keeps its migrations in {found}, not in "
                    f"{setup.directory}: pass app_loader= to load the same app"
                )
        except BaseException as exc:
            conn.send(("broken", describe(exc)))
            return
        conn.send(("ready", None))
        with contextlib.suppress(EOFError, OSError):  # EOF or a broken pipe: the parent is gone
            while (message := conn.recv()) is not None:
                tenant, task, create = message
                with app.app_context():
                    result = run_task(get_state(), tenant, task, create=create)
                conn.send(("done", result))


@dataclasses.dataclass(eq=False)
class _Worker:
    index: int
    process: Any  # a multiprocessing Process of the fork server's or spawn's context
    conn: Connection
    tenant: Tenant | None = None
    started: float = 0.0
    #: Whether it loaded the app: one that dies before is not replaced (it would die again).
    ready: bool = False


def run_pool(
    state: VersioningState,
    tenants: Sequence[Tenant],
    task: Task,
    *,
    jobs: int,
    create: bool,
    loader: Callable[[], Flask] | None,
    emit: Callable[..., None],
    record: Callable[[int, TenantResult[Any]], bool],
) -> bool:
    """Run ``task`` on ``tenants`` in ``jobs`` processes; whether Ctrl-C stopped the run (the
    running tenants finish, no other starts). ``emit`` hears of tenants handed out and of
    Ctrl-C; ``record`` of results, and returns ``True`` to stop handing out (``fail_fast``)."""
    directory = str(state.settings.directory)
    forked = loader is None and can_fork()
    if forked:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        setup = _Setup(lambda: app, directory)
        for database in state.databases():
            # A pooled connection both processes held would be used, or closed, under the
            # other's feet; an engine that cannot be made holds none.
            with contextlib.suppress(Exception):
                database.engine().dispose()
        context: Any = multiprocessing.get_context("fork")
    else:
        setup = _Setup(loader or _default_loader(), directory)
        try:
            pickle.dumps(setup)
        except Exception as exc:
            raise errors.ConfigurationError(
                f"the app loader cannot be sent to worker processes ({describe(exc)}): use "
                "a module-level function"
            ) from exc
        context = _context(state)
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
        # In a fork, what the parent holds is moved out of the collector's reach: a child's
        # collections then never walk (and so copy) the pages it shares with the parent.
        if forked:
            gc.freeze()
        try:
            process.start()
        finally:
            if forked:
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
        emit("start", worker.index, tenant.name)

    def died(worker: _Worker) -> None:
        nonlocal stopping
        worker.process.join(5)
        workers.pop(worker.index, None)
        worker.conn.close()
        if not worker.ready:
            raise errors.ConfigurationError(
                f"a worker process died while loading the app ({_how(worker)})"
            )
        if worker.tenant is not None:
            stopping = record(worker.index, _lost(state, worker, worker.tenant)) or stopping
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
            emit("interrupt", 0)
            serve()
    finally:
        _stop(workers.values())
    return interrupted


def can_fork() -> bool:
    """Whether workers may be forks of this process: Linux, and one thread running."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _context(state: VersioningState) -> Any:
    """A fork server that imports, once, what every worker needs: ours, Flask's command line,
    Alembic, the SQLAlchemy extensions and the app's dialect and driver (one that is not
    installed is skipped); ``spawn`` where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    preload = [
        __name__,
        "flask.cli",
        "alembic.command",
        "alembic.runtime.environment",
        "alembic.script",
        "flask_sqlalchemy",
        "flask_sqlalchemy_lite",
    ]
    with contextlib.suppress(Exception):
        dialect = state.database().engine().dialect
        dbapi = getattr(dialect, "loaded_dbapi", None)
        preload.append(type(dialect).__module__)
        if dbapi is not None:
            preload.append(dbapi.__name__)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


def _receive(worker: _Worker) -> tuple[str, Any] | None:
    """The worker's next message; ``None`` when it died (EOF, or its sentinel fired)."""
    try:
        if worker.conn.poll():
            message: tuple[str, Any] = worker.conn.recv()
            return message
    except (EOFError, OSError):
        return None
    return None if not worker.process.is_alive() else ("nothing", None)


def _lost(state: VersioningState, worker: _Worker, tenant: Tenant) -> TenantResult[Any]:
    """The result of a tenant whose worker died under it, read back from the database."""
    duration = time.perf_counter() - worker.started
    now = read_back(state, tenant)
    where = "unknown" if now is None else ", ".join(now) or "base"
    return TenantResult(
        tenant.name,
        "failed",
        error=(
            f"the worker process (pid {worker.process.pid}) died while running it "
            f"({_how(worker)}); the database is at {where}; run the command again to finish it"
        ),
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
        with contextlib.suppress(OSError, ValueError):
            if worker.tenant is None:
                worker.conn.send(None)
            else:
                worker.process.terminate()
    deadline = time.monotonic() + 10
    for worker in list(workers):
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(1)
        worker.conn.close()
