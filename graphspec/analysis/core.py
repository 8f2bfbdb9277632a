"""What a shape rule works with: tensors (shape and dtype, and where they came from), the
`Call` a rule reads its arguments and inputs from and records weights and cost on, and the
`Issue` it raises for a shape error. No Keras here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from .. import walk

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
ITEMSIZE = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "float16": 2,
    "bfloat16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "complex64": 8,
    "complex128": 16,
}


class Tensor(NamedTuple):
    """A symbolic tensor: `shape` with the batch axis first (None for an unknown size),
    `dtype`, and `origin`, the reference it came through (for messages)."""

    shape: tuple
    dtype: str | None
    origin: str = ""


def fmt_shape(shape: Sequence) -> str:
    """`(None, 7200)`, as Keras prints shapes."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(tensor: Tensor) -> str:
    return (
        f"{fmt_shape(tensor.shape)} from '{tensor.origin}'"
        if tensor.origin
        else fmt_shape(tensor.shape)
    )


def describe_all(tensors: Sequence[Tensor]) -> str:
    parts = [describe(t) for t in tensors]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def is_int(value: Any) -> bool:
    """A whole number as spec data: an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def size(dims: Sequence) -> int | None:
    """The number of elements of these axes, None when one is unknown."""
    if any(d is None for d in dims):
        return None
    return math.prod(dims)


class Issue(Exception):
    """A shape error found by a rule: a code, a template of its code in `graphspec.codes` and its fields.
    `at` is the key path inside the node where it is reported (e.g. `('args', 'axis')`)."""

    def __init__(
        self, code: str, template: str, at: tuple = (), hint: str | None = None, **fields: Any
    ):
        super().__init__(code, template)
        self.code, self.template, self.at, self.hint, self.fields = code, template, at, hint, fields


class Unknown(Exception):
    """Raised by a rule that cannot tell the output (an argument it does not model, a value
    only a build knows): the node's output is unknown, which is never an error."""


def compute_dtype(args: dict) -> str:
    """The compute dtype of a layer's dtype policy (`dtype` argument), float32 by default."""
    policy = args.get("dtype")
    if isinstance(policy, dict):
        policy = (policy.get("config") or {}).get("name")
    if not isinstance(policy, str) or not policy:
        return "float32"
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy, policy)


