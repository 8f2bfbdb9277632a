"""Composition: parameters, blocks, repeat and imports, built for real and compared with the
same models written in Python."""

import re
import textwrap
from collections import Counter

import numpy as np
import pytest

import graphspec

from conftest import EXAMPLES, INVALID

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

RNG = np.random.default_rng(1)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.backends
def test_resnet50_is_keras_resnet50():
    text = (EXAMPLES / "resnet50.yaml").read_text()
    assert len(text.splitlines()) < 120
    spec = graphspec.load(EXAMPLES / "resnet50.yaml")
    model = spec.build()
    reference = keras.applications.ResNet50(weights=None)
    assert model.count_params() == reference.count_params() == 25_636_712
    histogram = Counter(type(l).__name__ for l in model.layers)
    assert histogram == Counter(type(l).__name__ for l in reference.layers)

    # Same wiring: copy every layer's (random) weights by name and compare the outputs.
    # Keras names the identity blocks block2, block3, ...; the spec's repeat names them
    # block_1, block_2, ... (copies are numbered from 1) and nests the body one level deeper.
    def keras_name(name):
        name = re.sub(r"_block_(\d+)_", lambda m: f"_block{int(m[1]) + 1}_", name)
        return name.replace("_body_", "_")

    for layer in model.layers:
        weights = [RNG.normal(size=w.shape).astype("float32") * 0.05 for w in layer.get_weights()]
        if layer.__class__.__name__ == "BatchNormalization":
            weights[3] = np.abs(weights[3]) + 1.0  # a variance
        layer.set_weights(weights)
        if weights:
            reference.get_layer(keras_name(layer.name)).set_weights(weights)
    image = RNG.normal(size=(1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(image)), np.asarray(reference(image)), atol=1e-5)


def _encoder_classifier(
    num_layers, vocab=20000, seq_len=128, d_model=64, heads=4, ff=128, dropout=0.1, classes=2
):
    tokens = keras.Input(shape=(seq_len,), dtype="int32")
    x = layers.Embedding(vocab, d_model)(tokens)
    for _ in range(num_layers):
        attn = layers.MultiHeadAttention(num_heads=heads, key_dim=d_model // heads)(x, x)
        x = layers.LayerNormalization(epsilon=1e-6)(
            layers.Add()([x, layers.Dropout(dropout)(attn)])
        )
        y = layers.Dense(d_model)(layers.Dense(ff, activation="relu")(x))
        x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dropout(dropout)(y)]))
    x = layers.Dropout(dropout)(layers.GlobalAveragePooling1D()(x))
    return keras.Model(tokens, layers.Dense(classes, activation="softmax")(x))


@pytest.mark.backends
@pytest.mark.parametrize("num_layers", [1, 3])
def test_transformer_depth_is_one_parameter(num_layers):
    spec = graphspec.load(EXAMPLES / "transformer_encoder.yaml", params={"num_layers": num_layers})
    assert spec.params["num_layers"] == num_layers
    model = spec.build()
    reference = _encoder_classifier(num_layers)
    assert model.count_params() == reference.count_params()
    reference.set_weights(model.get_weights())
    tokens = RNG.integers(0, 20000, size=(2, 128)).astype("int32")
    np.testing.assert_allclose(np.asarray(model(tokens)), np.asarray(reference(tokens)), atol=1e-5)
    names = [l.name for l in model.layers]
    assert f"encoder_{num_layers}_attn" in names and f"encoder_{num_layers + 1}_attn" not in names


BLOCKS = """\
    graphspec: 1
    name: composed
    params: {width: 8, hidden: "${width * 2}", act: relu}
    blocks:
      dense_pair:
        params: {units: 4}
        inputs: [x]
        layers:
          - {name: d1, layer: Dense, in: x, args: {units: "${units}", activation: "${act}"}}
          - {name: d2, layer: Dense, args: {units: "${units + repeat_index}"}}
      split:
        inputs: [x]
        layers:
          - {name: b, layer: Dense, in: x, args: {units: 3}}
          - {name: a, layer: Dense, in: x, args: {units: 2}}
        outputs: [a, b]
    inputs:
      x: {shape: ["${width}"]}
    layers:
      - {name: stage, block: dense_pair, args: {units: "${hidden}"}, repeat: 3}
      - {name: two, block: split}
      - {name: joined, layer: Concatenate, in: ["two:0", "two:1"]}
      - {name: "head_${width}", layer: Dense, args: {units: 1}, repeat: 2}
"""


