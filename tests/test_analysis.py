"""Static analysis (graphspec.analysis): shapes, dtypes, parameters and cost without Keras,
checked against Keras itself.

`graphspec.validate` and `graphspec.load` run the analysis as the last stage; these tests
also call the stage itself (`analyze(source, checked)`) on the checked graph of specs whose
shape errors would make `load` raise, to look at the summary as far as it is known.
"""

import json
import re
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphspec
from graphspec.analysis import analyze, register_shape, unregister_shape
from graphspec.analysis import budget as budgets
from graphspec.analysis.rules.ops import promote

from conftest import EXAMPLES, ROOT, random_dags


def stages(spec_source):
    """(Source, CheckedGraph or None, diagnostics): the stages before the analysis, one by one."""
    from graphspec import composition, document, graph, source

    src, diagnostics = source.read(spec_source)
    doc, more = document.validate_document(src)
    diagnostics += more
    if doc is None:
        return src, None, diagnostics
    composed, more = composition.compose(src, doc, None)
    diagnostics += more
    if composed is None:
        return src, None, diagnostics
    checked, more = graph.check(src, composed)
    return src, checked, diagnostics + more


def checked_graph(spec_source):
    """(Source, CheckedGraph) of a spec that is structurally valid (shapes aside)."""
    src, checked, diagnostics = stages(spec_source)
    assert checked is not None, [d.format() for d in diagnostics]
    return src, checked


def build_anyway(spec_source):
    """The Keras model of a spec whose shape errors `load` would refuse: what Keras makes of it."""
    from graphspec.keras import compiler

    return compiler.build(*checked_graph(spec_source), "unchecked", compile=False)


def analyzed(spec_source, strict=False):
    """(summary, diagnostics) of a spec path, text or dict."""
    return analyze(*checked_graph(spec_source), strict=strict)


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# -- the example: every shape error at its line, without Keras ------------------------

SHAPEBUG = """\
graphspec: 1
name: shapebug
inputs:
  img: {shape: [32, 32, 3]}
  meta: {shape: [10]}
layers:
  - {name: c1, layer: Conv2D, in: img, args: {filters: 8, kernel_size: 3}}
  - {name: flat, layer: Flatten}
  - {name: m, layer: Dense, in: meta, args: {units: 16}}
  - {name: both, layer: Add, in: [flat, m]}
  - {name: out, layer: Dense, args: {units: 1}}
"""

NO_KERAS = """
import json, sys
from graphspec import analysis, composition, document, graph, source
out = {}
for path in sys.argv[1:]:
    src, _ = source.read(path)
    doc, _ = document.validate_document(src)
    checked, _ = graph.check(src, composition.compose(src, doc, None)[0])
    summary, diagnostics = analysis.analyze(src, checked)
    out[path] = {"diagnostics": [[d.code, d.line, d.column, d.message] for d in diagnostics],
                 "params": summary.params, "macs": summary.macs,
                 "table": summary.table(), "json": summary.to_dict()}
out["imported"] = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
print(json.dumps(out))
"""


