"""The heads cache (heads.py) on its own: what it answers, where it writes, and when it refuses
to trust what it wrote.

Every case uses real revision files on disk and, where the answer needs Alembic, Alembic's own
``ScriptDirectory``; what is checked is the heads returned, how they were found, and which cache
files exist afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from flask_versioning._alembic.heads import Heads, script_heads

CACHE = Path("__pycache__") / "flask_versioning-heads.json"


@pytest.fixture(autouse=True)
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache directory, kept inside the test."""
    path = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path / "flask-versioning"


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    path = tmp_path / "migrations" / "versions"
    path.mkdir(parents=True)
    return path


def revision_file(
    versions: Path, revision: str, down: str | tuple[str, ...] | None, *, name: str = ""
) -> Path:
    """A revision file as Alembic's template writes it (annotated assignments)."""
    path = versions / (name or f"{revision}_step.py")
    path.write_text(
        f'"""step {revision}"""\n'
        "from typing import Sequence, Union\n\n"
        f"revision: str = {revision!r}\n"
        f"down_revision: Union[str, Sequence[str], None] = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    return path


class Alembic:
    """The fallback: Alembic's heads for the folder, counting how often it was asked."""

    def __init__(self, versions: Path) -> None:
        self.versions = versions
        self.calls = 0

    def __call__(self) -> Iterable[str]:
        self.calls += 1
        script = ScriptDirectory(str(self.versions.parent), version_locations=[str(self.versions)])
        return script.get_heads()

    def heads(self) -> Heads:
        return script_heads([self.versions], self)


def test_branches_and_merges_are_read_without_importing(versions: Path) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    revision_file(versions, "b2", "a1")
    revision_file(versions, "c3", "a1")
    assert alembic.heads() == Heads(("b2", "c3"), "parsed")
    assert alembic.heads() == Heads(("b2", "c3"), "cache")
    # A merge written over several lines, with comments: read with ``ast``.
    (versions / "d4_merge.py").write_text(
        'revision = "d4"\ndown_revision = (  # the two branches\n    "b2",\n    "c3",\n)\n'
    )
    assert alembic.heads() == Heads(("d4",), "parsed")
    assert alembic.calls == 0
    entry = json.loads((versions / CACHE).read_text())
    assert entry["heads"] == ["d4"]
    # Only the head file is watched: editing it in place is noticed.
    assert [w[1] for w in entry["watch"]] == ["d4_merge.py"]


def test_deleting_the_head_file_brings_back_its_parent(versions: Path) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    head = revision_file(versions, "b2", "a1")
    assert alembic.heads() == Heads(("b2",), "parsed")
    head.unlink()
    assert alembic.heads() == Heads(("a1",), "parsed")
    assert alembic.heads() == Heads(("a1",), "cache")


def test_computed_ids_are_left_to_alembic_and_every_file_is_watched(versions: Path) -> None:
    alembic = Alembic(versions)
    base = revision_file(versions, "a1", None)
    (versions / "b2_computed.py").write_text(
        'revision = "b" + "2"\ndown_revision = "a1"\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    assert alembic.heads() == Heads(("b2",), "imported")
    assert alembic.calls == 1
    assert alembic.heads() == Heads(("b2",), "cache")
    assert alembic.calls == 1
    entry = json.loads((versions / CACHE).read_text())
    assert sorted(w[1] for w in entry["watch"]) == ["a1_step.py", "b2_computed.py"]
    # Which file holds the head is unknown, so editing any file invalidates the entry.
    with base.open("a") as f:
        f.write("# edited\n")
    assert alembic.heads() == Heads(("b2",), "imported")
    assert alembic.calls == 2


@pytest.mark.parametrize(
    "content",
    [
        'revision = "a1"\ndown_revision = None\n',  # the same id twice
        'revision = "b2"\ndown_revision = "zz9"\n',  # a parent that does not exist
        'revision = "b2"\nrevision = "b3"\ndown_revision = "a1"\n',  # assigned twice
        "revision = \n",  # not Python at all
        'revision = ""\ndown_revision = "a1"\n',  # an empty id
        'revision = "b2"\ndown_revision = 7\n',  # not a revision id
    ],
    ids=["duplicate", "missing-parent", "two-assignments", "syntax-error", "empty", "number"],
)
def test_files_too_odd_to_read_go_to_alembic(versions: Path, content: str) -> None:
    revision_file(versions, "a1", None)
    (versions / "b2_odd.py").write_text(content)
    asked = []

    def compute() -> list[str]:
        asked.append(True)
        return ["from-alembic"]

    assert script_heads([versions], compute) == Heads(("from-alembic",), "imported")
    assert asked == [True]


def test_unusual_but_plain_statements_are_read_with_ast(versions: Path) -> None:
    revision_file(versions, "a1", None)
    (versions / "b2_odd_layout.py").write_text(
        "import types\n"
        "revision: str\n"
        "ns = types.SimpleNamespace()\n"
        'ns.revision = "not-this"\n'
        'revision = (\n    "b2"\n)\n'
        'down_revision: str = "a1"\n'
    )
    alembic = Alembic(versions)
    assert alembic.heads() == Heads(("b2",), "parsed")
    assert alembic.calls == 0


def test_a_directory_named_like_a_revision_goes_to_alembic(versions: Path) -> None:
    revision_file(versions, "a1", None)
    (versions / "b2_not_a_file.py").mkdir()
    assert script_heads([versions], lambda: ["a1"]) == Heads(("a1",), "imported")


def test_a_latin1_file_is_read_with_its_declared_encoding(versions: Path) -> None:
    revision_file(versions, "a1", None)
    (versions / "b2_latin.py").write_bytes(
        b'# -*- coding: latin-1 -*-\n"""caf\xe9"""\nrevision = "b2"\ndown_revision = "a1"\n'
    )
    alembic = Alembic(versions)
    assert alembic.heads() == Heads(("b2",), "parsed")
    assert alembic.calls == 0


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format": 2, "names": null, "heads": [], "watch": []}',
        b'{"format": 2}',
        b"[1, 2, 3]",
    ],
    ids=["not-json", "other-names", "missing-keys", "a-list"],
)
def test_a_corrupt_cache_is_replaced_not_trusted(versions: Path, content: bytes) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    revision_file(versions, "b2", "a1")
    assert alembic.heads().source == "parsed"
    (versions / CACHE).write_bytes(content)
    assert alembic.heads() == Heads(("b2",), "parsed")
    assert json.loads((versions / CACHE).read_text())["heads"] == ["b2"]
    assert alembic.heads() == Heads(("b2",), "cache")


