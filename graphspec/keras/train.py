"""Training a model from a spec: the `compile` and `train` sections, two loops, TensorBoard,
checkpoints, resuming, and distribution strategies.

`loop: fit` hands the batches to `model.fit`. `loop: batch` is the per-batch loop of the
Keras high-level API: `train_on_batch` on every batch (after an optional Python hook that may
change it), then `test_on_batch` over the validation data, with TensorBoard scalars per
training step and per epoch. Both stop after `steps_per_epoch` batches, never run an endless
generator, and write the checkpoint atomically at the end of every epoch; Ctrl-C writes one
too, then stops cleanly. Both stop when the loss becomes NaN or infinite, leaving the
checkpoint of the last complete epoch.

On TensorFlow, `--strategy mirrored` and `multi-worker` are `tf.distribute` strategies; on
JAX, `mirrored` is Keras's own `keras.distribution.DataParallel` over the local devices, and
multi-worker stays TensorFlow's. TensorBoard logs are written by `events.EventWriter`, which
needs no TensorFlow, except by Keras's `TensorBoard` callback in the `fit` loop on TensorFlow.

Paths in the `train` section (`checkpoint`, `tensorboard`) are relative to the spec file's
folder (to the working directory for a spec given as a dict), like imports, and must stay
inside that folder's tree: a spec cannot write elsewhere. Paths the caller gives
(`train(checkpoint=..., tensorboard=...)`, the command line's `--checkpoint`,
`--tensorboard`) are the caller's choice and are used as given.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from .. import output
from ..codes import report
from ..document import TrainSpec
from ..errors import ERROR, DataError, Diagnostic, OutputError, SpecError
from ..source import Loc
from . import _private, compiler, saving
from .data import BatchSequence, load_arrays  # noqa: F401 (load_arrays: the CLI reads it here)
from .events import EventWriter

STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass
class Result:
    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0  # epochs completed, counting those before a resume
    interrupted: bool = False
    checkpoint: str | None = None
    replicas: int = 1  # devices the model was trained on in sync
    warnings: list[str] = field(default_factory=list)  # e.g. NaN allowed in the data


def strategy_scope(name: str):
    """(scope, replicas): the scope a model is built, compiled and trained in, for `default`
    (none), `mirrored` (all local devices) or `multi-worker` (the cluster in TF_CONFIG).

    On TensorFlow these are `tf.distribute` strategies. On JAX, `mirrored` is Keras's
    `keras.distribution.DataParallel` over `keras.distribution.list_devices()`: a global
    setting that Keras reads when it makes variables and at every step, which the scope sets
    and then gives back (a caller of `train` is not left with a global distribution).
    Multi-worker training is TensorFlow's; asking for it elsewhere is a DataError saying so,
    as is any distribution on a backend without `keras.distribution` (PyTorch)."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}. Received: {name!r}")
    if name == "default":
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = (
            tf.distribute.MirroredStrategy()
            if name == "mirrored"
            else tf.distribute.MultiWorkerMirroredStrategy()
        )
        return strategy.scope(), strategy.num_replicas_in_sync
    if name == "multi-worker":
        raise DataError(
            f"--strategy multi-worker is TensorFlow's MultiWorkerMirroredStrategy, and the "
            f"Keras backend is {backend}: run with KERAS_BACKEND=tensorflow, or use "
            "--strategy mirrored for the devices of this machine"
        )
    if backend != "jax":
        raise DataError(
            f"--strategy mirrored uses tf.distribute on TensorFlow and keras.distribution on "
            f"JAX; the Keras backend {backend} has neither: run with KERAS_BACKEND=jax or "
            "KERAS_BACKEND=tensorflow, or leave out --strategy"
        )
    devices = keras.distribution.list_devices()
    return keras.distribution.DataParallel(devices=devices).scope(), len(devices)


class _Diverged(Exception):
    def __init__(self, epoch: int, batch: int, value: float):
        self.epoch, self.batch, self.value = epoch, batch, value


