"""With real ``git``: two branches that each add a revision conflict on ``versions/HEADS``,
``flask db rebase`` resolves it, and nothing the tool writes shows up as untracked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import FlaskProject, version_rows

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(project: FlaskProject, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(project.path),  # no user's global configuration
        "LC_ALL": "C",
    }
    proc = subprocess.run(
        ["git", *args], cwd=project.path, env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def init_repository(project: FlaskProject) -> None:
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.name", "Test Developer")
    git(project, "config", "user.email", "dev@example.com")
    git(project, "config", "commit.gpgsign", "false")
    # The project's own data file is the project's business; nothing of ours is listed here.
    (project.path / ".gitignore").write_text("app.db\n")


def new_revision(project: FlaskProject, message: str) -> str:
    out = project.db("revision", "-m", message).stdout
    match = re.search(r"versions/([0-9a-f]{12})_", out)
    assert match, out
    return match.group(1)


def test_two_branches_conflict_on_heads_and_rebase_fixes_it(project: FlaskProject) -> None:
    # Python's own bytecode goes elsewhere: what is left in the tree is the tool's doing.
    project.env["PYTHONPYCACHEPREFIX"] = str(project.path.parent / "pycache")
    init_repository(project)
    project.db("migrate", "-m", "users")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "users")

    git(project, "checkout", "-q", "-b", "feature-a")
    rev_a = new_revision(project, "add a")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "a")
    git(project, "checkout", "-q", "main")
    git(project, "checkout", "-q", "-b", "feature-b")
    rev_b = new_revision(project, "add b")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "b")

    git(project, "checkout", "-q", "feature-a")
    merge = git(project, "merge", "feature-b", check=False)
    assert merge.returncode == 1
    assert "CONFLICT (content): Merge conflict in migrations/versions/HEADS" in merge.stdout
    unmerged = git(project, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert unmerged == ["migrations/versions/HEADS"]  # the revision files merged cleanly
    heads_text = (project.versions / "HEADS").read_text()
    assert f"<<<<<<< HEAD\n{rev_a} add a\n=======\n{rev_b} add b\n>>>>>>> feature-b" in heads_text

    # Left as it is, check says what happened, naming both revisions.
    proc = project.db("check", check=False)
    assert proc.returncode == 1
    assert "conflict markers" in proc.stderr and rev_a in proc.stderr and rev_b in proc.stderr
    assert f"flask db rebase {rev_b}" in proc.stderr

    # Resolved the quick way, by taking one side: check still catches the second head.
    git(project, "checkout", "--ours", "migrations/versions/HEADS")
    git(project, "add", "migrations/versions/HEADS")
    git(project, "commit", "-q", "--no-edit")
    proc = project.db("check", check=False)
    assert proc.returncode == 1
    assert f"HEADS lists {rev_a} (add a)" in proc.stderr
    assert f"{rev_a} (add a), {rev_b} (add b)" in proc.stderr or (
        f"{rev_b} (add b), {rev_a} (add a)" in proc.stderr
    )

    out = project.db("rebase", rev_b).stdout
    assert out.startswith(f"Rebased {rev_b} onto {rev_a}")
    heads = project.db("heads").stdout.split()
    assert heads[0] == rev_b and rev_a not in heads
    out = project.db("upgrade").stdout
    assert out.index(f"Applied {rev_a}") < out.index(f"Applied {rev_b}")
    assert version_rows(project.database_url) == [rev_b]
    assert project.db("check").returncode == 0

    # The fix is two changed files, and nothing else appears in the checkout.
    status = git(project, "status", "--porcelain").stdout.splitlines()
    assert sorted(status) == sorted([" M migrations/versions/HEADS", f" M {_file(project, rev_b)}"])
    git(project, "commit", "-q", "-am", "rebase b onto a")
    assert git(project, "status", "--porcelain", "--untracked-files=all").stdout == ""


def _file(project: FlaskProject, revision: str) -> str:
    (path,) = project.versions.glob(f"{revision}_*.py")
    return str(path.relative_to(project.path))


def test_nothing_the_tool_writes_is_untracked(sqlite_project: FlaskProject) -> None:
    project = sqlite_project
    project.env["PYTHONPYCACHEPREFIX"] = str(project.path.parent / "pycache")
    init_repository(project)
    project.db("migrate", "-m", "users")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "users")
    # app.db sits at the project's root, as in a Flask-Migrate project.
    for command in (["upgrade"], ["current"], ["heads"], ["check"], ["plan"], ["lint"]):
        project.db(*command)
    project.db("downgrade", "base")
    project.db("upgrade")
    assert git(project, "status", "--porcelain", "--untracked-files=all").stdout == ""
    # They were written, and git ignores them because the tool said so, not the project.
    lock_folder = project.path / ".flask-versioning"
    names = sorted(p.name for p in lock_folder.iterdir())
    assert names[0] == ".gitignore" and len(names) == 2
    assert re.fullmatch(r"app\.db\.flask_versioning_alembic_version-[0-9a-f]{8}\.lock", names[1])
    assert (project.versions / "__pycache__" / "flask_versioning-heads.json").is_file()
    ignored = git(project, "status", "--porcelain", "--ignored").stdout.splitlines()
    assert "!! .flask-versioning/" in ignored
    assert "!! migrations/versions/__pycache__/" in ignored
