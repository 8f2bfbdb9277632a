"""Built models are plain Keras models: every example, saved, reloads in a Python that never
imported graphspec (safe mode, no custom objects) and predicts the same. Op nodes of
`keras.ops` functions are Keras's own operations, named after their nodes. The documented
exception: a model with a registered custom layer or op needs its plugin to reload."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphspec

from conftest import EXAMPLES

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.backends  # CI runs these under JAX too (.ci/run)

# Registered custom layers/ops (examples/plugins) cannot reload without their plugin.
NEEDS_PLUGIN = {"custom_layer": "MyLayer", "minus": "minus_mean"}

# One process for every example: it imports Keras once, never graphspec, and says so.
_RELOAD = """
import json, sys
import numpy as np
import keras
results = {}
for name, path, inputs, want in json.loads(sys.stdin.read()):
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    arrays = [np.load(p) for p in inputs]
    got = model.predict(arrays[0] if len(arrays) == 1 else arrays, verbose=0)
    got = got if isinstance(got, (list, tuple)) else [got]
    close = [bool(np.allclose(g, np.load(w), atol=1e-5)) for g, w in zip(got, want)]
    results[name] = {"same": len(got) == len(want) and all(close),
                     "operations": [[type(op).__name__, op.name]
                                    for op in getattr(model, "operations", model.layers)]}
results["graphspec imported"] = any(m.split(".")[0] == "graphspec" for m in sys.modules)
print(json.dumps(results))
"""


def _inputs(model, rng):
    out = []
    for tensor in model.inputs:
        shape = (2, *(5 if d is None else d for d in tensor.shape[1:]))
        if "int" in str(tensor.dtype):
            out.append(rng.integers(0, 10, size=shape).astype(tensor.dtype))
        else:
            out.append(rng.normal(size=shape).astype(tensor.dtype))
    return out


def _operations(model):  # a Sequential has layers only, and no `operations`
    return [[type(op).__name__, op.name] for op in getattr(model, "operations", model.layers)]


def test_every_example_reloads_without_graphspec(seed_plugins, tmp_path):
    rng = np.random.default_rng(0)
    jobs, built = [], {}
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert len(examples) >= 10
    for spec in examples:
        name = spec.stem
        model = graphspec.build(str(spec))
        path = tmp_path / f"{name}.keras"
        model.save(path)
        inputs = _inputs(model, rng)
        want = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
        want = want if isinstance(want, (list, tuple)) else [want]
        files = []
        for kind, arrays in (("in", inputs), ("out", want)):
            for i, array in enumerate(arrays):
                files.append(tmp_path / f"{name}.{kind}{i}.npy")
                np.save(files[-1], np.asarray(array))
        jobs.append(
            [
                name,
                str(path),
                [str(f) for f in files[: len(inputs)]],
                [str(f) for f in files[len(inputs) :]],
            ]
        )
        built[name] = model
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _RELOAD],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results.pop("graphspec imported") is False
    assert set(results) == set(built)
    for name, result in results.items():
        if name in NEEDS_PLUGIN:
            # Keras's own message: the class it cannot find, with the saved config, which
            # names the custom layer or the registered op (see docs: reloading needs the plugin).
            assert "error" in result, name
            assert "Could not locate class" in result["error"]
            assert NEEDS_PLUGIN[name] in result["error"], result["error"][:500]
            continue
        assert "error" not in result, (name, result.get("error", "")[:1000])
        assert result["same"], name
        assert result["operations"] == _operations(built[name]), name
        classes = {cls for cls, _ in result["operations"]}
        assert "Op" not in classes, name  # only registered ops need graphspec's layer


def test_op_nodes_are_keras_operations_named_after_their_nodes():
    model = graphspec.build(str(EXAMPLES / "gather_onehot.yaml"))
    assert _operations(model) == [
        ["InputLayer", "indices"],
        ["OneHot", "hot"],
        ["Max", "mask"],
        ["InputLayer", "values"],
        ["Multiply", "kept"],
    ]
    ops = [op for op in model.operations if not isinstance(op, keras.layers.Layer)]
    assert [type(op).__module__.split(".")[0] for op in ops] == ["keras"] * 3
    assert model.layers == [op for op in model.operations if isinstance(op, keras.layers.Layer)]


def test_ops_with_constants_and_the_same_op_twice_are_named_operations(tmp_path):
    spec = tmp_path / "twice.yaml"
    spec.write_text(
        "graphspec: 1\nname: twice\ninputs:\n  x: {shape: [3]}\nlayers:\n"
        "  - {name: plus3, op: add, in: x, args: {x2: 3.0}}\n"
        "  - {name: clipped, op: clip, args: {x_min: 0.0, x_max: 6.0}}\n"
        "  - {name: again, op: clip, in: x, args: {x_min: 0.0, x_max: 6.0}}\n"
        "  - {name: both, op: multiply, in: [clipped, again]}\n"
    )
    model = graphspec.build(str(spec))
    assert _operations(model) == [
        ["InputLayer", "x"],
        ["Add", "plus3"],
        ["Clip", "clipped"],
        ["Clip", "again"],
        ["Multiply", "both"],
    ]
    x = np.array([[-5.0, 1.0, 9.0]], dtype="float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), [[0.0, 4.0, 36.0]])
    model.save(tmp_path / "twice.keras")
    reloaded = keras.saving.load_model(tmp_path / "twice.keras", safe_mode=True)
    assert _operations(reloaded) == _operations(model)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), [[0.0, 4.0, 36.0]])


def test_registered_ops_stay_in_the_op_layer(seed_plugins):
    model = graphspec.build(str(EXAMPLES / "minus.yaml"))
    (op,) = [layer for layer in model.layers if type(layer).__name__ == "Op"]
    assert keras.saving.get_registered_name(type(op)) == "graphspec>Op"
    assert (op.name, op.op) == ("minus", "minus_mean")


def test_sequential_models_keep_op_layers(tmp_path):
    """keras.Sequential holds only layers: there (a chain, with `model: auto`) an op node stays
    graphspec's Op layer, which reloads only where graphspec is imported."""
    spec = tmp_path / "seq.yaml"
    spec.write_text(
        "graphspec: 1\nname: seq\ninputs:\n  x: {shape: [3]}\n"
        "layers:\n  - {name: d, layer: Dense, args: {units: 2}}\n"
        "  - {name: a, op: absolute}\n"
    )
    model = graphspec.build(str(spec))
    assert isinstance(model, keras.Sequential)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Op"]


def test_private_operation_of_is_the_operation_that_made_a_tensor():
    """What `_private.operation_of` relies on: a raw `keras.ops` call on a KerasTensor records
    one operation, reachable from its result, whose name Keras saves and reloads."""
    from graphspec.keras import _private

    x = keras.Input(shape=(4,), name="x")
    y = keras.ops.mean(x, axis=1)
    op = _private.operation_of(y)
    assert type(op).__name__ == "Mean" and not isinstance(op, keras.layers.Layer)
    op.name = "my_mean"
    model = keras.Model(x, y)
    assert [o.name for o in model.operations] == ["x", "my_mean"]
    config = model.get_config()
    assert [layer["name"] for layer in config["layers"]] == ["x", "my_mean"]
    assert type(keras.Model.from_config(config).operations[1]).__name__ == "Mean"
