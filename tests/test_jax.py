"""The same specs on JAX (issue #12, part 2).

The TensorBoard event writer that needs no TensorFlow, read back by TensorBoard's own reader;
both training loops logging what they trained (on every backend: this file's `backends`
tests run in CI's second pass too, under KERAS_BACKEND=jax); and, in subprocesses on JAX,
training that never imports TensorFlow, and `--strategy mirrored` as Keras's DataParallel
over two virtual CPU devices."""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import yaml

import graphspec
from graphspec.keras import events

from conftest import EXAMPLES, ROOT, make_train_data

keras = pytest.importorskip("keras")
from graphspec.keras import train  # noqa: E402

SPEC = EXAMPLES / "train_mlp.yaml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_train_data(tmp_path_factory.mktemp("data"), "--samples", "500")


def logged(logdir) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} in a TensorBoard run folder, as TensorBoard reads it:
    `simple_value` scalars (graphspec's writer) and scalar tensors (tf.summary)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})  # all
    acc.Reload()
    found = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    for tag in acc.Tags()["tensors"]:
        values = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        if all(v.dtype.kind == "f" and v.size == 1 for _, v in values):  # not Keras's config
            found[tag] = [(step, float(v)) for step, v in values]
    return found


def run(code: str, **env) -> str:
    """`code` run by a fresh Python on JAX; its standard output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax", **env}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# -- the event writer --------------------------------------------------------------------------


def test_crc32c_and_records_are_tfrecord_framing():
    assert events.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert events.crc32c(b"") == 0
    data = b"an event"
    framed = events.record(data)
    (length,) = struct.unpack("<Q", framed[:8])
    assert length == len(data) and framed[12:-4] == data
    assert struct.unpack("<I", framed[-4:])[0] == events.masked_crc32c(data)
    assert events.masked_crc32c(data) != events.crc32c(data)


def test_events_are_the_protocol_buffers_tensorboard_parses():
    from tensorboard.compat.proto import event_pb2

    parsed = event_pb2.Event.FromString(
        events.event(12.5, step=-3, scalars={"loss": 0.25, "ünï/mae": 1e30})
    )
    assert parsed.wall_time == 12.5 and parsed.step == -3
    assert [(v.tag, v.simple_value) for v in parsed.summary.value] == [
        ("loss", 0.25),
        ("ünï/mae", pytest.approx(1e30, rel=1e-7)),
    ]
    header = event_pb2.Event.FromString(events.event(1.0, file_version="brain.Event:2"))
    assert header.file_version == "brain.Event:2" and header.step == 0


def test_tensorboard_reads_back_what_the_writer_wrote(tmp_path):
    with events.EventWriter(tmp_path / "run") as writer:
        for step in range(1, 4):
            writer.scalars({"batch_loss": 1.0 / step, "batch_mae": step * 0.5}, step)
        writer.scalars({}, 9)  # nothing to log: no event
        writer.scalars({"epoch_loss": np.float32(0.125)}, 1)
    with events.EventWriter(tmp_path / "run") as later:  # a second file in the same run
        later.scalars({"epoch_loss": 0.0625}, 2)
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 2
    found = logged(tmp_path / "run")
    assert found["batch_loss"] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert found["batch_mae"] == [(1, 0.5), (2, 1.0), (3, 1.5)]
    assert found["epoch_loss"] == [(1, 0.125), (2, 0.0625)]


# -- both loops, on the backend of this run ----------------------------------------------------


@pytest.mark.backends
def test_the_tests_run_on_the_backend_keras_backend_names():
    # CI's second pass sets KERAS_BACKEND=jax: the marked tests must not quietly run on TF.
    named = os.environ.get("KERAS_BACKEND")  # unset: ~/.keras/keras.json, else tensorflow
    assert named is None or keras.backend.backend() == named


@pytest.mark.backends
@pytest.mark.parametrize("loop", ["batch", "fit"])
def test_both_loops_log_to_tensorboard_what_they_trained(data_dir, tmp_path, loop):
    doc = yaml.safe_load(SPEC.read_text())
    doc["train"].update(loop=loop, epochs=3, tensorboard="logs", checkpoint="ckpt.keras")
    path = tmp_path / "train_mlp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = train.train(
        graphspec.load(path),
        train.load_arrays(data_dir / "train.npz"),
        train.load_arrays(data_dir / "val.npz"),
        progress=False,
    )
    assert result.history["loss"][-1] < result.history["loss"][0]
    trained, validation = (
        logged(tmp_path / "logs" / "train"),
        logged(tmp_path / "logs" / "validation"),
    )
    # The batch loop counts epochs from 1; `fit` (Keras's callback, and graphspec's on
    # other backends) from 0, as fit's callbacks do.
    first = 1 if loop == "batch" else 0
    epochs = list(range(first, first + 3))
    for name in ("loss", "mae"):
        assert [s for s, _ in trained[f"epoch_{name}"]] == epochs
        np.testing.assert_allclose(
            [v for _, v in trained[f"epoch_{name}"]], result.history[name], rtol=1e-6
        )
        np.testing.assert_allclose(
            [v for _, v in validation[f"epoch_{name}"]], result.history[f"val_{name}"], rtol=1e-6
        )
    steps = 8  # 500 samples in batches of 64, the last one padded
    assert [s for s, _ in trained["batch_loss"]] == list(range(1, 3 * steps + 1))
    assert all(np.isfinite(v) for _, v in trained["batch_loss"])


# -- on JAX, in fresh processes ----------------------------------------------------------------


def test_the_private_tensorflow_handle_is_where_private_expects_it():
    # What _private.tensorflow_left_unimported switches (the JAX test below shows its effect).
    from keras.src.utils.module_utils import LazyModule
    from keras.src.utils.module_utils import tensorflow as handle

    assert isinstance(handle, LazyModule) and "_available" in vars(handle)
    assert isinstance(LazyModule.available, property)


def test_building_and_training_on_jax_never_imports_tensorflow(data_dir, tmp_path):
    pytest.importorskip("jax")
    # The batch loop for two epochs, then `fit` resumes for a third; both log to TensorBoard
    # and write the checkpoint, relative to the specs' folder.
    doc = yaml.safe_load(SPEC.read_text())
    doc["params"]["epochs"] = 2
    (tmp_path / "batch.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    doc["params"]["epochs"] = 3
    doc["train"].update(loop="fit", tensorboard="logs/fit")
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    code = f"""
import sys
import keras, graphspec
from graphspec.keras import train
assert keras.backend.backend() == "jax"
graphspec.load({str(tmp_path / "batch.yaml")!r}).build(seed=3)
data, val = (train.load_arrays({str(data_dir)!r} + f"/{{n}}.npz") for n in ("train", "val"))
first = train.train(graphspec.load({str(tmp_path / "batch.yaml")!r}), data, val,
                    progress=False, output_path={str(tmp_path / "out.keras")!r})
second = train.train(graphspec.load({str(tmp_path / "fit.yaml")!r}), data, val,
                     progress=False, resume=True, log=lambda message: None)
keras.saving.load_model({str(tmp_path / "out.keras")!r}).predict(data["features"][:4], verbose=0)
print(first.epochs, second.epochs, "tensorflow" in sys.modules)
"""
    assert run(code).split()[-3:] == ["2", "3", "False"]
    assert graphspec.saved_metadata(tmp_path / "checkpoints" / "train_mlp.keras")["epoch"] == 3
    batch_logs = logged(tmp_path / "logs" / "train_mlp" / "validation")
    fit_logs = logged(tmp_path / "logs" / "fit" / "train")
    assert [s for s, _ in batch_logs["epoch_loss"]] == [1, 2]
    assert [s for s, _ in fit_logs["epoch_loss"]] == [2]  # fit's third epoch, counted from 0
    # After a resume, steps continue: 8 batches per epoch, two epochs before.
    assert [s for s, _ in fit_logs["batch_loss"]] == list(range(17, 25))
    assert "epoch_learning_rate" in fit_logs


def test_mirrored_is_data_parallel_over_two_cpu_devices_on_jax(data_dir):
    pytest.importorskip("jax")
    code = f"""
import io, json, contextlib
import keras, yaml, graphspec
from graphspec.cli import main
from graphspec.keras import train
doc = yaml.safe_load(open({str(SPEC)!r}))
doc["train"] = {{"batch_size": 64, "epochs": 3, "seed": 0, "remainder": "pad"}}
data = train.load_arrays({str(data_dir / "train.npz")!r})
out = {{"devices": len(keras.distribution.list_devices())}}
for loop in ("fit", "batch"):
    doc["train"]["loop"] = loop
    for strategy in ("default", "mirrored"):
        result = train.train(graphspec.load(doc), data, strategy=strategy, progress=False)
        kernel = result.model.trainable_variables[0].value
        out[f"{{loop}} {{strategy}}"] = [result.replicas, len(kernel.sharding.device_set),
                                        result.history["loss"]]
        out.setdefault("left", []).append(keras.distribution.distribution())
mine = keras.distribution.DataParallel(devices=keras.distribution.list_devices()[:1])
keras.distribution.set_distribution(mine)
train.train(graphspec.load(doc), data, strategy="mirrored", progress=False)
out["kept"] = keras.distribution.distribution() is mine
keras.distribution.set_distribution(None)
for batch_size, remainder in ((63, "pad"), (64, "keep")):  # 499 samples: 51 in the last
    doc["train"].update(batch_size=batch_size, remainder=remainder)
    try:
        train.train(graphspec.load(doc), {{k: v[:499] for k, v in data.items()}},
                    strategy="mirrored", progress=False)
    except graphspec.DataError as exc:
        out.setdefault("uneven", []).append(str(exc))
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["train", {str(SPEC)!r}, "--data", {str(data_dir / "train.npz")!r},
                 "--strategy", "multi-worker", "--quiet"])