def test_blocks_repeat_and_parameters_expand_to_named_layers(tmp_path):
    spec = graphspec.load(write(tmp_path, "m.yaml", BLOCKS))
    assert spec.params == {"width": 8, "hidden": 16, "act": "relu"}
    assert spec.build_order == [
        "stage_1_d1",
        "stage_1_d2",
        "stage_2_d1",
        "stage_2_d2",
        "stage_3_d1",
        "stage_3_d2",
        "two_b",
        "two_a",
        "joined",
        "head_8_1",
        "head_8_2",
    ]
    model = spec.build()
    # ${repeat_index} is 0-based inside copy k = 1, 2, 3.
    assert [model.get_layer(f"stage_{k}_d2").units for k in (1, 2, 3)] == [16, 17, 18]
    assert model.get_layer("stage_1_d1").units == 16  # an int, not the string "16"
    x = keras.Input(shape=(8,))
    h = x
    for k in range(3):
        h = layers.Dense(16 + k)(layers.Dense(16, activation="relu")(h))
    joined = layers.Concatenate()([layers.Dense(2)(h), layers.Dense(3)(h)])
    reference = keras.Model(x, layers.Dense(1)(layers.Dense(1)(joined)))
    assert model.count_params() == reference.count_params()


def test_overrides_flow_into_dependent_parameters(tmp_path):
    spec = graphspec.load(write(tmp_path, "m.yaml", BLOCKS), params={"width": 4})
    assert spec.params["hidden"] == 8
    with pytest.raises(graphspec.SpecError) as info:
        graphspec.load(write(tmp_path, "m.yaml", BLOCKS), params={"widht": 4})
    (diag,) = info.value.diagnostics
    assert diag.code == "GS120" and diag.hint == "did you mean 'width'?"


def test_several_block_outputs_need_an_index(tmp_path):
    text = BLOCKS.replace('in: ["two:0", "two:1"]', 'in: [two, "two:2"]')
    diags = graphspec.validate(write(tmp_path, "m.yaml", text))
    assert [d.code for d in diags] == ["GS211", "GS211"]
    assert "reference one of them as two:0, two:1" in diags[0].message
    assert "out of range" in diags[1].message


def test_errors_inside_blocks_name_the_instance():
    (diag,) = graphspec.validate(INVALID / "block_inner_error.yaml")
    assert diag.message.endswith("(in s2 (block mlp))")
    text = """\
        graphspec: 1
        name: m
        blocks:
          b:
            params: {rate: 0.5}
            inputs: [x]
            layers:
              - {name: drop, layer: Dropout, in: x, args: {rate: "${rate * repeat_index}"}}
        inputs: {x: {shape: [4]}}
        layers:
          - {name: stage, block: b, repeat: 3, args: {rate: "${0.5 + repeat_index}"}}
        """
    with pytest.raises(graphspec.SpecError) as info:
        graphspec.build({**__import__("yaml").safe_load(textwrap.dedent(text))})
    # Copy 2 (repeat_index 1) asks for a rate of 1.5 * 1: Keras refuses it at that copy, and
    # copy 3, which is built on copy 2, is not reported again.
    (diag,) = info.value.diagnostics
    assert diag.code == "GS301" and diag.message.endswith("rate=1.5 (in stage[2] (block b))")
    assert diag.pointer == "blocks.b.layers[0].args"


def test_imports_bring_blocks_and_parameter_defaults(tmp_path):
    write(
        tmp_path,
        "lib/common.yaml",
        """\
        graphspec: 1
        name: common
        params: {units: 5, act: tanh}
        blocks:
          fc:
            inputs: [x]
            layers:
              - {layer: Dense, in: x, args: {units: "${units}", activation: "${act}"}}
        """,
    )
    write(
        tmp_path,
        "lib/more.yaml",
        """\
        graphspec: 1
        name: more
        imports: [common.yaml]
        blocks:
          fc2:
            inputs: [x]
            layers:
              - {name: one, block: fc, in: x}
              - {name: two, block: fc}
        """,
    )
    main = write(
        tmp_path,
        "models/main.yaml",
        """\
        graphspec: 1
        name: main
        imports: [../lib/common.yaml, ../lib/more.yaml]
        params: {units: 7}
        inputs: {x: {shape: [3]}}
        layers:
          - {name: body, block: fc2}
        """,
    )
    outside = graphspec.validate(main)  # a sibling folder must be allowed explicitly
    assert {d.code for d in outside} == {"GS150", "GS140"} and "outside" in outside[0].message
    spec = graphspec.load(main, allow_imports_from=[tmp_path / "lib"])
    assert spec.params == {"units": 7, "act": "tanh"}
    model = spec.build()
    assert [l.name for l in model.layers] == ["body_one_dense", "body_two_dense"]
    assert model.get_layer("body_two_dense").units == 7
    assert spec.kind == "sequential"


