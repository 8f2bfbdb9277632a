"""`graphspec diff` and `graphspec.diff`: structural differences between two models."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import graphspec
from graphspec import cli
from graphspec.diff import SCHEMA, diff

from conftest import EXAMPLES, ROOT

BASE = """\
graphspec: 1
name: net
inputs:
  x: {shape: [16]}
layers:
  - {name: branch_a, layer: Dense, in: x, args: {units: 8, activation: relu}}
  - {name: branch_b, layer: Dense, in: x, args: {units: 8}}
  - {name: branch_sum, layer: Add, in: [branch_a, branch_b]}
  - {name: norm, layer: LayerNormalization}
  - {name: out, layer: Dense, args: {units: 2, activation: softmax}}
"""

# Each edit of BASE: (the edited text, the report after its two header lines).
EDITS = {
    "change units": (
        BASE.replace("units: 2,", "units: 3,"),
        """\
changed (1):
  ~ out: Dense
      units: 2 -> 3
      out: (None, 2) -> (None, 3)
      params: 18 -> 27 (+9)
1 changed, 0 added, 0 removed; params 306 -> 315 (+9)
""",
    ),
    "add a node": (
        BASE.replace(
            "  - {name: out,",
            "  - {name: drop, layer: Dropout, args: {rate: 0.5}}\n  - {name: out,",
        ),
        """\
changed (1):
  ~ out: Dense
      in: norm -> drop
added (1):
  + drop: Dropout(rate=0.5) <- norm; (None, 8), 0 params
1 changed, 1 added, 0 removed; params 306 -> 306 (0)
""",
    ),
    "remove a node": (
        BASE.replace("  - {name: norm, layer: LayerNormalization}\n", ""),
        """\
changed (1):
  ~ out: Dense
      in: norm -> branch_sum
removed (1):
  - norm: LayerNormalization <- branch_sum; (None, 8), 16 params
1 changed, 0 added, 1 removed; params 306 -> 290 (-16)
""",
    ),
    "rename": (
        BASE.replace("branch_b", "proj"),
        """\
renamed (1):
  = branch_b -> proj: Dense
0 changed, 0 added, 0 removed, 1 renamed; params 306 -> 306 (0)
""",
    ),
    "change an edge": (
        BASE.replace(
            "{name: branch_b, layer: Dense, in: x,", "{name: branch_b, layer: Dense, in: branch_a,"
        ),
        """\
changed (1):
  ~ branch_b: Dense
      in: x -> branch_a
      params: 136 -> 72 (-64)
1 changed, 0 added, 0 removed; params 306 -> 242 (-64)
""",
    ),
    "reorder independent nodes": (
        """\
graphspec: 1
name: net
inputs:
  x: {shape: [16]}
layers:
  - {name: branch_b, layer: Dense, in: x, args: {units: 8}}
  - {name: branch_a, layer: Dense, in: x, args: {units: 8, activation: relu}}
  - {name: branch_sum, layer: Add, in: [branch_a, branch_b]}
  - {name: norm, layer: LayerNormalization}
  - {name: out, layer: Dense, args: {units: 2, activation: softmax}}
""",
        None,
    ),
    "defaults written explicitly": (
        """\
graphspec: 1
name: net
inputs:
  x: {shape: [16], dtype: float32}
layers:
  - {name: branch_a, layer: Dense, in: x,
     args: {units: 8, activation: relu, use_bias: true, kernel_initializer: glorot_uniform}}
  - {name: branch_b, layer: Dense, in: x, args: {units: 8, activation: null}}
  - {name: branch_sum, layer: Add, in: [branch_a, branch_b]}
  - {name: norm, layer: LayerNormalization, args: {epsilon: 0.001, axis: -1}}
  - {name: out, layer: Dense, args: {units: 2, activation: softmax}}
""",
        None,
    ),
    "block instead of inline": (
        """\
graphspec: 1
name: net
blocks:
  branch:
    inputs: [x]
    layers:
      - {name: a, layer: Dense, in: x, args: {units: 8, activation: relu}}
      - {name: b, layer: Dense, in: x, args: {units: 8}}
      - {name: sum, layer: Add, in: [a, b]}
inputs:
  x: {shape: [16]}
layers:
  - {name: branch, block: branch}
  - {name: norm, layer: LayerNormalization}
  - {name: out, layer: Dense, args: {units: 2, activation: softmax}}
