"""Every example is built for real and compared with the same model written by hand with the
Keras API: same kind, same parameter count, same outputs once both hold the same weights."""

import re

import numpy as np
import pytest

import graphspec

from conftest import EXAMPLES

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

RNG = np.random.default_rng(0)
pytestmark = pytest.mark.backends  # CI runs these under JAX too (.ci/run)


def _kind(model):
    return "sequential" if isinstance(model, keras.Sequential) else "functional"


def assert_same_model(built, reference, inputs, atol=1e-5):
    assert _kind(built) == _kind(reference)
    assert built.count_params() == reference.count_params()
    assert [w.shape for w in built.get_weights()] == [w.shape for w in reference.get_weights()]
    # Fresh random weights, shared by both, so equal outputs mean equal wiring.
    weights = [RNG.normal(size=w.shape).astype(w.dtype) * 0.1 for w in built.get_weights()]
    built.set_weights(weights)
    reference.set_weights(weights)
    got = built(inputs)
    want = reference(inputs)
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=atol)


def build(name):
    spec = graphspec.load(str(EXAMPLES / name))
    model = spec.build()
    assert _kind(model) == spec.kind
    return spec, model


def test_mlp_is_the_seed_sequential_model():
    spec, model = build("mlp.yaml")
    reference = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            layers.Dense(8, activation="relu"),
            layers.Dense(4, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    assert spec.kind == "sequential" and model.count_params() == 81
    assert model.name == "mlp" and [l.name for l in model.layers] == ["hidden1", "hidden2", "score"]
    assert_same_model(model, reference, RNG.normal(size=(5, 4)).astype("float32"))


def test_minus_matches_the_seed_lambda(seed_plugins):
    spec, model = build("minus.yaml")
    a, b = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    m = layers.Lambda(lambda t: ops.mean(t[0] - t[1], axis=1))([a, b])
    reference = keras.Model([a, b], m)
    x, y = RNG.normal(size=(6, 2)).astype("float32"), RNG.normal(size=(6, 2)).astype("float32")
    assert spec.kind == "functional"
    assert_same_model(model, reference, [x, y])
    np.testing.assert_allclose(np.asarray(model([x, y])), (x - y).mean(axis=1), atol=1e-6)


def test_custom_layer_matches_hand_written(seed_plugins):
    _, layer_module = seed_plugins
    spec, model = build("custom_layer.yaml")
    reference = keras.Sequential(
        [keras.Input(shape=(16,)), layer_module.MyLayer(8), layers.Dense(2, activation="softmax")]
    )
    assert spec.kind == "sequential"
    assert_same_model(model, reference, RNG.normal(size=(3, 16)).astype("float32"))


def test_ticket_router_matches_hand_written():
    spec, model = build("ticket_router.yaml")
    title = keras.Input(shape=(None,), dtype="int32")
    body = keras.Input(shape=(None,), dtype="int32")
    tags = keras.Input(shape=(12,))
    emb = layers.Embedding(10000, 64)
    title_vec = layers.LSTM(128)(emb(title))
    body_vec = layers.LSTM(32)(emb(body))
    merged = layers.Concatenate()([title_vec, body_vec, tags])
    priority = layers.Dense(1)(merged)
    department = layers.Dense(4, activation="softmax")(merged)
    reference = keras.Model([title, body, tags], [priority, department])
    assert spec.kind == "functional" and model.count_params() == 752_097
    # The embedding object is shared: one weight matrix, used on both token inputs.
    assert model.get_layer("title_emb") is not None
    assert len([l for l in model.layers if isinstance(l, layers.Embedding)]) == 1
    assert model.output_names == ["priority", "department"]
    inputs = [
        RNG.integers(0, 10000, size=(2, 7)).astype("int32"),
        RNG.integers(0, 10000, size=(2, 9)).astype("int32"),
        RNG.normal(size=(2, 12)).astype("float32"),
    ]
    assert_same_model(model, reference, inputs)


def test_siamese_shares_the_encoder():
    spec, model = build("siamese.yaml")
    left, right = keras.Input(shape=(28, 28, 1)), keras.Input(shape=(28, 28, 1))
    encoder = [
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(32),
    ]

    def encode(x):
        for layer in encoder:
            x = layer(x)
        return x

    distance = layers.Lambda(lambda t: ops.absolute(t[0] - t[1]))([encode(left), encode(right)])
    reference = keras.Model([left, right], layers.Dense(1, activation="sigmoid")(distance))
    assert spec.kind == "functional"
    inputs = [RNG.normal(size=(2, 28, 28, 1)).astype("float32") for _ in range(2)]
    assert_same_model(model, reference, inputs)
    # Swapping the two images gives the same score: the weights really are shared.
    np.testing.assert_allclose(
        np.asarray(model(inputs)), np.asarray(model(inputs[::-1])), atol=1e-5
    )


def test_seq2seq_passes_encoder_states():
    spec, model = build("seq2seq.yaml")
    source = keras.Input(shape=(None,), dtype="int32")
    target = keras.Input(shape=(None,), dtype="int32")
    _, h, c = layers.LSTM(128, return_state=True)(layers.Embedding(5000, 64)(source))
    decoded = layers.LSTM(128, return_sequences=True)(
        layers.Embedding(6000, 64)(target), initial_state=[h, c]
    )
    reference = keras.Model([source, target], layers.Dense(6000, activation="softmax")(decoded))
    inputs = [
        RNG.integers(0, 5000, size=(2, 5)).astype("int32"),
        RNG.integers(0, 6000, size=(2, 4)).astype("int32"),
    ]
    assert_same_model(model, reference, inputs)
    # The states matter: another encoder input changes the decoder's output.
    other = [RNG.integers(0, 5000, size=(2, 5)).astype("int32"), inputs[1]]
    assert not np.allclose(np.asarray(model(inputs)), np.asarray(model(other)))


def test_gather_onehot_keeps_only_the_indexed_values():
    spec, model = build("gather_onehot.yaml")
    values = RNG.normal(size=(3, 1536)).astype("float32")
    indices = np.stack([RNG.choice(1536, size=512, replace=False) for _ in range(3)]).astype(
        "int32"
    )
    got = np.asarray(model([values, indices]))
    want = np.zeros_like(values)
    for b in range(3):
        want[b, indices[b]] = values[b, indices[b]]
    np.testing.assert_allclose(got, want)
    v, i = keras.Input(shape=(1536,)), keras.Input(shape=(512,), dtype="int32")
    mask = layers.Lambda(lambda t: ops.max(ops.one_hot(t, 1536), axis=1))(i)
    reference = keras.Model([v, i], layers.Lambda(lambda t: t[0] * t[1])([mask, v]))
    assert_same_model(model, reference, [values, indices])


def test_forward_references_and_wrappers():
    spec = graphspec.load(
        {
            "graphspec": 1,
            "name": "wrapped",
            "inputs": {"seq": {"shape": [10, 8]}},
            "layers": [
                {"name": "head", "layer": "Dense", "in": "pooled", "args": {"units": 3}},
                {
                    "name": "bi",
                    "layer": "Bidirectional",
                    "in": "seq",
                    "args": {
                        "layer": {"layer": "LSTM", "args": {"units": 5, "return_sequences": True}}
                    },
                },
                {
                    "name": "td",
                    "layer": "TimeDistributed",
                    "args": {"layer": {"layer": "Dense", "args": {"units": 4}}},
                },
                {"name": "pooled", "layer": "GlobalMaxPooling1D"},
            ],
            "outputs": ["head"],
        }
    )
    assert spec.build_order == ["bi", "td", "pooled", "head"]
    model = spec.build()
    reference = keras.Sequential(
        [
            keras.Input(shape=(10, 8)),
            layers.Bidirectional(layers.LSTM(5, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(4)),
            layers.GlobalMaxPooling1D(),
            layers.Dense(3),
        ]
    )
    # The chain is listed out of order, yet it is one chain: Sequential.
    assert spec.kind == "sequential"
    assert_same_model(model, reference, RNG.normal(size=(2, 10, 8)).astype("float32"))


def test_attention_keras_ops_and_named_outputs():
    spec = graphspec.load(
        {
            "graphspec": 1,
            "name": "attn",
            "inputs": {"q": {"shape": [6, 16]}, "v": {"shape": [9, 16]}},
            "layers": [
                {
                    "name": "mha",
                    "layer": "MultiHeadAttention",
                    "in": ["q", "v"],
                    "args": {"num_heads": 2, "key_dim": 8},
                },
                {
                    "name": "both",
                    "op": "concatenate",
                    "in": {"xs": ["mha", "q"]},
                    "args": {"axis": -1},
                },
                {"name": "pooled", "op": "mean", "args": {"axis": 1}},
                {"name": "score", "layer": "Dense", "args": {"units": 1}},
            ],
            "outputs": {"score": "score", "features": "pooled"},
        }
    )
    model = spec.build()
    q, v = keras.Input(shape=(6, 16)), keras.Input(shape=(9, 16))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=8)(q, v)
    pooled = layers.Lambda(lambda t: ops.mean(ops.concatenate([t[0], t[1]], axis=-1), axis=1))(
        [att, q]
    )
    reference = keras.Model([q, v], [layers.Dense(1)(pooled), pooled])
    inputs = [
        RNG.normal(size=(2, 6, 16)).astype("float32"),
        RNG.normal(size=(2, 9, 16)).astype("float32"),
    ]
    out = model(inputs)
    assert set(out) == {"score", "features"} and tuple(out["features"].shape) == (2, 32)
    assert model.count_params() == reference.count_params()
    reference.set_weights(model.get_weights())
    want = reference(inputs)
    np.testing.assert_allclose(np.asarray(out["score"]), np.asarray(want[0]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["features"]), np.asarray(want[1]), atol=1e-5)


def test_each_build_is_a_fresh_model():
    spec = graphspec.load(str(EXAMPLES / "mlp.yaml"))
    first, second = spec.build(), spec.build()
    assert first is not second and first.layers[0] is not second.layers[0]


def test_independent_build_errors_are_all_reported():
    # Argument values only Keras judges (static analysis checks shapes, not activations).
    spec = graphspec.load(
        {
            "graphspec": 1,
            "name": "two_errors",
            "inputs": {"a": {"shape": [4]}, "b": {"shape": [5]}},
            "layers": [
                {
                    "name": "r1",
                    "layer": "Dense",
                    "in": "a",
                    "args": {"units": 3, "activation": "nope"},
                },
                {
                    "name": "r2",
                    "layer": "Dense",
                    "in": "b",
                    "args": {"units": 2, "activation": "nah"},
                },
                {"name": "after", "layer": "Dense", "in": "r1", "args": {"units": 2}},
            ],
            "outputs": ["after", "r2"],
        }
    )
    with pytest.raises(graphspec.SpecError) as info:
        spec.build()
    # r1 and r2 fail on their own; `after` depends on r1 and is not reported twice.
    assert [(d.code, d.pointer) for d in info.value.diagnostics] == [
        ("GS301", "layers[0].args"),
        ("GS301", "layers[1].args"),
    ]


@pytest.mark.parametrize(
    "example",
    ["minus.yaml", "custom_layer.yaml", "gather_onehot.yaml", "siamese.yaml", "ticket_router.yaml"],
)
def test_saved_models_reload_in_safe_mode(example, seed_plugins, tmp_path):
    model = graphspec.build(str(EXAMPLES / example))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode=True is Keras's default
    inputs = [
        np.asarray(
            RNG.integers(0, 100, size=(2, *i.shape[1:]) if None not in i.shape[1:] else (2, 5)),
            dtype=i.dtype,
        )
        if "int" in str(i.dtype)
        else RNG.normal(size=(2, *i.shape[1:])).astype(i.dtype)
        for i in model.inputs
    ]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    got, want = reloaded(inputs), model(inputs)
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-6)


