"""Batches of in-memory or memory-mapped NumPy arrays for training, with a stated policy for
the last incomplete batch.

When the number of samples is not a multiple of the batch size, the last batch is short.
`remainder` says what happens to it:

- `drop`: it is left out; every batch is full.
- `pad`: it is filled up to the batch size with copies of its first sample, and every batch
  carries sample weights, 1 for real samples and 0 for padding, so padding never changes the
  loss or the metrics.
- `keep`: it is kept short.

For `pad` to leave the loss unchanged, the loss must average over the weights, not over the
batch: compile with `reduction="mean_with_sample_weight"` (e.g.
`keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")`) and pass metrics as
`weighted_metrics`. With Keras's default `sum_over_batch_size`, padded rows count in the
denominator. (A test shows both.)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras
import numpy as np

from ..errors import DataError
from .topology import input_names, output_names

REMAINDERS = ("drop", "pad", "keep")


class BatchSequence(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` over named arrays, usable with `model.fit` directly.

    `arrays` maps input and output names to arrays with the samples along axis 0 (NumPy
    arrays or `np.load(..., mmap_mode="r")` memory maps: only the rows of a batch are read).
    `inputs` and `outputs` name which arrays feed the model and which are targets; a
    single-input, single-output model may instead use the names `x` and `y`. A model with
    several inputs or outputs gets dicts keyed by name; one with a single input gets the array.
    With `shuffle`, the order changes every epoch, reproducibly for a given `seed`.
    """

    def __init__(self, arrays: Mapping[str, Any], batch_size: int, *,
                 inputs: list[str] | None = None, outputs: list[str] | None = None,
                 remainder: str = "keep", shuffle: bool = False, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if remainder not in REMAINDERS:
            raise DataError(f"remainder must be one of {', '.join(REMAINDERS)}. "
                            f"Received: {remainder!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise DataError(f"batch_size must be a whole number of at least 1. "
                            f"Received: {batch_size!r}")
        if inputs is None and outputs is None:
            if "x" not in arrays:
                raise DataError("name the model's inputs and outputs (inputs=[...], "
                                "outputs=[...]), or use the arrays 'x' and 'y' for a "
                                f"single-input model. Received arrays: {', '.join(arrays)}")
            inputs, outputs = ["x"], ["y"] if "y" in arrays else []
        inputs, outputs = list(inputs or []), list(outputs or [])
        missing = [n for n in inputs + outputs if n not in arrays]
        if missing:
            raise DataError(f"no array named {', '.join(repr(m) for m in missing)}. "
                            f"Received arrays: {', '.join(arrays) or 'none'}")
        lengths = {n: len(arrays[n]) for n in inputs + outputs}
        first = next(iter(lengths))
        for name, length in lengths.items():
            if length != lengths[first]:
                raise DataError(f"array '{name}' has {length} samples, but '{first}' has "
                                f"{lengths[first]}: every array needs the same number of samples")
        self.arrays = {n: arrays[n] for n in inputs + outputs}
        self.inputs, self.outputs = inputs, outputs
        self.batch_size, self.remainder = batch_size, remainder
        self.samples = lengths[first]
        self.shuffle, self.seed = shuffle, seed
        self._epoch = 0
        self._order = self._permutation()

    @classmethod
    def for_model(cls, model, arrays: Mapping[str, Any], batch_size: int, **kwargs):
        """A BatchSequence whose input and output names come from `model`, with every array's
        shape checked against the model's inputs first."""
        inputs, outputs = input_names(model), output_names(model)
        if "x" in arrays and len(inputs) == 1 and inputs[0] not in arrays:
            arrays = {inputs[0]: arrays["x"], **{k: v for k, v in arrays.items() if k != "x"}}
        if "y" in arrays and len(outputs) == 1 and outputs[0] not in arrays:
            arrays = {outputs[0]: arrays["y"], **{k: v for k, v in arrays.items() if k != "y"}}
        for name, tensor in zip(inputs, model.inputs):
            if name in arrays:
                expected = tuple(tensor.shape[1:])
                got = tuple(np.shape(arrays[name])[1:])
                if len(got) != len(expected) or any(e is not None and e != g
                                                    for e, g in zip(expected, got)):
                    raise DataError(f"array '{name}' has samples of shape {got}, but the model's "
                                    f"input '{name}' takes {expected} (None: any length)")
        return cls(arrays, batch_size, inputs=inputs, outputs=outputs, **kwargs)

    def _permutation(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        rng = np.random.default_rng(None if self.seed is None else self.seed + self._epoch)
        return rng.permutation(self.samples)

    def __len__(self) -> int:
        if self.remainder == "drop":
            return self.samples // self.batch_size
        return math.ceil(self.samples / self.batch_size)

    @property
    def num_batches(self) -> int:
        return len(self)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        start = index * self.batch_size
        rows = np.arange(start, min(start + self.batch_size, self.samples))
        if self._order is not None:
            rows = np.sort(self._order[rows])  # sorted reads are kinder to memory maps
        real = len(rows)
        if self.remainder == "pad" and real < self.batch_size:
            rows = np.concatenate([rows, np.full(self.batch_size - real, rows[0])])
        x = self._pick(self.inputs, rows)
        if not self.outputs:
            return (x,)
        y = self._pick(self.outputs, rows)
        if self.remainder != "pad":
            return x, y
        # One array for all outputs: Keras applies it to each (a dict of weights keyed by
        # output name is not accepted for a model whose outputs are a list).
        weights = np.zeros(len(rows), dtype="float32")
        weights[:real] = 1.0
        return x, y, weights

    def _pick(self, names: list[str], rows: np.ndarray):
        picked = {n: np.asarray(self.arrays[n][rows]) for n in names}
        return picked[names[0]] if len(names) == 1 else picked

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._permutation()