""",
        None,
    ),
}


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def _body(report: str) -> str:
    """The report without its `--- A` / `+++ B` lines, which name the files."""
    return "".join(report.splitlines(keepends=True)[2:])


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_edit_gives_exactly_its_report(tmp_path, edit):
    text, expected = EDITS[edit]
    base, edited = _write(tmp_path, "base.yaml", BASE), _write(tmp_path, "edited.yaml", text)
    result = diff(base, edited)
    if expected is None:
        assert not result, result.text()
        assert _body(result.text()) == "no differences (6 nodes, params 306)\n"
    else:
        assert result
        assert _body(result.text()) == expected
    jsonschema.validate(result.to_dict(), SCHEMA)


def test_the_diff_object(tmp_path):
    base = _write(tmp_path, "base.yaml", BASE)
    edited = BASE.replace("branch_b", "proj").replace("units: 2,", "units: 3,")
    edited = edited.replace(
        "  - {name: out,", "  - {name: drop, layer: Dropout, args: {rate: 0.5}}\n  - {name: out,"
    )
    result = graphspec.diff(base, _write(tmp_path, "edited.yaml", edited))
    assert isinstance(result, graphspec.Diff) and bool(result)
    assert [n.name for n in result.added] == ["drop"]
    assert result.removed == []
    assert [(r.old, r.new) for r in result.renamed] == [("branch_b", "proj")]
    (out,) = result.changed
    assert out.name == "out" and out.what == ("args", "inputs", "shapes", "params")
    assert [(a.arg, a.old, a.new) for a in out.args] == [("units", 2, 3)]
    assert (out.old.inputs, out.new.inputs) == ("norm", "drop")
    assert result.params == (306, 315) and result.params_delta == 9
    assert result.totals() == "1 changed, 1 added, 0 removed, 1 renamed; params 306 -> 315 (+9)"


def test_alike_nodes_renamed_pair_in_order(tmp_path):
    """Two identical branches cannot be told apart but by order: renamed, they pair in
    order, and nothing downstream changes."""
    twins = BASE.replace("args: {units: 8, activation: relu}", "args: {units: 8}")
    result = diff(
        _write(tmp_path, "a.yaml", twins),
        _write(tmp_path, "b.yaml", twins.replace("branch_a", "left").replace("branch_b", "right")),
    )
    assert [(r.old, r.new) for r in result.renamed] == [("branch_a", "left"), ("branch_b", "right")]
    assert not (result.changed or result.added or result.removed)


def test_a_parameter_set_on_one_side(tmp_path):
    result = diff(EXAMPLES / "resnet50.yaml", EXAMPLES / "resnet50.yaml", params_b={"classes": 10})
    assert [c.name for c in result.changed] == ["predictions"]
    assert result.totals() == (
        "1 changed, 0 added, 0 removed; params 25,636,712 -> 23,608,202 (-2,028,510)"
    )
    # The input size reshapes every node up to the global pooling, as an effect upstream.
    result = diff(
        EXAMPLES / "resnet50.yaml", EXAMPLES / "resnet50.yaml", params_a={"image_size": 160}
    )
    assert [c.name for c in result.changed] == ["image"]
    assert [c.name for c in result.reshaped][-1] == "conv5_block_2_out"
    assert len(result.reshaped) == 174 and result.params_delta == 0


def test_a_nested_sub_model_reports_its_own_nodes(tmp_path):
    spec = """\
graphspec: 1
name: nest
blocks:
  enc:
    nested: true
    inputs: [x]
    layers:
      - {name: d1, layer: Dense, in: x, args: {units: 8}}
      - {name: d2, layer: Dense, args: {units: 4}}
inputs:
  x: {shape: [16]}
layers:
  - {name: encoder, block: enc, in: x}
  - {name: out, layer: Dense, args: {units: 1}}
"""
    result = diff(
        _write(tmp_path, "a.yaml", spec),
        _write(tmp_path, "b.yaml", spec.replace("units: 4}", "units: 5}")),
    )
    assert (
        _body(result.text())
        == """\
changed (1):
  ~ encoder: sub-model enc
      changed (1):
        ~ d2: Dense
            units: 4 -> 5
            out: (None, 4) -> (None, 5)
            params: 36 -> 45 (+9)
      out: (None, 4) -> (None, 5)
      params: 172 -> 181 (+9)
reshaped by changes upstream (1):
  ~ out: (None, 1) -> (None, 1), params 5 -> 6 (+1)
1 changed, 0 added, 0 removed; params 177 -> 187 (+10)
"""
    )
    jsonschema.validate(result.to_dict(), SCHEMA)
    assert result.to_dict()["changed"][0]["body"]["changed"][0]["name"] == "d2"


def test_a_shared_layer_made_its_own_layer(tmp_path):
    edited = (
        (EXAMPLES / "siamese.yaml")
        .read_text()
        .replace(
            "{name: r_embed, share: embed}", "{name: r_embed, layer: Dense, args: {units: 32}}"
        )
    )
    result = diff(EXAMPLES / "siamese.yaml", _write(tmp_path, "b.yaml", edited))
    assert (
        _body(result.text())
        == """\
