"""Every code example in ``docs/*.md`` runs here, so the documentation cannot rot.

The convention (also described in ``docs/contributing.md``): an HTML comment right before a
fenced block says what the block is part of. Blocks of the same page with the same scenario name
form one scenario and run in document order in a fresh directory:

- ``<!-- example: NAME file=PATH -->`` before a ``python`` (or any) block: write the block to
  ``PATH``; ``append=PATH`` appends it instead, e.g. a configuration fragment to an app file.
- ``<!-- example: NAME -->`` before a ``console`` block: run every ``$ `` line with bash, the
  project's ``flask``/``python`` first on ``PATH``; each command must exit 0 (``exit=N``: N) and
  the output lines shown under it must appear in its output, in order.
- ``<!-- example: NAME edit=GLOB -->`` before a ``python`` block of function definitions
  (decorated or not, and the imports they need): replace the functions of the same names in
  the one file matching ``GLOB`` (a revision file the previous command generated, whose name
  holds a random revision id), and add the imports it lacks.
- ``<!-- example: NAME run -->`` before a ``python`` block: run it as a script; it must exit 0.
- ``<!-- example: NAME -->`` before a ``pycon`` block: run it as a doctest.
- ``all-backends`` on any block of a scenario runs it on SQLite, PostgreSQL and MariaDB, with
  ``FLASK_SQLALCHEMY_DATABASE_URI`` set (the app reads it with ``app.config.from_prefixed_env()``).
- ``<!-- example: skip REASON -->``: the block is not run; the reason is required.

Every ``python``, ``pycon``, ``console``, ``shell``, ``bash`` and ``sh`` block must carry one of
these comments. In expected output, ``...`` matches any text, and revision ids (12 hex digits)
and durations (``3 ms``, ``1.2 s``) match any other.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flask_versioning._settings import DEFAULTS

# The documentation's examples run in a shell, as a reader types them.
pytestmark = pytest.mark.process

DOCS = Path(__file__).resolve().parent.parent / "docs"
BIN = Path(sys.executable).parent
CHECKED_LANGUAGES = {"python", "py", "pycon", "console", "shell", "bash", "sh"}
_MARKER = re.compile(r"^<!--\s*example:\s*(?P<body>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
_OPTIONS = {"file", "append", "edit", "exit", "run", "all-backends"}


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a page, with the example comment before it (if any)."""

    page: str
    line: int
    language: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Step:
    block: Block
    scenario: str
    options: dict[str, str]


def parse_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page; a marker applies only to the very next fence."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    marker: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        found = _MARKER.match(line.strip())
        fence = _FENCE.match(line.strip())
        if found:
            marker = found.group("body")
        elif fence:
            char, width = fence.group("fence")[0], len(fence.group("fence"))
            body: list[str] = []
            start = i + 1
            i += 1
            while i < len(lines):
                stripped = lines[i].strip()
                if stripped.startswith(char * width) and not stripped.strip(char):
                    break
                body.append(lines[i])
                i += 1
            lang = fence.group("lang").strip("{}").lower()
            blocks.append(Block(path.name, start, lang, "\n".join(body) + "\n", marker))
            marker = None
        elif line.strip():
            marker = None
        i += 1
    return blocks


def parse_marker(block: Block) -> Step | None:
    """The scenario step a block's marker describes; ``None`` for ``skip``."""
    assert block.marker is not None
    words = block.marker.split()
    if not words:
        raise AssertionError(f"{block.where}: empty example comment")
    name, rest = words[0], words[1:]
    if name == "skip":
        if not rest:
            raise AssertionError(f"{block.where}: 'example: skip' needs a reason")
        return None
    options: dict[str, str] = {}
    for word in rest:
        key, _, value = word.partition("=")
        if key not in _OPTIONS:
            raise AssertionError(f"{block.where}: unknown example option {key!r}")
        options[key] = value
    return Step(block, name, options)


def all_blocks() -> list[Block]:
    return [b for page in sorted(DOCS.glob("*.md")) for b in parse_blocks(page)]


def scenarios() -> dict[str, list[Step]]:
    """Steps grouped by ``page::name``, in document order."""
    grouped: dict[str, list[Step]] = {}
    for block in all_blocks():
        if block.marker is None:
            continue
        try:
            step = parse_marker(block)
        except AssertionError:
            continue  # reported by test_every_marker_is_valid, without breaking collection
        if step is not None:
            grouped.setdefault(f"{block.page}::{step.scenario}", []).append(step)
    return grouped


