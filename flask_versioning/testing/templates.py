"""Template databases and the per-test databases made from them.

Each project and each pytest-xdist worker (``main`` without xdist) gets its own template, named
after the configured URL, the worker and the project (``<name>_fvtpl_<worker>_<project>``, a
SQLite file beside it): workers never wait for each other, and two checkouts on one machine
(two projects, or two branches of one) never touch each other's templates. The project is a
short hash of pytest's rootdir, the migrations directory and the app's import name. Templates
and clones are created and dropped through the server's maintenance database, so the database
the URL names need not exist.

A template is migrated once, through the same ``upgrade`` as ``flask db upgrade``: an empty
database is made from the newest baseline, then the newer revisions run. A sidecar file in the
temp directory records the checksum of the revision and baseline files and the seeds
environment; while they match, the next session reuses the template as it is.

The apps made here come from the user's factory with the automatic upgrade and the start check
skipped (:func:`~flask_versioning._autoupgrade.skipped`): the template is migrated here, a clone
is a copy of it, and the seeds in it are the ones the test's marker asks for.

A test gets either the template inside a transaction that is rolled back (cheap, the default),
or a clone: PostgreSQL copies it with ``CREATE DATABASE ... TEMPLATE``, SQLite copies the file,
MariaDB (which has no such statement) recreates the template's schema from its dump and copies
the rows with ``INSERT ... SELECT`` across databases on the same server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from .._autoupgrade import skipped
from .._baseline import dialect_key, dump_schema
from .._errors import VersioningError, mask_url, one_line
from .._operations.executor import upgrade
from .._provision import server_urls
from .._seeds.run import run_seeds
from .._state import VersioningState

__all__ = ["Template", "Templates", "TestDatabase", "default_url"]


def default_url() -> str:
    folder = Path(tempfile.gettempdir()) / "flask_versioning_tests"
    folder.mkdir(exist_ok=True)
    return f"sqlite:///{folder / 'test.db'}"


@dataclasses.dataclass
class TestDatabase:
    """What ``versioning_db`` gives a test."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    app: Flask
    url: str
    #: ``"transaction"`` or ``"clone"``.
    mode: str
    #: The connection holding the test's transaction (transaction mode), else ``None``.
    connection: sa.Connection | None
    template: Template


def _state(app: Flask) -> VersioningState:
    state = app.extensions.get("versioning")
    if not isinstance(state, VersioningState):
        raise pytest.UsageError("versioning_app_factory must return an app with Versioning")
    return state


def _make_app(factory: Callable[[str], Flask], url: str) -> Flask:
    with skipped("the pytest plugin makes this app's database itself"):
        return factory(url)


def _dispose(app: Flask) -> None:
    with app.app_context():
        for database in _state(app).databases():
            database.engine().dispose()


class Templates:
    """The session's templates, one per seeds environment, made on first use."""

    def __init__(
        self,
        factory: Callable[[str], Flask],
        url: str,
        worker: str,
        *,
        rootdir: Path,
        reuse: bool,
    ):
        self.factory = factory
        self.url = sa.make_url(url)
        self.worker = worker
        self.rootdir = rootdir
        self.reuse = reuse
        self._made: dict[str | None, Template] = {}
        self._project: tuple[str, Path] | None = None
        self._server: sa.URL | None = None

    def project(self) -> tuple[str, Path]:
        """The project's short name and its migrations directory, from an app made once.

        The name hashes the rootdir, the migrations directory and the app's import name: two
        checkouts differ in the first two, two apps of one checkout in the last two.
        """
        if self._project is None:
            app = _make_app(self.factory, self.url.render_as_string(hide_password=False))
            with app.app_context():
                directory = _state(app).database(None).directory.resolve()
            _dispose(app)
            key = f"{self.rootdir.resolve()}\0{directory}\0{app.import_name}"
            self._project = (hashlib.sha256(key.encode()).hexdigest()[:8], directory)
        return self._project

    def admin(self) -> sa.Engine:
        """An engine on the server itself, never on the database the URL names (which need not
        exist): PostgreSQL's maintenance database, no database on MariaDB/MySQL."""
        if self._server is not None:
            return _autocommit(self._server)
        failure: sa.exc.DBAPIError | None = None
        for url in server_urls(self.url):
            engine = _autocommit(url)
            try:
                engine.connect().close()
            except sa.exc.DBAPIError as exc:
                engine.dispose()
                failure = failure or exc
                continue
            self._server = url
            return engine
        assert failure is not None  # server_urls() names at least one
        raise failure

    def template(self, seeds: str | None) -> Template:
        if seeds not in self._made:
            try:
                project, _ = self.project()
                suffix = f"_fvtpl_{self.worker}" + (f"_{seeds}" if seeds else "") + f"_{project}"
                url = _named(self.url, suffix)
                _check_length(url)
                template = Template(self, url, seeds)
                template.prepare()
            except (sa.exc.DBAPIError, VersioningError) as exc:
                cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else None
                reason = one_line(cause if cause is not None else exc)
                pytest.exit(
                    f"flask_versioning: cannot make the test database on "
                    f"{mask_url(self.url)}: {reason}",
                    returncode=pytest.ExitCode.USAGE_ERROR,
                )
            self._made[seeds] = template
        return self._made[seeds]

    def close(self) -> None:
        for template in self._made.values():
            template.release()
            _dispose(template.app)


