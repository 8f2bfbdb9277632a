"""Weights carried from an old model into the model of an edited spec ("model surgery")."""

import keras
import numpy as np
import pytest

import graphspec
from graphspec import cli
from graphspec.errors import DataError
from graphspec.keras.transplant import Reinitialised, transplant

from conftest import EXAMPLES

# ResNet-50 as examples/resnet50.yaml writes it, narrower and on smaller images, so that the
# test runs in seconds: the same layers, names and wiring as the full network.
pytestmark = pytest.mark.backends  # CI runs these under JAX too (.ci/run)
SMALL = {"width": 8, "image_size": 64}
SMALL_CNN = """\
graphspec: 1
name: small_cnn
params: {size: 28}
inputs:
  image: {shape: ["${size}", "${size}", 1]}
layers:
  - {name: conv, layer: Conv2D, args: {filters: 4, kernel_size: 3}}
  - {name: bn, layer: BatchNormalization}
  - {name: flat, layer: Flatten}
  - {name: fc, layer: Dense, args: {units: 10}}
"""


def _features(model, layer: str, x):
    return keras.Model(model.inputs, model.get_layer(layer).output)(x)


@pytest.fixture(scope="module")
def old_resnet(tmp_path_factory):
    """The old model, trained or not: a .keras file and the model object."""
    spec = graphspec.load(EXAMPLES / "resnet50.yaml", params=SMALL)
    model = spec.build(seed=1)
    path = tmp_path_factory.mktemp("old") / "old.keras"
    spec.save(model, path)
    return path, model


