"""`validate --backend`: what Keras's backends refuse is recorded in the catalog from Keras's
own source (graphspec/keras/catalog_gen.py), checked without importing any backend
(graphspec/analysis/backends.py), and true when run on the backends that are installed.

The tests under "through the public API and the command line" call
`graphspec.validate(..., backend=)`, `graphspec.load(..., backend=)` and `graphspec validate
--backend`, which graphspec/api.py, pipeline.py and cli.py provide; the others call the
check module directly.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import graphspec
from graphspec import catalog, pipeline
from graphspec.analysis import backends
from graphspec.errors import sort_diagnostics
from graphspec.registry import OPS

from conftest import EXAMPLES, ROOT


def _check(tmp_path, text: str, backend: str) -> list[graphspec.Diagnostic]:
    """The GS216 diagnostics of a spec for `backend`, once per place as `validate` gives them."""
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    stages = pipeline.run(str(path))
    assert stages.ok, [d.format() for d in stages.diagnostics]
    return pipeline.unique(sort_diagnostics(backends.check(stages.source, stages.checked, backend)))


def _where(diagnostics) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.column) for d in diagnostics]


# -- no false positives ------------------------------------------------------------------------

COMMON = """\
graphspec: 1
name: common
inputs:
  image: {shape: [32, 32, 3]}
  tokens: {shape: [12], dtype: int32}
  ids: {shape: [8], dtype: int32}
layers:
  - {name: c1, layer: Conv2D, in: image, args: {filters: 8, kernel_size: 3}}
  - {name: bn, layer: BatchNormalization}
  - {name: pool, layer: GlobalAveragePooling2D}
  - {name: fc, layer: Dense, args: {units: 16, activation: relu}}
  - {name: drop, layer: Dropout, args: {rate: 0.1}}
  - {name: emb, layer: Embedding, in: tokens, args: {input_dim: 100, output_dim: 16}}
  - {name: seq, layer: Bidirectional, args: {layer: {layer: LSTM, args: {units: 8}}}}
  - {name: att, layer: MultiHeadAttention, in: [emb, emb], args: {num_heads: 2, key_dim: 8}}
  - {name: att_mean, op: mean, in: att, args: {axis: 1}}
  - {name: hot, op: one_hot, in: ids, args: {num_classes: 10}}
  - {name: hot_max, op: max, in: hot, args: {axis: 1}}
  - {name: picked, op: take, in: fc, args: {indices: [0, 2, 4], axis: 1}}
  - {name: both, op: add, in: [drop, att_mean]}
  - {name: norm, layer: LayerNormalization, in: both}
  - {name: out, layer: Concatenate, in: [norm, seq, hot_max, picked]}
"""


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_common_layers_and_ops_run_on_every_backend(tmp_path, backend):
    assert _check(tmp_path, COMMON, backend) == []
    for name in ("Dense", "Conv2D", "LSTM", "Embedding", "Add", "MultiHeadAttention"):
        assert catalog.unsupported("layers", name) == [], name
    for name in ("add", "take", "take_along_axis", "matmul", "mean", "softmax", "concatenate"):
        assert catalog.unsupported("ops", name) == [], name


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_no_example_is_flagged(seed_plugins, backend):
    checked = 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        stages = pipeline.run(str(path))
        if stages.checked is None:
            continue
        checked += 1
        assert backends.check(stages.source, stages.checked, backend) == [], path.name
    assert checked >= 10


# -- what is reported, and where -----------------------------------------------------------

FINDINGS = """\
graphspec: 1
name: findings
inputs:
  x: {shape: [16]}
  ids: {shape: [], dtype: int32}
  image: {shape: [8, 8, 3]}
  words: {shape: [1], dtype: string}
  q: {shape: [4, 2, 8]}
