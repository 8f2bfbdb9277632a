"""Training data: named arrays read from files without ever unpickling, checked against the
model, and cut into batches with a stated policy for the last incomplete batch.

When the number of samples is not a multiple of the batch size, the last batch is short.
`remainder` says what happens to it:

- `drop`: it is left out; every batch is full.
- `pad`: it is filled up to the batch size with copies of its first sample, and every batch
  carries sample weights, 1 for real samples and 0 for padding, so padding never changes the
  loss or the metrics. The batch size may not exceed the number of samples (a batch would
  be mostly copies, and a huge batch size would allocate a huge batch).
- `keep`: it is kept short.

For `pad` to leave the loss unchanged, the loss must average over the weights, not over the
batch: compile with `reduction="mean_with_sample_weight"` (e.g.
`keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")`) and pass metrics as
`weighted_metrics`. With Keras's default `sum_over_batch_size`, padded rows count in the
denominator. (A test shows both.)

Float arrays are checked for NaN and infinity before training (a memory map a chunk at a
time): one such value makes every weight NaN while the printed loss may still look finite.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import keras
import numpy as np

from ..composition import snake_case
from ..errors import DataError
from .topology import input_names, output_names

REMAINDERS = ("drop", "pad", "keep")
_CHUNK_BYTES = 1 << 24  # how much of an array the finiteness check reads at a time
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


# -- reading files ---------------------------------------------------------------------------


def load_arrays(path: str | Path) -> dict[str, Any]:
    """Named arrays from a `.npz` file, or from a folder of `NAME.npy` files, which are memory
    mapped (read a batch at a time), for data larger than memory.

    Nothing is ever unpickled: an array of Python objects is refused, as is anything that is
    not what it claims to be (a text file named `.npz`, a truncated array). Every problem is
    a DataError that names the file and says what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if path.suffix != ".npz":
        raise DataError(
            f"training data is a .npz file or a folder of .npy files. Received: '{path}'"
        )
    if not path.exists():
        raise DataError(f"no such file: '{path}'")
    if not path.is_file():
        raise DataError(
            f"'{path}' is not a regular file; training data is a .npz file or "
            "a folder of .npy files"
        )
    return _load_npz(path)


def _load_folder(path: Path) -> dict[str, Any]:
    try:
        files = sorted(f for f in path.glob("*.npy"))
    except OSError as exc:
        raise DataError(f"cannot read the folder '{path}': {_reason(exc)}") from None
    if not files:
        raise DataError(
            f"no .npy files in the folder '{path}': each array is a NAME.npy file there (np.save)"
        )
    arrays = {}
    for file in files:
        try:
            with open(file, "rb") as fp:
                _check_header(fp, file.stat().st_size, f"'{file}'")
            arrays[file.stem] = np.load(file, mmap_mode="r", allow_pickle=False)
        except DataError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"cannot read '{file}': {_reason(exc)}") from None
    return arrays


def _load_npz(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fp:
            head = fp.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {_reason(exc)}") from None
    if not head:
        raise DataError(f"'{path}' is empty")
    if head == _NPY_MAGIC:
        raise DataError(
            f"'{path}' is a single .npy array, not a .npz archive: save it with "
            "np.savez, or put NAME.npy files in a folder"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise DataError(
            f"'{path}' is not a .npz archive (a zip of .npy arrays, as np.savez writes)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for info in members:
                what = f"array '{info.filename[:-4]}' of '{path}'"
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise DataError(f"'{path}' holds '{info.filename}', which is not a .npy array")
                with archive.open(info) as fp:
                    _check_header(fp, info.file_size, what)
        if not members:
            raise DataError(f"'{path}' holds no arrays")
        with np.load(path, allow_pickle=False) as data:  # never unpickle: data cannot run code
            return {name: data[name] for name in data.files}
    except DataError:
        raise
    except MemoryError:
        raise DataError(
            f"the arrays of '{path}' do not fit in memory; a folder of NAME.npy "
            "files is read a batch at a time"
        ) from None
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:  # a damaged or unusual zip
        raise DataError(
            f"cannot read '{path}': it is damaged or not a .npz archive ({_reason(exc)})"
        ) from None


def _check_header(fp, size: int, what: str) -> None:
    """Reads a .npy header and refuses what np.load would unpickle, misread or allocate
    for nothing: Python objects, an unknown format, more data declared than stored."""
    try:
        version = np.lib.format.read_magic(fp)
        read = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read is None:
            raise DataError(
                f"{what} is a .npy file of format {version[0]}.{version[1]}, "
                "which is only written for structured arrays; save plain arrays"
            )
        shape, _, dtype = read(fp)
    except DataError:
        raise
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{what} is not a readable .npy array ({_reason(exc)})") from None
    if dtype.hasobject:
        raise DataError(
            f"{what} holds Python objects (dtype {dtype}), which graphspec never "
            "loads (unpickling can run code); save numbers or strings"
        )
    needed = math.prod(shape) * dtype.itemsize
    stored = size - fp.tell()
    if stored < needed:
        raise DataError(
            f"{what} is truncated: its header declares shape {tuple(shape)} of "
            f"{dtype} ({needed:,} bytes), but only {max(stored, 0):,} bytes follow"
        )


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else type(exc).__name__


# -- checks ----------------------------------------------------------------------------------


def first_nonfinite(array) -> tuple[tuple[int, ...], Any] | None:
    """(index, value) of the first NaN or infinity in a float array, in row-major order, or
    None. Reads at most about 16 MB at a time, so a memory map is never loaded whole."""
    if np.dtype(array.dtype).kind not in "fc" or array.size == 0:
        return None
    row_bytes = max(1, array.itemsize * math.prod(array.shape[1:]))
    step = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, len(array), step):
        chunk = np.asarray(array[start : start + step])
        bad = ~np.isfinite(chunk)
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), bad.shape)
            return (start + int(index[0]), *map(int, index[1:])), chunk[index]
    return None