def test_shape_bug_and_resnet50_are_analyzed_without_importing_keras(tmp_path):
    bug = write(tmp_path, SHAPEBUG, "shapebug.yaml")
    resnet = EXAMPLES / "resnet50.yaml"
    run = subprocess.run(
        [sys.executable, "-c", NO_KERAS, str(bug), str(resnet)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    out = json.loads(run.stdout)
    assert out["imported"] == []
    (diag,) = out[str(bug)]["diagnostics"]
    assert diag[:3] == ["GS401", 10, 34]
    assert diag[3].startswith("Add received (None, 7200) from 'flat' and (None, 16) from 'm'")
    assert out[str(bug)]["params"] is None  # 'both' and 'out' are unknown: no total
    assert "Unknown: 2 of 7 nodes" in out[str(bug)]["table"]
    report = out[str(resnet)]
    assert report["diagnostics"] == []
    assert report["params"] == 25_636_712
    assert "Total params: 25,636,712" in report["table"]
    assert report["json"]["total"]["params"] == 25_636_712
    first = report["json"]["nodes"][0]
    line = (
        resnet.read_text()
        .splitlines()
        .index('  image: {shape: ["${image_size}", "${image_size}", 3]}')
        + 1
    )
    assert first == {
        "name": "image",
        "type": "Input",
        "shapes": [[None, 224, 224, 3]],
        "dtype": "float32",
        "params": 0,
        "trainable_params": 0,
        "macs": 0,
        "line": line,
    }


def test_all_shape_errors_are_reported_in_one_pass_without_cascades(tmp_path):
    path = write(
        tmp_path,
        """
        graphspec: 1
        name: two_mistakes
        inputs:
          a: {shape: [8]}
          b: {shape: [5]}
          img: {shape: [4, 4, 3]}
        layers:
          - {name: sum, layer: Add, in: [a, b]}
          - {name: after, layer: Dense, args: {units: 3}}
          - {name: pool, layer: MaxPooling2D, in: img, args: {pool_size: 5}}
          - {name: flat, layer: Flatten}
          - {name: both, layer: Concatenate, in: [after, flat]}
        """,
    )
    summary, diagnostics = analyzed(path)
    assert [(d.code, d.line) for d in diagnostics] == [("GS401", 8), ("GS403", 10)]
    assert [n.name for n in summary.unknown] == ["sum", "after", "pool", "flat", "both"]
    assert summary.node("after").params is None  # unknown, not 0


# -- one fixture per code: position, severity, and Keras agreeing ------------------------------

# The one-diagnostic fixtures of every analysis code live in tests/invalid/ (shape_*.yaml),
# where tests/test_invalid.py pins their position and full message; here each error is checked
# to be one Keras makes too, so no rule reports what Keras would build.
SHAPE_FIXTURES = sorted((ROOT / "tests" / "invalid").glob("shape_*.yaml"))


@pytest.mark.parametrize("path", SHAPE_FIXTURES, ids=lambda p: p.stem)
def test_every_shape_error_is_one_keras_makes_too(path):
    header = path.read_text().splitlines()[0]
    code = re.search(r"GS\d{3}", header).group()
    if "warning" in header or code == "GS410":  # warnings, and budgets, Keras does not know
        return
    assert [d.code for d in graphspec.validate(path)] == [code]
    if code == "GS411":  # Keras builds a Dense on text and fails once it sees data
        import numpy as np

        model = build_anyway(path)
        with pytest.raises(Exception):  # noqa: B017 - the backend's own error type
            model.predict(np.array([["a", "b", "c"]]), verbose=0)
        return
    with pytest.raises(graphspec.SpecError, match="GS301"):
        build_anyway(path)


def test_budget_exceeded_is_located_at_its_key(tmp_path):
    path = write(
        tmp_path,
        """
        graphspec: 1
        name: over_budget
        inputs:
          x: {shape: [1000]}
        layers:
          - {name: fc, layer: Dense, args: {units: 1000}}
        """,
    )
    spec = graphspec.load(path)
    summary = spec.summary()
    assert summary.params == 1_001_000
    # the budget's place in the file comes from the document once `budget:` exists
    loc = ("layers", 0)
    (diag,) = budgets.check(spec.source, loc, summary, {"params": "1M", "macs": "2G"})
    assert (diag.code, diag.line, diag.severity) == ("GS410", 6, "error")
    assert diag.message == (
        "the model has 1,001,000 parameters, more than the budget of 1M (1,000,000)"
    )
    assert budgets.check(spec.source, loc, summary, {"params": "1.1M"}) == []
    assert [budgets.quantity(v) for v in ("30M", "4.5G", "1Ki", 12, "2e3")] == [
        30_000_000,
        4_500_000_000,
        1024,
        12,
        2000,
    ]
    with pytest.raises(ValueError):
        budgets.quantity("lots")


# -- unknowns: never guessed, never an error --------------------------------------------------


def test_nodes_without_rules_are_unknown_and_warned_only_when_strict(tmp_path):
    @graphspec.register_op("h5_double")
    def double(inputs):  # pragma: no cover - never built here
        return inputs * 2

    try:
        path = write(
            tmp_path,
            """
            graphspec: 1
            name: plugin
            inputs:
              x: {shape: [4]}
            layers:
              - {name: twice, op: h5_double}
              - {name: fc, layer: Dense, args: {units: 3}}
            """,
        )
        summary, diagnostics = analyzed(path)
        assert diagnostics == []
        assert summary.node("twice").shapes is None and summary.node("fc").shapes is None
        assert summary.params is None and summary.macs is None
        _, strict = analyzed(path, strict=True)
        assert [(d.code, d.line, d.severity) for d in strict] == [("GS409", 6, "warning")]
        register_shape("op", "h5_double", lambda shape, args: shape)
        summary, diagnostics = analyzed(path)
        assert summary.node("fc").shapes == [(None, 3)] and summary.params == 15
        register_shape(
            "op", "h5_double", lambda shape, args: (_ for _ in ()).throw(ValueError("odd input"))
        )
        _, diagnostics = analyzed(path)
        assert [(d.code, d.message.split(": ")[1]) for d in diagnostics] == [
            ("GS408", "odd input. Received (None, 4) from 'x'")
        ]
    finally:
        unregister_shape("op", "h5_double")
        graphspec.registry.OPS.unregister("h5_double")


def test_seed_plugins_with_shape_rules_are_fully_known(seed_plugins):
    register_shape(
        "layer",
        "MyLayer",
        lambda shape, args: (*shape[:-1], args["output_dim"]),
        params=lambda shape, args: shape[-1] * args["output_dim"],
    )
    register_shape("op", "minus_mean", lambda shapes, args: shapes[0][:1])
    try:
        summary, diagnostics = analyzed(EXAMPLES / "custom_layer.yaml")
        assert diagnostics == [] and summary.unknown == []
        assert summary.node("project").params == 16 * 8 and summary.params == 128 + 18
        summary, _ = analyzed(EXAMPLES / "minus.yaml")
        assert summary.node("minus").shapes == [(None,)]
    finally:
        unregister_shape("layer", "MyLayer")
        unregister_shape("op", "minus_mean")


# -- against Keras: every rule, node by node ----------------------------------------------------

F, I = "float32", "int32"
x2, x3, x4, x5 = ([8], F), ([5, 8], F), ([9, 10, 3], F), ([6, 7, 8, 2], F)
xn3, xn4 = ([None, 8], F), ([None, None, 3], F)


def L(type_, args=None, *inputs, form=None):
    return ("layer", type_, args or {}, list(inputs), form)


def O(type_, args=None, *inputs, form=None):  # noqa: E743 - short: the rule tables read as rows
    return ("op", type_, args or {}, list(inputs), form)


def lstm(units, **args):
    return {"layer": "LSTM", "args": {"units": units, **args}}


CASES = [
    # core
    L("Dense", {"units": 4}, x2),
    L("Dense", {"units": 4, "use_bias": False}, x3),
    L("Dense", {"units": 3}, ([2, 3, 4], F)),
    L("Dense", {"units": 3}, xn3),
    L("Dense", {"units": 3, "dtype": "float16"}, x2),
    L("Dense", {"units": 2, "trainable": False}, x2),
    L("Dense", {"units": 2}, ([4], I)),
    L("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, x2),
    L("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 6], "bias_axes": "d"}, x3),
    L(
        "EinsumDense",
        {"equation": "abc,cde->abde", "output_shape": [5, 2, 3], "bias_axes": "de"},
        x3,
    ),
    L("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 4}, x4),
    L("EinsumDense", {"equation": "ab...,bc->ac...", "output_shape": 4}, x4),
    L("Embedding", {"input_dim": 50, "output_dim": 6}, ([7], I)),
    L("Embedding", {"input_dim": 50, "output_dim": 6}, ([None], I)),
    L("Embedding", {"input_dim": 50, "output_dim": 6}, ([3, 4], "int64")),
    # convolutions
    L("Conv1D", {"filters": 4, "kernel_size": 3}, x3),
    L("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, x3),
    L("Conv1D", {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same"}, ([7, 8], F)),
    L("Conv1D", {"filters": 4, "kernel_size": 3, "groups": 2}, x3),
    L("Conv2D", {"filters": 6, "kernel_size": 3}, x4),
    L("Conv2D", {"filters": 6, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same"}, x4),
    L("Conv2D", {"filters": 6, "kernel_size": 3, "strides": 2}, ([9, 10, 6], F)),
    L("Conv2D", {"filters": 6, "kernel_size": 3, "dilation_rate": 2}, x4),
    L("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "use_bias": False}, ([9, 10, 6], F)),
    L("Conv2D", {"filters": 4, "kernel_size": 3, "data_format": "channels_first"}, ([3, 9, 10], F)),
    L("Conv2D", {"filters": 4, "kernel_size": 3}, xn4),
    L("Conv3D", {"filters": 4, "kernel_size": 2}, x5),
    L("Conv3D", {"filters": 4, "kernel_size": [3, 2, 1], "strides": 2, "padding": "same"}, x5),
    L("Conv1DTranspose", {"filters": 3, "kernel_size": 3}, x3),
    L("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, x3),
    L("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2}, x4),
    L("Conv2DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"}, x4),
    L("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1}, x4),
    L(
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
        x4,
    ),
    L("Conv2DTranspose", {"filters": 3, "kernel_size": 1, "strides": 3}, x4),
    L("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "dilation_rate": 2}, x4),
    L("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2}, x5),
    L("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2}, x3),
    L("DepthwiseConv2D", {"kernel_size": 3}, x4),
    L(
        "DepthwiseConv2D",
        {
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "depth_multiplier": 3,
            "use_bias": False,
        },
        x4,
    ),
    L("SeparableConv1D", {"filters": 5, "kernel_size": 3}, x3),
    L("SeparableConv2D", {"filters": 5, "kernel_size": 3, "depth_multiplier": 2}, x4),
    L(
        "SeparableConv2D",
        {"filters": 5, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False},
        x4,
    ),
    # pooling
    L("MaxPooling1D", {}, x3),
    L("MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, x3),
    L("MaxPooling2D", {}, x4),
    L("MaxPooling2D", {"pool_size": 3, "strides": 2}, x4),
    L("AveragePooling2D", {"pool_size": [2, 3], "padding": "same"}, x4),
    L("AveragePooling2D", {"pool_size": 2}, xn4),
    L("AveragePooling1D", {"pool_size": 2}, x3),
    L("MaxPooling3D", {}, x5),
    L("AveragePooling3D", {"pool_size": 2, "strides": 1}, x5),
    L("MaxPooling2D", {"data_format": "channels_first"}, ([3, 9, 10], F)),
    L("GlobalAveragePooling1D", {}, x3),
    L("GlobalMaxPooling1D", {"keepdims": True}, x3),
    L("GlobalAveragePooling2D", {}, x4),
    L("GlobalAveragePooling2D", {"keepdims": True}, x4),
    L("GlobalMaxPooling2D", {}, xn4),
    L("GlobalAveragePooling3D", {}, x5),
    L("GlobalMaxPooling3D", {"keepdims": True}, x5),
    L("GlobalAveragePooling2D", {"data_format": "channels_first"}, x4),
    L("AdaptiveAveragePooling2D", {"output_size": [3, 2]}, x4),
    L("AdaptiveMaxPooling1D", {"output_size": 2}, x3),
    # reshaping
    L("ZeroPadding1D", {}, x3),
    L("ZeroPadding1D", {"padding": [1, 3]}, x3),
    L("ZeroPadding2D", {}, x4),
    L("ZeroPadding2D", {"padding": [[1, 2], [0, 3]]}, x4),
    L("ZeroPadding2D", {"padding": [2, 1]}, x4),
    L("ZeroPadding3D", {"padding": 1}, x5),
    L("Cropping1D", {}, x3),
    L("Cropping1D", {"cropping": [0, 2]}, x3),
    L("Cropping2D", {"cropping": [[1, 0], [1, 0]]}, x4),
    L("Cropping2D", {"cropping": 2}, x4),
    L("Cropping3D", {}, x5),
    L("Cropping3D", {"cropping": [[1, 1], [1, 2], [0, 3]]}, x5),
    L("UpSampling1D", {}, x3),
    L("UpSampling1D", {"size": 3}, x3),
    L("UpSampling2D", {}, x4),
    L("UpSampling2D", {"size": [2, 3], "interpolation": "bilinear"}, x4),
    L("UpSampling3D", {"size": 2}, x5),
    L("Flatten", {}, x4),
    L("Flatten", {}, xn4),
    L("Flatten", {}, ([5], I)),
    L("Reshape", {"target_shape": [3, 90]}, x4),
    L("Reshape", {"target_shape": [-1, 5]}, x4),
    L("Reshape", {"target_shape": [-1, 3]}, xn4),
    L("Reshape", {"target_shape": [2, 4]}, ([8], I)),
    L("Permute", {"dims": [2, 1]}, x3),
    L("Permute", {"dims": [3, 1, 2]}, x4),
    L("RepeatVector", {"n": 4}, x2),
    # normalization, regularization, activations
    L("BatchNormalization", {}, x4),
    L("BatchNormalization", {"axis": 1}, x3),
    L("BatchNormalization", {"center": False, "scale": False}, x2),
    L("LayerNormalization", {}, x3),
    L("LayerNormalization", {"axis": [1, 2]}, x3),
    L("LayerNormalization", {"center": False}, x4),
    L("GroupNormalization", {"groups": 2}, ([5, 8], F)),
    L("GroupNormalization", {"groups": -1}, x4),
    L("UnitNormalization", {}, x3),
    L("RMSNormalization", {}, x3),
    L("Normalization", {}, x4),
    L("Normalization", {"axis": [1, 2]}, x3),
    L("Normalization", {"mean": 2.0, "variance": 3.0}, x3),
    L("Dropout", {"rate": 0.5}, x3),
    L("SpatialDropout1D", {"rate": 0.2}, x3),
    L("SpatialDropout2D", {"rate": 0.2}, x4),
    L("GaussianNoise", {"stddev": 0.1}, x2),
    L("GaussianDropout", {"rate": 0.1}, x2),
    L("AlphaDropout", {"rate": 0.1}, x2),
    L("Activation", {"activation": "relu"}, x3),
    L("ReLU", {}, x3),
    L("LeakyReLU", {}, x3),
    L("ELU", {}, x3),
    L("Softmax", {}, x3),
    L("Softmax", {"axis": 1}, x3),
    L("PReLU", {}, x3),
    L("PReLU", {"shared_axes": [1]}, x3),
    L("PReLU", {"shared_axes": [1, 2]}, x4),
    L("Activation", {"activation": "relu"}, ([4], I)),
    L("Dropout", {"rate": 0.5}, ([4], I)),
    L("Identity", {}, x3),
    L("Masking", {}, x3),
    L("ActivityRegularization", {}, x3),
    L("Rescaling", {"scale": 0.5}, x4),
    L("Rescaling", {"scale": 0.5}, ([4], I)),
    L("Resizing", {"height": 4, "width": 5}, x4),
    L("CenterCrop", {"height": 4, "width": 5}, x4),
    L("Resizing", {"height": 4, "width": 5}, xn4),
    L("CategoryEncoding", {"num_tokens": 10, "output_mode": "one_hot"}, ([1], I)),
    L("CategoryEncoding", {"num_tokens": 10}, ([4], I)),
    L("LayerScale", {"init_values": 0.1, "projection_dim": 3}, x4),
    L("CustomScaleLayer", {"scale": 0.2}, x4, x4, form="list"),
    # merging
    L("Add", {}, x3, x3, form="list"),
    L("Add", {}, ([5, 1], F), ([1, 8], F), form="list"),
    L("Add", {}, ([5, 8], F), ([8], F), form="list"),
    L("Subtract", {}, x2, x2, form="list"),
    L("Multiply", {}, x3, x3, x3, form="list"),
    L("Average", {}, x2, x2, form="list"),
    L("Maximum", {}, x2, x2, form="list"),
    L("Minimum", {}, x2, x2, form="list"),
    L("Add", {}, ([None, 8], F), ([5, 8], F), form="list"),
    L("Add", {}, x2, ([8], I), form="list"),
    L("Concatenate", {}, x3, ([5, 3], F), form="list"),
    L("Concatenate", {"axis": 1}, x3, ([2, 8], F), form="list"),
    L("Concatenate", {}, ([None, 8], F), ([5, 2], F), form="list"),
    L("Concatenate", {"axis": 1}, ([None, 8], F), ([5, 8], F), form="list"),
    L("Dot", {"axes": 1}, x2, x2, form="list"),
    L("Dot", {"axes": [2, 2]}, x3, ([4, 8], F), form="list"),
    L("Dot", {"axes": [1, 1]}, x3, ([5, 2], F), form="list"),
    L("Dot", {"axes": 1, "normalize": True}, x2, x2, form="list"),
    # recurrent
    L("SimpleRNN", {"units": 4}, x3),
    L("SimpleRNN", {"units": 4, "return_sequences": True, "return_state": True}, x3),
    L("GRU", {"units": 4}, x3),
    L("GRU", {"units": 4, "reset_after": False, "return_state": True}, x3),
    L("GRU", {"units": 4, "use_bias": False, "return_sequences": True}, xn3),
    L("LSTM", {"units": 4}, x3),
    L("LSTM", {"units": 4, "return_state": True, "return_sequences": True}, x3),
    L("LSTM", {"units": 4, "use_bias": False}, x3),
    L("Bidirectional", {"layer": lstm(4)}, x3),
    L(
        "Bidirectional",
        {
            "layer": {"layer": "GRU", "args": {"units": 4, "return_sequences": True}},
            "merge_mode": "sum",
        },
        x3,
    ),
    L("Bidirectional", {"layer": lstm(4, return_state=True)}, x3),
    L(
        "Bidirectional",
        {"layer": {"layer": "SimpleRNN", "args": {"units": 3}}, "merge_mode": None},
        x3,
    ),
    L("Bidirectional", {"layer": lstm(3, return_state=True), "merge_mode": None}, x3),
    L(
        "Bidirectional",
        {
            "layer": lstm(3),
            "merge_mode": "ave",
            "backward_layer": {"layer": "GRU", "args": {"units": 3, "go_backwards": True}},
        },
        x3,
    ),
    L("TimeDistributed", {"layer": {"layer": "Dense", "args": {"units": 3}}}, x3),
    L(
        "TimeDistributed",
        {"layer": {"layer": "Conv2D", "args": {"filters": 2, "kernel_size": 3}}},
        x5,
    ),
    L("TimeDistributed", {"layer": {"layer": "Dense", "args": {"units": 3}}}, xn3),
    # attention
    L("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, x3, x3, form="list"),
    L(
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 3, "value_dim": 5, "output_shape": 7},
        x3,
        ([6, 4], F),
        form="list",
    ),
    L(
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 3, "use_bias": False},
        x3,
        ([6, 4], F),
        ([6, 2], F),
        form="list",
    ),
    L("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "use_gate": True}, x3, x3, form="list"),
    L("Attention", {}, x3, ([6, 8], F), form="list"),
    L("Attention", {"use_scale": True, "score_mode": "concat"}, x3, ([6, 8], F), form="list"),
    L("Attention", {}, x3, ([6, 4], F), ([6, 8], F), form="list"),
    L("AdditiveAttention", {}, x3, ([6, 8], F), form="list"),
    # ops: elementwise and broadcasting, with Keras's dtype promotion
    O("add", {}, x3, x3, form="list"),
    O("add", {"x2": 3.0}, x3),
    O("add", {}, ([5, 1], F), ([8], F), form="list"),
    O("multiply", {}, x2, ([8], I), form="list"),
    O("add", {"x2": 1}, ([4], I)),
    O("add", {"x2": 1.5}, ([4], I)),
    O("subtract", {}, ([None, 8], F), x3, form="list"),
    O("divide", {}, ([4], I), ([4], I), form="list"),
    O("maximum", {"x2": 0.0}, x3),
    O("power", {"x2": 2.0}, x2),
    O("equal", {}, x2, x2, form="list"),
    O("greater", {"x2": 0.5}, x2),
    O("logical_and", {}, ([3], "bool"), ([3], "bool"), form="list"),
    O("where", {}, ([3], "bool"), ([3], F), ([3], F), form="list"),
    O("relu", {}, x3),
    O("sigmoid", {}, x3),
    O("exp", {}, ([3], I)),
    O("abs", {}, ([3], I)),
    O("tanh", {}, x3),
    O("hard_sigmoid", {}, x3),
    O("gelu", {}, x3),
    O("softmax", {"axis": 1}, x3),
    O("log_softmax", {}, x3),
    O("sqrt", {}, x3),
    O("square", {}, x3),
    O("negative", {}, x2),
    O("clip", {"x_min": 0.0, "x_max": 1.0}, x2),
    O("isnan", {}, x2),
    O("glu", {}, x2),
    O("cumsum", {"axis": 1}, x3),
    O("cumsum", {}, x3),
    O("flip", {"axis": 1}, x3),
    O("hard_swish", {}, x3),
    O("silu", {}, x3),
    O("leaky_relu", {}, x3),
    O("sort", {}, x3),
    O("roll", {"shift": 1, "axis": 1}, x3),
    O("floor", {}, x2),
    O("round", {}, x2),
    O("zeros_like", {}, x3),
    O("ones_like", {"dtype": "int32"}, x3),
    O("full_like", {"fill_value": 2}, x3),
    # ops: reductions
    O("sum", {"axis": 1}, x3),
    O("mean", {"axis": -1, "keepdims": True}, x3),
    O("max", {"axis": [1, 2]}, x4),
    O("sum", {}, x3),
    O("argmax", {"axis": -1}, x3),
    O("argmin", {}, x3),
    O("any", {"axis": 1}, ([3, 2], "bool")),
    O("std", {"axis": 1}, x3),
    O("var", {}, x2),
    O("logsumexp", {"axis": 1}, x3),
    O("prod", {"axis": 2}, x3),
    O("mean", {"axis": 1}, ([3, 2], I)),
    O("sum", {"axis": 1}, ([3, 2], I)),
    O("norm", {"axis": -1}, x3),
    O("count_nonzero", {"axis": 1}, x3),
    O("min", {"axis": 1, "keepdims": True}, x3),
    O("moments", {"axes": [1]}, x3),
    O("max", {"axis": 1}, ([512, 1536], F)),
    # ops: contractions
    O("matmul", {}, x3, ([8, 4], F), form="list"),
    O("matmul", {}, x3, ([8], F), form="list"),
    O("matmul", {}, x3, ([4, 8, 2], F), form="list"),
    O("dot", {}, x3, ([8, 2], F), form="list"),
    O("tensordot", {"axes": 1}, x3, ([8, 3], F), form="list"),
    O("tensordot", {"axes": [[2], [1]]}, x3, ([8, 3], F), form="list"),
    # ops: shapes
    O("reshape", {"newshape": [-1, 40]}, x3),
    O("reshape", {"newshape": [-1, 4, 2]}, x2),
    O("transpose", {"axes": [0, 2, 1]}, x3),
    O("transpose", {}, x3),
    O("expand_dims", {"axis": 1}, x3),
    O("expand_dims", {"axis": -1}, x2),
    O("squeeze", {"axis": 1}, ([1, 8], F)),
    O("concatenate", {"axis": 1}, form={"xs": [x3, ([2, 8], F)]}),
    O("concatenate", {"axis": -1}, form={"xs": [x3, x3]}),
    O("stack", {"axis": 1}, form={"x": [x2, x2]}),
    O("split", {"indices_or_sections": 2, "axis": 1}, ([4, 3], F)),
    O("split", {"indices_or_sections": [1, 3], "axis": -1}, x3),
    O("take", {"indices": [0, 2], "axis": 1}, x3),
    O("take", {"axis": 1}, x3, ([3], I), form="list"),
    O("take_along_axis", {"axis": 1}, x3, ([5, 1], I), form="list"),
    O("one_hot", {"num_classes": 7}, ([4], I)),
    O("one_hot", {"num_classes": 7, "axis": 1}, ([4], I)),
    O("cast", {"dtype": "int32"}, x3),
    O("ravel", {}, x3),
    O("tile", {"repeats": [1, 2, 3]}, x3),
    O("repeat", {"repeats": 2, "axis": 1}, x3),
    O("pad", {"pad_width": [[0, 0], [1, 2], [3, 4]]}, x3),
    O("moveaxis", {"source": 1, "destination": 2}, x3),
    O("swapaxes", {"axis1": 1, "axis2": 2}, x3),
    O("top_k", {"k": 2}, x3),
    O("argsort", {}, x3),
    O("broadcast_to", {"shape": [2, 5, 8]}, ([1, 8], F)),
    O("image.resize", {"size": [4, 6]}, x4),
    # the rest of the common layers
    L("ConvLSTM2D", {"filters": 3, "kernel_size": 3}, x5),
    L(
        "ConvLSTM2D",
        {
            "filters": 3,
            "kernel_size": 3,
            "padding": "same",
            "return_sequences": True,
            "return_state": True,
        },
        x5,
    ),
    L("ConvLSTM1D", {"filters": 3, "kernel_size": 2, "strides": 2}, x4),
    L("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "use_bias": False}, ([3, 4, 5, 6, 2], F)),
    L(
        "GroupQueryAttention",
        {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
        form={"query": [x3], "value": [([6, 8], F)]},
    ),
    L(
        "GroupQueryAttention",
        {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2, "use_bias": False},
        form={"query": [x3], "value": [([6, 8], F)], "key": [([6, 3], F)]},
    ),
    L("RandomCrop", {"height": 4, "width": 5}, x4),
    L("Hashing", {"num_bins": 10}, ([4], I)),
    L("Discretization", {"bin_boundaries": [0.0, 1.0]}, x3),
    L("SpectralNormalization", {"layer": {"layer": "Dense", "args": {"units": 3}}}, x3),
    L(
        "SpectralNormalization",
        {"layer": {"layer": "Conv2D", "args": {"filters": 3, "kernel_size": 2}}},
        x4,
    ),
]


def _cases_doc(cases):
    """One functional model holding every case (one build instead of hundreds)."""
    inputs, layers = {}, []
    for i, (kind, type_, args, tensors_in, form) in enumerate(cases):
        named = form if isinstance(form, dict) else {None: tensors_in}
        refs = {}
        for key, tensors in named.items():
            refs[key] = []
            for shape, dtype in tensors:
                name = f"c{i}_{len(inputs)}"
                inputs[name] = {"shape": shape, "dtype": dtype}
                refs[key].append(name)
        if isinstance(form, dict):  # by call argument: one reference, or a list of them
            wired = {k: v[0] if len(v) == 1 else v for k, v in refs.items()}
        else:
            wired = refs[None] if form == "list" else refs[None][0]
        layers.append(
            {"name": f"n{i}", kind: type_, "in": wired, **({"args": args} if args else {})}
        )
    return {
        "graphspec": 1,
        "name": "cases",
        "inputs": inputs,
        "layers": layers,
        "model": "functional",
    }


def _operation(model, name):
    """A node's layer, or the Keras operation an op node of a `keras.ops` function is."""
    return next(op for op in getattr(model, "operations", model.layers) if op.name == name)


def _params(operation):
    return operation.count_params() if hasattr(operation, "count_params") else 0


def _keras_outputs(layer):
    out = layer.output
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [tuple(o.shape) for o in outs], [str(o.dtype) for o in outs]


def test_every_rule_matches_keras_shapes_dtypes_and_parameters():
    doc = _cases_doc(CASES)
    doc["outputs"] = [f"n{i}" for i in range(len(CASES))]
    summary, diagnostics = analyzed(doc)
    assert diagnostics == []
    outputs = []
    for i in range(len(CASES)):
        node = summary.node(f"n{i}")
        assert node.known, (CASES[i], node.note)
        outputs += (
            [f"n{i}"] if len(node.shapes) == 1 else [f"n{i}:{k}" for k in range(len(node.shapes))]
        )
    doc["outputs"] = outputs  # several outputs are model outputs one by one
    model = graphspec.load(doc).build(compile=False)
    wrong = []
    for i, case in enumerate(CASES):
        node, layer = summary.node(f"n{i}"), _operation(model, f"n{i}")
        shapes, dtypes = _keras_outputs(layer)
        trainable = sum(int(w.numpy().size) for w in getattr(layer, "trainable_weights", []))
        params = _params(layer)
        if (node.shapes, node.dtypes, node.params, node.trainable_params) != (
            shapes,
            dtypes,
            params,
            trainable,
        ):
            wrong.append(
                f"{case[:3]}: static {node.shapes} {node.dtypes} {node.params}/"
                f"{node.trainable_params}; keras {shapes} {dtypes} "
                f"{params}/{trainable}"
            )
    assert wrong == []


def test_promotion_of_dtypes():
    assert promote("int32", "float16") == "float16"
    assert promote("float16", "bfloat16") == "float32"
    assert promote("uint8", "int8") == "int16"
    assert promote("bool", "int64") == "int64"


# -- the examples, the zoo, and cost ------------------------------------------------------------

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_examples_have_no_shape_error_and_only_plugins_are_unknown(seed_plugins, path):
    summary, diagnostics = analyzed(path)
    assert diagnostics == []
    unknown = [n for n in summary.unknown if n.note != "an input is unknown"]
    assert {n.type for n in unknown} <= {"MyLayer", "minus_mean"}  # plugins without rules
    for node in summary.nodes:  # every unknown has a reason, and the reason is not a crash
        assert node.known or not node.note.startswith("rule failed"), node


def test_examples_match_keras_node_by_node(seed_plugins):
    from graphspec.keras.compiler import tensor_shapes

    for path in EXAMPLE_FILES:
        spec = graphspec.load(path)
        summary = spec.summary()
        built = tensor_shapes(*checked_graph(spec.source.data))
        model = spec.build(compile=False)
        for node in summary.nodes:
            if not node.known:
                continue
            truth = built[node.name]
            assert node.shapes == ([truth] if isinstance(truth, tuple) else truth), (
                path.name,
                node.name,
            )
            if node.kind in ("layer", "op", "submodel"):
                assert node.params == _params(_operation(model, node.name)), (path.name, node.name)


def _within(value, target, tolerance=0.03):
    return abs(value - target) <= tolerance * target


def test_macs_match_published_counts():
    """At 224x224, multiply-accumulates of the convolutions and dense layers: ResNet-50 as
    Keras builds it (v1: the stride on the first 1x1 convolution) has the 3.8 G of He et al.
    (2015, Table 1); torchvision's 4.1 G is v1.5, whose stride sits on the 3x3 convolution.
    VGG16: 15.5 G (Simonyan and Zisserman; 15.47 G counted by ptflops). MobileNetV2: 300 M
    (Sandler et al., 2018, Table 3)."""
    import keras

    summary, _ = analyzed(EXAMPLES / "resnet50.yaml")
    assert _within(summary.macs, 3.8e9)
    for name, target, params in (("VGG16", 15.5e9, 138_357_544), ("MobileNetV2", 300e6, 3_538_984)):
        spec = graphspec.from_keras(getattr(keras.applications, name)(weights=None))
        summary, diagnostics = spec.summary(), spec.diagnostics
        assert diagnostics == [] and summary.unknown == []
        assert summary.params == params
        assert _within(summary.macs, target), (name, summary.macs)
        keras.backend.clear_session()
    # ResNet-50 in v1.5 form (stride moved to the 3x3): torchvision's 4.1 G.
    text = (EXAMPLES / "resnet50.yaml").read_text()
    text = text.replace(
        '{name: "1", block: conv_bn, in: x, args: {filters: "${filters}", stride: "${stride}"}}',
        '{name: "1", block: conv_bn, in: x, args: {filters: "${filters}"}}',
    )
    text = text.replace(
        '{name: "2", block: conv_bn, args: {filters: "${filters}", kernel: 3, padding: same}}',
        '{name: "2", block: conv_bn, args: {filters: "${filters}", kernel: 3, '
        'padding: same, stride: "${stride}"}}',
    )
    summary, _ = analyzed(yaml.safe_load(text))
    assert _within(summary.macs, 4.1e9)


def test_resnet50_is_analyzed_well_under_a_tenth_of_a_second():
    spec = graphspec.load(EXAMPLES / "resnet50.yaml")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        summary = spec.summary()
        best = min(best, time.perf_counter() - start)
    assert summary.params == 25_636_712
    assert best < 0.03, f"{best * 1000:.1f} ms"


def test_summary_table_and_json(tmp_path):
    summary, _ = analyzed(EXAMPLES / "siamese.yaml")
    table = summary.table()
    assert "r_conv1" in table and "shares conv1" in table
    assert "Total params: 5,889" in table and "Unknown: 0 of 15 nodes" in table
    data = summary.to_dict()
    json.dumps(data)
    assert data["total"] == {
        "params": 5889,
        "trainable_params": 5889,
        "macs": summary.macs,
        "activation_bytes": summary.activation_bytes,
    }
    shared = next(n for n in data["nodes"] if n["name"] == "r_conv1")
    assert shared["params"] == 0 and shared["macs"] == summary.node("conv1").macs
    line = 1 + next(
        i
        for i, text in enumerate((EXAMPLES / "siamese.yaml").read_text().splitlines())
        if "name: r_conv1" in text
    )
    assert shared["shapes"] == [[None, 26, 26, 16]] and shared["line"] == line


def test_batch_norm_statistics_and_frozen_layers_are_non_trainable(tmp_path):
    path = write(
        tmp_path,
        """
        graphspec: 1
        name: frozen
        inputs:
          x: {shape: [6]}
        layers:
          - {name: bn, layer: BatchNormalization}
          - {name: fc, layer: Dense, args: {units: 2, trainable: false}}
        """,
    )
    summary, _ = analyzed(path)
    assert (summary.params, summary.trainable_params, summary.non_trainable_params) == (38, 12, 26)


def test_nested_submodels_are_analyzed_with_the_callers_shapes():
    import keras

    inner = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(2)], name="head")
    x = keras.Input((5,))
    model = keras.Model(x, inner(keras.layers.Dense(4)(x)))
    spec = graphspec.from_keras(model)
    summary, diagnostics = spec.summary(), spec.diagnostics
    node = summary.node("head")
    assert diagnostics == [] and node.kind == "submodel"
    assert node.shapes == [(None, 2)] and node.params == inner.count_params() == 23
    assert summary.params == model.count_params()
    assert node.sub.node(
        "x" if "x" in [n.name for n in node.sub.nodes] else node.sub.nodes[0].name
    ).shapes == [(None, 4)]


# -- properties: no false positives, and Keras's build failures found ---------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(merges=("add", "concat")))
def test_random_valid_dags_are_known_without_errors(doc):
    summary, diagnostics = analyzed(doc)
    assert diagnostics == [] and summary.unknown == []
    assert summary.params == sum(
        20
        for n in doc["layers"]
        if n.get("layer") == "Dense" and n["name"].endswith(tuple("0123456789"))
    ) + sum(4 * (8 + 1) for n in doc["layers"] if n["name"].endswith("p"))


MUTABLE = (
    "units",
    "filters",
    "kernel_size",
    "pool_size",
    "output_dim",
    "num_heads",
    "key_dim",
    "axis",
    "num_classes",
)
MUTATED = ["mlp", "siamese", "ticket_router", "gather_onehot", "transformer_encoder"]


def _mutation_sites(doc):
    for name, spec in doc["inputs"].items():
        for i in range(len(spec["shape"])):
            yield ("inputs", name, "shape", i)
    for i, node in enumerate(doc["layers"]):
        for key in node.get("args", {}):
            if key in MUTABLE:
                yield ("layers", i, "args", key)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=20)
@given(st.sampled_from(MUTATED), st.data())
def test_mutations_that_break_the_build_are_found_statically(example, data):
    doc = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    sites = list(_mutation_sites(doc))
    site = data.draw(st.sampled_from(sites))
    parent = doc
    for part in site[:-1]:
        parent = parent[part]
    value = data.draw(st.integers(-3, 4) if site[-1] == "axis" else st.integers(1, 40))
    parent[site[-1]] = value
    summary, diagnostics = analyze(*checked_graph(doc))
    errors = [d for d in diagnostics if d.is_error]
    try:
        build_anyway(doc)
        built = True
    except graphspec.SpecError:
        built = False
    assert not (errors and built), "false positive: " + errors[0].format()
    if not built and not summary.unknown:
        assert errors, f"Keras failed at {site} = {value} and the analysis saw nothing"


def test_initial_states_of_the_wrong_width_are_found_before_keras_fails_at_run_time():
    """Keras builds this model (it does not check initial states symbolically) and fails on
    the first batch; the analysis reports it at the reference."""
    import numpy as np

    doc = yaml.safe_load((EXAMPLES / "seq2seq.yaml").read_text())
    doc["layers"][3]["args"]["units"] = 64  # the encoder's states have 128
    _, diagnostics = analyze(*checked_graph(doc))
    assert [(d.code, d.pointer) for d in diagnostics] == [("GS408", "layers[3].in.initial_state")]
    model = build_anyway(doc)
    with pytest.raises(Exception):  # noqa: B017 - the backend's own error type
        model.predict([np.zeros((1, 3), "int32"), np.zeros((1, 3), "int32")], verbose=0)


def test_nodes_outside_the_model_are_left_out_and_static_shapes_replace_a_build(tmp_path):
    from graphspec.analysis import tensor_shapes
    from graphspec.keras import compiler

    text = """
        graphspec: 1
        name: unused
        inputs:
          x: {shape: [4]}
        layers:
          - {name: a, layer: Dense, args: {units: 3}}
          - {name: dead, layer: Dense, in: x, args: {units: 100}}
        outputs: a
        """
    spec = graphspec.load(write(tmp_path, text))
    summary = spec.summary()
    assert [n.name for n in summary.nodes] == ["x", "a"]  # as Keras's model has them
    assert summary.params == spec.build(compile=False).count_params() == 15
    # a node outside the model is still applied when building: its errors are errors
    broken = write(tmp_path, text.replace("layer: Dense, in: x", "layer: LSTM, in: x"), "b.yaml")
    assert [(d.code, d.line) for d in graphspec.validate(broken)] == [("GS209", 7), ("GS402", 7)]
    with pytest.raises(graphspec.SpecError, match="GS301"):
        build_anyway(broken)
    assert tensor_shapes(*checked_graph(broken)) is None
    siamese = EXAMPLES / "siamese.yaml"
    assert tensor_shapes(*checked_graph(siamese)) == compiler.tensor_shapes(*checked_graph(siamese))


JUNK = st.one_of(
    st.integers(-3, 50),
    st.floats(allow_nan=False, width=16),
    st.booleans(),
    st.none(),
    st.sampled_from(["same", "valid", "causal", "x", "relu"]),
    st.lists(st.integers(-2, 6), max_size=4),
    st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2), max_size=3),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        sorted(p.stem for p in EXAMPLE_FILES if p.stem not in ("custom_layer", "minus"))
    ),
    st.data(),
)
def test_any_argument_value_gives_a_result_or_located_diagnostics(example, data):
    doc = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    nodes = [n for n in doc["layers"] if "args" in n] + [
        n for b in doc.get("blocks", {}).values() for n in b["layers"] if "args" in n
    ]
    node = data.draw(st.sampled_from(nodes))
    key = data.draw(st.sampled_from(sorted(node["args"]) + ["padding", "strides", "axis"]))
    node["args"][key] = data.draw(JUNK)
    src, checked, earlier = stages(doc)
    if checked is None:
        return  # the graph checks rejected the value first
    summary, diagnostics = analyze(src, checked, strict=True)
    assert all(d.pointer and d.code.startswith("GS4") for d in diagnostics)
    assert len(summary.nodes) >= len(checked.inputs)