def test_keras_lambda_does_not_reload_in_safe_mode(tmp_path):
    """Why op nodes exist: the same model with Keras's Lambda refuses to load safely."""
    a, b = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    model = keras.Model([a, b], layers.Lambda(lambda t: ops.mean(t[0] - t[1], axis=1))([a, b]))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(tmp_path / "lambda.keras")


def test_same_seed_same_weights_and_archive(tmp_path):
    import json
    import zipfile

    spec = graphspec.load(EXAMPLES / "ticket_router.yaml")
    first, second, other = spec.build(seed=7), spec.build(seed=7), spec.build(seed=8)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), other.get_weights()))
    spec.save(first, tmp_path / "a.keras")
    spec.save(second, tmp_path / "b.keras")
    a, b = zipfile.ZipFile(tmp_path / "a.keras"), zipfile.ZipFile(tmp_path / "b.keras")
    # The weights file is byte-for-byte the same. The config differs only in Keras's
    # `shared_object_id` (Python object ids it writes for shared initializers), and
    # metadata.json holds the time of saving: so archives are equal in weights and config,
    # not in bytes (see README).
    assert a.read("model.weights.h5") == b.read("model.weights.h5")

    def config(archive):
        text = archive.read("config.json").decode()
        return json.loads(re.sub(r'"shared_object_id": \d+', '"shared_object_id": 0', text))

    assert config(a) == config(b)