@dataclass
class _Run:
    """What the loops need besides the batches: where to save, and what to record."""

    spec: Any
    model: Any
    settings: TrainSpec
    result: Result
    checkpoint: Path | None
    tensorboard: Path | None
    provenance: dict  # recorded in every saved archive besides the spec and the epoch

    def save(self, path: Path, epoch: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.spec.save(self.model, path, extra={"epoch": epoch, **self.provenance})

    def end_of_epoch(self, epoch: int) -> None:
        self.result.epochs = epoch
        if self.checkpoint:
            self.save(self.checkpoint, epoch)


def train(
    spec,
    data: dict[str, Any],
    validation: dict[str, Any] | None = None,
    *,
    output_path: str | os.PathLike | None = None,
    resume: bool = False,
    strategy: str = "default",
    on_batch: Callable[[int, tuple], tuple] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    checkpoint: str | os.PathLike | None = None,
    tensorboard: str | os.PathLike | None = None,
    allow_nonfinite: bool = False,
) -> Result:
    """Train the model of `spec` on named arrays, as its `train` section says.

    `on_batch(batch_index, batch)` (with `loop: batch`) may return a changed batch
    `(x, y[, sample_weight])` before it is trained on. Returns the model and the history.

    `checkpoint` and `tensorboard` replace the `train` section's paths and are used as given
    (the section's own are relative to the spec's folder and confined to it). Every output
    location is checked before anything is built or trained.

    Data: arrays are checked against the model's inputs and outputs first; a NaN or infinity
    in a float array is a DataError unless `allow_nonfinite` (then a warning is logged).
    When the loss becomes NaN or infinite, training stops with a DataError; the checkpoint
    keeps the last complete epoch and `output_path` is not written.

    `resume` continues from the checkpoint, and only when it holds the model the spec builds
    now, with the same optimizer settings: a checkpoint of another architecture (another
    spec, or parameters that change a layer) or with other `compile.optimizer` settings
    (resuming keeps the optimizer and its state) is refused with a DataError saying what
    differs. The spec's loss, metrics and loss weights are applied to the resumed model, and
    its `train` settings (epochs, batch size, ...) are used as always. The archives written
    afterwards record, under `resumed`, the spec and parameters of every earlier run."""
    settings: TrainSpec = spec.train_settings or TrainSpec()
    if spec.compile_settings is None or spec.compile_settings.loss is None:
        raise SpecError(
            [
                Diagnostic(
                    spec.path,
                    None,
                    None,
                    "GS111",
                    ERROR,
                    "training needs a 'compile' section with a 'loss'",
                    "add e.g. compile: {optimizer: adam, loss: mse}",
                )
            ]
        )
    train_loc = Loc(("train",), spec.source)
    checkpoint = (
        Path(checkpoint)
        if checkpoint is not None
        else _spec_path(spec, "checkpoint", settings.checkpoint)
    )
    logdir = (
        Path(tensorboard)
        if tensorboard is not None
        else _spec_path(spec, "tensorboard", settings.tensorboard)
    )
    if resume and checkpoint is not None and checkpoint.exists():
        saving.read_config(checkpoint, DataError, "the checkpoint")  # before it is a target
    _check_outputs(output_path, checkpoint, logdir, resume)
    scope, replicas = strategy_scope(strategy)
    if settings.seed is not None:
        compiler.set_seed(settings.seed, spec.source, train_loc + ("seed",))
    # From building to the last step: JAX's distribution is read at every step.
    with scope:
        if resume:
            model, initial_epoch, provenance = _resume(spec, settings, checkpoint, log)
        else:
            model, initial_epoch, provenance = spec.build(seed=settings.seed), 0, {}
        result = Result(
            model,
            epochs=initial_epoch,
            checkpoint=str(checkpoint) if checkpoint else None,
            replicas=replicas,
        )
        run = _Run(spec, model, settings, result, checkpoint, logdir, provenance)
        # TensorFlow stays unimported on other backends (see _private): Keras asks for it
        # in get_config() and save(), which training calls.
        with _private.tensorflow_left_unimported():
            return _train(
                run, data, validation, output_path, on_batch, progress, log, allow_nonfinite
            )


def _train(run: _Run, data, validation, output_path, on_batch, progress, log, allow_nonfinite):
    """The batches, the loop, and the saves, for a model built or resumed."""
    model, settings, result, checkpoint = run.model, run.settings, run.result, run.checkpoint
    initial_epoch = result.epochs
    batches = dict(
        batch_size=settings.batch_size,
        remainder=settings.remainder,
        allow_nonfinite=allow_nonfinite,
    )
    train_seq = BatchSequence.for_model(
        model, data, shuffle=settings.shuffle, seed=settings.seed, **batches
    )
    val_seq = BatchSequence.for_model(model, validation, **batches) if validation else None
    for seq in (train_seq, val_seq):
        for message in seq.warnings if seq else ():
            result.warnings.append(message)
            log(f"warning: {message}; training anyway (--allow-nonfinite)")
    if result.replicas > 1 and keras.backend.backend() != "tensorflow":
        _check_even_split(result.replicas, training=train_seq, validation=val_seq)
    steps = min(len(train_seq), settings.steps_per_epoch or len(train_seq))
    val_steps = min(len(val_seq), settings.validation_steps or len(val_seq)) if val_seq else 0
    loop = _fit if settings.loop == "fit" else _batch_loop
    try:
        loop(run, train_seq, val_seq, steps, val_steps, initial_epoch, on_batch, progress)
    except KeyboardInterrupt:
        result.interrupted = True
        target = checkpoint or (Path(output_path) if output_path else None)
        if target:
            run.save(target, result.epochs)
            log(
                f"\ninterrupted: saved {target} after epoch {result.epochs}"
                + ("; continue with --resume" if checkpoint else "")
            )
        return result
    except _Diverged as exc:
        kept = (
            f"the checkpoint '{checkpoint}' keeps epoch {result.epochs}, the last complete one"
            if checkpoint and result.epochs
            else "nothing was saved"
        )
        raise DataError(
            f"the loss became {exc.value} at epoch {exc.epoch}, batch {exc.batch}: "
            f"training stopped and {kept}. Lower the learning rate, or look "
            "for extreme values in the data"
        ) from None
    if output_path:
        run.save(Path(output_path), result.epochs)
    return result


def _check_even_split(replicas: int, **seqs: BatchSequence | None) -> None:
    """keras.distribution's DataParallel gives every device an equal share of each batch, and
    JAX refuses a batch that does not divide (deep inside a training step): say so first."""
    for which, seq in seqs.items():
        if seq is None:
            continue
        settings = f"batch_size: {seq.batch_size}, remainder: {seq.remainder}"
        if seq.batch_size % replicas:
            below = seq.batch_size // replicas * replicas
            fits = [n for n in (below, below + replicas) if n]
            raise DataError(
                f"--strategy mirrored shares every batch between {replicas} devices, and "
                f"batch_size {seq.batch_size} is not a multiple of {replicas} ({settings}): "
                f"use a batch_size of {' or '.join(map(str, fits))}"
            )
        last = seq.samples % seq.batch_size
        if seq.remainder == "keep" and last % replicas:
            raise DataError(
                f"the last batch of the {which} data holds {last} samples, which "
                f"--strategy mirrored cannot share between {replicas} devices ({settings}): "
                "use remainder: pad or drop"
            )


def _spec_path(spec, key: str, value: str | None) -> Path | None:
    """A path from the `train` section, relative to the spec's folder (the working directory
    for a dict spec), refused (GS110) when it leads out of that folder's tree."""
    if value is None:
        return None
    base = Path(spec.source.base_dir) if spec.source.base_dir is not None else Path.cwd()
    base = base.resolve()
    path = (base / value).resolve()  # symbolic links followed: where it would really go
    if not path.is_relative_to(base):
        what = (
            "the spec's folder"
            if spec.source.base_dir is not None
            else "the working directory (the spec is a dict)"
        )
        raise SpecError(
            [
                report(
                    spec.source,
                    ("train", key),
                    "GS110",
                    "wrong_value",
                    at=f"train.{key}",
                    received=value,
                    detail=f"it leads to '{path}', outside {what} '{base}'; a "
                    f"spec writes only inside its folder. Give such a path on "
                    f"the command line instead (--{key})",
                )
            ]
        )
    return path


def _check_outputs(output_path, checkpoint: Path | None, logdir: Path | None, resume: bool) -> None:
    """Every place training writes, checked before any work (raises OutputError). Missing
    folders are fine when they can be made: training makes them when it first writes."""
    if output_path is not None:
        output.check_target(output_path, (".keras",))
    if checkpoint is not None and not (resume and not checkpoint.exists()):
        if checkpoint.parent.is_dir():
            output.check_target(checkpoint, (".keras",))
        elif checkpoint.suffix != ".keras":
            raise OutputError(
                f"the checkpoint must be a .keras file. Received: '{checkpoint}'",
                checkpoint,
                usage=True,
            )
        else:
            _check_folder(checkpoint.parent, "the checkpoint's folder")
    if logdir is not None:
        _check_folder(logdir, "the TensorBoard folder")


def _check_folder(folder: Path, what: str) -> None:
    """That `folder` is, or can be made as, a folder that takes new files."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{what} '{folder}' cannot be made: '{existing}' is a file, not a folder",
            folder,
            usage=True,
        )
    try:
        # Asking the file system is the only reliable test (read-only mounts, ACLs, root).
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OutputError(
            f"cannot write in {what} '{folder}': {(exc.strerror or str(exc)).lower()}",
            folder,
            usage=True,
        ) from None


# -- resuming ----------------------------------------------------------------------------------


def _resume(spec, settings: TrainSpec, checkpoint: Path | None, log):
    """(model, epochs done, provenance) from the checkpoint, after checking that it holds the
    model the spec builds now, with the same optimizer."""
    if checkpoint is None:
        raise DataError(
            "--resume continues from a checkpoint: set train.checkpoint in the "
            "spec, or give --checkpoint"
        )
    if not checkpoint.exists():
        raise DataError(f"--resume needs the checkpoint '{checkpoint}', which does not exist")
    saving.read_config(checkpoint, DataError, "the checkpoint")
    try:
        previous = output.read_metadata(checkpoint)
    except OutputError as exc:  # the archive cannot be read
        raise DataError(f"cannot read the checkpoint '{checkpoint}': {exc}") from None
    epoch = (previous or {}).get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise DataError(
            f"the checkpoint '{checkpoint}' was not written by graphspec train "
            "(it records no epoch), so what it continues is unknown; train "
            "without --resume"
        )
    reference = spec.build(seed=settings.seed)  # what the spec makes now, compiled
    model = saving.load(checkpoint, DataError, "the checkpoint")
    # Comparing configs calls get_config(), which would import TensorFlow (see _private).
    with _private.tensorflow_left_unimported():
        changed = _changed_layers(model, reference)
        params = _changed(previous.get("params") or {}, spec.params)
        if changed:
            because = f"; parameters changed: {params}" if params else ""
            raise DataError(
                f"the checkpoint '{checkpoint}' holds another model than "
                f"'{spec.path}' builds now (differs: {changed}{because}). --resume "
                "continues only the same architecture: train without --resume to "
                "start again, or restore the spec and parameters of the checkpoint "
                f"({_params(previous.get('params') or {})})"
            )
        if model.optimizer is None:
            raise DataError(
                f"the checkpoint '{checkpoint}' holds no optimizer state (it was "
                "saved uncompiled); train without --resume"
            )
        old, new = _optimizer(model.optimizer), _optimizer(reference.optimizer)
        if old != new:
            raise DataError(
                f"compile.optimizer differs from the checkpoint '{checkpoint}' "
                f"({_changed(old, new)}): --resume keeps the optimizer and its "
                "state, so its settings cannot change. Restore them, or train "
                "without --resume"
            )
        remainder = settings.remainder
        applied = [
            k
            for k in ("loss", "metrics", "loss_weights")
            if _canonical(_compile_part(model, k)) != _canonical(_compile_part(reference, k))
        ]
        compiler.compile_model(
            spec.source, model, spec.compile_settings, remainder, optimizer=model.optimizer
        )
        log(
            f"resuming from {checkpoint} after epoch {epoch}"
            + (f"; parameters changed since: {params}" if params else "")
            + (f"; applying the spec's compile.{', compile.'.join(applied)}" if applied else "")
        )
        earlier = list(previous.get("resumed") or [])
        earlier.append({k: previous.get(k) for k in ("spec", "source", "params", "epoch")})
        return model, epoch, {"resumed": earlier}


def _canonical(value: Any) -> str:
    """A config as text, without the names Keras numbers per process (`adam_1`,
    `forward_lstm_2`): a layer's own name inside its config and an optimizer's name. The
    names a functional model wires its layers by stay."""

    def strip(v):
        if isinstance(v, dict):
            named = "trainable" in v or "learning_rate" in v  # a layer's or optimizer's config
            return {k: strip(x) for k, x in v.items() if not (named and k == "name")}
        if isinstance(v, (list, tuple)):
            return [strip(x) for x in v]
        return v

    return json.dumps(strip(value), sort_keys=True, default=str)


def _layer_configs(model) -> dict[str, str]:
    config = model.get_config()
    layers = {}
    for i, layer in enumerate(config.get("layers", [])):
        name = layer.get("name") or (layer.get("config") or {}).get("name") or f"#{i}"
        layers[name] = _canonical(layer)
    rest = {k: v for k, v in config.items() if k != "layers"}
    layers["(model)"] = _canonical(rest)
    return layers


def _changed_layers(model, reference) -> str:
    """Which layers of two models differ (class, arguments, shapes, wiring), as text; empty
    when the architectures are identical."""
    if type(model) is not type(reference):
        return f"the model kind ({type(model).__name__} -> {type(reference).__name__})"
    old, new = _layer_configs(model), _layer_configs(reference)
    names = [n for n in dict.fromkeys([*old, *new]) if old.get(n) != new.get(n)]
    if not names:
        return ""
    shown = ", ".join("the model's inputs and outputs" if n == "(model)" else n for n in names[:5])
    return f"layer{'s' if len(names) > 1 else ''} {shown}" + (
        f" and {len(names) - 5} more" if len(names) > 5 else ""
    )


def _optimizer(optimizer) -> dict:
    config = json.loads(_canonical(optimizer.get_config()))
    return {"class": type(optimizer).__name__, **config}


def _compile_part(model, key: str) -> Any:
    config = model.get_compile_config() or {}
    if key == "metrics":
        return [config.get("metrics"), config.get("weighted_metrics")]
    return config.get(key)


def _changed(old: dict, new: dict) -> str:
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    return ", ".join(
        f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}" for k in keys[:8]
    ) + (" ..." if len(keys) > 8 else "")


def _params(params: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "no parameters"


# -- the loops ---------------------------------------------------------------------------------


class _EpochEnd(keras.callbacks.Callback):
    def __init__(self, run: _Run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.run.result.history.setdefault(key, []).append(float(value))
        self.run.end_of_epoch(epoch + 1)


class _StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN, stopping at once (before the epoch's checkpoint could be
    written with NaN weights) and saying where."""

    def __init__(self):
        super().__init__(raise_error=True)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise _Diverged(self.epoch, batch + 1, float(loss))


class _TensorBoard(keras.callbacks.Callback):
    """The scalars of Keras's `TensorBoard` callback (which needs TensorFlow), written by
    `EventWriter`: `batch_<metric>` per training step, `epoch_<metric>` and
    `epoch_learning_rate` per epoch (counted from 0, as `fit` counts them) in `train/`, the
    validation metrics as `epoch_<metric>` in `validation/`. Steps continue after a resume
    (Keras's callback starts again from 1)."""

    def __init__(self, logdir: Path, step: int):
        super().__init__()
        self.logdir, self.step = logdir, step
        self.writers: dict[str, EventWriter] = {}

    def on_train_begin(self, logs=None):
        self.writers = {name: EventWriter(self.logdir / name) for name in ("train", "validation")}

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.writers["train"].scalars(_floats(logs, "batch_"), self.step)

    def on_epoch_end(self, epoch, logs=None):
        logs = _floats(logs)
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        self.writers["train"].scalars(_floats(train, "epoch_"), epoch)
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        self.writers["validation"].scalars(_floats(validation, "epoch_"), epoch)

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


def _floats(logs, prefix: str = "") -> dict[str, float]:
    return {prefix + k: float(v) for k, v in (logs or {}).items()}


def _early_stopping(settings):
    """Keras's EarlyStopping from `train.early_stopping`, or None."""
    rule = settings.early_stopping
    if rule is None:
        return None
    return keras.callbacks.EarlyStopping(
        monitor=rule.monitor, patience=rule.patience, min_delta=rule.min_delta
    )


def _fit(run: _Run, train_seq, val_seq, steps, val_steps, initial_epoch, on_batch, progress):
    callbacks = [_StopOnNaN(), _EpochEnd(run)]
    stopper = _early_stopping(run.settings)
    if stopper is not None:
        callbacks.append(stopper)
    if run.tensorboard and keras.backend.backend() == "tensorflow":
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), update_freq="batch")
        )
    elif run.tensorboard:
        callbacks.append(_TensorBoard(run.tensorboard, initial_epoch * steps))
    try:
        run.model.fit(
            train_seq,
            epochs=run.settings.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val_seq,
            validation_steps=val_steps or None,
            callbacks=callbacks,
            verbose=1 if progress else 0,
        )
    finally:  # Keras skips on_train_end when fit raises (a NaN loss, Ctrl-C)
        for callback in callbacks:
            if isinstance(callback, _TensorBoard):
                callback.close()


