"""The baseline engine on real databases: a database made from a baseline equals a replayed one.

A small Alembic project (its own plain ``env.py``, no Flask) replays a realistic history on
database A: tables with foreign keys, unique and check constraints, indexes, server defaults,
an enum, altered, dropped and renamed columns, a renamed table, and on PostgreSQL an identity
column, a free sequence, an expression index, a view and a materialized view. A is dumped, the
dump is loaded into an empty database B, B is stamped, and both are compared by reflection.
"""

from __future__ import annotations

import datetime
import decimal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from conftest import BACKENDS
from schema_snapshot import schema_snapshot

from flask_versioning import VersioningError
from flask_versioning._baseline import (
    data_revisions,
    dialect_key,
    dump_rows,
    dump_schema,
    find_baseline,
    is_empty,
    list_baselines,
    load_baseline,
    read_baseline,
    write_baseline,
)
from flask_versioning._baseline.apply import split_statements

EXCLUDE = ("alembic_version",)

ENV_PY = """
import sqlalchemy as sa
from alembic import context

engine = sa.create_engine(context.config.attributes["url"], poolclass=sa.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

SCRIPT_MAKO = '''"""${message}"""
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
'''

HEADER = """
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def dialect():
    return op.get_context().dialect.name


def downgrade():
    pass

"""

REVISIONS = {
    "a1_users": """
def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("name", sa.String(50)),
        sa.Column(
            "role",
            sa.Enum("admin", "member", name="user_role"),
            nullable=False,
            server_default="member",
        ),
        sa.Column(
            "created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("email <> ''", name="ck_users_email"),
    )
    op.create_index("ix_users_name", "users", ["name"])
""",
    "a2_posts": """
def upgrade():
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", name="fk_posts_user", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ratio", sa.Numeric(5, 2), server_default="0.5"),
        sa.CheckConstraint("score >= 0", name="ck_posts_score"),
        sa.UniqueConstraint("user_id", "title", name="uq_posts_user_title"),
    )
    op.create_index("ix_posts_user_score", "posts", ["user_id", "score"])
    op.create_index("ix_posts_title", "posts", ["title"], unique=True)
""",
    "a3_alter": """
def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("bio", sa.Text))
        batch.alter_column(
            "name", existing_type=sa.String(50), nullable=False, server_default="anonymous"
        )
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("body")
        batch.alter_column(
            "title",
            new_column_name="headline",
            existing_type=sa.String(200),
            existing_nullable=False,
        )
""",
    "a4_rename": """
def upgrade():
    op.rename_table("posts", "articles")
    collation = {"postgresql": "C", "sqlite": "NOCASE"}.get(dialect(), "utf8mb4_bin")
    op.create_table(
        "tags",
        sa.Column(
            "id", sa.Integer, *([sa.Identity(start=10)] if dialect() == "postgresql" else []),
            primary_key=True,
        ),
        sa.Column("name", sa.String(40, collation=collation), nullable=False),
        sa.Column("pattern", sa.String(40), nullable=False, server_default="100% 'sure'; really"),
        sa.CheckConstraint("name NOT LIKE '%;%'", name="ck_tags_name"),
        mysql_charset="latin1",
    )
    op.create_table(
        "article_tags",
        sa.Column(
            "article_id",
            sa.Integer,
            sa.ForeignKey("articles.id", name="fk_at_article"),
            primary_key=True,
        ),
        sa.Column(
            "tag_id", sa.Integer, sa.ForeignKey("tags.id", name="fk_at_tag"), primary_key=True
        ),
    )
    if dialect() in ("postgresql", "sqlite"):
        op.execute("CREATE VIEW popular AS SELECT id, headline FROM articles WHERE score > 100")
    if dialect() == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS citext")
        op.add_column("users", sa.Column("nick", sa.Text))
        op.execute("ALTER TABLE users ALTER COLUMN nick TYPE citext")
        op.execute("CREATE SEQUENCE invoice_numbers START WITH 1000 INCREMENT BY 5")
        op.add_column(
            "articles",
            sa.Column(
                "invoice", sa.BigInteger, server_default=sa.text("nextval('invoice_numbers')")
            ),
        )
        op.create_index(
            "ix_articles_lower_headline",
            "articles",
            [sa.text("lower(headline)")],
            postgresql_where=sa.text("score > 10"),
        )
        doubled = sa.Computed("score * 2", persisted=True)
        op.add_column("articles", sa.Column("double_score", sa.Integer, doubled))
        op.execute("COMMENT ON TABLE articles IS 'user''s posts'")
        op.execute("COMMENT ON COLUMN tags.pattern IS 'a LIKE pattern'")
        op.execute(
            "CREATE MATERIALIZED VIEW tag_counts AS "
            "SELECT tag_id, count(*) AS n FROM article_tags GROUP BY tag_id"
        )
        op.create_index("ix_tag_counts", "tag_counts", ["tag_id"], unique=True)