layers:
  - {name: s1, op: segment_sum, in: [x, ids]}
  - {name: s2, op: segment_max, in: [x, ids], args: {num_segments: 4}}
  - {name: s3, op: segment_min, in: [x, ids], args: {num_segments: 4, sorted: true}}
  - {name: h1, op: one_hot, in: ids, args: {num_classes: 4, sparse: true}}
  - {name: h2, op: one_hot, in: ids, args: {num_classes: 4}}
  - {name: r1, op: image.resize, in: image, args: {size: [4, 4], interpolation: lanczos3}}
  - {name: r2, op: image.resize, in: image, args: {size: [4, 4], interpolation: bicubic}}
  - {name: a1, op: dot_product_attention, in: [q, q, q], args: {flash_attention: true}}
  - {name: a2, op: dot_product_attention, in: [q, q, q], args: {flash_attention: null}}
  - {name: b1, layer: BatchNormalization, in: x, args: {synchronized: true}}
  - {name: b2, layer: BatchNormalization, in: x, args: {synchronized: false}}
  - {name: w, layer: StringLookup, in: words, args: {vocabulary: [a, b]}}
  - {name: hs, layer: Hashing, in: ids, args: {num_bins: 3}}
  - {name: il, layer: IntegerLookup, in: ids, args: {vocabulary: [1, 2], sparse: true}}