def _params(all_backends: bool) -> list[object]:
    return [
        pytest.param(steps, id=key)
        for key, steps in scenarios().items()
        if any("all-backends" in s.options for s in steps) == all_backends
    ]


# -- running a scenario -----------------------------------------------------------------------

_REVISION_ID = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{12}(?![0-9A-Za-z])")
_DURATION = re.compile(r"\b\d+(?:\.\d+)? (?:ms|s)\b")


def _normalize(line: str) -> str:
    return _DURATION.sub("<time>", _REVISION_ID.sub("<rev>", line.strip()))


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in _normalize(expected).split("...")]
    return re.compile(".*".join(parts))


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + next(lines)
            pairs.append((command, []))
        elif pairs and line.strip():
            pairs[-1][1].append(line)
    return pairs


def _env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    if database_url is not None:
        env["FLASK_SQLALCHEMY_DATABASE_URI"] = database_url
    return env


def _run(command: list[str] | str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        command,
        shell=isinstance(command, str),
        executable="/bin/bash" if isinstance(command, str) else None,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
    )
    return proc.returncode, proc.stdout


def _check_output(where: str, command: str, output: str, expected: list[str]) -> None:
    actual = [_normalize(line) for line in output.splitlines()]
    position = 0
    for line in expected:
        if not line.strip():
            continue
        pattern = _pattern(line)
        while position < len(actual) and not pattern.fullmatch(actual[position]):
            position += 1
        if position == len(actual):
            raise AssertionError(
                f"{where}: '$ {command}' did not print {line.strip()!r} (in this order).\n"
                f"It printed:\n{output}"
            )
        position += 1


def run_step(step: Step, cwd: Path, env: dict[str, str]) -> None:
    block, options = step.block, step.options
    if "file" in options or "append" in options:
        target = cwd / (options.get("file") or options["append"])
        target.parent.mkdir(parents=True, exist_ok=True)
        if "append" in options and target.exists():
            target.write_text(target.read_text() + "\n\n" + block.text)
        else:
            target.write_text(block.text)
        return
    if "edit" in options:
        edit_functions(block, cwd, options["edit"])
        return
    if block.language in ("python", "py") and "run" in options:
        script = cwd / f"_example_{block.line}.py"
        script.write_text(block.text)
        status, output = _run([sys.executable, script.name], cwd, env)
        assert status == 0, f"{block.where}: the script exited {status}:\n{output}"
        return
    if block.language == "pycon":
        script = cwd / f"_example_{block.line}.txt"
        script.write_text(block.text)
        command = [sys.executable, "-m", "doctest", "-o", "ELLIPSIS", script.name]
        status, output = _run(command, cwd, env)
        assert status == 0, f"{block.where}: the doctest failed:\n{output}"
        return
    if block.language in ("console", "shell", "bash", "sh"):
        expected_status = int(options.get("exit") or 0)
        for command, expected in _commands(block.text):
            status, output = _run(command, cwd, env)
            assert status == expected_status, (
                f"{block.where}: '$ {command}' exited {status}, not {expected_status}:\n{output}"
            )
            _check_output(block.where, command, output, expected)
        return
    raise AssertionError(f"{block.where}: nothing to do with a {block.language!r} block")


def _first_line(node: ast.FunctionDef) -> int:
    """Where a function's source starts: its first decorator, else its ``def``."""
    return min([d.lineno for d in node.decorator_list] + [node.lineno])


def edit_functions(block: Block, cwd: Path, pattern: str) -> None:
    """Replace top-level functions of the file matching ``pattern`` with the block's, with
    their decorators; the block's imports that the file lacks go after the file's own."""
    matches = sorted(cwd.glob(pattern))
    assert len(matches) == 1, f"{block.where}: {pattern!r} matches {len(matches)} files"
    target = matches[0]
    body = ast.parse(block.text).body
    imports = [n for n in body if isinstance(n, ast.Import | ast.ImportFrom)]
    new_defs = [n for n in body if isinstance(n, ast.FunctionDef)]
    assert new_defs and len(imports) + len(new_defs) == len(body), (
        f"{block.where}: an edit block holds only imports and function definitions"
    )
    block_lines = block.text.splitlines()
    lines = target.read_text().splitlines()
    for new in new_defs:
        assert new.end_lineno is not None
        olds = [
            d
            for d in ast.parse("\n".join(lines)).body
            if isinstance(d, ast.FunctionDef) and d.name == new.name
        ]
        assert len(olds) == 1, f"{block.where}: {target.name} has no function {new.name}()"
        old = olds[0]
        assert old.end_lineno is not None
        replacement = block_lines[_first_line(new) - 1 : new.end_lineno]
        lines[_first_line(old) - 1 : old.end_lineno] = replacement
    missing = [
        line
        for node in imports
        for line in block_lines[node.lineno - 1 : node.end_lineno]
        if line not in lines
    ]
    if missing:
        own = [
            n
            for n in ast.parse("\n".join(lines)).body
            if isinstance(n, ast.Import | ast.ImportFrom)
        ]
        after = max((n.end_lineno or n.lineno for n in own), default=0)
        lines[after:after] = missing
    target.write_text("\n".join(lines) + "\n")


