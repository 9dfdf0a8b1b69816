"""Template databases and the per-test databases made from them.

Each project and pytest-xdist worker gets its own template, ``<name>_fvtpl_<worker>_<project>``
(a SQLite file beside it): workers never wait for each other and two checkouts never touch each
other's templates. A template is migrated once by the same ``upgrade`` as ``flask db upgrade``
and reused while a sidecar file's checksum of the revision and baseline files matches. A test
gets it inside a rolled-back transaction, or a clone: ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL, a file copy on SQLite, the schema dump and ``INSERT ... SELECT`` on MariaDB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
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

from .._baseline import Baseline, dialect_key, dump_schema, load_baseline
from .._errors import VersioningError, mask_url, one_line
from .._operations.executor import upgrade
from .._provision import server_urls
from .._seeds.run import run_seeds
from .._settings import skipped
from .._state import VersioningState

#: Where the default SQLite databases and the templates' sidecar files live.
_FOLDER = Path(tempfile.gettempdir()) / "flask_versioning_tests"


def default_url() -> str:
    _FOLDER.mkdir(exist_ok=True)
    return f"sqlite:///{_FOLDER / 'test.db'}"


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


def _text(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


def _make_app(factory: Callable[[str], Flask], url: sa.URL) -> Flask:
    with skipped("the pytest plugin makes this app's database itself"):
        return factory(_text(url))


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
        self._server: sa.URL | None = None

    @functools.cached_property
    def project(self) -> tuple[str, Path]:
        """The project's short name and its migrations directory, from an app made once. Two
        checkouts differ in rootdir and directory, two apps of one checkout in the last two."""
        app = _make_app(self.factory, self.url)
        with app.app_context():
            directory = _state(app).database(None).directory.resolve()
        _dispose(app)
        key = f"{self.rootdir.resolve()}\0{directory}\0{app.import_name}"
        return hashlib.sha256(key.encode()).hexdigest()[:8], directory

    @contextlib.contextmanager
    def server(self) -> Iterator[sa.Connection]:
        """A connection to the server itself, never to the database the URL names (which need
        not exist): PostgreSQL's maintenance database, no database on MariaDB/MySQL."""
        failure: sa.exc.DBAPIError | None = None
        for url in [self._server] if self._server is not None else server_urls(self.url):
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
            try:
                connection = engine.connect()
            except sa.exc.DBAPIError as exc:
                engine.dispose()
                failure = failure or exc
                continue
            self._server = url
            try:
                with connection:
                    yield connection
            finally:
                engine.dispose()
            return
        assert failure is not None  # server_urls() names at least one
        raise failure

    def template(self, seeds: str | None) -> Template:
        if seeds not in self._made:
            try:
                project, _ = self.project
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
        self.app = _make_app(owner.factory, url)
        self.reused = False
        self.created_at = ""
        self._clones = itertools.count(1)
        self._schema: str | None = None
        self._engine: sa.Engine | None = None
        self._sidecar = _FOLDER / f"{hashlib.sha256(_text(url).encode()).hexdigest()[:16]}.json"

    def _checksum(self) -> str:
        _, directory = self.owner.project
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

    def _exists(self) -> bool:
        if self.dialect == "sqlite":
            return Path(self.url.database or "").is_file()
        query = (
            "SELECT 1 FROM pg_database WHERE datname = :name"
            if self.dialect == "postgresql"
            else "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
        )
        with self.owner.server() as connection:
            found = connection.execute(sa.text(query), {"name": self.url.database})
            return found.first() is not None

    def _create(self, url: sa.URL, template: sa.URL | None = None) -> None:
        if self.dialect == "sqlite":
            if template is not None:
                shutil.copyfile(template.database or "", url.database or "")
            return
        with self.owner.server() as connection:
            quote = connection.dialect.identifier_preparer.quote
            clause = f" TEMPLATE {quote(template.database or '')}" if template else ""
            connection.exec_driver_sql(f"CREATE DATABASE {quote(url.database or '')}{clause}")

    def _drop(self, url: sa.URL) -> None:
        if self.dialect == "sqlite":
            Path(url.database or "").unlink(missing_ok=True)
            return
        force = " WITH (FORCE)" if self.dialect == "postgresql" else ""
        with self.owner.server() as connection:
            name = connection.dialect.identifier_preparer.quote(url.database or "")
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[TestDatabase]:
        """The template inside a transaction that is rolled back after the test."""
        # One pooled connection for the whole session: a new server connection per test would
        # cost several times the per-test budget.
        if self._engine is None:
            self._engine = sa.create_engine(self.url, pool_size=1, max_overflow=0)
            if self.dialect == "sqlite":
                _sqlite_savepoints(self._engine)
        connection = self._engine.connect()
        outer = connection.begin()
        try:
            with self.app.app_context(), _bound_session(self.app, connection):
                yield TestDatabase(self.app, _text(self.url), "transaction", connection, self)
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
        app = _make_app(self.owner.factory, url)
        try:
            with app.app_context():
                yield TestDatabase(app, _text(url), "clone", None, self)
        finally:
            _dispose(app)
            self._drop(url)

    def _copy_mariadb(self, url: sa.URL) -> None:
        """Schema from the template's dump, rows by ``INSERT ... SELECT`` on the server."""
        with _connected(self.url) as connection:
            if self._schema is None:
                self._schema = dump_schema(connection)
            tables = sa.inspect(connection).get_table_names()
        self._create(url)
        with _connected(url) as connection:
            quote = connection.dialect.identifier_preparer.quote
            old, new = quote(self.url.database or ""), quote(url.database or "")
            key = dialect_key(connection)
            load_baseline(connection, Baseline(Path("<template>"), "", key, "", "", self._schema))
            connection.exec_driver_sql("SET SESSION foreign_key_checks = 0")
            for table in map(quote, tables):
                connection.exec_driver_sql(
                    f"INSERT INTO {new}.{table} SELECT * FROM {old}.{table}".replace("%", "%%")
                )
            connection.commit()


@contextlib.contextmanager
def _connected(url: sa.URL) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _sqlite_savepoints(engine: sa.Engine) -> None:
    """Python's sqlite3 starts transactions on its own and breaks SAVEPOINTs: SQLAlchemy's
    documented recipe lets it emit ``BEGIN`` itself."""

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