outputs: [s1, s2, s3, h1, h2, r1, r2, a1, a2, b1, b2, w, hs, il]
"""


def test_each_backend_gets_what_it_refuses_at_the_layer_or_op_value(tmp_path):
    found = {b: _where(_check(tmp_path, FINDINGS, b)) for b in backends.BACKENDS}
    assert found == {
        "jax": [
            ("GS216", 10, 20),  # segment_sum without num_segments
            ("GS216", 19, 23),  # synchronized BatchNormalization
            ("GS216", 21, 22),  # StringLookup: TensorFlow inside the model
            ("GS216", 22, 23),  # Hashing: the same
            ("GS216", 23, 23),  # IntegerLookup: the same, whatever its arguments
        ],
        "tensorflow": [
            ("GS216", 12, 20),  # sorted segment_min with num_segments
            ("GS216", 17, 20),  # flash attention (null stays allowed: TensorFlow reads False)
        ],
        "torch": [
            ("GS216", 13, 20),  # one_hot(sparse=True)
            ("GS216", 15, 20),  # resize with lanczos3 (bicubic is fine)
            ("GS216", 19, 23),
            ("GS216", 21, 22),  # StringLookup: string tensors (Hashing runs on PyTorch)
            ("GS216", 23, 23),  # IntegerLookup with sparse: true
        ],
    }


def test_the_message_says_what_why_and_how_to_fix_it(tmp_path):
    by_node = {d.message.split("'")[3]: d for d in _check(tmp_path, FINDINGS, "jax")}
    segment = by_node["s1"]
    assert segment.message == (
        "op 'segment_sum' in node 's1' fails on the jax backend when `num_segments is None`. "
        "Received: num_segments=None (the default)"
    )
    assert segment.hint == (
        "set num_segments, or use the tensorflow or torch backend "
        "(Keras: keras/src/backend/jax/math.py:segment_sum)"
    )
    assert segment.severity == "error" and segment.pointer == "layers[0].op"
    lookup = by_node["w"]
    assert lookup.message.startswith(
        "layer 'StringLookup' in node 'w' is not supported on the jax backend: it runs "
        "TensorFlow operations in its call"
    )
    assert lookup.message.endswith("Received: backend='jax'")
    assert lookup.hint.startswith("apply StringLookup to the data before the model")
    assert "or use the tensorflow backend" in lookup.hint
    assert "or use the tensorflow or torch backend" in by_node["hs"].hint  # Hashing
    on_torch = {d.message.split("'")[3]: d for d in _check(tmp_path, FINDINGS, "torch")}
    assert on_torch["w"].message == (
        "layer 'StringLookup' in node 'w' is not supported on the torch backend: it takes or "
        "gives string tensors, which Keras's torch backend has no dtype for. "
        "Received: backend='torch'"
    )
    assert on_torch["w"].hint.endswith(
        "or use the tensorflow backend (Keras: keras/src/backend/torch/core.py:TORCH_DTYPES)"
    )
    assert on_torch["il"].message.endswith("when `sparse` is true. Received: sparse=True")
    sorted_min = _check(tmp_path, FINDINGS, "tensorflow")[0]
    assert sorted_min.message.endswith(
        "when `sorted and num_segments is not None`. Received: sorted=True, num_segments=4"
    )
    assert sorted_min.hint.startswith("change sorted, num_segments, or use the jax or torch")


def test_nested_layers_and_blocks_are_checked_at_their_own_line(tmp_path):
    text = """\
    graphspec: 1
    name: nested
    blocks:
      normed:
        inputs: [x]
        layers:
          - {name: n, layer: BatchNormalization, in: x, args: {synchronized: true}}
      inner:
        nested: true
        inputs: [x]
        layers:
          - {name: seg, op: segment_prod, in: [x, x]}
    inputs:
      x: {shape: [5, 4]}
    layers:
      - {name: td, layer: TimeDistributed, args: {layer: {layer: BatchNormalization,
          args: {synchronized: true}}}}
      - {name: b1, block: normed, repeat: 2}
      - {name: sub, block: inner}
    """
    found = _check(tmp_path, text, "jax")
    # The block's node once for its two copies; the nested model's op; the wrapped layer.
    assert _where(found) == [("GS216", 7, 26), ("GS216", 12, 25), ("GS216", 16, 62)]
    assert found[0].message.endswith("(in b1[1] (block normed))")
    assert "node 'td' (at 'layers[0].args.layer')" in found[2].message
    assert _where(_check(tmp_path, text, "tensorflow")) == []


def test_arguments_given_by_the_inputs_are_tensors_whose_values_are_unknown(tmp_path):
    text = """\
    graphspec: 1
    name: inputs
    inputs:
      x: {shape: [4]}
      ids: {shape: [], dtype: int32}
      n: {shape: [], dtype: int32}
    layers:
      - {name: listed, op: segment_sum, in: [x, ids, n]}
      - {name: named, op: segment_sum, in: {data: x, segment_ids: ids, num_segments: n}}
      - {name: none, op: segment_sum, in: {data: x, segment_ids: ids}}
    outputs: [listed, named, none]
    """
    assert _where(_check(tmp_path, text, "jax")) == [("GS216", 10, 22)]  # only `none`


def test_conditions_that_the_spec_leaves_undecided_are_not_reported():
    when = {"all": [{"arg": "sorted"}, {"arg": "n", "op": "is not", "value": None}]}
    assert backends.holds(when, {"sorted": True, "n": 3}) is True
    assert backends.holds(when, {"sorted": False}) is False  # decided without n
    assert backends.holds(when, {"sorted": True}) is None  # n unknown
    assert backends.holds({"any": [{"arg": "a"}, {"arg": "b"}]}, {"b": 1}) is True
    assert backends.holds({"not": {"arg": "a"}}, {}) is None
    assert backends.holds({"arg": "mode", "op": "in", "value": ["x"]}, {"mode": {"k": 1}}) is None
    assert backends.holds({"arg": "axis", "op": ">", "value": 0}, {"axis": "last"}) is None


def test_registered_ops_are_the_plugins_business(tmp_path):
    text = """\
    graphspec: 1
    name: custom
    inputs:
      x: {shape: [4]}
      ids: {shape: [], dtype: int32}
    layers:
      - {name: s, op: segment_sum, in: [x, ids]}
    """
    assert len(_check(tmp_path, text, "jax")) == 1
    graphspec.register_op("segment_sum", override=True)(lambda inputs: inputs[0])
    try:
        assert _check(tmp_path, text, "jax") == []
    finally:
        OPS.unregister("segment_sum")


def test_an_unknown_backend_name_says_which_exist():
    assert backends.backend_name("torch") == "torch"
    with pytest.raises(ValueError, match=r"Expected one of: jax, tensorflow, torch\.$"):
        backends.backend_name("numpy")
    with pytest.raises(ValueError, match="Did you mean 'jax'"):
        backends.backend_name("jaxx")
    with pytest.raises(ValueError, match="Did you mean 'torch'"):
        backends.backend_name("pytorch")


def test_the_format_guide_lists_exactly_what_the_catalog_records():
    """docs/format.md's table: one row per layer/op group and backends; it cannot drift."""
    page = (ROOT / "docs" / "format.md").read_text(encoding="utf-8")
    section = page.split("### Checking a spec for a backend", 1)[1].split("\n### ", 1)[0]
    table = set()
    for row in re.findall(r"^\| (`.+?) \| ([a-z, ]+) \| .+ \|$", section, re.MULTILINE):
        for name in re.findall(r"`([\w.]+)`", row[0]):
            table |= {(name, b) for b in row[1].split(", ")}
    recorded = {
        (name, b)
        for kind in ("layers", "ops")
        for name, findings in catalog.load()["unsupported"][kind].items()
        for finding in findings
        for b in finding["backends"]
    }
    assert table == recorded


