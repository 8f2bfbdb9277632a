"""Training a model from a spec: the `compile` and `train` sections, two loops, TensorBoard,
checkpoints, resuming, and distribution strategies.

`loop: fit` hands the batches to `model.fit`. `loop: batch` is the per-batch loop of the
Keras high-level API: `train_on_batch` on every batch (after an optional Python hook that may
change it), then `test_on_batch` over the validation data, with TensorBoard scalars per
training step and per epoch. Both stop after `steps_per_epoch` batches, never run an endless
generator, and write the checkpoint atomically at the end of every epoch; Ctrl-C writes one
too, then stops cleanly.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from .. import output
from ..document import TrainSpec
from ..errors import ERROR, DataError, Diagnostic, SpecError
from .data import BatchSequence

STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass
class Result:
    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0  # epochs completed, counting those before a resume
    interrupted: bool = False
    checkpoint: str | None = None
    replicas: int = 1  # devices the model was trained on in sync


def load_arrays(path: str | Path) -> dict[str, Any]:
    """Named arrays from a `.npz` file, or from a folder of `NAME.npy` files, which are memory
    mapped (read a batch at a time), for data larger than memory."""
    path = Path(path)
    if path.is_dir():
        arrays = {f.stem: np.load(f, mmap_mode="r") for f in sorted(path.glob("*.npy"))}
        if not arrays:
            raise DataError(f"no .npy files in the folder '{path}'")
        return arrays
    if path.suffix != ".npz":
        raise DataError(f"training data is a .npz file or a folder of .npy files. "
                        f"Received: '{path}'")
    if not path.is_file():
        raise DataError(f"no such file: '{path}'")
    with np.load(path, allow_pickle=False) as data:  # never unpickle: data cannot run code
        return {name: data[name] for name in data.files}


def strategy_scope(name: str):
    """(scope, replicas): the scope a model is built and compiled in, for `default` (none),
    `mirrored` (all local devices), or `multi-worker` (the cluster in TF_CONFIG)."""
    if name == "default":
        return contextlib.nullcontext(), 1
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi-worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}. Received: {name!r}")
    return strategy.scope(), strategy.num_replicas_in_sync


def _save(spec, model, path: str, epoch: int) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    spec.save(model, path, extra={"epoch": epoch})


def train(spec, data: dict[str, Any], validation: dict[str, Any] | None = None, *,
          output_path: str | None = None, resume: bool = False, strategy: str = "default",
          on_batch: Callable[[int, tuple], tuple] | None = None, progress: bool = True,
          log: Callable[[str], None] = print) -> Result:
    """Train the model of `spec` on named arrays, as its `train` section says.

    `on_batch(batch_index, batch)` (with `loop: batch`) may return a changed batch
    `(x, y[, sample_weight])` before it is trained on. Returns the model and the history."""
    settings: TrainSpec = spec.train_settings or TrainSpec()
    if spec.compile_settings is None or spec.compile_settings.loss is None:
        raise SpecError([Diagnostic(spec.path, None, None, "GS111", ERROR,
                                    "training needs a 'compile' section with a 'loss'",
                                    "add e.g. compile: {optimizer: adam, loss: mse}")])
    checkpoint = settings.checkpoint
    initial_epoch = 0
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    scope, replicas = strategy_scope(strategy)
    with scope:
        if resume:
            if not checkpoint or not Path(checkpoint).is_file():
                raise DataError(f"--resume needs the checkpoint of train.checkpoint. Received: "
                                f"{checkpoint!r}, which does not exist")
            model = keras.models.load_model(checkpoint)
            initial_epoch = int((output.read_metadata(checkpoint) or {}).get("epoch", 0))
            log(f"resuming from {checkpoint} after epoch {initial_epoch}")
        else:
            model = spec.build(seed=settings.seed)
    batches = dict(batch_size=settings.batch_size, remainder=settings.remainder)
    train_seq = BatchSequence.for_model(model, data, shuffle=settings.shuffle,
                                        seed=settings.seed, **batches)
    val_seq = BatchSequence.for_model(model, validation, **batches) if validation else None
    steps = min(len(train_seq), settings.steps_per_epoch or len(train_seq))
    val_steps = min(len(val_seq), settings.validation_steps or len(val_seq)) if val_seq else 0
    if steps == 0:
        raise DataError(f"no full batch of {settings.batch_size} in {train_seq.samples} samples "
                        f"with remainder: drop")
    result = Result(model, epochs=initial_epoch, checkpoint=checkpoint, replicas=replicas)
    run = _fit if settings.loop == "fit" else _batch_loop
    try:
        run(spec, model, settings, train_seq, val_seq, steps, val_steps, initial_epoch, result,
            on_batch, progress)
    except KeyboardInterrupt:
        result.interrupted = True
        target = checkpoint or output_path
        if target:
            _save(spec, model, target, result.epochs)
            log(f"\ninterrupted: saved {target} after epoch {result.epochs}"
                + ("; continue with --resume" if checkpoint else ""))
        return result
    if output_path:
        _save(spec, model, output_path, result.epochs)
    return result


class _EpochEnd(keras.callbacks.Callback):
    def __init__(self, spec, settings, result):
        super().__init__()
        self.spec, self.settings, self.result = spec, settings, result

    def on_epoch_end(self, epoch, logs=None):
        self.result.epochs = epoch + 1
        for key, value in (logs or {}).items():
            self.result.history.setdefault(key, []).append(float(value))
        if self.settings.checkpoint:
            _save(self.spec, self.model, self.settings.checkpoint, epoch + 1)


def _fit(spec, model, settings, train_seq, val_seq, steps, val_steps, initial_epoch, result,
         on_batch, progress):
    callbacks = [_EpochEnd(spec, settings, result)]
    if settings.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=settings.tensorboard,
                                                     update_freq="batch"))
    model.fit(train_seq, epochs=settings.epochs, initial_epoch=initial_epoch,
              steps_per_epoch=steps, validation_data=val_seq,
              validation_steps=val_steps or None, callbacks=callbacks,
              verbose=1 if progress else 0)


def _batch_loop(spec, model, settings, train_seq, val_seq, steps, val_steps, initial_epoch,
                result, on_batch, progress):
    writers = _writers(settings.tensorboard)
    step = initial_epoch * steps
    for epoch in range(initial_epoch, settings.epochs):
        bar = keras.utils.Progbar(steps, unit_name="step",
                                  stateful_metrics=["samples/s"]) if progress else None
        if progress:
            print(f"Epoch {epoch + 1}/{settings.epochs}")
        sums: dict[str, float] = {}
        seen = 0
        for index in range(steps):  # never more: a generator can be endless
            started = time.perf_counter()
            batch = train_seq[index]
            if on_batch is not None:
                batch = on_batch(index, batch)
            logs = model.train_on_batch(*batch, return_dict=True)
            real = _real_samples(batch)
            seen += real
            step += 1
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + float(value) * real
            _scalars(writers, "train", {f"batch_{k}": v for k, v in logs.items()}, step)
            if bar is not None:
                rate = real / max(time.perf_counter() - started, 1e-9)
                bar.update(index + 1, values=[*logs.items(), ("samples/s", rate)])
        epoch_logs = {k: v / seen for k, v in sums.items()}
        if val_seq is not None:
            epoch_logs.update({f"val_{k}": v for k, v in _evaluate(model, val_seq, val_steps).items()})
        _scalars(writers, "train", {f"epoch_{k}": v for k, v in epoch_logs.items()
                                    if not k.startswith("val_")}, epoch + 1)
        _scalars(writers, "validation", {f"epoch_{k[4:]}": v for k, v in epoch_logs.items()
                                         if k.startswith("val_")}, epoch + 1)
        for key, value in epoch_logs.items():
            result.history.setdefault(key, []).append(value)
        result.epochs = epoch + 1
        if progress:
            print("  ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items()))
        train_seq.on_epoch_end()
        if settings.checkpoint:
            _save(spec, model, settings.checkpoint, epoch + 1)


def _real_samples(batch) -> int:
    """Samples that count: padding rows have sample weight 0."""
    if len(batch) == 3:
        return int(np.count_nonzero(np.asarray(batch[2])))
    x = batch[0]
    first = next(iter(x.values())) if isinstance(x, dict) else x
    return len(first)


def _evaluate(model, seq, steps) -> dict[str, float]:
    sums: dict[str, float] = {}
    seen = 0
    for index in range(steps):
        batch = seq[index]
        logs = model.test_on_batch(*batch, return_dict=True)
        real = _real_samples(batch)
        seen += real
        for key, value in logs.items():
            sums[key] = sums.get(key, 0.0) + float(value) * real
    return {k: v / seen for k, v in sums.items()} if seen else {}


def _writers(logdir: str | None):
    if not logdir:
        return None
    import tensorflow as tf

    return {name: tf.summary.create_file_writer(str(Path(logdir) / name))
            for name in ("train", "validation")}


def _scalars(writers, which: str, values: dict[str, float], step: int) -> None:
    if not writers or not values:
        return
    import tensorflow as tf

    with writers[which].as_default(step=step):
        for tag, value in values.items():
            tf.summary.scalar(tag, float(value))
    writers[which].flush()