def test_the_head_replacement_workflow(old_resnet, tmp_path, capsys):
    """export OLD.keras -> edit the head -> build --weights-from OLD.keras: every layer but
    the head is copied, and the layer before the head computes exactly what it did."""
    old_path, old = old_resnet
    base = tmp_path / "base.yaml"
    assert cli.main(["export", str(old_path), "-o", str(base)]) == 0
    text = base.read_text()
    assert text.count("units: 1000") == 1
    edited = tmp_path / "head10.yaml"
    edited.write_text(text.replace("units: 1000", "units: 10"))
    new_path = tmp_path / "new.keras"
    assert (
        cli.main(
            [
                "build",
                str(edited),
                "--weights-from",
                str(old_path),
                "--strict",
                "--reinit",
                "predictions",
                "-o",
                str(new_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    with_weights = [layer for layer in old.layers if layer.weights]
    assert (
        f"weights from {old_path}: {len(with_weights) - 1} layer(s) copied, "
        "1 re-initialised, 0 dropped\n"
        "  re-initialised predictions: asked to (--reinit), shapes changed "
        "[(256, 1000), (1000,)] -> [(256, 10), (10,)]\n"
    ) in out

    new = keras.saving.load_model(new_path)
    assert new.get_layer("predictions").get_weights()[0].shape == (256, 10)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(_features(old, "avg_pool", [x]), _features(new, "avg_pool", [x]))


def test_the_report_and_spec_build(old_resnet):
    old_path, old = old_resnet
    new_spec = graphspec.load(EXAMPLES / "resnet50.yaml", params={**SMALL, "classes": 10})
    model = new_spec.build(seed=2)
    with pytest.raises(
        DataError,
        match="1 layer.s. would not get weights from .*predictions: "
        r"shapes changed \[\(256, 1000\), \(1000,\)\] -> \[\(256, 10\), \(10,\)\]",
    ):
        transplant(model, old, strict=True)
    assert not np.array_equal(
        model.get_layer("conv1_conv").get_weights()[0], old.get_layer("conv1_conv").get_weights()[0]
    )  # nothing copied

    report = transplant(model, old)
    assert report.reinitialised == [
        Reinitialised("predictions", "shapes", ((256, 1000), (1000,)), ((256, 10), (10,)))
    ]
    assert report.dropped == []
    assert len(report.copied) == 106  # 53 convolutions, 53 batch normalizations
    assert report.to_dict()["reinitialised"] == [
        {
            "name": "predictions",
            "reason": "shapes",
            "old": [[256, 1000], [1000]],
            "new": [[256, 10], [10]],
        }
    ]
    for name in ("conv1_conv", "conv1_bn", "conv5_block_2_body_3_bn"):
        for mine, theirs in zip(
            model.get_layer(name).get_weights(), old.get_layer(name).get_weights()
        ):
            np.testing.assert_array_equal(mine, theirs)

    # Spec.build does the same in one call.
    rebuilt = new_spec.build(seed=3, weights_from=old_path, strict=True, reinit=["predictions"])
    np.testing.assert_array_equal(
        rebuilt.get_layer("conv1_conv").get_weights()[0],
        old.get_layer("conv1_conv").get_weights()[0],
    )
    with pytest.raises(ValueError, match="strict and reinit apply to weights_from"):
        new_spec.build(strict=True)


def test_shared_layers_are_copied_once_for_all_their_calls(tmp_path):
    old_spec = graphspec.load(EXAMPLES / "siamese.yaml")
    old = old_spec.build(seed=1)
    edited = tmp_path / "siamese16.yaml"
    edited.write_text(
        (EXAMPLES / "siamese.yaml")
        .read_text()
        .replace(
            "{name: embed, layer: Dense, args: {units: 32}}",
            "{name: embed, layer: Dense, args: {units: 16}}",
        )
    )
    new = graphspec.load(edited).build(seed=2)
    report = transplant(new, old)
    assert [name for name, _ in report.copied] == ["conv1", "conv2"]
    assert [(r.name, r.reason, r.old, r.new) for r in report.reinitialised] == [
        ("embed", "shapes", ((32, 32), (32,)), ((32, 16), (16,))),
        ("same", "shapes", ((32, 1), (1,)), ((16, 1), (1,))),
    ]
    # Both branches apply the one copied layer: their encoders agree with the old model's.
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(
        _features(old, "pooled", [x, x]), _features(new, "pooled", [x, x])
    )


def test_a_changed_input_shape_keeps_the_convolutions(tmp_path):
    spec = tmp_path / "cnn.yaml"
    spec.write_text(SMALL_CNN)
    old = graphspec.load(spec).build(seed=1)
    new = graphspec.load(spec, params={"size": 32}).build(seed=2)
    report = transplant(new, old)
    assert [name for name, _ in report.copied] == ["conv", "bn"]
    assert report.reinitialised == [
        Reinitialised("fc", "shapes", ((26 * 26 * 4, 10), (10,)), ((30 * 30 * 4, 10), (10,)))
    ]
    assert (
        "re-initialised fc: shapes changed [(2704, 10), (10,)] -> [(3600, 10), (10,)]"
        in report.text()
    )


def test_new_and_dropped_layers(tmp_path):
    spec = tmp_path / "cnn.yaml"
    spec.write_text(SMALL_CNN)
    old = graphspec.load(spec).build(seed=1)
    spec.write_text(
        SMALL_CNN.replace("  - {name: bn, layer: BatchNormalization}\n", "")
        + "  - {name: head, layer: Dense, args: {units: 3}}\n"
    )
    report = transplant(graphspec.load(spec).build(seed=2), old)
    assert [name for name, _ in report.copied] == ["conv", "fc"]
    assert report.reinitialised == [Reinitialised("head", "new", None, ((10, 3), (3,)))]
    assert report.dropped == [("bn", ((4,), (4,), (4,), (4,)))]
    assert report.text().splitlines()[1:] == [
        "  re-initialised head: new layer [(10, 3), (3,)]",
        "  dropped bn: only in the old model [(4,), (4,), (4,), (4,)]",
    ]


def test_strict_writes_nothing_when_a_layer_would_start_afresh(tmp_path, capsys):
    spec = tmp_path / "cnn.yaml"
    spec.write_text(SMALL_CNN)
    old_path = tmp_path / "old.keras"
    assert cli.main(["build", str(spec), "-o", str(old_path), "--seed", "1"]) == 0
    out = tmp_path / "new.keras"
    command = [
        "build",
        str(spec),
        "--set",
        "size=32",
        "--weights-from",
        str(old_path),
        "-o",
        str(out),
    ]
    assert cli.main(command + ["--strict"]) == 1
    assert "--strict: 1 layer(s) would not get weights from" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == sorted([spec, old_path])  # no temporary left either

    assert cli.main(command + ["--strict", "--reinit", "fcc"]) == 1
    assert "did you mean 'fc'?" in capsys.readouterr().err
    assert not out.exists()

    assert cli.main(command + ["--strict", "--reinit", "fc"]) == 0
    assert "2 layer(s) copied, 1 re-initialised, 0 dropped" in capsys.readouterr().out
    assert out.exists()

    assert cli.main(["build", str(spec), "--reinit", "fc", "-o", str(out)]) == 2
    assert "--strict and --reinit go with --weights-from" in capsys.readouterr().err
    assert cli.main(["build", str(spec), "--weights-from", "nothere.keras", "-o", str(out)]) == 2


def test_reinit_keeps_fresh_weights_where_they_could_be_copied(tmp_path):
    spec = tmp_path / "cnn.yaml"
    spec.write_text(SMALL_CNN)
    old = graphspec.load(spec).build(seed=1)
    new = graphspec.load(spec).build(seed=2)
    fresh = new.get_layer("conv").get_weights()[0]
    report = transplant(new, old, strict=True, reinit=["conv", "conv"])
    assert [name for name, _ in report.copied] == ["bn", "fc"]
    assert [r.text() for r in report.reinitialised] == [
        "conv: asked to (--reinit), same shapes [(3, 3, 1, 4), (4,)]"
    ]
    np.testing.assert_array_equal(new.get_layer("conv").get_weights()[0], fresh)