out["multi-worker"] = [code, err.getvalue()]
print(json.dumps(out, default=str))
"""
    out = json.loads(run(code, XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert out["devices"] == 2
    for loop in ("fit", "batch"):
        replicas, devices, losses = out[f"{loop} mirrored"]
        assert replicas == 2 and devices == 2  # the weights live on both devices
        assert losses == sorted(losses, reverse=True) and losses[-1] < 0.75 * losses[0]
        # Synchronous data parallelism is the same arithmetic as one device.
        assert out[f"{loop} default"][:2] == [1, 1]
        np.testing.assert_allclose(losses, out[f"{loop} default"][2], rtol=1e-4)
    assert out["left"] == [None] * 4 and out["kept"]  # the caller's distribution comes back
    assert out["uneven"] == [
        "--strategy mirrored shares every batch between 2 devices, and batch_size 63 is not "
        "a multiple of 2 (batch_size: 63, remainder: pad): use a batch_size of 62 or 64",
        "the last batch of the training data holds 51 samples, which --strategy mirrored "
        "cannot share between 2 devices (batch_size: 64, remainder: keep): use remainder: "
        "pad or drop",
    ]
    code, err = out["multi-worker"]
    assert code == 1 and "Traceback" not in err
    assert "multi-worker is TensorFlow's" in err and "KERAS_BACKEND=tensorflow" in err
