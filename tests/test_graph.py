"""The revision graph renderer: what ``flask db graph`` prints and the status page shows.

Each test builds a history, renders it, and checks what a reader gets: the exact text lines,
every edge in Mermaid and DOT, an SVG that parses as XML and names every revision, and hostile
revision messages that stay text in every format. One test reads real revision files through
Alembic's ``ScriptDirectory``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from flask_versioning import RevisionError, VersioningError
from flask_versioning._graph import (
    BASE,
    FORMATS,
    Graph,
    Node,
    nodes_from_scripts,
    nodes_from_tuples,
    render,
)

SVG = "{http://www.w3.org/2000/svg}"


Row = tuple[str, str | tuple[str, ...] | None, str]


def graph(rows: Iterable[Row], **marks: list[str]) -> Graph:
    return Graph(nodes_from_tuples(rows), marks)


# a <- b <- c (default) and a <- d (analytics): two heads on a branch point.
TWO_HEADS = [("a", None, "create users"), ("b", "a", "add email"), ("c", "b", "add index")]
TWO_HEADS.append(("d", "a", "create reports"))
# p <- x, p <- y, merged by m.
MERGE = [("p", None, "base"), ("x", "p", "left"), ("y", "p", "right"), ("m", ("x", "y"), "merge")]


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def dot_edges(dot: str) -> set[tuple[str, str]]:
    """The plain edges (down revision -> revision), not the dashed links to extra nodes."""
    pairs = re.findall(r'^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)";$', dot, re.MULTILINE)
    return set(pairs)


def mermaid_edges(mermaid: str) -> set[tuple[str, str]]:
    ids = dict(re.findall(r'^  (r_\w+)\["([^\s<"]+)', mermaid, re.MULTILINE))
    pairs = re.findall(r"^  (r_\w+) --> (r_\w+)$", mermaid, re.MULTILINE)
    return {(ids[parent], ids[child]) for parent, child in pairs}


def edges_of(g: Graph) -> set[tuple[str, str]]:
    return {(down, node.revision) for node in g.nodes.values() for down in node.down_revisions}


def test_linear_history_is_one_lane_newest_first() -> None:
    g = graph([("a1", None, "create users"), ("b2", "a1", "add email"), ("c3", "b2", "index")])
    assert render(g, "text") == ("* c3 (head) index\n* b2 add email\n* a1 (base) create users\n")
    assert g.heads == ["c3"]


def test_a_branch_and_its_merge_look_like_git_log_graph() -> None:
    g = graph(MERGE)
    assert render(g, "text").splitlines() == [
        "* m (head) (mergepoint) merge",
        "|\\",
        "* | x left",
        "| * y right",
        "|/",
        "* p (base) (branchpoint) base",
    ]
    assert g.nodes["m"].is_merge
    assert g.is_branch_point("p")
    assert not g.is_head("x")


def test_two_heads_and_marks_for_two_databases() -> None:
    g = graph(TWO_HEADS, c=["default"], d=["analytics"])
    assert render(g, "text").splitlines() == [
        "* c (head) add index  <- default",
        "* b add email",
        "| * d (head) create reports  <- analytics",
        "|/",
        "* a (base) (branchpoint) create users",
    ]
    assert g.heads == ["c", "d"]


def test_two_databases_on_one_revision_are_named_in_every_format() -> None:
    g = graph(TWO_HEADS, c=["default", "analytics"])
    assert render(g, "text").splitlines()[0] == "* c (head) add index  <- default, analytics"
    mermaid = render(g, "mermaid")
    assert '  d_1(["default, analytics"])\n  r_c -.- d_1\n' in mermaid
    dot = render(g, "dot")
    assert '"database 1" -> "c" [style=dashed' in dot
    assert '{ rank=same; "database 1"; "c"; }' in dot
    root = ET.fromstring(render(g, "svg"))
    texts = {"".join(t.itertext()): t.get("class", "") for t in root.iter(f"{SVG}text")}
    assert "default" in texts
    assert "analytics" in texts
    # Heads are bold; the marked revision has a ring around its circle.
    assert "fvg-head" in texts["c"].split()
    assert "fvg-head" in texts["d"].split()
    assert "fvg-head" not in texts["b"].split()
    rings = [c for c in root.iter(f"{SVG}circle") if c.get("fill") == "none"]
    assert len(rings) == 1


def test_a_lane_that_crosses_another_to_join_its_branch_point() -> None:
    rows: list[Row] = [("a", None, "a"), ("b", "a", "b"), ("c", "b", "c"), ("d", "a", "d")]
    merge: list[Row] = [("e", "c", "e"), ("f", "d", "f"), ("g", ("e", "f"), "g"), ("h", "b", "h")]
    assert render(graph([*rows, *merge]), "text").splitlines() == [
        "* g (head) (mergepoint) g",
        "|\\",
        "* | e e",
        "* | c c",
        "| * f f",
        "| * d d",
        "| | * h (head) h",
        "| |/",
        "|/|",
        "* | b (branchpoint) b",
        "|/",
        "* a (base) (branchpoint) a",
    ]


def test_branch_labels_are_shown_in_every_format() -> None:
    nodes = [
        Node("a", (), "first"),
        Node("b", ("a",), "reports start", ("reports",)),
        Node("c", ("a",), "main"),
    ]
    g = Graph(nodes)
    assert "* b (head) [reports] reports start" in render(g, "text").splitlines()
    assert 'r_b["b (head) #91;reports#93;<br>reports start"]' in render(g, "mermaid")
    assert '"b" [label="b (head) [reports]\\nreports start"' in render(g, "dot")
    assert "reports" in svg_texts(render(g, "svg"))


def test_every_edge_is_in_mermaid_and_dot_and_every_id_in_the_svg() -> None:
    g = graph([*TWO_HEADS, ("e", ("c", "d"), "merge heads"), *MERGE])
    assert mermaid_edges(render(g, "mermaid")) == edges_of(g)
    assert dot_edges(render(g, "dot")) == edges_of(g)
    texts = svg_texts(render(g, "svg"))
    assert set(g.nodes) <= set(texts)


def test_last_keeps_the_newest_and_says_what_it_left_out() -> None:
    rows: list[Row] = [("r00", None, "start")]
    rows += [(f"r{i:02d}", f"r{i - 1:02d}", f"step {i}") for i in range(1, 10)]
    g = graph(rows, r09=["default"], r02=["analytics"])
    assert render(g, "text", last=3).splitlines() == [
        "* r09 (head) step 9  <- default",
        "* r08 step 8",
        "* r07 step 7",
        "~ (7 older revisions not shown; analytics at r02)",
    ]
    mermaid = render(g, "mermaid", last=3)
    assert re.findall(r"^  r_(\w+)\[", mermaid, re.MULTILINE) == ["r09", "r08", "r07"]
    assert "older -.-> r_r07" in mermaid
    dot = render(g, "dot", last=3)
    assert dot_edges(dot) == {("r07", "r08"), ("r08", "r09")}
    assert '"older revisions" -> "r07" [style=dashed];' in dot
    texts = svg_texts(render(g, "svg", last=3))
    assert "r07" in texts
    assert "r06" not in texts
    assert "\u2026 7 older revisions not shown; analytics at r02" in texts
    assert render(g, "text", last=10) == render(g, "text")


def test_last_cuts_below_open_branches() -> None:
    text = render(graph(MERGE), "text", last=2)
    assert text.splitlines() == [
        "* m (head) (mergepoint) merge",
        "|\\",
        "* | x left",
        "~ ~ (2 older revisions not shown)",
    ]


HOSTILE = 'say "hi" <b>&amp; #35; `x` $$y$$\n\\N second\x1b[31m line'


def hostile_graph() -> Graph:
    nodes = [
        Node("a", (), HOSTILE, ('l"<&>',)),
        Node("b", ("a",), "plain"),
    ]
    return Graph(nodes, {"b": ['db "<one>" & co'], "a": ["two\nlines"]})


def test_hostile_messages_stay_one_line_of_text() -> None:
    lines = render(hostile_graph(), "text").splitlines()
    assert lines == [
        '* b (head) plain  <- db "<one>" & co',
        '* a (base) [l"<&>] say "hi" <b>&amp; #35; `x` $$y$$ \\N second [31m line  <- two lines',
    ]


def test_hostile_messages_are_text_in_the_svg() -> None:
    svg = render(hostile_graph(), "svg")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert {element.tag for element in root.iter()} <= {
        f"{SVG}{tag}" for tag in ("svg", "title", "style", "rect", "g", "circle", "path", "text")
    }
    texts = svg_texts(svg)
    assert 'say "hi" <b>&amp; #35; `x` $$y$$ \\N second [31m line' in texts
    assert 'l"<&>' in texts
    assert 'db "<one>" & co' in texts
    assert "\x1b" not in svg
    assert "href" not in svg


def test_hostile_messages_stay_inside_dot_strings() -> None:
    dot = render(hostile_graph(), "dot")
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', dot)
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', "", dot).replace("->", "")
    assert not set('<>&#`$"\\') & set(outside)
    # What Graphviz shows: backslash escapes undone, then HTML entities decoded.
    decoded = [re.sub(r"\\(.)", r"\1", s).replace("&amp;", "&") for s in strings]
    assert 'a (base) [l"<&>]nsay "hi" <b>&amp; #35; `x` $$y$$ \\N second [31m line' in decoded
    assert 'db "<one>" & co' in decoded
    assert "\x1b" not in dot


def test_hostile_messages_stay_inside_mermaid_labels() -> None:
    mermaid = render(hostile_graph(), "mermaid")
    labels = re.findall(r'\["([^"]*)"\]|\(\["([^"]*)"\]\)', mermaid)
    found = ["".join(pair) for pair in labels]
    assert all(not set('<>&`$\\"') & set(label.replace("<br>", "")) for label in found)

    def decode(label: str) -> str:
        return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)

    decoded = [decode(label) for label in found]
    message = 'say "hi" <b>&amp; #35; `x` $$y$$ \\N second [31m line'
    assert f'a (base) [l"<&>]<br>{message}' in decoded
    assert 'db "<one>" & co' in decoded


def test_mermaid_says_when_it_is_too_long_for_mermaid_to_draw() -> None:
    rows: list[Row] = [("r000", None, "start")]
    rows += [(f"r{i:03d}", f"r{i - 1:03d}", "step") for i in range(1, 502)]
    comment = "%% 501 links: Mermaid draws at most 500 unless configured; show fewer revisions"
    assert render(graph(rows), "mermaid").splitlines()[1].startswith(comment)
    assert "%%" not in render(graph(rows), "mermaid", last=500)


def test_databases_off_the_history_are_reported_not_fatal() -> None:
    g = graph(TWO_HEADS, zz9=["staging"], **{BASE: ["fresh"]})
    text = render(g, "text")
    assert text.endswith(
        "(staging: at zz9, which is not in this history)\n(fresh: no revision applied)\n"
    )
    assert "staging: at zz9, which is not in this history" in render(g, "mermaid")
    assert '"staging: at zz9, which is not in this history"' in render(g, "dot")
    assert "fresh: no revision applied" in svg_texts(render(g, "svg"))


def test_an_empty_history_renders_in_every_format() -> None:
    g = Graph([])
    assert render(g, "text") == "(no revisions)\n"
    assert render(g, "mermaid").startswith("flowchart BT\n")
    assert render(g, "dot").startswith("digraph revisions {")
    assert "no revisions" in svg_texts(render(g, "svg"))


def test_revision_ids_that_look_alike_keep_their_own_mermaid_nodes() -> None:
    g = graph([("a-b", None, "one"), ("a_b", "a-b", "two"), ("end", "a_b", "three")])
    mermaid = render(g, "mermaid")
    assert mermaid_edges(mermaid) == edges_of(g)
    # "a-b" and "a_b" both become r_a_b in Mermaid's alphabet: the one drawn second gets a suffix.
    assert '  r_a_b["a_b<br>two"]\n' in mermaid
    assert '  r_a_b_2["a-b (base)<br>one"]\n' in mermaid


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([Node("a", ()), Node("a", ())], "revision a appears twice in the history"),
        (
            [Node("a", ("gone",))],
            "revision a names down revision gone, which is not in the history",
        ),
        ([Node("a", ("b",)), Node("b", ("a",))], "the history has a cycle through a, b"),
    ],
)
def test_a_broken_history_is_one_clear_error(nodes: list[Node], message: str) -> None:
    with pytest.raises(RevisionError) as caught:
        Graph(nodes)
    assert str(caught.value) == message


def test_bad_render_arguments_are_one_clear_error() -> None:
    g = graph(MERGE)
    with pytest.raises(VersioningError, match=r"^--last must be 1 or more, not 0$"):
        render(g, "text", last=0)
    with pytest.raises(VersioningError, match=r"^unknown graph format 'png'; choose one of"):
        render(g, "png", last=None)  # type: ignore[arg-type]


def write_revision(versions: Path, revision: str, down: object, doc: str, labels: object) -> None:
    (versions / f"{revision}_step.py").write_text(
        f'"""{doc}\n\nRevision ID: {revision}\nRevises: {down}\n"""\n'
        "from typing import Sequence, Union\n\n"
        f"revision: str = {revision!r}\n"
        f"down_revision: Union[str, Sequence[str], None] = {down!r}\n"
        f"branch_labels = {labels!r}\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )


def test_nodes_from_a_real_script_directory(tmp_path: Path) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    write_revision(versions, "1a", None, "create users", None)
    write_revision(versions, "2b", "1a", "add email", None)
    write_revision(versions, "3c", "1a", "start reports", ("reports",))
    write_revision(versions, "4d", "3c", "report table", None)
    write_revision(versions, "5e", ("2b", "4d"), "merge reports", None)
    script = ScriptDirectory(str(tmp_path / "migrations"))
    scripts = list(script.walk_revisions())
    # Alembic copies a branch label onto the whole branch; the picture shows where it is declared.
    assert "reports" in next(s for s in scripts if s.revision == "4d").branch_labels
    nodes = {node.revision: node for node in nodes_from_scripts(scripts)}
    assert nodes["5e"] == Node("5e", ("2b", "4d"), "merge reports")
    assert nodes["3c"] == Node("3c", ("1a",), "start reports", ("reports",))
    assert nodes["4d"].branch_labels == ()
    assert nodes["1a"].down_revisions == ()
    g = Graph(nodes.values(), {"5e": ["default"]})
    assert render(g, "text").splitlines() == [
        "* 5e (head) (mergepoint) merge reports  <- default",
        "|\\",
        "* | 2b add email",
        "| * 4d report table",
        "| * 3c [reports] start reports",
        "|/",
        "* 1a (base) (branchpoint) create users",
    ]
    for fmt in FORMATS:
        assert "merge reports" in render(g, fmt)