def _kind(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "string"
    return "number"


# Losses that compare targets with predictions element by element: the shapes must match,
# up to a trailing axis of length 1 that Keras squeezes or adds. A sparse loss takes class
# indices: the prediction's shape without its last axis. `crossentropy` is either.
_ELEMENTWISE = {
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "mse",
    "mae",
    "mape",
    "msle",
    "huber",
    "log_cosh",
    "binary_crossentropy",
    "bce",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "kld",
    "poisson",
    "cosine_similarity",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "dice",
    "tversky",
}
_SPARSE = {"sparse_categorical_crossentropy"}
_EITHER = {"crossentropy", "ce"}


def _loss_name(loss) -> str | None:
    if loss is None:
        return None
    name = (
        loss
        if isinstance(loss, str)
        else getattr(loss, "name", None) or getattr(loss, "__name__", None)
    )
    if not isinstance(name, str):
        return None
    return name.lower() if name.isupper() else snake_case(name)


def _losses_by_output(model, outputs: list[str]) -> dict[str, str | None]:
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        return {n: _loss_name(loss.get(n)) for n in outputs}
    if isinstance(loss, (list, tuple)):
        return {n: _loss_name(v) for n, v in zip(outputs, loss)}
    return {n: _loss_name(loss) for n in outputs}


def _fits(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want))


def _target_fits(got: tuple, want: tuple, loss: str | None) -> bool:
    elementwise = (
        _fits(got, want)
        or (len(got) == len(want) + 1 and got[-1] == 1 and _fits(got[:-1], want))
        or (len(want) == len(got) + 1 and want[-1] in (1, None) and _fits(got, want[:-1]))
    )
    sparse = bool(want) and (_fits(got, want[:-1]) or _fits(got, (*want[:-1], 1)))
    if loss in _ELEMENTWISE:
        return elementwise
    if loss in _SPARSE:
        return sparse
    if loss in _EITHER:
        return elementwise or sparse
    return True  # a loss whose shapes graphspec does not know (ctc, circle, a custom one)


# -- batches ---------------------------------------------------------------------------------