changed (1):
  ~ r_embed: shares embed -> Dense
      units: (absent) -> 32
      params: 0 -> 1,056 (+1,056)
1 changed, 0 added, 0 removed; params 5,889 -> 6,945 (+1,056)
"""
    )


@pytest.mark.parametrize(
    "example",
    [
        "gather_onehot",
        "mlp",
        "resnet50",
        "seq2seq",
        "siamese",
        "ticket_router",
        "train_mlp",
        "transformer_encoder",
        "custom_layer",
        "minus",
    ],
)
def test_every_example_equals_itself(example, seed_plugins, capsys):
    path = str(EXAMPLES / f"{example}.yaml")
    assert not diff(path, path)
    assert cli.main(["diff", path, path]) == 0
    assert "no differences" in capsys.readouterr().out


def test_exit_status_and_json(tmp_path, capsys):
    base = _write(tmp_path, "base.yaml", BASE)
    edited = _write(tmp_path, "edited.yaml", EDITS["change units"][0])
    assert cli.main(["diff", base, edited, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(report, SCHEMA)
    assert report["equivalent"] is False and report["totals"]["params_delta"] == 9
    assert report["changed"][0]["args"] == [{"arg": "units", "old": 2, "new": 3}]
    # --set applies to both sides, --set-b to B only.
    resnet = str(EXAMPLES / "resnet50.yaml")
    assert cli.main(["diff", resnet, resnet, "--set", "classes=10"]) == 0
    assert cli.main(["diff", resnet, resnet, "--set-b", "classes=10"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.yaml", "{base}"], "no such file"),
        (["{base}", "{broken}"], "GS201"),
        (["{base}", "{base}", "--set-a", "units=3"], "unknown parameter"),
        (["{base}", "missing.keras"], "no such file: 'missing.keras'"),
        (["{base}", "model.keras", "--set-b", "x=1"], "--set-b overrides parameters of a spec"),
        (["{base}", "{base}", "-o", "diff.txt"], "the output must be a"),
        (["{base}", "keras.applications.ResNet5O"], "did you mean 'ResNet50'?"),
    ],
)
def test_trouble_is_exit_status_2_never_1(tmp_path, capsys, argv, message):
    """1 means "different", as for diff(1): a side that cannot be read is 2."""
    paths = {
        "base": _write(tmp_path, "base.yaml", BASE),
        "broken": _write(tmp_path, "broken.yaml", BASE.replace("Add", "Addd")),
    }
    assert cli.main(["diff"] + [a.format(**paths) for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_the_json_report_is_documented():
    """docs/surgery.md names every field of the schema, and its example report is valid."""
    page = (ROOT / "docs" / "surgery.md").read_text()
    section = page[page.index("### The JSON report") : page.index("### In Python")]
    fields = set(SCHEMA["properties"]) | set(SCHEMA["properties"]["totals"]["properties"])
    for definition in SCHEMA["$defs"].values():
        fields |= set(definition["properties"])
    assert [f for f in sorted(fields) if f"`{f}`" not in section] == []
    example = section[section.index("```json") + len("```json") :]
    jsonschema.validate(json.loads(example[: example.index("```")]), SCHEMA)


def test_colour_only_on_a_terminal_without_no_color(tmp_path, monkeypatch):
    base = _write(tmp_path, "base.yaml", BASE)
    edited = _write(tmp_path, "edited.yaml", EDITS["add a node"][0])

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def run(env_no_color):
        if env_no_color is None:
            monkeypatch.delenv("NO_COLOR", raising=False)
        else:
            monkeypatch.setenv("NO_COLOR", env_no_color)
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        cli.main(["diff", base, edited])
        monkeypatch.undo()
        return out.getvalue()

    coloured = run(None)
    assert "\x1b[32m  + drop" in coloured and "\x1b[1m" in coloured
    assert "\x1b[" not in run("1") and "\x1b[" not in run("")
    assert "\x1b[" not in diff(base, edited).text()  # plain unless asked


def test_picture_of_b_marks_the_changes(tmp_path, capsys):
    base = _write(tmp_path, "base.yaml", BASE)
    edited = BASE.replace("branch_b", "proj").replace(
        "  - {name: norm, layer: LayerNormalization}\n", ""
    )
    edited = _write(
        tmp_path,
        "edited.yaml",
        edited.replace(
            "  - {name: out,",
            "  - {name: drop, layer: Dropout, args: {rate: 0.5}}\n  - {name: out,",
        ),
    )
    out = tmp_path / "diff.dot"
    assert cli.main(["diff", base, edited, "-o", str(out)]) == 1
    dot = out.read_text()
    assert '"drop" [fillcolor="#b2f2bb"' in dot  # added: green
    assert '"out" [fillcolor="#ffd8a8"' in dot  # changed: orange
    assert '"proj" [fillcolor="#d0ebff", color="#1971c2", xlabel="was branch_b"]' in dot
    assert (
        '"removed: norm" [label="norm\\nLayerNormalization\\nremoved", style="rounded,dashed"'
        in dot
    )  # removed: a ghost, wired where it was
    assert '"branch_sum" -> "removed: norm" [style=dashed' in dot
    assert '"removed: norm" -> "out" [style=dashed' in dot
    capsys.readouterr()


def test_comparing_two_specs_never_imports_keras(tmp_path):
    base = _write(tmp_path, "base.yaml", BASE)
    code = (
        "import sys; from graphspec.cli import main; rc = main(['diff', sys.argv[1], "
        "sys.argv[2]]); assert 'keras' not in sys.modules and 'tensorflow' not in "
        "sys.modules; sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, base, str(EXAMPLES / "mlp.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"--- {base} (net)\n")


def test_a_spec_equals_the_model_built_from_it(tmp_path):
    for example in ("mlp", "siamese"):
        spec = graphspec.load(EXAMPLES / f"{example}.yaml")
        saved = tmp_path / f"{example}.keras"
        spec.save(spec.build(seed=1), saved)
        result = diff(EXAMPLES / f"{example}.yaml", saved)
        if example == "mlp":
            assert not result, result.text()
        else:  # a .keras file keeps layer names only: a shared layer's calls are renamed
            assert not (result.changed or result.added or result.removed), result.text()
            assert [(r.old, r.new) for r in result.renamed] == [
                ("r_conv1", "conv1_1"),
                ("r_pool1", "pool1_1"),
                ("r_conv2", "conv2_1"),
                ("r_pooled", "pooled_1"),
                ("r_embed", "embed_1"),
            ]


@pytest.fixture(scope="module")
def resnet50():
    from graphspec.diff import from_model

    return from_model("keras.applications.ResNet50", "application")


def test_resnet50_to_resnet101_adds_seventeen_blocks(resnet50):
    report = diff(resnet50, "ResNet101").to_dict()
    jsonschema.validate(report, SCHEMA)
    parts = ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "3_conv", "3_bn", "add", "out"]
    assert [n["name"] for n in report["added"]] == [
        f"conv4_block{i}_{p}" for i in range(7, 24) for p in parts
    ]
    assert report["removed"] == [] and report["renamed"] == []
    assert [(c["name"], c["what"], c["inputs"]) for c in report["changed"]] == [
        (name, ["inputs"], {"old": "conv4_block6_out", "new": "conv4_block23_out"})
        for name in ("conv5_block1_1_conv", "conv5_block1_0_conv")
    ]
    assert report["totals"]["params"] == {"old": 25_636_712, "new": 44_707_176}
    assert report["totals"]["params_delta"] == 19_070_464
    assert (report["a"]["name"], report["b"]["name"]) == ("resnet50", "resnet101")


def test_the_example_resnet50_is_keras_resnet50_up_to_names(resnet50):
    """examples/resnet50.yaml writes ResNet-50 with blocks, ints for tuples and defaults
    spelled out, under other node names than Keras's. Only renames remain."""
    result = diff(EXAMPLES / "resnet50.yaml", resnet50)
    assert not (result.changed or result.added or result.removed or result.reshaped), result.text()
    assert len(result.renamed) == 153
    assert ("conv2_block_1_body_2_conv", "conv2_block2_2_conv") in [
        (r.old, r.new) for r in result.renamed
    ]


def test_the_html_picture_is_the_viewers_page_with_the_changes_coloured(tmp_path):
    import json
    import re

    from graphspec.cli import main

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    head = "graphspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n"
    a.write_text(
        head + "  - {name: a, layer: Dense, args: {units: 3}}\n"
        "  - {name: gone, layer: Dense, args: {units: 3}}\n"
        "  - {name: b, layer: Dense, args: {units: 2}}\n"
    )
    b.write_text(
        head + "  - {name: a, layer: Dense, args: {units: 5}}\n"
        "  - {name: b, layer: Dense, args: {units: 2}}\n"
        "  - {name: new, layer: Dense, args: {units: 1}}\n"
    )
    out = tmp_path / "diff.html"
    assert main(["diff", str(a), str(b), "-o", str(out)]) == 1
    page = out.read_text()
    data = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    graph = json.loads(data.group(1).replace("\\u003c", "<").replace("\\u003e", ">"))
    assert graph["states"] == {"new": "added", "a": "changed", "b": "changed", "gone": "removed"}
    assert {n["id"] for n in graph["nodes"]} >= {"x", "a", "b", "new", "gone"}
    # Self-contained: no address but XML namespaces.
    assert not re.findall(r"https?://(?!www\.w3\.org/)", page)