@pytest.mark.parametrize(
    "name", ["with space", "dotted.name", "naïve_ünïcode", "层", "dense", "input_layer"]
)
def test_odd_names_build_and_reload(name, tmp_path):
    doc = {
        "graphspec": 1,
        "name": "odd",
        "inputs": {"x": {"shape": [3]}},
        "layers": [
            {"layer": "Dense", "args": {"units": 2}},  # default name: dense
            {"name": name, "layer": "Dense", "args": {"units": 2}},
        ],
    }
    if name == "dense":  # taken by the user: the unnamed node's default moves aside
        spec = graphspec.load(doc)
        assert spec.build_order == ["dense_1", "dense"]
    model = graphspec.build(doc)
    assert model.get_layer(name).name == name
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").get_layer(name).name == name


@pytest.mark.parametrize("name", ["a/b", "a:b", ""])
def test_names_keras_or_references_cannot_hold_are_refused(name):
    doc = {
        "graphspec": 1,
        "name": "odd",
        "inputs": {"x": {"shape": [3]}},
        "layers": [{"name": name, "layer": "Dense", "args": {"units": 2}}],
    }
    (diag,) = [d for d in graphspec.validate(doc) if d.code != "GS209"]
    assert diag.code in ("GS114", "GS110") and diag.pointer == "layers[0].name"


# Saving a compiled model before any training stores an optimizer without its slot
# variables; Keras says so on load. Expected here.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_compile_section_compiles_and_the_archive_keeps_it(tmp_path):
    spec = graphspec.load(EXAMPLES / "train_mlp.yaml", params={"lr": 0.05})
    model = spec.build()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    spec.save(model, tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(0.05)
    x = RNG.normal(size=(4, 8)).astype("float32")
    assert reloaded.evaluate(x, np.zeros((4, 1)), verbose=0)[0] >= 0  # compiled: it evaluates
    assert getattr(spec.build(compile=False), "optimizer", None) is None