# -- the generator reads Keras's source (imports Keras) --------------------------------------


def test_the_source_reader_finds_ops_a_backend_does_not_implement():
    """None of jax, tensorflow and torch lacks a whole op in Keras 3.15; Keras's OpenVINO and
    NumPy backends do, which shows the reader finds them."""
    keras = pytest.importorskip("keras")
    from graphspec.keras import catalog_gen

    (svd,) = catalog_gen.op_refusals(keras.ops.svd, ("openvino",))
    assert svd == {
        "backends": ["openvino"],
        "reason": "not_implemented",
        "source": "keras/src/backend/openvino/linalg.py:svd",
    }
    assert catalog_gen.op_refusals(keras.ops.jvp, ("numpy",))[0]["reason"] == "not_implemented"
    assert catalog_gen.op_refusals(keras.ops.svd) == []
    for kind in ("layers", "ops"):
        for findings in catalog.load()["unsupported"][kind].values():
            assert all(f["reason"] not in ("missing", "not_implemented") for f in findings)


def test_layers_running_tensorflow_are_the_ones_keras_documents():
    """The reader finds them in the code of `call`; Keras's docstrings say it in words."""
    keras = pytest.importorskip("keras")
    documented = set()
    for name in dir(keras.layers):
        doc = " ".join((getattr(keras.layers, name).__doc__ or "").split())
        if "cannot be used as part of the compiled computation graph of a model with any " \
           "backend other than TensorFlow" in doc:  # fmt: skip
            documented.add(name)
    recorded = {
        name
        for name, findings in catalog.load()["unsupported"]["layers"].items()
        if any(f["reason"] == "tensorflow_ops" for f in findings)
    }
    assert (
        recorded
        == documented
        == {
            "HashedCrossing",
            "Hashing",
            "IntegerLookup",
            "StringLookup",
            "TextVectorization",
        }
    )


# -- the findings are true: run on the installed backends ----------------------------------

