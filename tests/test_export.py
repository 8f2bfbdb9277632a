"""Keras -> spec -> Keras is exact: same kind, same layers (class and config) in the same wiring,
same parameter count, and the same outputs after `set_weights(original.get_weights())`."""

import numpy as np
import pytest

import graphspec
from graphspec.cli import main

from conftest import EXAMPLES

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

from graphspec.keras.export import application, differences, operation_list  # noqa: E402

RNG = np.random.default_rng(2)


def sample(model):
    def one(t):
        # Unknown lengths: 5 steps for a sequence; 32 pixels for an image, since a 5x5 image
        # makes a deep CNN's activations degenerate (argmax flips on rounding alone).
        unknown = 32 if len(t.shape) >= 4 else 5
        shape = (2, *[unknown if d is None else d for d in t.shape[1:]])
        if "int" in str(t.dtype):
            return RNG.integers(0, 50, size=shape).astype(t.dtype)
        return RNG.normal(size=shape).astype(t.dtype)

    data = [one(t) for t in model.inputs]
    return data[0] if len(data) == 1 else data


def round_trip(original, tmp_path):
    spec = graphspec.from_keras(original)
    path = tmp_path / f"{original.name}.yaml"
    path.write_text(spec.to_yaml())
    rebuilt = graphspec.load(path).build()  # through the YAML text a person would read
    assert type(rebuilt) is type(original)
    assert rebuilt.count_params() == original.count_params()
    assert differences(original, rebuilt) == []
    rebuilt.set_weights(original.get_weights())
    x = sample(original)
    want, got = original(x), rebuilt(x)
    want = list(want.values()) if isinstance(want, dict) else want
    got = list(got.values()) if isinstance(got, dict) else got
    for w, g in zip(
        want if isinstance(want, (list, tuple)) else [want],
        got if isinstance(got, (list, tuple)) else [got],
    ):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-5)
    return spec, path


@pytest.mark.parametrize(
    "name",
    [
        "MobileNetV2",
        "ResNet50",
        "DenseNet121",
        "EfficientNetB0",
        "InceptionV3",
        "ConvNeXtTiny",
        "MobileNetV3Small",
    ],
)
def test_keras_applications_round_trip(name, tmp_path):
    original = application(f"keras.applications.{name}")
    spec, path = round_trip(original, tmp_path)
    assert len(path.read_text().splitlines()) < len(original.layers) + 60


@pytest.mark.backends
@pytest.mark.parametrize(
    "example",
    [
        "mlp.yaml",
        "ticket_router.yaml",
        "siamese.yaml",
        "seq2seq.yaml",
        "gather_onehot.yaml",
        "custom_layer.yaml",
        "minus.yaml",
        "transformer_encoder.yaml",
    ],
)
def test_repo_examples_round_trip(example, tmp_path, seed_plugins):
    original = graphspec.build(EXAMPLES / example)
    spec, path = round_trip(original, tmp_path)
    if example == "mlp.yaml":  # a Sequential is written as a plain chain
        assert "in:" not in path.read_text() and spec.kind == "sequential"


def test_nested_and_shared_sub_models(tmp_path):
    encoder_in = keras.Input(shape=(8,), name="features")
    hidden = layers.Dense(6, activation="relu", name="hidden")(encoder_in)
    encoder = keras.Model(encoder_in, layers.Dense(4, name="code")(hidden), name="encoder")
    head = keras.Sequential([layers.Dense(3, name="h1"), layers.Dense(1, name="h2")], name="head")
    a, b = keras.Input(shape=(8,), name="a"), keras.Input(shape=(8,), name="b")
    distance = layers.Subtract(name="diff")([encoder(a), encoder(b)])  # shared sub-model
    original = keras.Model([a, b], head(ops.abs(distance)), name="pair")
    spec, path = round_trip(original, tmp_path)
    text = path.read_text()
    assert "nested: true" in text and "share: encoder" in text and "op: absolute" in text


def test_shared_layers_and_multi_output_layers(tmp_path):
    x = keras.Input(shape=(None, 4), name="x")
    seq, h, c = layers.LSTM(5, return_sequences=True, return_state=True, name="enc")(x)
    dense = layers.Dense(5, name="shared")
    out = layers.Concatenate(name="cat")(
        [dense(h), dense(c), layers.GlobalMaxPooling1D(name="gmp")(seq)]
    )
    original = keras.Model(x, out, name="states")
    spec, path = round_trip(original, tmp_path)
    text = path.read_text()
    assert "enc:1" in text and "enc:2" in text and "share: shared" in text