def test_a_cache_with_the_right_names_but_bad_watch_entries_is_ignored(versions: Path) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    assert alembic.heads().source == "parsed"
    entry = json.loads((versions / CACHE).read_text())
    entry["heads"] = ["forged"]
    entry["watch"] = [["only-three", "fields", 1]]
    (versions / CACHE).write_text(json.dumps(entry))
    assert alembic.heads() == Heads(("a1",), "parsed")


def test_unwritable_pycache_falls_back_to_the_user_cache(versions: Path, user_cache: Path) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    # Where the package cannot be written (a file stands where __pycache__ would be).
    (versions / "__pycache__").write_text("not a directory")
    assert alembic.heads() == Heads(("a1",), "parsed")
    stored = list(user_cache.glob("heads-*.json"))
    assert len(stored) == 1
    assert json.loads(stored[0].read_text())["heads"] == ["a1"]
    assert stored[0].stat().st_mode & 0o777 == 0o644
    assert alembic.heads() == Heads(("a1",), "cache")
    assert not list(user_cache.glob(".heads-*"))  # no temporary file left behind


def test_a_directory_in_the_cache_files_place_falls_back_cleanly(
    versions: Path, user_cache: Path
) -> None:
    revision_file(versions, "a1", None)
    (versions / CACHE).mkdir(parents=True)
    alembic = Alembic(versions)
    assert alembic.heads() == Heads(("a1",), "parsed")
    # The atomic rename failed: its temporary file is gone, the user cache holds the entry.
    assert sorted(p.name for p in (versions / "__pycache__").iterdir()) == [
        ".gitignore",  # written with the folder: git ignores the cache whatever the project says
        CACHE.name,
    ]
    assert len(list(user_cache.glob("heads-*.json"))) == 1
    assert alembic.heads() == Heads(("a1",), "cache")


def test_nothing_writable_means_nothing_stored_and_the_files_read_again(
    versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alembic = Alembic(versions)
    revision_file(versions, "a1", None)
    (versions / "__pycache__").write_text("not a directory")
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert alembic.heads() == Heads(("a1",), "parsed")
    assert alembic.heads() == Heads(("a1",), "parsed")
    assert blocked.read_text() == "" and (versions / "__pycache__").read_text() == "not a directory"
    assert alembic.calls == 0


def test_without_xdg_cache_home_the_home_cache_is_used(
    versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    revision_file(versions, "a1", None)
    (versions / "__pycache__").write_text("not a directory")
    assert Alembic(versions).heads() == Heads(("a1",), "parsed")
    assert list((tmp_path / "home" / ".cache" / "flask-versioning").glob("heads-*.json"))


def test_a_missing_folder_has_no_heads(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "versions"
    assert script_heads([missing], lambda: ["unused"]) == Heads((), "parsed")


def test_init_files_and_editor_locks_are_not_revisions(versions: Path) -> None:
    revision_file(versions, "a1", None)
    (versions / "__init__.py").write_text('revision = "init"\ndown_revision = None\n')
    (versions / ".#a1_step.py").write_text("user@host.1234")
    (versions / "notes.txt").write_text('revision = "txt"\n')
    assert Alembic(versions).heads() == Heads(("a1",), "parsed")


def test_the_cache_folder_keeps_itself_out_of_git(versions: Path) -> None:
    revision_file(versions, "a1", None)
    assert Alembic(versions).heads() == Heads(("a1",), "parsed")
    ignore = versions / "__pycache__" / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    ignore.write_text("# the project's own rules\n")  # never overwritten
    (versions / CACHE).unlink()
    assert Alembic(versions).heads() == Heads(("a1",), "parsed")
    assert ignore.read_text() == "# the project's own rules\n"