# (kind, name, backend): (code the backend refuses, code that runs there), in the namespace of
# _RUN below; a tuple of refused codes when the catalog has several findings there, one each,
# in its order. Every finding of the catalog has a case: a new one must be verified here first.
CASES = {
    ("ops", "segment_sum", "jax"): ("ops.segment_sum(data, ids)", "ops.segment_sum(data, ids, 3)"),
    ("ops", "segment_max", "jax"): ("ops.segment_max(data, ids)", "ops.segment_max(data, ids, 3)"),
    ("ops", "segment_min", "jax"): ("ops.segment_min(data, ids)", "ops.segment_min(data, ids, 3)"),
    ("ops", "segment_prod", "jax"): (
        "ops.segment_prod(data, ids)",
        "ops.segment_prod(data, ids, 3)",
    ),
    **{
        ("ops", op, "tensorflow"): (
            f"ops.{op}(data, ids, num_segments=3, sorted=True)",
            f"ops.{op}(data, ids, sorted=True)",
        )
        for op in ("segment_sum", "segment_max", "segment_min", "segment_prod")
    },
    **{
        ("ops", "moments", b): (
            "ops.moments(data, axes=[1], synchronized=True)",
            "ops.moments(data, axes=[1])",
        )
        for b in ("jax", "torch")
    },
    ("ops", "dot_product_attention", "tensorflow"): (
        "ops.dot_product_attention(q, q, q, flash_attention=True)",
        "ops.dot_product_attention(q, q, q, flash_attention=None)",
    ),
    ("ops", "convert_to_tensor", "jax"): (
        "ops.convert_to_tensor(data, ragged=True)",
        "ops.convert_to_tensor(data, sparse=True)",
    ),
    ("ops", "convert_to_tensor", "torch"): (
        ("ops.convert_to_tensor(data, sparse=True)", "ops.convert_to_tensor(data, ragged=True)"),
        "ops.convert_to_tensor(data)",
    ),
    ("ops", "one_hot", "torch"): ("ops.one_hot(ids, 4, sparse=True)", "ops.one_hot(ids, 4)"),
    ("ops", "multi_hot", "torch"): (
        "ops.multi_hot(ids[None], 4, sparse=True)",
        "ops.multi_hot(ids[None], 4)",
    ),
    ("ops", "bincount", "torch"): ("ops.bincount(ids, sparse=True)", "ops.bincount(ids)"),
    ("ops", "cross", "torch"): (
        "ops.cross(vectors, vectors, axisa=0, axisb=0, axisc=0)",
        "ops.cross(vectors.T, vectors.T)",
    ),
    **{
        ("ops", op, "torch"): (f"ops.{op}(1.0, 4.0, 5, axis=-1)", f"ops.{op}(1.0, 4.0, 5)")
        for op in ("linspace", "logspace", "geomspace")
    },
    ("ops", "image.resize", "torch"): (
        "ops.image.resize(images, (4, 4), interpolation='lanczos3')",
        "ops.image.resize(images, (4, 4), interpolation='bicubic')",
    ),
    **{
        ("layers", "BatchNormalization", b): (
            "layers.BatchNormalization(synchronized=True)",
            "layers.BatchNormalization()",
        )
        for b in ("jax", "torch")
    },
    # TensorFlow inside the model: fails to train on JAX, which traces it; runs on PyTorch,
    # which runs it eagerly (checked there as another backend's case, or as a fixed form),
    # but for string tensors and `sparse: true`.
    **{
        ("layers", name, "jax"): (f"fit({layer}, {data})", f"fit_after({layer}, {data})")
        for name, (layer, data) in {
            "Hashing": ("layers.Hashing(num_bins=3)", "ints"),
            "HashedCrossing": ("layers.HashedCrossing(num_bins=3)", "ints, ints"),
            "IntegerLookup": ("layers.IntegerLookup(vocabulary=[1, 2, 3])", "ints"),
            "StringLookup": ("layers.StringLookup(vocabulary=['a', 'b'])", "words"),
            "TextVectorization": (
                "layers.TextVectorization(vocabulary=['a', 'b'], output_sequence_length=1)",
                "words[:, 0]",
            ),
        }.items()
    },
    **{
        ("layers", name, "torch"): (f"fit({layer}, {data})", f"fit_after({layer}, {data})")
        for name, (layer, data) in {
            "StringLookup": ("layers.StringLookup(vocabulary=['a', 'b'])", "words"),
            "TextVectorization": (
                "layers.TextVectorization(vocabulary=['a', 'b'], output_sequence_length=1)",
                "words[:, 0]",
            ),
        }.items()
    },
    ("layers", "HashedCrossing", "torch"): (
        "layers.HashedCrossing(num_bins=3, output_mode='one_hot', sparse=True)",
        "fit(layers.HashedCrossing(num_bins=3), ints, ints)",
    ),
    ("layers", "IntegerLookup", "torch"): (
        "layers.IntegerLookup(vocabulary=[1, 2, 3], output_mode='multi_hot', sparse=True)",
        "fit(layers.IntegerLookup(vocabulary=[1, 2, 3]), ints)",
    ),
}
# Refusals that depend on the hardware, not on the backend: not recorded, not cross-checked.
NOT_RECORDED = {("ops", "dot_product_attention", b) for b in ("jax", "torch")}  # GPU only

_RUN = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
from keras import layers, ops

data = np.arange(12, dtype="float32").reshape(4, 3)
ids = np.array([0, 0, 1, 2], dtype="int32")
q = np.ones((2, 4, 2, 8), dtype="float32")
vectors = np.ones((3, 2), dtype="float32")
images = np.ones((2, 8, 8, 3), dtype="float32")
ints = np.array([[1], [2], [3], [4]], dtype="int32")
words = np.array([["a"], ["b"], ["c"], ["a"]], dtype=object)

def fit(layer, *columns):  # the layer inside a model, trained
    dtype = "string" if columns[0].dtype == object else "int32"
    inputs = [keras.Input(c.shape[1:], dtype=dtype) for c in columns]
    x = layer(tuple(inputs) if len(inputs) > 1 else inputs[0])
    if dtype == "string" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        columns = [tf.constant(c) for c in columns]
    model = keras.Model(inputs, layers.Dense(1)(layers.Flatten()(layers.Embedding(16, 2)(x))))
    model.compile("sgd", "mse")
    model.fit(list(columns) if len(columns) > 1 else columns[0], np.zeros((4, 1)), verbose=0)