#: The longest database name PostgreSQL keeps whole (MariaDB's limit is 64).
_LONGEST_NAME = 63
#: What a clone adds to its template's name, at most (``_c`` and a counter).
_CLONE_SUFFIX = 7


def _check_length(template: sa.URL) -> None:
    """Refuse names the server would cut or refuse: two cut names could become one."""
    if template.get_backend_name() == "sqlite":
        return
    name = template.database or ""
    if len(name.encode()) + _CLONE_SUFFIX > _LONGEST_NAME:
        pytest.exit(
            f"flask_versioning: the test database name {name!r} (and its clones') would be "
            f"longer than the {_LONGEST_NAME} characters a server keeps; give a shorter database "
            "name in --versioning-url",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def _autocommit(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _named(url: sa.URL, suffix: str) -> sa.URL:
    """``url`` with ``suffix`` added to its database (or SQLite file) name."""
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "test.db")
        return url.set(database=str(path.with_name(f"{path.stem}{suffix}{path.suffix}")))
    return url.set(database=f"{url.database}{suffix}")


class Template:
    """One worker's template database: migrated once, reused while the revisions are the same."""

    def __init__(self, owner: Templates, url: sa.URL, seeds: str | None) -> None:
        self.owner = owner
        self.url = url
        self.seeds = seeds
        self.dialect = url.get_backend_name()
        self.app = _make_app(owner.factory, self._text(url))
        self.reused = False
        self.created_at = ""
        self._clones = itertools.count(1)
        self._schema: str | None = None
        self._engine: sa.Engine | None = None
        key = hashlib.sha256(self._text(url).encode()).hexdigest()[:16]
        self._sidecar = Path(tempfile.gettempdir()) / "flask_versioning_tests" / f"{key}.json"

    @staticmethod
    def _text(url: sa.URL) -> str:
        return url.render_as_string(hide_password=False)

    def _checksum(self) -> str:
        _, directory = self.owner.project()
        digest = hashlib.sha256(f"seeds={self.seeds}".encode())
        for path in sorted([*directory.glob("versions/*.py"), *directory.glob("baselines/*")]):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def prepare(self) -> None:
        checksum = self._checksum()
        if self.owner.reuse and self._exists():
            try:
                recorded = json.loads(self._sidecar.read_text())
            except (OSError, ValueError):
                recorded = {}
            if recorded.get("checksum") == checksum:
                self.reused = True
                self.created_at = str(recorded.get("created_at", ""))
                return
        self._drop(self.url)
        self._create(self.url)
        with self.app.app_context():
            state = _state(self.app)
            upgrade(state.database(None), "heads")
            if self.seeds:
                run_seeds(state, None, env=self.seeds)
        _dispose(self.app)
        self.created_at = datetime.datetime.now(datetime.UTC).isoformat()
        self._sidecar.parent.mkdir(exist_ok=True)
        self._sidecar.write_text(json.dumps({"checksum": checksum, "created_at": self.created_at}))

    # -- the server's databases ---------------------------------------------------------------

    def _exists(self) -> bool:
        if self.dialect == "sqlite":
            return Path(self.url.database or "").is_file()
        engine = self.owner.admin()
        query = (
            "SELECT 1 FROM pg_database WHERE datname = :name"
            if self.dialect == "postgresql"
            else "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
        )
        try:
            with engine.connect() as connection:
                found = connection.execute(sa.text(query), {"name": self.url.database})
                return found.first() is not None
        finally:
            engine.dispose()

    def _create(self, url: sa.URL, template: sa.URL | None = None) -> None:
        if self.dialect == "sqlite":
            if template is not None:
                shutil.copyfile(template.database or "", url.database or "")
            return
        engine = self.owner.admin()
        quote = engine.dialect.identifier_preparer.quote
        clause = f" TEMPLATE {quote(template.database or '')}" if template else ""
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {quote(url.database or '')}{clause}")
        finally:
            engine.dispose()

    def _drop(self, url: sa.URL) -> None:
        if self.dialect == "sqlite":
            Path(url.database or "").unlink(missing_ok=True)
            return
        engine = self.owner.admin()
        name = engine.dialect.identifier_preparer.quote(url.database or "")
        force = " WITH (FORCE)" if self.dialect == "postgresql" else ""
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        finally:
            engine.dispose()

    # -- per test -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[TestDatabase]:
        """The template inside a transaction that is rolled back after the test."""
        # One pooled connection for the whole session: a new server connection per test costs
        # 10-20 ms on PostgreSQL, four times the per-test budget.
        if self._engine is None:
            self._engine = sa.create_engine(self.url, pool_size=1, max_overflow=0)
            if self.dialect == "sqlite":
                _sqlite_savepoints(self._engine)
        connection = self._engine.connect()
        outer = connection.begin()
        try:
            with self.app.app_context(), _bound_session(self.app, connection):
                yield TestDatabase(self.app, self._text(self.url), "transaction", connection, self)
        finally:
            outer.rollback()
            connection.close()
            _dispose(self.app)

    def release(self) -> None:
        """Close the session's connection to the template (``CREATE DATABASE ... TEMPLATE``
        refuses a template that has one)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextlib.contextmanager
    def clone(self) -> Iterator[TestDatabase]:
        """A database of the test's own, copied from the template, dropped afterwards."""
        url = _named(self.url, f"_c{next(self._clones)}")
        self.release()
        self._drop(url)
        if self.dialect in ("mysql", "mariadb"):
            self._copy_mariadb(url)
        else:
            self._create(url, template=self.url)
        app = _make_app(self.owner.factory, self._text(url))
        try:
            with app.app_context():
                yield TestDatabase(app, self._text(url), "clone", None, self)
        finally:
            _dispose(app)
            self._drop(url)

    def _copy_mariadb(self, url: sa.URL) -> None:
        """Schema from the template's dump, rows by ``INSERT ... SELECT`` on the server."""
        source = sa.create_engine(self.url, poolclass=sa.NullPool)
        try:
            with source.connect() as connection:
                if self._schema is None:
                    self._schema = dump_schema(connection)
                tables = sa.inspect(connection).get_table_names()
        finally:
            source.dispose()
        self._create(url)
        target = sa.create_engine(url, poolclass=sa.NullPool)
        quote = target.dialect.identifier_preparer.quote
        old, new = quote(self.url.database or ""), quote(url.database or "")
        from .._baseline import Baseline, load_baseline

        baseline = Baseline(Path("<template>"), "", dialect_key(target), "", "", self._schema)
        try:
            with target.connect() as connection:
                load_baseline(connection, baseline)
                connection.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                for table in tables:
                    t = quote(table)
                    connection.exec_driver_sql(
                        f"INSERT INTO {new}.{t} SELECT * FROM {old}.{t}".replace("%", "%%")
                    )
                connection.commit()
        finally:
            target.dispose()


def _sqlite_savepoints(engine: sa.Engine) -> None:
    """Python's sqlite3 starts transactions on its own and breaks SAVEPOINTs; let SQLAlchemy
    emit ``BEGIN`` itself (SQLAlchemy's documented recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")


@contextlib.contextmanager
def _bound_session(app: Flask, connection: sa.Connection) -> Iterator[None]:
    """Flask-SQLAlchemy's ``db.session`` on ``connection``, committing into SAVEPOINTs."""
    db = app.extensions.get("sqlalchemy")
    if db is None or not hasattr(db, "session"):
        yield  # another flavour: the test uses ``versioning_db.connection`` itself
        return
    from sqlalchemy import orm

    previous = db.session
    session = orm.scoped_session(
        orm.sessionmaker(
            bind=connection,
            join_transaction_mode="create_savepoint",
            query_cls=getattr(db, "Query", orm.Query),
        )
    )
    db.session = session
    try:
        yield
    finally:
        session.remove()
        db.session = previous
