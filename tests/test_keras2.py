"""Keras 2 models in: real tf-keras files convert, build under Keras 3 with the same parameter
count and, after the weight transfer, predict what Keras 2 predicted. Hand-written Keras 2
configs pin each translation rule and each refusal (with the layer's name, class and place).

The real files are made once per session by `scripts/make_keras2_fixtures.py` in one
subprocess (tf-keras, the Keras 2 package, never imported here); ResNet50's .h5 is ~100 MB
and lives in a temporary folder only."""

import importlib.util
import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

import graphspec
from graphspec import source
from graphspec.cli import main
from graphspec.errors import ExportError
from graphspec.keras import keras2

from conftest import ROOT

MODELS = [
    "mlp",
    "multi_io",
    "cnn",
    "seq2seq",
    "rnn_cells",
    "tf_ops",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
]
ATOL = 1e-5


@pytest.fixture(scope="session")
def keras2_files(tmp_path_factory):
    """Folder of NAME.json, NAME.h5 and NAME.npz (inputs, Keras 2 outputs, parameters)."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip(
            "tf-keras (the Keras 2 package) is not installed: "
            "pip install --no-deps 'tf-keras~=2.21'"
        )
    folder = tmp_path_factory.mktemp("keras2")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_keras2_fixtures.py"), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def _predict(model, arrays: dict) -> list:
    inputs = [arrays[k] for k in sorted(arrays.files) if k.startswith("in_")]
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    return outputs if isinstance(outputs, list) else [outputs]


def _max_diff(outputs: list, arrays) -> float:
    expected = [arrays[f"out_{i}"] for i in range(len(outputs))]
    assert [o.shape for o in outputs] == [e.shape for e in expected]
    return max(float(np.max(np.abs(o - e))) for o, e in zip(outputs, expected))


@pytest.mark.parametrize("name", MODELS)
def test_keras2_model_converts_builds_and_predicts_the_same(keras2_files, name, tmp_path):
    h5, arrays = keras2_files / f"{name}.h5", np.load(keras2_files / f"{name}.npz")
    data = keras2.load_keras2(h5)
    assert keras2.load_keras2(keras2_files / f"{name}.json") == data  # the same config
    # The YAML written for people reads back as the same spec.
    (tmp_path / "spec.yaml").write_text(source.dumps(data))
    assert graphspec.load(tmp_path / "spec.yaml").build_order == graphspec.load(data).build_order

    model = graphspec.load(data).build()
    assert model.count_params() == int(arrays["params"])
    # Every Keras 2 layer is a layer of the same name ('/' written as '_'); TensorFlow
    # functions (TFOpLambda) are op nodes.
    config = json.loads((keras2_files / f"{name}.json").read_text())["config"]
    layers = {
        keras2.spec_name(entry["config"]["name"])
        for entry in config["layers"]
        if entry["class_name"] not in ("InputLayer", "TFOpLambda")
    }
    ops = {node["name"] for node in data["layers"] if "op" in node}
    assert {
        layer.name
        for layer in model.layers
        if layer.name not in ops and not isinstance(layer, keras.layers.InputLayer)
    } == layers

    if model.weights:
        assert _max_diff(_predict(model, arrays), arrays) > 1e-3  # its own weights differ
    report = keras2.transfer_weights(model, h5)
    assert report.complete, str(report)
    layers_with_weights = [
        inner
        for layer in model.layers
        for inner in (layer.layers if isinstance(layer, keras.Model) else [layer])
        if inner.weights
    ]
    assert len(report.assigned) == len(layers_with_weights)
    assert _max_diff(_predict(model, arrays), arrays) <= ATOL


def test_keras2_specs_read_as_written_for_people(keras2_files):
    seq2seq = keras2.load_keras2(keras2_files / "seq2seq.h5")
    nodes = {node["name"]: node for node in seq2seq["layers"]}
    # Keras 2 passed the states as more inputs; Keras 3 takes them as initial_state.
    assert nodes["decoder"]["in"] == {
        "sequences": "tgt_emb",
        "initial_state": ["state_h", "state_c"],
    }
    assert nodes["state_h"]["in"] == ["encoder:1", "encoder:3"]  # a layer with 5 outputs
    assert nodes["encoder"]["args"]["layer"] == {
        "layer": "LSTM",
        "args": {"return_state": True, "units": 16},
    }  # implementation, time_major: dropped
    multi = keras2.load_keras2(keras2_files / "multi_io.h5")
    nodes = {node["name"]: node for node in multi["layers"]}
    assert nodes["shared_dense_1"] == {
        "name": "shared_dense_1",
        "share": "shared_dense",
        "in": "right",
    }
    assert nodes["encoder_1"] == {"name": "encoder_1", "share": "encoder", "in": "shared_dense_1"}
    assert multi["blocks"]["encoder"]["nested"] is True
    assert multi["outputs"] == ["score", "label"]
    ops = {node["name"]: node for node in keras2.load_keras2(keras2_files / "tf_ops.h5")["layers"]}
    assert ops["tf.__operators__.add"] == {
        "name": "tf.__operators__.add",
        "op": "add",
        "in": "x",
        "args": {"x2": 3.0},
    }
    assert ops["tf.math.subtract_1"] == {
        "name": "tf.math.subtract_1",
        "op": "subtract",
        "in": {"x2": "tf.math.subtract"},
        "args": {"x1": 1.0},
    }
    assert ops["tf.concat"]["in"] == {"xs": ["tf.math.truediv", "tf.math.reduce_mean"]}
    v3 = keras2.load_keras2(keras2_files / "mobilenet_v3_small.h5")
    assert "Conv_BatchNorm" in {node["name"] for node in v3["layers"]}  # 'Conv/BatchNorm'
    mlp = keras2.load_keras2(keras2_files / "mlp.h5")
    assert mlp["inputs"] == {"hidden1_input": {"shape": [20]}}
    nodes = {node["name"]: node for node in mlp["layers"]}
    assert nodes["leaky"]["args"] == {"negative_slope": pytest.approx(0.1)}  # was alpha
    assert nodes["hidden1"]["args"]["kernel_initializer"]["class_name"] == "HeNormal"
    assert nodes["hidden1"]["args"]["kernel_regularizer"]["class_name"] == "L2"


def test_cli_export_builds_with_the_weights(keras2_files, tmp_path, capsys):
    arrays = np.load(keras2_files / "cnn.npz")
    spec, out = tmp_path / "cnn.yaml", tmp_path / "cnn.keras"
    assert main(["export", str(keras2_files / "cnn.h5"), "-o", str(spec), "--build", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "exported cnn (Keras 2): sequential, 13 nodes" in printed
    assert "weights of 6 of 6 layers" in printed
    assert graphspec.load(spec).name == "cnn"
    assert _max_diff(_predict(keras.saving.load_model(out), arrays), arrays) <= ATOL
    assert main(["export", str(keras2_files / "cnn.json"), "-o", str(spec), "--weights"]) == 2
    assert "holds no weights" in capsys.readouterr().err


def test_weights_that_do_not_fit_are_reported(keras2_files):
    data = keras2.load_keras2(keras2_files / "mlp.h5")
    data["layers"][0]["args"]["units"] = 33  # hidden1 and bn change shape
    data["layers"][-1]["name"] = "renamed"
    report = keras2.transfer_weights(graphspec.load(data).build(), keras2_files / "mlp.h5")
    assert not report.complete
    assert report.missing == ["renamed"]
    assert report.unused == ["probs"]
    assert [m.split("'")[0] for m in report.mismatched] == ["hidden1", "bn", "hidden2"]
    assert "shapes in the file [(20, 32), (32,)], in the model [(20, 33), (33,)]" in str(report)
    assert "weights of 0 of 4 layers" in report.summary()


# -- hand-written Keras 2 configs ------------------------------------------------------------


def _input(name="x", shape=(None, 8), dtype="float32"):
    return {
        "class_name": "InputLayer",
        "name": name,
        "inbound_nodes": [],
        "config": {
            "batch_input_shape": list(shape),
            "dtype": dtype,
            "sparse": False,
            "ragged": False,
            "name": name,
        },
    }


def _layer(cls, name, inbound="x", **config):
    return {
        "class_name": cls,
        "name": name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "inbound_nodes": [[[inbound, 0, 0, {}]]],
    }


def _functional(*layers, output=None, version="2.15.0"):
    return {
        "class_name": "Functional",
        "keras_version": version,
        "backend": "tensorflow",
        "config": {
            "name": "m",
            "layers": [_input(), *layers],
            "input_layers": [["x", 0, 0]],
            "output_layers": [[output or layers[-1]["name"], 0, 0]],
        },
    }


def _write(tmp_path, config) -> str:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    return str(path)


def _node(config) -> dict:
    return keras2.from_config(config)["layers"][-1]


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            _layer("Lambda", "double", function=["4wEAAAAA", None, None]),
            "config.layers[1]: layer 'double' (Lambda) is a Lambda layer, which holds Python bytecode",
        ),
        (
            _layer("TFOpLambda", "tf.math.erf", function="math.erf"),
            "layer 'tf.math.erf' (TFOpLambda) applies the TensorFlow function 'tf.math.erf' "
            "directly to a tensor, and no keras.ops function is known to compute exactly the same",
        ),
        (
            _layer("SlicingOpLambda", "tf.__operators__.getitem", function="__operators__.getitem"),
            "(SlicingOpLambda) applies the TensorFlow function 'tf.__operators__.getitem'",
        ),
        (
            _layer("ThresholdedReLU", "thr", theta=1.0),
            "layer 'thr' (ThresholdedReLU) has no Keras 3 counterpart: Keras 3 removed it",
        ),
        (
            _layer("LocallyConnected2D", "lc", filters=2, kernel_size=[3, 3]),
            "layer 'lc' (LocallyConnected2D) has no Keras 3 counterpart",
        ),
        (
            _layer("MyAttention", "mine", units=3),
            "layer 'mine' (MyAttention) has no Keras 3 counterpart: keras.layers has no 'MyAttention'",
        ),
        (
            _layer("Dense", "hs", units=2, activation="hard_sigmoid"),
            "uses the activation 'hard_sigmoid' (activation), which has no exact Keras 3 counterpart",
        ),
        (
            _layer("Dense", "act", units=2, activation="my_activation"),
            "uses the activation 'my_activation' (activation), which Keras 3 does not have",
        ),
        (
            _layer(
                "Dense", "init", units=2, kernel_initializer={"class_name": "MyInit", "config": {}}
            ),
            "has kernel_initializer of class MyInit, which keras.initializers does not have",
        ),
        (
            _layer("Dense", "bad", units=2, no_such_argument=3),
            "config.layers[1]: layer 'bad' (Dense): Keras 3 does not take its Keras 2 arguments: "
            "Unrecognized keyword arguments",
        ),
        (
            _layer("BatchNormalization", "vbn", axis=[1], virtual_batch_size=4),
            "layer 'vbn' (BatchNormalization) sets virtual_batch_size=4, which Keras 3 cannot do",
        ),
        (
            _layer("BatchNormalization", "bn2", axis=[1, 2]),
            "normalizes over the axes [1, 2]; Keras 3's BatchNormalization takes one axis",
        ),
        (
            _layer("Merge", "cos", mode="cos", dot_axes=1),
            "layer 'cos' (Merge) merges with mode 'cos', which no Keras 3 layer computes exactly",
        ),
    ],
)
def test_what_has_no_exact_keras3_counterpart_is_a_located_error(tmp_path, layer, message):
    path = _write(tmp_path, _functional(layer))
    with pytest.raises(ExportError) as info:
        keras2.load_keras2(path)
    assert str(info.value).startswith(f"{path}: config.layers[1]")
    assert message in str(info.value)


def test_tensorflow_functions_and_names_keras3_cannot_hold():
    mean = _layer("TFOpLambda", "tf.math.reduce_mean", function="math.reduce_mean")
    mean["inbound_nodes"] = [["x", 0, 0, {"axis": 1, "keepdims": False, "name": None}]]
    assert _node(_functional(mean)) == {
        "name": "tf.math.reduce_mean",
        "op": "mean",
        "args": {"axis": 1, "keepdims": False},
    }
    mean["inbound_nodes"] = [["x", 0, 0, {"axis": 1, "reduction_indices": 0}]]
    with pytest.raises(
        ExportError,
        match=r"config.layers\[1\].inbound_nodes\[0\]: "
        r"'tf.math.reduce_mean' is called with "
        "reduction_indices=0, which keras.ops.mean has no",
    ):
        keras2.from_config(_functional(mean))
    slashed = _layer("Dense", "block/dense", units=2)
    assert keras2.from_config(_functional(slashed))["layers"][0]["name"] == "block_dense"
    twin = _layer("Dense", "block_dense", units=2, inbound="block/dense")
    with pytest.raises(
        ExportError,
        match=r"config.layers\[2\]: layers 'block/dense' and "
        "'block_dense' both become 'block_dense'",
    ):
        keras2.from_config(_functional(slashed, twin))


def test_a_custom_class_that_a_plugin_registered_takes_its_arguments(seed_plugins):
    custom = _layer("Custom>MyLayer", "mine", output_dim=3)
    assert _node(_functional(custom)) == {
        "name": "mine",
        "layer": "MyLayer",
        "args": {"output_dim": 3},
    }


def test_recurrent_arguments_keras3_removed():
    lstm = _layer(
        "LSTM", "lstm", units=4, time_major=False, implementation=1, recurrent_activation="sigmoid"
    )
    seq = _input(shape=(None, 5, 3))
    config = _functional(lstm)
    config["config"]["layers"][0] = seq
    assert _node(config) == {"name": "lstm", "layer": "LSTM", "args": {"units": 4}}
    lstm["config"]["time_major"] = True
    with pytest.raises(
        ExportError,
        match=r"config.layers\[1\]: layer 'lstm' \(LSTM\) sets "
        r"time_major=True, which Keras 3 cannot do",
    ):
        keras2.from_config(config)
    lstm["config"]["time_major"] = False
    lstm["config"]["recurrent_activation"] = "hard_sigmoid"  # Keras 2.0-2.2's default
    with pytest.raises(ExportError, match="'hard_sigmoid' \\(recurrent_activation\\)"):
        keras2.from_config(config)
    wrapped = _layer(
        "Bidirectional",
        "bi",
        layer={
            "class_name": "LSTM",
            "config": {"name": "inner", "units": 2, "recurrent_activation": "hard_sigmoid"},
        },
    )
    config["config"]["layers"][1] = wrapped
    config["config"]["output_layers"] = [["bi", 0, 0]]
    with pytest.raises(
        ExportError,
        match=r"config.layers\[1\].config.layer: layer 'inner' "
        r"\(LSTM\) uses the activation 'hard_sigmoid'",
    ):
        keras2.from_config(config)


def test_dtype_policies_initializers_and_renamed_arguments():
    policy = {
        "module": "keras.mixed_precision",
        "class_name": "Policy",
        "config": {"name": "mixed_float16"},
        "registered_name": None,
    }
    init = {
        "module": "keras.initializers",
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_in", "distribution": "normal", "seed": 3},
        "registered_name": None,
    }
    dense = _layer(
        "Dense",
        "d",
        units=3,
        kernel_initializer=init,
        kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}},
    )
    dense["config"]["dtype"] = policy
    args = _node(_functional(dense))["args"]
    assert args["dtype"] == "mixed_float16"
    assert args["kernel_initializer"]["class_name"] == "VarianceScaling"
    # Keras 2 read distribution "normal" as a truncated normal, Keras 3's name for it.
    assert args["kernel_initializer"]["config"]["distribution"] == "truncated_normal"
    assert args["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}}
    leaky = _layer("LeakyReLU", "leaky", alpha=0.25)
    assert _node(_functional(leaky))["args"] == {"negative_slope": 0.25}
    bn = _layer(
        "BatchNormalization",
        "bn",
        axis=[1],
        fused=True,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        virtual_batch_size=None,
        adjustment=None,
    )
    assert _node(_functional(bn))["args"] == {"axis": 1}
    conv = _layer("Convolution2D", "c", filters=2, kernel_size=[1, 1])
    config = _functional(conv)
    config["config"]["layers"][0] = _input(shape=(None, 4, 4, 1))
    assert _node(config)["layer"] == "Conv2D"


def test_legacy_merge_layers_and_keras1_style_inbound_nodes():
    config = _functional(_layer("Dense", "a", units=4), _layer("Dense", "b", units=4))
    merge = {
        "class_name": "Merge",
        "name": "m",
        "config": {
            "name": "m",
            "mode": "concat",
            "concat_axis": -1,
            "dot_axes": -1,
            "output_shape": None,
            "arguments": {},
        },
        "inbound_nodes": [[["a", 0, 0], ["b", 0, 0]]],
    }  # no kwargs: Keras 1 and 2.0 wrote 3
    config["config"]["layers"].append(merge)
    config["config"]["output_layers"] = [["m", 0, 0]]
    assert _node(config) == {"name": "m", "layer": "Concatenate", "in": ["a", "b"]}
    merge["config"]["mode"] = "sum"
    assert _node(config)["layer"] == "Add"
    model = graphspec.load(keras2.from_config(config)).build()
    assert model.output.shape == (None, 4)


def test_calls_a_spec_cannot_express_are_located_errors():
    dropout = _layer("Dropout", "drop", rate=0.5)
    dropout["inbound_nodes"] = [[["x", 0, 0, {"training": True}]]]
    with pytest.raises(
        ExportError,
        match=r"config.layers\[1\].inbound_nodes\[0\]: the layer "
        r"is called with training=True",
    ):
        keras2.from_config(_functional(dropout))
    dropout["inbound_nodes"] = [[["x", 0, 0, {"training": False, "mask": None}]]]
    assert "in" not in _node(_functional(dropout))  # Keras's defaults: nothing to write


def test_sequential_configs_old_and_new():
    layers = [
        {
            "class_name": "Dense",
            "config": {"name": "d1", "units": 3, "batch_input_shape": [None, 5]},
        },
        {"class_name": "Activation", "config": {"name": "act", "activation": "relu"}},
    ]
    old = {"class_name": "Sequential", "config": layers}  # Keras 2.0 - 2.2.2: a bare list
    new = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    for config in (old, new):
        data = keras2.from_config(config)
        assert data["inputs"] == {"d1_input": {"shape": [5]}}
        assert [n["name"] for n in data["layers"]] == ["d1", "act"]
        assert graphspec.load(data).kind == "sequential"
    unbuilt = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [{"class_name": "Dense", "config": {"name": "d1", "units": 3}}],
        },
    }
    with pytest.raises(
        ExportError,
        match=r"config.layers\[0\]: the Sequential model has no "
        "input shape",
    ):
        keras2.from_config(unbuilt)


def test_files_that_hold_no_keras2_model(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        keras2.load_keras2(tmp_path / "missing.h5")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ExportError, match="does not hold a model's JSON"):
        keras2.load_keras2(bad)
    with pytest.raises(ExportError, match="written by Keras 1.2.2, whose argument names"):
        keras2.load_keras2(
            _write(tmp_path, _functional(_layer("Dense", "d", units=2), version="1.2.2"))
        )
    subclassed = {"class_name": "MyModel", "config": {"name": "m"}}
    with pytest.raises(ExportError, match="holds a 'MyModel', not a Sequential or functional"):
        keras2.load_keras2(_write(tmp_path, subclassed))
    weights_only = tmp_path / "weights.h5"
    with h5py.File(weights_only, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
    with pytest.raises(ExportError, match=r"holds only weights \(model.save_weights\)"):
        keras2.load_keras2(weights_only)
    not_hdf5 = tmp_path / "text.h5"
    not_hdf5.write_text("hello")
    with pytest.raises(ExportError, match="is not an HDF5 file"):
        keras2.load_keras2(not_hdf5)


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c["config"].update(layers=5),
        lambda c: c["config"]["layers"].append(7),
        lambda c: c["config"]["layers"][1].update(inbound_nodes=[["?"]]),
        lambda c: c["config"]["layers"][1].update(inbound_nodes=[[["nowhere", 0, 0, {}]]]),
        lambda c: c["config"]["layers"][1].update(inbound_nodes=[[["x", 3, 0, {}]]]),
        lambda c: c["config"]["layers"][1]["config"].update(units="many"),
        lambda c: c["config"].update(output_layers=None),
        lambda c: c["config"].update(input_layers=[["d", 0, 0]]),
        lambda c: c["config"]["layers"][0].update(config={"name": "x"}),
        lambda c: c["config"]["layers"][0].update(config=[1, 2]),
        lambda c: c.update(config={"name": "m", "layers": [[1]]}),
    ],
)
def test_damaged_configs_are_export_errors_not_tracebacks(damage):
    config = _functional(_layer("Dense", "d", units=2))
    damage(config)
    with pytest.raises(ExportError):
        keras2.from_config(config)


def test_keras3_json_and_h5_files_convert_too(tmp_path):
    """Keras 3's legacy formats (model.to_json(), model.save('m.h5')) share the reader: the
    same translation, Keras 3's call format and weight names."""
    inner = keras.Sequential(
        [keras.Input((6,), name="enc_in"), keras.layers.Dense(4, name="enc_dense")], name="enc"
    )
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    seq = keras.layers.Reshape((2, 2), name="r")(keras.layers.Add(name="add")([inner(a), inner(b)]))
    out, h, c = keras.layers.LSTM(3, return_state=True, name="enc_lstm")(seq)
    dec = keras.layers.LSTM(3, name="dec_lstm")(seq, initial_state=[h, c])
    model = keras.Model([a, b], [out, dec], name="k3")
    (tmp_path / "k3.json").write_text(model.to_json())
    model.save(tmp_path / "k3.h5")
    data = keras2.load_keras2(tmp_path / "k3.json")
    assert data == keras2.load_keras2(tmp_path / "k3.h5")
    nodes = {node["name"]: node for node in data["layers"]}
    assert nodes["enc_1"] == {"name": "enc_1", "share": "enc", "in": "b"}
    assert nodes["dec_lstm"]["in"] == {
        "sequences": "r",
        "initial_state": ["enc_lstm:1", "enc_lstm:2"],
    }
    rebuilt = graphspec.load(data).build()
    report = keras2.transfer_weights(rebuilt, tmp_path / "k3.h5")
    assert report.complete and sorted(report.assigned) == ["dec_lstm", "enc/enc_dense", "enc_lstm"]
    x = [np.random.default_rng(0).normal(size=(2, 6)).astype("float32") for _ in range(2)]
    for got, want in zip(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=ATOL)