class BatchSequence(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` over named arrays, usable with `model.fit` directly.

    `arrays` maps input and output names to arrays with the samples along axis 0 (NumPy
    arrays or `np.load(..., mmap_mode="r")` memory maps: only the rows of a batch are read).
    `inputs` and `outputs` name which arrays feed the model and which are targets; a
    single-input, single-output model may instead use the names `x` and `y`. A model with
    several inputs or outputs gets dicts keyed by name; one with a single input gets the array.
    With `shuffle`, the order changes every epoch, reproducibly for a given `seed`.

    A NaN or an infinity in a float array raises DataError naming the array and the first
    such index; with `allow_nonfinite=True` it is recorded in `warnings` instead.
    """

    def __init__(
        self,
        arrays: Mapping[str, Any],
        batch_size: int,
        *,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        remainder: str = "keep",
        shuffle: bool = False,
        seed: int | None = None,
        allow_nonfinite: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if remainder not in REMAINDERS:
            raise DataError(
                f"remainder must be one of {', '.join(REMAINDERS)}. Received: {remainder!r}"
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise DataError(
                f"batch_size must be a whole number of at least 1. Received: {batch_size!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise DataError(
                f"the shuffling seed must be a whole number of at least 0. Received: {seed!r}"
            )
        if inputs is None and outputs is None:
            if "x" not in arrays:
                raise DataError(
                    "name the model's inputs and outputs (inputs=[...], "
                    "outputs=[...]), or use the arrays 'x' and 'y' for a "
                    f"single-input model. Received arrays: {', '.join(arrays)}"
                )
            inputs, outputs = ["x"], ["y"] if "y" in arrays else []
        inputs, outputs = list(inputs or []), list(outputs or [])
        missing = [n for n in inputs + outputs if n not in arrays]
        if missing:
            raise DataError(
                f"no array named {', '.join(repr(m) for m in missing)}. "
                f"Received arrays: {', '.join(arrays) or 'none'}"
            )
        for name in inputs + outputs:
            _check_array(name, arrays[name])
        lengths = {n: len(arrays[n]) for n in inputs + outputs}
        first = next(iter(lengths))
        for name, length in lengths.items():
            if length != lengths[first]:
                raise DataError(
                    f"array '{name}' has {length} samples, but '{first}' has "
                    f"{lengths[first]}: every array needs the same number of samples"
                )
        self.arrays = {n: arrays[n] for n in inputs + outputs}
        self.inputs, self.outputs = inputs, outputs
        self.batch_size, self.remainder = batch_size, remainder
        self.samples = lengths[first]
        self.shuffle, self.seed = shuffle, seed
        self._check_batches()
        self.warnings: list[str] = []
        """NaN or infinity found with allow_nonfinite=True, one line per array."""
        for name, array in self.arrays.items():
            found = first_nonfinite(array)
            if found is None:
                continue
            index, value = found
            where = index[0] if len(index) == 1 else index
            message = f"array '{name}' holds {value} at index {where}"
            if not allow_nonfinite:
                raise DataError(
                    f"{message}: NaN and infinity make every weight NaN. Fix the "
                    "data, or allow them explicitly (--allow-nonfinite)"
                )
            self.warnings.append(message)
        self._epoch = 0
        self._order = self._permutation()

    def _check_batches(self) -> None:
        settings = f"batch_size: {self.batch_size}, remainder: {self.remainder}"
        if self.samples == 0:
            raise DataError(
                f"the arrays hold no samples ({', '.join(self.arrays)}); "
                f"nothing to make batches of ({settings})"
            )
        if self.remainder == "drop" and self.samples < self.batch_size:
            raise DataError(
                f"no full batch of {self.batch_size} in {self.samples} samples "
                f"({settings}): use a smaller batch_size, or remainder: keep or pad"
            )
        if self.remainder == "pad" and self.samples < self.batch_size:
            raise DataError(
                f"padding {self.samples} samples up to a batch of "
                f"{self.batch_size} would train mostly on copies ({settings}): use "
                f"a batch_size of at most {self.samples}, or remainder: keep"
            )

    @classmethod
    def for_model(cls, model, arrays: Mapping[str, Any], batch_size: int, **kwargs):
        """A BatchSequence whose input and output names come from `model`, with every array's
        shape and kind (numbers or strings) checked against the model's inputs and outputs
        first; targets against the outputs as the compiled loss compares them."""
        inputs, outputs = input_names(model), output_names(model)
        if "x" in arrays and len(inputs) == 1 and inputs[0] not in arrays:
            arrays = {inputs[0]: arrays["x"], **{k: v for k, v in arrays.items() if k != "x"}}
        if "y" in arrays and len(outputs) == 1 and outputs[0] not in arrays:
            arrays = {outputs[0]: arrays["y"], **{k: v for k, v in arrays.items() if k != "y"}}
        for name, tensor in zip(inputs, model.inputs):
            if name in arrays:
                _check_array(name, arrays[name])
                expected = tuple(tensor.shape[1:])
                got = tuple(np.shape(arrays[name])[1:])
                if not _fits(got, expected):
                    raise DataError(
                        f"array '{name}' has samples of shape {got}, but the model's "
                        f"input '{name}' takes {expected} (None: any length)"
                    )
                _check_kind(name, arrays[name], tensor, "input")
        losses = _losses_by_output(model, outputs)
        for name, tensor in zip(outputs, model.outputs):
            if name in arrays:
                _check_array(name, arrays[name])
                expected = tuple(tensor.shape[1:])
                got = tuple(np.shape(arrays[name])[1:])
                if not _target_fits(got, expected, losses[name]):
                    raise DataError(
                        f"array '{name}' has targets of shape {got}, but the model's output "
                        f"'{name}' gives {expected} and its loss {losses[name]} compares "
                        f"them {'as class indices' if losses[name] in _SPARSE else 'element by element'}"
                        " (None: any length)"
                    )
                _check_kind(name, arrays[name], tensor, "output")
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


def _check_array(name: str, array) -> None:
    shape = getattr(array, "shape", None)
    dtype = getattr(array, "dtype", None)
    if shape is None or dtype is None:
        raise DataError(f"array '{name}' is a {type(array).__name__}, not a NumPy array")
    if len(shape) == 0:
        raise DataError(f"array '{name}' is a single value; samples go along its first axis")
    dtype = np.dtype(dtype)
    if dtype.kind == "O" or (dtype.kind == "V" and dtype.type is np.void):
        raise DataError(
            f"array '{name}' has dtype {dtype}, which a model cannot take: save "
            "numbers (or strings, for a string input)"
        )


def _check_kind(name: str, array, tensor, what: str) -> None:
    given, wanted = _kind(array.dtype), "string" if tensor.dtype == "string" else "number"
    if given != wanted:
        raise DataError(
            f"array '{name}' holds {given}s (dtype {np.dtype(array.dtype)}), but "
            f"the model's {what} '{name}' is {tensor.dtype}"
        )