def fit_after(layer, *columns):  # GS216's fix: the layer on the data, then the model
    x = ops.convert_to_numpy(layer(tuple(columns) if len(columns) > 1 else columns[0]))
    inputs = keras.Input(x.shape[1:], dtype=str(x.dtype))
    model = keras.Model(inputs, layers.Dense(1)(layers.Flatten()(layers.Embedding(16, 2)(inputs))))
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((len(x), 1)), verbose=0)

out = {}
for code in json.load(sys.stdin):
    try:
        eval(code)
        out[code] = None
    except Exception as exc:
        out[code] = f"{type(exc).__name__}: {exc}"[:300]
print(json.dumps(out))
"""


def _refused(case: tuple) -> tuple[str, ...]:
    return case[0] if isinstance(case[0], tuple) else (case[0],)


def test_every_finding_has_a_case():
    recorded: dict[tuple, int] = {}
    for kind in ("layers", "ops"):
        for name, findings in catalog.load()["unsupported"][kind].items():
            for finding in findings:
                for b in finding["backends"]:
                    recorded[kind, name, b] = recorded.get((kind, name, b), 0) + 1
    assert recorded == {key: len(_refused(case)) for key, case in CASES.items()}


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_each_finding_fails_on_its_backend_and_runs_on_the_others(backend):
    """On `backend`: each case recorded for it fails and its fixed form runs; each case
    recorded only for other backends runs. One Python per backend (Keras picks its backend
    once); CI installs all three."""
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed")
    refused = [code for k, c in CASES.items() if k[2] == backend for code in _refused(c)]
    fixed = [c[1] for k, c in CASES.items() if k[2] == backend and c[1]]
    elsewhere = {
        code
        for k, c in CASES.items()
        if k[2] != backend
        and (k[0], k[1], backend) not in CASES
        and (k[0], k[1], backend) not in NOT_RECORDED
        for code in _refused(c)
    }
    done = subprocess.run(
        [sys.executable, "-c", _RUN],
        input=json.dumps(sorted(set(refused + fixed) | elsewhere)),
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    assert [c for c in refused if results[c] is None] == [], "recorded, but runs"
    mistakes = ("NameError", "SyntaxError", "AttributeError", "TypeError")
    assert [c for c in refused if results[c].startswith(mistakes)] == [], "a case is wrong"
    assert {c: results[c] for c in fixed if results[c]} == {}, "the fixed form fails"
    assert {c: results[c] for c in elsewhere if results[c]} == {}, "fails, but not recorded"


# -- through the public API and the command line -------------------------------------------

FIXTURE = ROOT / "tests" / "invalid" / "backend_op_args.yaml"


def test_api_validate_and_load_take_a_backend():
    path = str(FIXTURE)
    assert _where(graphspec.validate(path, backend="jax")) == [("GS216", 9, 24)]
    assert graphspec.validate(path, backend="tensorflow") == []
    with pytest.raises(graphspec.SpecError, match="GS216"):
        graphspec.load(path, backend="jax")
    assert graphspec.load(path, backend="torch").name == "segments"
    with pytest.raises(ValueError, match="Did you mean 'torch'"):
        graphspec.validate(path, backend="troch")


def test_without_a_backend_nothing_is_checked_whatever_keras_backend_says(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert graphspec.validate(str(FIXTURE)) == []


def test_cli_backend_flag(capsys):
    from graphspec import cli

    assert cli.main(["validate", "--backend", "jax", str(FIXTURE)]) == 1
    assert "error[GS216]: op 'segment_sum' in node 'pooled'" in capsys.readouterr().err
    assert cli.main(["validate", "--backend", "tensorflow", str(FIXTURE)]) == 0
    capsys.readouterr()
    assert cli.main(["validate", "--backend", "jaxx", str(FIXTURE)]) == 2
    assert capsys.readouterr().err.strip() == (
        "graphspec: error: --backend: unknown backend 'jaxx'. Expected one of: jax, "
        "tensorflow, torch. Did you mean 'jax'?"
    )
