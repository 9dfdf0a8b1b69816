"""Adopting a folder ``alembic init`` made: its README goes too, HEADS only when asked for."""

from __future__ import annotations

import pytest
from conftest import FlaskProject, version_rows
from test_team_linear import FOREIGN_ENV, write_revision


@pytest.mark.parametrize(
    "readme",
    [
        "Generic single-database configuration.\n",
        "Generic single-database configuration with an async dbapi.\n",
        "pyproject configuration, based on the generic configuration.\n",
    ],
)
def test_adopt_removes_alembic_readmes_and_then_init_linear_guards_it(
    sqlite_project: FlaskProject, readme: str
) -> None:
    project = sqlite_project
    folder = project.migrations
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(FOREIGN_ENV)
    (folder / "README").write_text(readme)
    write_revision(folder / "versions", "aaa111", None, "from alembic")
    out = project.db("adopt").stdout
    assert "Removed README (not used by Flask-Versioning)." in out
    assert not (folder / "README").exists()
    assert not (folder / "versions" / "HEADS").exists()  # adopting changes no history file
    project.db("init", "--linear")
    assert (folder / "versions" / "HEADS").read_text().splitlines()[-1] == "aaa111 from alembic"
    project.db("upgrade")
    assert version_rows(project.database_url) == ["aaa111"]


def test_a_readme_someone_wrote_is_kept(sqlite_project: FlaskProject) -> None:
    folder = sqlite_project.migrations
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(FOREIGN_ENV)
    (folder / "README").write_text("Generic single-database configuration.\nOurs since 2021.\n")
    write_revision(folder / "versions", "aaa111", None, "from alembic")
    assert "Removed README" not in sqlite_project.db("adopt").stdout
    assert (folder / "README").exists()