""",
    "a5_data": """
def upgrade():
    tags = sa.table("tags", sa.column("name", sa.String))
    op.bulk_insert(tags, [{"name": "news"}, {"name": "tips"}])
    op.execute("UPDATE users SET bio = 'x' WHERE bio IS NULL")
""",
    "a6_more": """
def upgrade():
    op.add_column("articles", sa.Column("published", sa.Boolean, server_default=sa.false()))
    op.create_index("ix_articles_published", "articles", ["published"])
""",
}
ORDER = list(REVISIONS)


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """An Alembic script directory with the history above."""
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ENV_PY)
    (directory / "script.py.mako").write_text(SCRIPT_MAKO)
    down = None
    for revision in ORDER:
        source = HEADER.format(revision=revision, down=down) + textwrap.dedent(REVISIONS[revision])
        (directory / "versions" / f"{revision}.py").write_text(source)
        down = revision
    return directory


def alembic(scripts: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["url"] = url
    return config


@pytest.fixture
def engines(database_url: str, second_database_url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    a = sa.create_engine(database_url, poolclass=sa.NullPool)
    b = sa.create_engine(second_database_url, poolclass=sa.NullPool)
    yield a, b
    a.dispose()
    b.dispose()


def make_baseline(scripts: Path, engine: sa.Engine, revision: str) -> Path:
    with engine.connect() as connection:
        sql = dump_schema(connection, exclude_tables=EXCLUDE)
        return write_baseline(scripts, revision, dialect_key(connection), sql)


def load_and_stamp(scripts: Path, engine: sa.Engine, revision: str) -> None:
    with engine.connect() as connection:
        assert is_empty(connection, version_table="alembic_version")
        baseline = find_baseline(scripts, dialect_key(connection), ORDER[::-1])
        assert baseline is not None and baseline.revision == revision
        load_baseline(connection, baseline)
    command.stamp(alembic(scripts, engine.url.render_as_string(hide_password=False)), revision)


def snapshot(engine: sa.Engine) -> dict[str, object]:
    return schema_snapshot(engine, exclude=())


def test_baseline_made_database_equals_replayed_one(
    backend: str, scripts: Path, engines: tuple[sa.Engine, sa.Engine]
) -> None:
    a, b = engines
    url_a = a.url.render_as_string(hide_password=False)
    url_b = b.url.render_as_string(hide_password=False)
    command.upgrade(alembic(scripts, url_a), "a4_rename")
    path = make_baseline(scripts, a, "a4_rename")
    assert path == scripts / "baselines" / f"a4_rename.{dialect_key(a)}.sql"

    load_and_stamp(scripts, b, "a4_rename")
    replayed, loaded = snapshot(a), snapshot(b)
    assert loaded == replayed
    # The comparison is about something: the history's objects are all there.
    tables = replayed["tables"]
    assert isinstance(tables, dict)
    assert {"users", "articles", "tags", "article_tags", "alembic_version"} <= set(tables)
    assert [c["name"] for c in tables["articles"]["check_constraints"]] == ["ck_posts_score"]
    assert replayed["version"] == [["a4_rename"]]
    if backend == "postgresql":
        assert replayed["enums"] == [{"name": "user_role", "labels": ["admin", "member"]}]
        assert [s[0] for s in replayed["sequences"]] == [  # type: ignore[attr-defined]
            "invoice_numbers",
            "posts_id_seq",  # still named after the table's old name, as replay left it
            "users_id_seq",
        ]

    # The revisions after the baseline apply on top of it as on the replayed database.
    command.upgrade(alembic(scripts, url_a), "head")
    command.upgrade(alembic(scripts, url_b), "head")
    assert snapshot(b) == snapshot(a)


def test_baseline_at_head_after_a_data_revision(
    backend: str, scripts: Path, engines: tuple[sa.Engine, sa.Engine]
) -> None:
    a, b = engines
    command.upgrade(alembic(scripts, a.url.render_as_string(hide_password=False)), "head")
    make_baseline(scripts, a, "a6_more")
    load_and_stamp(scripts, b, "a6_more")
    assert snapshot(b) == snapshot(a)
    # The rows the data revision wrote are in A only: a baseline holds the schema.
    with a.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM tags")).scalar() == 2
    with b.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM tags")).scalar() == 0
        connection.execute(sa.text("INSERT INTO tags (name) VALUES ('fresh')"))
        row = connection.execute(sa.text("SELECT id, pattern FROM tags")).one()
    # Counters start afresh, where they were declared to start, and defaults survive quoting.
    assert row == (10 if backend == "postgresql" else 1, "100% 'sure'; really")


def test_a_baseline_file_states_what_it_is_and_the_dump_is_stable(
    scripts: Path, sqlite_url: str
) -> None:
    command.upgrade(alembic(scripts, sqlite_url), "head")
    engine = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    path = make_baseline(scripts, engine, "a6_more")
    first = path.read_text()
    head = first.split("\n\n", 1)[0].splitlines()
    assert head[:4] == [
        "-- flask-versioning baseline",
        "-- format: 1",
        "-- revision: a6_more",
        "-- dialect: sqlite",
    ]
    assert head[4].startswith("-- created-at: 20") and head[5].startswith("-- sha256: ")
    assert "alembic_version" not in first and 'CREATE TABLE "articles"' in first
    # Dumping the same database again gives the same body: a regenerated baseline diffs clean.
    with engine.connect() as connection:
        assert dump_schema(connection, exclude_tables=EXCLUDE) == read_baseline(path).sql
    engine.dispose()


def test_a_baseline_edited_by_hand_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_baseline(tmp_path, "abc123", "sqlite", "CREATE TABLE t (id INTEGER);\n")
    assert read_baseline(path).sql == "CREATE TABLE t (id INTEGER);\n"
    # Line endings changed by a checkout are not an edit.
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_baseline(path).revision == "abc123"

    path.write_text(path.read_text().replace("id INTEGER", "id INTEGER, extra TEXT"))
    with pytest.raises(VersioningError) as caught:
        find_baseline(tmp_path, "sqlite", ["newer", "abc123"])
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and "checksum" in message
    assert "flask db baseline --at abc123" in message

    stranger = tmp_path / "baselines" / "other.sqlite.sql"
    stranger.write_text("CREATE TABLE t (id INTEGER);\n")
    with pytest.raises(VersioningError, match=r"other.sqlite.sql is not a baseline"):
        read_baseline(stranger)


def test_find_baseline_takes_the_newest_candidate_for_the_dialect(tmp_path: Path) -> None:
    write_baseline(tmp_path, "r1", "sqlite", "CREATE TABLE a (x INTEGER);")
    write_baseline(tmp_path, "r2", "sqlite", "CREATE TABLE b (x INTEGER);")
    write_baseline(tmp_path, "r3", "postgresql", "CREATE TABLE c (x integer);")
    found = find_baseline(tmp_path, "sqlite", ["r4", "r3", "r2", "r1"])
    assert found is not None and found.revision == "r2" and "TABLE b" in found.sql
    assert find_baseline(tmp_path, "mariadb", ["r3", "r2", "r1"]) is None
    assert find_baseline(tmp_path, "sqlite", ["r0"]) is None
    assert [(e.revision, e.dialect) for e in list_baselines(tmp_path)] == [
        ("r1", "sqlite"),
        ("r2", "sqlite"),
        ("r3", "postgresql"),
    ]

    # A file renamed to another revision is caught rather than loaded as that revision.
    (tmp_path / "baselines" / "r1.sqlite.sql").rename(tmp_path / "baselines" / "r0.sqlite.sql")
    with pytest.raises(VersioningError, match=r"says it is of revision r1 for sqlite"):
        find_baseline(tmp_path, "sqlite", ["r0"])


def test_excluded_tables_are_left_out_with_their_sequences(backend: str, database_url: str) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    metadata = sa.MetaData()
    for name in ("ledger", "kept"):
        sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("label", sa.String(20), index=True),
        )
    metadata.create_all(engine)
    with engine.connect() as connection:
        sql = dump_schema(connection, exclude_tables=["ledger"])
    engine.dispose()
    assert "kept" in sql
    assert "ledger" not in sql


def test_is_empty(backend: str, database_url: str, scripts: Path) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        assert is_empty(connection, version_table="alembic_version")
    command.stamp(alembic(scripts, database_url), "a1_users")  # a version table, no tables
    with engine.connect() as connection:
        assert not is_empty(connection, version_table="alembic_version")
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
        connection.execute(sa.text("CREATE TABLE leftover (id INTEGER)"))
    with engine.connect() as connection:
        assert not is_empty(connection, version_table="alembic_version")
    engine.dispose()


def test_a_failed_load_says_where_and_what_stayed(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    key = dialect_key(engine)
    sql = "CREATE TABLE first_one (id INTEGER);\n\nCREATE TABLE broken (id NOTATYPE(;\n"
    baseline = read_baseline(write_baseline(tmp_path, "r1", key, sql))
    with engine.connect() as connection, pytest.raises(VersioningError) as caught:
        load_baseline(connection, baseline)
    message = str(caught.value)
    assert "\n" not in message
    assert f"baseline {baseline.path} failed at statement 2 (CREATE TABLE broken" in message
    with engine.connect() as connection:
        names = sa.inspect(connection).get_table_names()
    if backend == "mariadb":
        assert "1 statement(s) before it stay applied" in message
        assert names == ["first_one"]
    else:
        assert "rolled back, the database is empty as before" in message
        assert names == []
    engine.dispose()


def test_objects_a_baseline_cannot_hold_are_refused(backend: str, database_url: str) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        if backend == "postgresql":
            connection.execute(
                sa.text(
                    "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN NEW.n := NEW.n + 1; RETURN NEW; END $$"
                )
            )
            expected = r"functions or procedures \(bump\)"
        elif backend == "sqlite":
            connection.execute(
                sa.text(
                    "CREATE TRIGGER bump AFTER INSERT ON t BEGIN "
                    "UPDATE t SET n = n + 1 WHERE id = NEW.id; END"
                )
            )
            expected = r"triggers \(bump\)"
        else:
            connection.execute(sa.text("CREATE VIEW v AS SELECT id FROM t"))
            expected = r"views or sequences \(v \(view\)\)"
    with engine.connect() as connection, pytest.raises(VersioningError, match=expected):
        dump_schema(connection, exclude_tables=EXCLUDE)
    engine.dispose()


def test_dollar_quoted_bodies_are_refused_not_cut() -> None:
    sql = (
        "CREATE TABLE a (x text);\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;"
    )
    with pytest.raises(VersioningError, match=r"dollar-quoted body \(\$\$\) on line 2"):
        split_statements(sql, dialect="postgresql", source="baseline x.sql")
    # Semicolons inside strings, quoted names and comments do not end a statement.
    assert split_statements(
        "CREATE TABLE \"a;\" (x text DEFAULT 'a;''b' /* ; */); -- c;\nCREATE INDEX i ON a (x)",
        dialect="postgresql",
    ) == ["CREATE TABLE \"a;\" (x text DEFAULT 'a;''b' /* ; */)", "CREATE INDEX i ON a (x)"]
    assert split_statements(r"CREATE TABLE `t` (s text DEFAULT 'a\';b')", dialect="mariadb") == [
        r"CREATE TABLE `t` (s text DEFAULT 'a\';b')"
    ]


def test_data_revisions_lists_the_revisions_that_change_rows(tmp_path: Path) -> None:
    def revision(name: str, body: str, header: str = "from alembic import op\n") -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(f"{header}import sqlalchemy as sa\nrevision = {name!r}\n\n{body}")
        return path

    schema_only = revision(
        "s1",
        "def upgrade():\n"
        "    op.create_table('t', sa.Column('id', sa.Integer))\n"
        "    op.execute('CREATE INDEX ix ON t (id)')\n"
        "    op.execute(sa.schema.CreateSequence(sa.Sequence('s')))\n\n"
        "def downgrade():\n"
        "    op.execute('DELETE FROM t')\n",  # a downgrade's rows are not a baseline's concern
    )
    inserts = revision(
        "d1",
        "def upgrade():\n"
        "    op.bulk_insert(sa.table('t', sa.column('id')), [{'id': 1}])\n"
        "    op.execute(sa.text('-- fix\\nupdate t set id = 2'))\n",
    )
    bind = revision(
        "d2",
        "def upgrade():\n    conn = op.get_bind()\n    conn.execute(sa.text('SELECT 1'))\n",
    )
    aliased = revision(
        "d3",
        "def upgrade_engine1():\n"
        "    t = sa.table('t', sa.column('id'))\n"
        "    migrate.execute(t.delete().where(t.c.id == 1))\n"
        "    migrate.execute('CREATE TABLE x (id int); INSERT INTO x VALUES (1)')\n",
        header="from alembic import op as migrate\n",
    )
    dynamic = revision(
        "d4",
        "def upgrade():\n"
        "    op.execute(STATEMENT)\n"
        "    op.execute(sa.text(STATEMENT))\n"
        "    op.execute(f'CREATE INDEX ix_{NAME} ON t (id)')\n"
        "    op.execute(f'INSERT INTO {NAME} VALUES (1)')\n",
    )

    found = data_revisions([schema_only, inserts, bind, aliased, dynamic])
    assert [(f.path, f.revision) for f in found] == [
        (inserts, "d1"),
        (bind, "d2"),
        (aliased, "d3"),
        (dynamic, "d4"),
    ]
    assert found[0].findings == (
        "line 6: op.bulk_insert(...)",
        "line 7: op.execute('update t set id = 2')",
    )
    assert found[1].findings == ("line 6: op.get_bind()",)
    assert found[2].findings == (
        "line 7: op.execute(delete(...))",
        "line 8: op.execute('INSERT INTO x VALUES (1)')",
    )
    assert found[3].findings == (
        "line 6: op.execute(a statement built at run time)",
        "line 7: op.execute(a statement built at run time)",
        "line 9: op.execute('INSERT INTO x VALUES (1)')",
    )

    broken = tmp_path / "broken.py"
    broken.write_text("def upgrade(:\n")
    with pytest.raises(VersioningError, match=r"cannot read revision .*broken.py \(line 1\)"):
        data_revisions([broken])


def test_dump_rows_round_trip(
    backend: str, engines: tuple[sa.Engine, sa.Engine], tmp_path: Path
) -> None:
    a, b = engines
    metadata = sa.MetaData()
    kinds = sa.Table(
        "kinds",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
    )
    items = sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind_id", sa.ForeignKey("kinds.id"), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("day", sa.Date),
        sa.Column("seen", sa.DateTime),
        sa.Column("flag", sa.Boolean),
    )
    rows: list[dict[str, object]] = [
        {
            "id": 3,
            "kind_id": 7,
            "note": "it's 100% done; a\\b\nline two, ünïcode\r\nthree -- /* $$",
            "price": decimal.Decimal("12.50"),
            "day": datetime.date(2024, 2, 29),
            "seen": datetime.datetime(2024, 2, 29, 13, 45, 7),
            "flag": True,
        },
        {
            "id": 5,
            "kind_id": 7,
            "note": None,
            "price": None,
            "day": None,
            "seen": None,
            "flag": False,
        },
    ]
    metadata.create_all(a)
    with a.begin() as connection:
        connection.execute(kinds.insert(), [{"id": 7, "label": "%(x)s :name ?"}])
        connection.execute(items.insert(), rows)
    with a.connect() as connection:
        sql = dump_schema(connection, exclude_tables=EXCLUDE)
        sql += dump_rows(connection, ["items", "kinds"])
        key = dialect_key(connection)
    baseline = read_baseline(write_baseline(tmp_path, "r1", key, sql))
    with b.connect() as connection:
        load_baseline(connection, baseline)
    with b.begin() as connection:
        assert [
            dict(r) for r in connection.execute(items.select().order_by(items.c.id)).mappings()
        ] == rows
        assert connection.execute(sa.select(kinds.c.label)).scalar() == "%(x)s :name ?"
        # The counters continue after the copied rows, as they would on the source database.
        new_id = connection.execute(items.insert().values(kind_id=7)).inserted_primary_key
    assert new_id is not None and new_id[0] == 6

    with a.connect() as connection, pytest.raises(VersioningError, match="'missing'"):
        dump_rows(connection, ["missing"])


def test_sqlite_trailing_comments_and_virtual_tables(tmp_path: Path) -> None:
    """SQLite keeps a trailing comment in a statement's text, which must not swallow the
    semicolon; an FTS5 table creates its shadow tables itself, so they are not dumped."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}", poolclass=sa.NullPool)
    with source.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.executescript(
            "CREATE TABLE c (id INTEGER);\nCREATE INDEX ix_c ON c (id) -- why it exists\n;"
            "CREATE VIRTUAL TABLE docs USING fts5(body);"
        )
        sql = dump_schema(connection)
    target = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}", poolclass=sa.NullPool)
    with target.connect() as connection:
        baseline = read_baseline(write_baseline(tmp_path, "r", "sqlite", sql))
        assert load_baseline(connection, baseline) == 3
    snapshot = schema_snapshot(target)
    assert snapshot == schema_snapshot(source)
    assert {"c", "docs", "docs_data"} <= set(snapshot["tables"])
    assert "ix_c" in str(snapshot["tables"]["c"]["indexes"])
    source.dispose()
    target.dispose()


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL is not among the backends")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_long_baseline_loads_in_batches_and_still_names_the_failing_statement(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    comments = [f"COMMENT ON TABLE t IS 'note {n}'" for n in range(1, 1200)]
    good = ";\n".join(["CREATE TABLE t (id integer)", *comments]) + ";\n"
    bad = good.replace("'note 1099'", "'note 1099' AND nonsense")
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection, pytest.raises(VersioningError) as caught:
        load_baseline(connection, read_baseline(write_baseline(tmp_path, "bad", "postgresql", bad)))
    assert "failed at statement 1100 (COMMENT ON TABLE t IS 'note 1099' AND nonsense)" in str(
        caught.value
    )
    with engine.connect() as connection:
        assert is_empty(connection, version_table="alembic_version")
        baseline = read_baseline(write_baseline(tmp_path, "good", "postgresql", good))
        assert load_baseline(connection, baseline) == 1200
        comment = sa.inspect(connection).get_table_comment("t")["text"]
    assert comment == "note 1199"
    engine.dispose()