def test_an_import_that_is_not_a_spec_is_refused(tmp_path):
    plugin = write(tmp_path, "evil.py", "raise SystemExit('imported!')\n")
    main = write(
        tmp_path,
        "m.yaml",
        f"""\
        graphspec: 1
        name: m
        imports: [{plugin.name}]
        inputs: {{x: {{shape: [3]}}}}
        layers: [{{layer: Dense, args: {{units: 1}}}}]
        """,
    )
    (diag,) = graphspec.validate(main)
    assert diag.code == "GS150" and "only spec files can be imported" in diag.message


def test_a_library_alone_is_not_a_model(tmp_path):
    lib = write(tmp_path, "lib.yaml", "graphspec: 1\nname: lib\nblocks: {}\n")
    (diag,) = graphspec.validate(lib)
    assert diag.code == "GS111" and "'inputs' and 'layers'" in diag.message


# -- structure that depends on parameters: `when` and `repeat: 0` (issue #16) ---------------

TUNABLE = """\
graphspec: 1
name: tunable
params: {depth: 2, width: 8, dropout: true}
blocks:
  unit:
    inputs: [h]
    layers:
      - {name: fc, layer: Dense, args: {units: "${width}", activation: relu}}
      - {name: drop, layer: Dropout, args: {rate: 0.5}, when: "${dropout}"}
inputs:
  x: {shape: [4]}
layers:
  - {name: body, block: unit, repeat: "${depth}"}
  - {name: head, layer: Dense, args: {units: 1}}
"""


def _tunable(tmp_path, **params):
    path = tmp_path / "tunable.yaml"
    path.write_text(TUNABLE)
    return graphspec.load(path, params=params)


def _by_hand(depth, width, dropout):
    x = keras.Input((4,))
    h = x
    for _ in range(depth):
        h = keras.layers.Dense(width, activation="relu")(h)
        if dropout:
            h = keras.layers.Dropout(0.5)(h)
    return keras.Model(x, keras.layers.Dense(1)(h))


@pytest.mark.backends
@pytest.mark.parametrize("depth, width, dropout", [(2, 8, True), (3, 5, False), (0, 8, True)])
def test_when_and_repeat_zero_match_hand_written_keras(tmp_path, depth, width, dropout):
    spec = _tunable(tmp_path, depth=depth, width=width, dropout=dropout)
    model = spec.build(seed=0)
    expected = _by_hand(depth, width, dropout)

    def kinds(m):
        return [type(l).__name__ for l in m.layers if type(l).__name__ != "InputLayer"]

    assert kinds(model) == kinds(expected)
    assert model.count_params() == expected.count_params()
    expected.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), expected.predict(x, verbose=0), rtol=1e-6
    )
    # `when: false` leaves no node behind; `repeat: 0` leaves no block behind.
    assert not any("drop" in n for n in spec.build_order) or dropout
    assert (depth == 0) == (spec.build_order == ["head"])


def test_a_node_left_out_is_skipped_by_the_default_input_but_not_by_a_reference(tmp_path):
    spec = _tunable(tmp_path, dropout=False)
    assert spec.graph.has_edge("body_2_fc", "head")  # the absent dropout is skipped
    path = tmp_path / "ref.yaml"
    path.write_text(
        TUNABLE.replace("{name: head, layer: Dense,", "{name: head, layer: Dense, in: body_1_drop,")
    )
    (diag,) = graphspec.validate(path, params={"dropout": False})
    assert (diag.code, diag.line) == ("GS143", 14)
    assert "`when: ${dropout}` is false" in diag.message
    assert not [d for d in graphspec.validate(path, params={"dropout": True}) if d.is_error]


def test_search_spaces_name_declared_parameters_and_valid_ranges(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        TUNABLE + "search:\n  width: {choice: [8, 16]}\n  depth: {int: [0, 4]}\n"
        "  dropout: {bool: true}\n  widht: {float: [0.0, 1.0], log: true}\n"
    )
    (diag,) = graphspec.validate(path)
    assert (diag.code, diag.line, diag.hint) == ("GS170", 19, "did you mean 'width'?")
    path.write_text(TUNABLE + "search:\n  width: {choice: [16, 32]}\n")
    assert graphspec.load(path).params["width"] == 8  # only `tune` samples the space
    for space, code in [
        ("{choice: []}", "GS110"),
        ("{int: [4, 1]}", "GS170"),
        ("{float: [0.0, 1.0], log: true}", "GS170"),
        ("{choice: [1], int: [1, 2]}", "GS110"),
    ]:
        path.write_text(TUNABLE + f"search:\n  width: {space}\n")
        assert [d.code for d in graphspec.validate(path)] == [code], space