def run_scenario(steps: list[Step], cwd: Path, database_url: str | None) -> None:
    cwd.mkdir(exist_ok=True)
    env = _env(database_url)
    for step in steps:
        run_step(step, cwd, env)


@pytest.mark.parametrize("steps", _params(all_backends=False))
def test_example(steps: list[Step], tmp_path: Path) -> None:
    run_scenario(steps, tmp_path / "project", None)


@pytest.mark.parametrize("steps", _params(all_backends=True))
def test_example_on_every_backend(steps: list[Step], tmp_path: Path, database_url: str) -> None:
    run_scenario(steps, tmp_path / "project", database_url)


# -- the rules themselves ---------------------------------------------------------------------


def test_every_code_block_is_exercised() -> None:
    untested = [
        b.where for b in all_blocks() if b.language in CHECKED_LANGUAGES and b.marker is None
    ]
    assert not untested, (
        "code blocks without an '<!-- example: ... -->' comment (see docs/contributing.md): "
        + ", ".join(untested)
    )


def test_every_marker_is_valid() -> None:
    for block in all_blocks():
        if block.marker is not None:
            parse_marker(block)  # raises on unknown options or a skip without a reason


def test_scenarios_exist() -> None:
    # The docs have examples; an empty parametrization would silently test nothing.
    assert len(scenarios()) >= 5


_ROW = re.compile(r"^\|\s*`(?P<key>VERSIONING_[A-Z0-9_]+)`\s*\|\s*(?P<default>[^|]*)\|")


def configuration_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match:
            assert match["key"] not in rows, f"{match['key']} is listed twice"
            rows[match["key"]] = match["default"].strip()
    return rows


def test_configuration_table_lists_every_key() -> None:
    rows = configuration_rows()
    assert sorted(set(DEFAULTS) - set(rows)) == [], "keys missing from docs/configuration.md"
    assert sorted(set(rows) - set(DEFAULTS)) == [], "documented keys that settings lacks"


def test_configuration_table_shows_the_real_defaults() -> None:
    for key, documented in configuration_rows().items():
        expected = f"`{DEFAULTS[key]!r}`"
        assert documented == expected, (
            f"docs/configuration.md: the default of {key} is {documented}, "
            f"but settings.DEFAULTS says {expected}"
        )


def test_parser_handles_nested_fences_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- example: demo file=app.py -->\n"
        "```python\nprint('hi')\n```\n\n"
        "````markdown\n```python\nnot a block\n```\n````\n\n"
        "<!-- example: skip needs a server -->\n"
        "```console\n$ flask run\n```\n"
        "<!-- example: demo -->\n\ntext in between\n\n```console\n$ ls\n```\n"
    )
    blocks = parse_blocks(page)
    assert [(b.language, b.marker) for b in blocks] == [
        ("python", "demo file=app.py"),
        ("markdown", None),
        ("console", "skip needs a server"),
        ("console", None),
    ]
    assert blocks[1].text == "```python\nnot a block\n```\n"


def test_output_matching_rules() -> None:
    output = (
        "Generated /tmp/x/migrations/versions/0a1b2c3d4e5f_users.py\nApplied 0a1b2c3d4e5f in 4 ms\n"
    )
    _check_output("t", "c", output, [".../versions/1234567890ab_users.py", "Applied ... in 1 ms"])
    with pytest.raises(AssertionError, match="did not print"):
        _check_output("t", "c", output, ["Applied ... in 1 ms", "Generated ..."])
    assert _commands("$ flask db \\\n  upgrade\nout\n\n$ ls\n") == [
        ("flask db   upgrade", ["out"]),
        ("ls", []),
    ]