def _batch_loop(run: _Run, train_seq, val_seq, steps, val_steps, initial_epoch, on_batch, progress):
    writers = _writers(run.tensorboard)
    try:
        _batch_epochs(
            run, writers, train_seq, val_seq, steps, val_steps, initial_epoch, on_batch, progress
        )
    finally:
        for writer in (writers or {}).values():
            writer.close()


def _batch_epochs(
    run: _Run, writers, train_seq, val_seq, steps, val_steps, initial_epoch, on_batch, progress
):
    model, settings, result = run.model, run.settings, run.result
    step = initial_epoch * steps
    stopper = _early_stopping(settings)  # the same callback `fit` uses, driven by hand
    if stopper is not None:
        stopper.set_model(model)
        stopper.on_train_begin()
    for epoch in range(initial_epoch, settings.epochs):
        bar = (
            keras.utils.Progbar(steps, unit_name="step", stateful_metrics=["samples/s"])
            if progress
            else None
        )
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
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise _Diverged(epoch + 1, index + 1, float(loss))
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
            epoch_logs.update(
                {f"val_{k}": v for k, v in _evaluate(model, val_seq, val_steps).items()}
            )
        _scalars(
            writers,
            "train",
            {f"epoch_{k}": v for k, v in epoch_logs.items() if not k.startswith("val_")},
            epoch + 1,
        )
        _scalars(
            writers,
            "validation",
            {f"epoch_{k[4:]}": v for k, v in epoch_logs.items() if k.startswith("val_")},
            epoch + 1,
        )
        for key, value in epoch_logs.items():
            result.history.setdefault(key, []).append(value)
        if progress:
            print("  ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items()))
        train_seq.on_epoch_end()
        run.end_of_epoch(epoch + 1)
        if stopper is not None:
            stopper.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break


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


def _writers(logdir: Path | None) -> dict[str, EventWriter] | None:
    if not logdir:
        return None
    return {name: EventWriter(logdir / name) for name in ("train", "validation")}


def _scalars(writers, which: str, values: dict[str, float], step: int) -> None:
    if writers:
        writers[which].scalars(_floats(values), step)