class Call:
    """One application of a layer or op, as a rule sees it.

    `inputs` is a Tensor (one input), a list (several, in order) or a dict (inputs by call
    argument); `args` the constructor (or op) arguments as written, defaults not filled in.
    A rule returns the output shape(s) and records weights with `weights()` and multiply-
    accumulates with `macs`."""

    def __init__(
        self,
        what: str,
        type_: str,
        args: dict,
        inputs: Any,
        form: str,
        call_names=(),
        positional: bool = False,
    ):
        self.what = what
        self.type = type_
        self.args = args
        self.inputs = inputs
        self.form = form
        self.call_names = tuple(call_names)  # a layer's call arguments, the main input first
        self.positional = positional  # several inputs are separate call arguments
        self.keep_dtype = False  # the output keeps an integer input's dtype (reshaping layers)
        self.warnings: list[Issue] = []
        self.params = 0
        self.non_trainable = 0
        self.macs: int | None = 0
        self.dtype = compute_dtype(args)

    # -- arguments ---------------------------------------------------------------------------
    def arg(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    def ints(self, key: str, n: int, default: Any) -> tuple[int, ...]:
        """An int-or-tuple argument (kernel_size, strides, ...) as an n-tuple."""
        value = self.arg(key, default)
        if isinstance(value, bool):
            raise Unknown(key)
        if isinstance(value, int):
            return (value,) * n
        if (
            isinstance(value, (list, tuple))
            and len(value) == n
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return tuple(value)
        if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], int):
            return (value[0],) * n
        raise Unknown(key)  # Keras rejects it when the layer is created

    # -- inputs ------------------------------------------------------------------------------
    def tensors(self) -> list[Tensor]:
        """Every input tensor, in order."""
        return [t for _, t in walk.find(self.inputs, lambda v: isinstance(v, Tensor))]

    def by_name(self) -> dict[str, Any]:
        """A layer's inputs by call argument (`query`, `value`, `initial_state`, ...)."""
        if self.form == "mapping":
            return dict(self.inputs)
        if self.form == "list" and self.positional:
            return dict(zip(self.call_names, self.inputs))
        return {self.call_names[0] if self.call_names else "inputs": self.inputs}

    @property
    def x(self) -> Tensor:
        """The main input of a one-tensor layer."""
        value = (
            self.by_name().get(self.call_names[0] if self.call_names else "inputs")
            if self.form == "mapping"
            else self.inputs
        )
        if isinstance(value, Tensor):
            return value
        raise Unknown("not one tensor")  # a list where one tensor is expected: Keras decides

    def list_inputs(self, at_least: int = 1) -> list[Tensor]:
        value = (
            self.by_name().get(self.call_names[0] if self.call_names else "inputs")
            if self.form == "mapping"
            else self.inputs
        )
        if isinstance(value, Tensor):
            value = [value]
        if (
            not isinstance(value, list)
            or not all(isinstance(v, Tensor) for v in value)
            or len(value) < at_least
        ):
            raise Unknown("not a list of tensors")
        return value

    # -- weights and cost --------------------------------------------------------------------
    def weights(self, count: int, trainable: bool = True) -> None:
        self.params += count
        if not trainable:
            self.non_trainable += count

    # -- checks that raise a located Issue ---------------------------------------------------
    def rank(
        self, tensor: Tensor, low: int, high: int | None = None, expected: str | None = None
    ) -> int:
        """Check that `tensor` has rank low..high (batch axis included); returns the rank."""
        rank = len(tensor.shape)
        high = low if high is None else high
        if rank < low or (high != -1 and rank > high):
            if expected is None:
                if low == high:
                    expected = f"a tensor of rank {low}"
                elif high == -1:
                    expected = f"a tensor of rank {low} or more"
                else:
                    expected = f"a tensor of rank {low} to {high}"
                expected += " (batch axis included)"
            raise self.wrong_rank(tensor, expected)
        return rank

    def known(self, tensor: Tensor, axis: int) -> int:
        """The size of `axis`, which the layer needs known (to create weights)."""
        dim = tensor.shape[axis]
        if dim is None:
            at = axis % len(tensor.shape) if axis < 0 else axis
            raise self.unknown_size(tensor, at, "give the input a fixed size on that axis")
        return dim

    def axis(self, axis: Any, rank: int, tensor: Tensor, key: str = "axis") -> int:
        """`axis` normalized to 0..rank-1, or a GS406 at the argument."""
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise Unknown(key)
        if not -rank <= axis < rank:
            raise self.fail(
                "GS406",
                "axis",
                at=self.at_arg(key),
                axis=axis,
                received=describe(tensor),
                rank=rank,
                low=-rank,
                high=rank - 1,
            )
        return axis % rank

    def at_arg(self, key: str) -> tuple:
        """Where a problem of argument `key` is reported: at the argument where the spec
        writes it; a default's problem shows at the inputs, which the spec does write."""
        return ("args", key) if key in self.args else ("in",)

    def fail(
        self, code: str, template: str, at: tuple = (), hint: str | None = None, **fields: Any
    ):
        fields.setdefault("what", self.what)
        return Issue(code, template, at=at, hint=hint, **fields)

    # The Issues most rules raise, each written once.
    def wrong_rank(self, tensor: Tensor, expected: str) -> Issue:
        """GS402: `tensor` has not the rank `expected`."""
        received = f"{describe(tensor)}, of rank {len(tensor.shape)}"
        return self.fail("GS402", "rank", ("in",), expected=expected, received=received)

    def mismatch(self, tensors: Sequence[Tensor], why: str, hint: str | None = None) -> Issue:
        """GS401: the inputs `tensors` do not fit together, for the reason `why`."""
        return self.fail("GS401", "merge", ("in",), hint, received=describe_all(tensors), why=why)

    def unknown_size(self, tensor: Tensor, axis: int | str, hint: str) -> Issue:
        """GS407: the layer needs the size of `axis` of `tensor` known."""
        return self.fail("GS407", "unknown", ("in",), hint, axis=axis, received=describe(tensor))

    def bad_arg(self, at: tuple, tensor: Tensor, detail: str, hint: str | None = None) -> Issue:
        """GS408: an argument (or input, `at`) does not suit the input `tensor`."""
        return self.fail("GS408", "arg", at, hint, received=describe(tensor), detail=detail)