def test_wiring_read_from_the_config_keeps_calls_in_order(tmp_path):
    # A shared layer called at two depths, raw ops with constants, mapped outputs, and
    # outputs taken from a multi-output nested model called outside the model first (the
    # config numbers a nested model's calls one way in call arguments and another in
    # `output_layers`, and leaves out calls that are not part of the model).
    features = keras.Input(shape=(4,), name="features")
    encoder = keras.Model(
        features,
        [layers.Dense(3, name="code")(features), layers.Dense(2, name="aux")(features)],
        name="encoder",
    )
    x = keras.Input(shape=(4,), name="x")
    d = layers.Dense(4, name="d")
    near = d(x)
    far = d(layers.Dense(4, name="pre")(x))
    encoder(keras.Input(shape=(4,)))
    code, _ = encoder(x)
    _, aux = encoder(far)
    original = keras.Model(
        x, {"mixed": ops.clip(near * 0.5 + far, -1.0, 1.0), "aux": aux, "code": code}, name="mixed"
    )
    _, path = round_trip(original, tmp_path)
    text = path.read_text()
    assert "{name: d, layer: Dense, in: x," in text and "{name: d_1, share: d, in: pre}" in text
    assert "aux: 'encoder_1:1', code: 'encoder:0'" in text and "args: {x2: 0.5}" in text


def test_differences_notice_a_changed_layer():
    x = keras.Input(shape=(3,), name="x")
    one = keras.Model(x, layers.Dense(2, name="fc")(x))
    y = keras.Input(shape=(3,), name="x")
    other = keras.Model(y, layers.Dense(2, use_bias=False, name="fc")(y))
    assert differences(one, other) == ["parameters: 8 != 6", "layer fc"]


def test_differences_notice_an_op_layer_in_place_of_a_keras_operation():
    """Same op, args and wiring; but a raw `x + 3.0` must come back as Keras's `Add`
    operation, not as graphspec's Op layer (which plain Keras cannot reload)."""
    from graphspec.keras import _private
    from graphspec.keras.ops import Op

    x = keras.Input(shape=(3,), name="x")
    raw = ops.add(x, 3.0)
    _private.operation_of(raw).name = "plus"
    one = keras.Model(x, raw)
    y = keras.Input(shape=(3,), name="x")
    other = keras.Model(y, Op(op="add", args={"x2": 3.0}, name="plus")(y))
    assert operation_list(one) == [("InputLayer", "x"), ("Add", "plus")]
    assert operation_list(other) == [("InputLayer", "x"), ("Op", "plus")]
    assert differences(one, other) == ["operations"]
    rebuilt = graphspec.from_keras(one).build()
    assert operation_list(rebuilt) == operation_list(one) and differences(one, rebuilt) == []


def test_what_a_spec_cannot_express_is_named(tmp_path):
    x = keras.Input(shape=(3,))
    lam = keras.Model(x, layers.Lambda(lambda t: t * 2, name="double")(x))
    with pytest.raises(graphspec.ExportError, match="'double' is a Keras Lambda"):
        graphspec.from_keras(lam)

    class Unknown(layers.Layer):
        def call(self, t):
            return t

    custom = keras.Model(x, Unknown(name="mystery")(x))
    with pytest.raises(graphspec.ExportError, match="'mystery' is an instance of .*Unknown"):
        graphspec.from_keras(custom)


def test_export_command(tmp_path, capsys):
    out = tmp_path / "mobilenet.yaml"
    assert main(["export", "keras.applications.MobileNetV2", "-o", str(out)]) == 0
    assert "exported mobilenetv2_1.00_224: functional" in capsys.readouterr().out
    assert graphspec.load(out).kind == "functional"
    saved = tmp_path / "mlp.keras"
    graphspec.build(EXAMPLES / "mlp.yaml").save(saved)
    assert main(["export", str(saved), "-o", str(tmp_path / "mlp.yaml")]) == 0
    assert graphspec.load(tmp_path / "mlp.yaml").kind == "sequential"
    assert main(["export", "keras.applications.MobileNetV9", "-o", str(out)]) == 1
    assert "did you mean 'MobileNetV2'?" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.keras"), "-o", str(out)]) == 2
