"""Training from a spec: both loops learn, TensorBoard scalars are written, checkpoints reload,
resume continues, Ctrl-C saves, the batch hook is applied, and MirroredStrategy trains over
two logical CPU devices."""

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import graphspec
from graphspec.cli import main

from conftest import EXAMPLES, ROOT, make_train_data

keras = pytest.importorskip("keras")
from graphspec.keras import train  # noqa: E402
from graphspec.keras.data import DataError  # noqa: E402

SPEC = EXAMPLES / "train_mlp.yaml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_train_data(tmp_path_factory.mktemp("data"))


def spec_with(tmp_path, **train_settings):
    """The example with changed train settings, as a file in tmp_path: its checkpoint and
    logs (relative to the spec's folder) land there."""
    doc = yaml.safe_load(SPEC.read_text())
    doc["train"].update({"tensorboard": "logs", "checkpoint": "ckpt.keras", **train_settings})
    path = tmp_path / "train_mlp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return graphspec.load(path)


def tags(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for which in ("train", "validation"):
        acc = EventAccumulator(str(logdir / which))
        acc.Reload()
        found[which] = set(acc.Tags()["tensors"]) | set(acc.Tags()["scalars"])
    return found


@pytest.mark.backends
def test_train_command_learns_logs_and_checkpoints(data_dir, tmp_path, capsys):
    spec = tmp_path / SPEC.name  # the example's logs/ and checkpoints/ are relative to it
    spec.write_text(SPEC.read_text())
    out = tmp_path / "mlp.keras"
    assert (
        main(
            [
                "train",
                str(spec),
                "--data",
                str(data_dir / "train.npz"),
                "--validation",
                str(data_dir / "val.npz"),
                "-o",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "trained train_mlp: 5 epoch(s)" in printed
    assert graphspec.saved_metadata(out)["epoch"] == 5
    found = tags(tmp_path / "logs" / "train_mlp")
    assert {"batch_loss", "batch_mae", "epoch_loss", "epoch_mae"} <= found["train"]
    assert {"epoch_loss", "epoch_mae"} <= found["validation"]
    checkpoint = tmp_path / "checkpoints" / "train_mlp.keras"
    trained, reloaded = keras.models.load_model(out), keras.models.load_model(checkpoint)
    x = np.load(data_dir / "val.npz")["features"][:16]
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(trained(x)), atol=1e-6)


@pytest.mark.backends
@pytest.mark.parametrize("loop", ["batch", "fit"])
def test_both_loops_lower_the_validation_loss(data_dir, tmp_path, loop):
    spec = spec_with(tmp_path, loop=loop, epochs=4)
    data = train.load_arrays(data_dir / "train.npz")
    val = train.load_arrays(data_dir / "val.npz")
    result = train.train(spec, data, val, progress=False)
    assert result.epochs == 4 and not result.interrupted
    assert result.history["val_loss"][-1] < 0.7 * result.history["val_loss"][0]
    assert "epoch_loss" in tags(tmp_path / "logs")["validation"]


@pytest.mark.backends
@pytest.mark.parametrize("loop", ["batch", "fit"])
def test_early_stopping_ends_both_loops(data_dir, tmp_path, loop):
    # No epoch improves val_loss by a million: training stops once patience (1) runs out.
    spec = spec_with(
        tmp_path,
        loop=loop,
        epochs=10,
        early_stopping={"monitor": "val_loss", "patience": 1, "min_delta": 1e6},
    )
    result = train.train(
        spec,
        train.load_arrays(data_dir / "train.npz"),
        train.load_arrays(data_dir / "val.npz"),
        progress=False,
    )
    assert len(result.history["val_loss"]) == 2


@pytest.mark.backends
def test_resume_continues_epochs_and_optimizer_state(data_dir, tmp_path):
    data = train.load_arrays(data_dir / "train.npz")
    first = train.train(spec_with(tmp_path, epochs=2), data, progress=False)
    steps = 16  # 1,000 samples in batches of 64, the last one padded
    assert int(first.model.optimizer.iterations) == 2 * steps
    second = train.train(
        spec_with(tmp_path, epochs=3), data, resume=True, progress=False, log=lambda message: None
    )
    assert second.epochs == 3 and len(second.history["loss"]) == 1
    assert int(second.model.optimizer.iterations) == 3 * steps
    assert graphspec.saved_metadata(tmp_path / "ckpt.keras")["epoch"] == 3


@pytest.mark.backends
def test_ctrl_c_saves_a_checkpoint_and_stops(data_dir, tmp_path):
    data = train.load_arrays(data_dir / "train.npz")
    seen = []

    def on_batch(index, batch):
        seen.append(index)
        if len(seen) == 16 + 3:  # epoch 2, batch 4
            raise KeyboardInterrupt
        return batch

    result = train.train(
        spec_with(tmp_path, epochs=4),
        data,
        on_batch=on_batch,
        progress=False,
        log=lambda message: None,
    )
    assert result.interrupted and result.epochs == 1
    assert graphspec.saved_metadata(tmp_path / "ckpt.keras")["epoch"] == 1
    assert not list(tmp_path.glob(".*.tmp.keras"))


def test_the_batch_hook_changes_what_is_trained_on(data_dir, tmp_path):
    data = train.load_arrays(data_dir / "train.npz")

    def zero_targets(index, batch):
        x, y, w = batch
        return x, np.zeros_like(y), w

    result = train.train(
        spec_with(tmp_path, epochs=3, steps_per_epoch=5),
        data,
        on_batch=zero_targets,
        progress=False,
    )
    # Every target is 0 and the output layer can learn a constant: the loss collapses.
    assert result.history["loss"][-1] < 0.05 * result.history["loss"][0] + 1e-3


@pytest.mark.backends
def test_steps_per_epoch_bounds_the_loop(data_dir, tmp_path):
    data = train.load_arrays(data_dir / "train.npz")
    calls = []
    train.train(
        spec_with(tmp_path, epochs=2, steps_per_epoch=3),
        data,
        on_batch=lambda i, b: calls.append(i) or b,
        progress=False,
    )
    assert calls == [0, 1, 2, 0, 1, 2]


@pytest.mark.backends
def test_data_errors_name_the_array(data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=np.zeros((10, 8), "float32"), target=np.zeros((9, 1), "float32"))
    assert main(["train", str(SPEC), "--data", str(bad), "--quiet"]) == 1
    assert "array 'target' has 9 samples, but 'features' has 10" in capsys.readouterr().err
    with pytest.raises(DataError, match="a .npz file or a folder of .npy files"):
        train.load_arrays(tmp_path / "data.csv")
    assert main(["train", str(SPEC), "--data", str(tmp_path / "missing.npz")]) == 2


@pytest.mark.backends
def test_npy_folders_are_memory_mapped(data_dir, tmp_path):
    folder = tmp_path / "npy"
    folder.mkdir()
    with np.load(data_dir / "train.npz") as arrays:
        for name in arrays.files:
            np.save(folder / f"{name}.npy", arrays[name])
    loaded = train.load_arrays(folder)
    assert isinstance(loaded["features"], np.memmap)
    result = train.train(spec_with(tmp_path, epochs=1), loaded, progress=False)
    assert result.epochs == 1


def test_mirrored_strategy_over_two_cpu_devices(data_dir):
    code = f"""
import os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import yaml, graphspec
from graphspec.keras import train
doc = yaml.safe_load(open({str(SPEC)!r}))
doc["train"] = {{"batch_size": 64, "epochs": 3, "seed": 0, "loop": "fit"}}
result = train.train(graphspec.load(doc), train.load_arrays({str(data_dir / "train.npz")!r}),
                     strategy="mirrored", progress=False)
print(result.replicas, *result.history["loss"])
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    replicas, *losses = done.stdout.split()
    assert replicas == "2"
    assert float(losses[-1]) < float(losses[0])
