"""Shell completion of ``flask db`` through Click's mechanism, as a shell would ask for it."""

from __future__ import annotations

from conftest import FlaskProject


def _complete(project: FlaskProject, shell: str, words: str, cword: int) -> list[str]:
    proc = project.flask(
        _FLASK_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=str(cword)
    )
    return proc.stdout.splitlines()


def test_bash_completes_command_names(sqlite_project: FlaskProject) -> None:
    assert _complete(sqlite_project, "bash", "flask db up", 2) == ["plain,upgrade"]
    offered = _complete(sqlite_project, "bash", "flask db ", 2)
    for name in ("upgrade", "downgrade", "revision", "migrate", "history", "current"):
        assert f"plain,{name}" in offered


def test_bash_completes_a_commands_options(sqlite_project: FlaskProject) -> None:
    offered = _complete(sqlite_project, "bash", "flask db downgrade --", 3)
    assert {"plain,--sql", "plain,--tag"} <= set(offered)


def test_zsh_completion_carries_help(sqlite_project: FlaskProject) -> None:
    lines = _complete(sqlite_project, "zsh", "flask db hea", 2)
    assert lines[:3] == ["plain", "heads", "Show the head revisions."]


def test_the_bash_script_is_generated(sqlite_project: FlaskProject) -> None:
    proc = sqlite_project.flask(_FLASK_COMPLETE="bash_source")
    assert "complete -o nosort -F _flask_completion flask" in proc.stdout
