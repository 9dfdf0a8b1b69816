"""``flask db rebase``: one head moved onto the other, the file otherwise byte for byte, and
every refusal that keeps a database's history true."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import FlaskProject, version_rows
from flask import Flask
from test_team_linear import heads_lines, write_revision

from flask_versioning import RevisionError, Versioning
from flask_versioning._linear.guard import heads_file_problem


def make_app(root: Path, url: str) -> tuple[Flask, Versioning]:
    app = Flask("rebaseapp", root_path=str(root))
    app.config.update(VERSIONING_DATABASE_URL=url, VERSIONING_ENV="development")
    return app, Versioning(app, metadata=sa.MetaData())


@pytest.fixture
def forked(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Versioning, Path]]:
    """base aaa111 with two heads on it: bbb222 and ccc333; HEADS lists bbb222."""
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        versions = versioning.init() / "versions"
        write_revision(versions, "aaa111", None, "base")
        write_revision(versions, "bbb222", "aaa111", "add b")
        write_revision(versions, "ccc333", "aaa111", "add c")
        (versions / "HEADS").write_text("bbb222 add b\n")
        yield versioning, versions


def test_rebase_rewrites_only_the_parent_and_the_revises_line(
    forked: tuple[Versioning, Path],
) -> None:
    versioning, versions = forked
    path = versions / "ccc333_add_c.py"
    before = path.read_text()
    result = versioning.rebase("ccc")  # a partial id, as Alembic takes them
    assert (result.revision, result.old_parent, result.new_parent) == (
        "ccc333",
        ("aaa111",),
        "bbb222",
    )
    assert result.path == path and result.heads_file == versions / "HEADS"
    after = path.read_text()
    assert after == before.replace("Revises: aaa111", "Revises: bbb222").replace(
        "down_revision = 'aaa111'", "down_revision = 'bbb222'"
    )
    assert sorted(p.name for p in versions.glob("*.py")) == [
        "aaa111_base.py",
        "bbb222_add_b.py",
        "ccc333_add_c.py",
    ]
    assert versioning.heads() == ["ccc333"]
    assert heads_lines(versions.parent) == ["ccc333 add c"]
    assert heads_file_problem(versioning.database()) is None
    assert [s.revision for s in versioning.history()] == ["ccc333", "bbb222", "aaa111"]


def test_rebase_keeps_quotes_annotations_and_line_endings(
    forked: tuple[Versioning, Path],
) -> None:
    versioning, versions = forked
    path = versions / "ccc333_add_c.py"
    text = path.read_text()
    text = text.replace(
        "revision = 'ccc333'",
        'from collections.abc import Sequence\n\nrevision: str = "ccc333"',
    )
    text = text.replace(
        "down_revision = 'aaa111'", 'down_revision: str | Sequence[str] | None = "aaa111"  # parent'
    )
    path.write_bytes(text.replace("\n", "\r\n").encode())
    versioning.rebase("ccc333", onto="bbb222")
    after = path.read_bytes().decode()
    assert 'down_revision: str | Sequence[str] | None = "bbb222"  # parent\r\n' in after
    assert "Revises: bbb222\r\n" in after
    assert "\n" not in after.replace("\r\n", "")


def test_rebase_refusals_change_nothing(forked: tuple[Versioning, Path]) -> None:
    versioning, versions = forked
    snapshot = {p.name: p.read_bytes() for p in versions.iterdir() if p.is_file()}
    cases = {
        "aaa111": "aaa111 has children (bbb222, ccc333): only a head revision can be rebased",
        "nope": "Can't locate revision identified by 'nope'",
    }
    for revision, message in cases.items():
        with pytest.raises(RevisionError) as info:
            versioning.rebase(revision)
        assert str(info.value) == message
    with pytest.raises(RevisionError, match="--onto aaa111 is not a head"):
        versioning.rebase("ccc333", onto="aaa111")
    with pytest.raises(RevisionError, match="cannot rebase ccc333 onto itself"):
        versioning.rebase("ccc333", onto="ccc333")
    with pytest.raises(RevisionError, match="Can't locate revision identified by 'zzz'"):
        versioning.rebase("ccc333", onto="zzz")
    # A third head: which one to follow must be said.
    write_revision(versions, "ddd444", "aaa111", "add d")
    with pytest.raises(RevisionError, match=r"several other heads \(.*\): choose one with --onto"):
        versioning.rebase("ccc333")
    (versions / "ddd444_add_d.py").unlink()
    # A revision whose parent is not in the other head's history would lose it.
    write_revision(versions, "eee555", None, "second root")
    write_revision(versions, "fff666", "eee555", "on the second root")
    with pytest.raises(RevisionError, match="builds on eee555, which is not in bbb222's history"):
        versioning.rebase("fff666", onto="bbb222")
    (versions / "eee555_second_root.py").unlink()
    (versions / "fff666_on_the_second_root.py").unlink()
    assert {p.name: p.read_bytes() for p in versions.iterdir() if p.is_file()} == snapshot


def test_a_merge_revision_and_the_only_head_are_refused(tmp_path: Path, sqlite_url: str) -> None:
    app, versioning = make_app(tmp_path, sqlite_url)
    with app.app_context():
        versions = versioning.init() / "versions"
        write_revision(versions, "aaa111", None, "base")
        with pytest.raises(RevisionError, match="aaa111 is the only head"):
            versioning.rebase("aaa111")
        write_revision(versions, "bbb222", "aaa111", "b")
        write_revision(versions, "ccc333", "aaa111", "c")
        merge = versioning.merge(message="join")
        write_revision(versions, "ddd444", "aaa111", "d")
        with pytest.raises(RevisionError, match="is a merge revision"):
            versioning.rebase(merge.revision, onto="ddd444")


def test_rebase_is_refused_when_a_database_applied_the_revision(
    tmp_path: Path, database_url: str
) -> None:
    app, versioning = make_app(tmp_path, database_url)
    with app.app_context():
        versions = versioning.init() / "versions"
        write_revision(versions, "aaa111", None, "base")
        write_revision(versions, "bbb222", "aaa111", "add b")
        versioning.init(linear=True)  # written by hand: record them in versions/HEADS
        versioning.upgrade()
        write_revision(versions, "ccc333", "aaa111", "add c")
        before = (versions / "bbb222_add_b.py").read_bytes()
        with pytest.raises(RevisionError) as info:
            versioning.rebase("bbb222")
        message = str(info.value)
        assert message.startswith("the default database (")
        assert "has already applied bbb222" in message
        assert "'flask db downgrade aaa111'" in message
        assert (versions / "bbb222_add_b.py").read_bytes() == before
        # The other head was not applied: it can move.
        assert versioning.rebase("ccc333").new_parent == "bbb222"
        versioning.upgrade()
    assert version_rows(database_url) == ["ccc333"]


def test_rebase_command(project: FlaskProject) -> None:
    project.db("migrate", "-m", "users")
    (base,) = [p.name.split("_")[0] for p in project.revision_files()]
    out_b = project.db("revision", "-m", "add b").stdout
    rev_b = out_b.split("versions/")[1][:12]
    project.db("upgrade")
    out_c = project.db("revision", "-m", "add c", "--head", base, "--splice").stdout
    rev_c = out_c.split("versions/")[1][:12]
    proc = project.db("rebase", rev_b, check=False)
    assert proc.returncode == 1 and "has already applied" in proc.stderr
    out = project.db("rebase", rev_c).stdout.splitlines()
    assert out[0] == f"Rebased {rev_c} onto {rev_b} (it followed {base})."
    assert out[1].startswith(f"Rewrote migrations/versions/{rev_c}_")
    assert out[2] == "Rewrote migrations/versions/HEADS"
    project.db("upgrade")
    assert version_rows(project.database_url) == [rev_c]
