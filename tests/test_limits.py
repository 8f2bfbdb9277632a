"""Hostile inputs: each gets a clear GS160 (or GS13x) error instead of time, memory or a crash.

How long each takes and how much memory it uses is measured by
`benchmarks/hostile_inputs.py`, not asserted here (timers in tests are flaky on shared
machines); these tests pin the behaviour."""

import pytest

import graphspec
from graphspec import Limits
from graphspec.cli import main
from graphspec.limits import nesting_estimate

HEADER = "graphspec: 1\nname: m\ninputs: {x: {shape: [4]}}\n"


def codes_of(path, **kw):
    return [d.code for d in graphspec.validate(path, **kw)]


def write(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_billion_laughs(tmp_path):
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(
        tmp_path,
        HEADER + "description: x\n" + "\n".join(levels) + "\n"
        "layers: [{layer: Dense, args: {units: 1}}]\n",
    )
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and "aliases" in diag.message


def test_a_structure_that_contains_itself(tmp_path):
    path = write(tmp_path, HEADER + "layers: &loop [{layer: Dense, args: {units: 1, x: *loop}}]\n")
    assert codes_of(path) == ["GS160"]


def test_a_huge_file_is_not_read(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write(HEADER + "layers:\n")
        line = "  - {layer: Dense, args: {units: 1}}\n"
        f.write(line * (50 * 2**20 // len(line)))
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and "--max-bytes" in diag.hint


@pytest.mark.parametrize("style", ["flow", "block", "json"])
def test_deep_nesting_never_reaches_the_parser(tmp_path, style):
    n = 100_000
    if style == "flow":
        path = write(tmp_path, HEADER + "description: " + "[" * n + "]" * n + "\n")
    elif style == "block":
        path = write(tmp_path, HEADER + "description:\n" + "- " * n + "x\n")
    else:
        path = write(tmp_path, '{"a": ' + "[" * n + "]" * n + "}", "m.json")
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and "nests" in diag.message


def test_a_million_node_flow_list(tmp_path):
    path = write(tmp_path, HEADER + "layers: [" + ", ".join(["{op: relu}"] * 1_000_000) + "]\n")
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and "bytes" in diag.message


def test_expansion_is_bounded(tmp_path):
    path = write(
        tmp_path,
        HEADER + "blocks:\n  b:\n    inputs: [x]\n    layers:\n"
        "      - {op: relu, in: x, repeat: 1000}\n"
        "layers: [{block: b, repeat: 1000}]\n",
    )
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and f"{Limits().max_nodes:,} nodes" in diag.message


@pytest.mark.parametrize(
    "expression, code",
    [
        ("${2 ** 2 ** 2 ** 2 ** 2}", "GS132"),
        ("${" + "(" * 5000 + "1" + ")" * 5000 + "}", "GS130"),
        ("${" + "+".join(["1"] * 2000) + "}", "GS130"),
        ("${10 ** 100000}", "GS132"),
    ],
)
def test_expression_bombs(tmp_path, expression, code):
    path = write(
        tmp_path, HEADER + f'layers: [{{layer: Dense, args: {{units: "{expression}"}}}}]\n'
    )
    assert codes_of(path, limits=Limits(max_depth=20_000)) == [code]


def test_limits_can_be_raised(tmp_path):
    path = write(tmp_path, HEADER + "layers: [" + ", ".join(["{op: relu}"] * 300) + "]\n")
    assert codes_of(path, limits=Limits(max_nodes=100)) == ["GS160"]
    assert codes_of(path) == []
    assert main(["validate", str(path), "--max-nodes", "100"]) == 1
    assert main(["validate", str(path), "--max-nodes", "1000"]) == 0
    assert main(["validate", str(path), "--max-nodes", "0"]) == 2


def test_nesting_estimate_is_an_upper_bound():
    assert nesting_estimate("a: [[1]]") >= 3
    assert nesting_estimate("a:\n  b:\n    - - - x\n") >= 6
    # Closing brackets first cannot hide the depth that follows.
    assert nesting_estimate("]" * 500 + "[" * 300) >= 300
