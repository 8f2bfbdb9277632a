"""Shape rules of `keras.ops` functions used as op nodes.

An op's inputs and `args` arrive by parameter name in `call.named` (the node's inputs fill
the leading positional parameters, or the names of a mapping `in`). Shapes include the
batch axis, which ops treat like any other axis. Dtypes follow Keras's promotion: the wider
of two floats, a float over an integer, float32 for the float-valued math of integers, and
Python numbers adopt the tensor's type.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from ..core import (
    FLOAT_DTYPES,
    Call,
    Tensor,
    Unknown,
    describe_all,
    is_int,
    size,
)
from . import op
from .layers import reshape_shape

# -- dtypes ------------------------------------------------------------------------------------

_BITS = {
    "bool": 1,
    "int8": 8,
    "int16": 16,
    "int32": 32,
    "int64": 64,
    "uint8": 8,
    "uint16": 16,
    "uint32": 32,
    "uint64": 64,
    "float16": 16,
    "bfloat16": 16,
    "float32": 32,
    "float64": 64,
}


def promote(a: str | None, b: str | None) -> str | None:
    """The result dtype of a binary op on two tensors (Keras's result_type, for the dtypes
    a spec can declare)."""
    if a is None or b is None or a not in _BITS or b not in _BITS:
        return None
    if a == b:
        return a
    if a == "bool":
        return b
    if b == "bool":
        return a
    fa, fb = a in FLOAT_DTYPES, b in FLOAT_DTYPES
    if fa and fb:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return a if _BITS[a] >= _BITS[b] else b
    if fa or fb:
        return a if fa else b
    ua, ub = a.startswith("u"), b.startswith("u")
    if ua == ub:
        return a if _BITS[a] >= _BITS[b] else b
    signed, unsigned = (b, a) if ua else (a, b)
    if _BITS[signed] > _BITS[unsigned]:
        return signed
    return {8: "int16", 16: "int32", 32: "int64"}.get(_BITS[unsigned])


def _float(dtype: str | None) -> str | None:
    """The dtype of float-valued math (exp, mean, divide...) on `dtype`."""
    if dtype is None:
        return None
    return dtype if dtype in FLOAT_DTYPES else "float32"


def _operand(value: Any, c: Call, key: str) -> Tensor:
    """A tensor or a Python constant as a Tensor (a number is a weak-typed scalar)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool):
        return Tensor((), "bool", key)
    if is_int(value):
        return Tensor((), "weak_int", key)
    if isinstance(value, float):
        return Tensor((), "weak_float", key)
    if isinstance(value, list):
        shape = _list_shape(value)
        if shape is None:
            raise Unknown(key)
        return Tensor(shape, None, key)
    raise Unknown(key)


def _list_shape(value: Any) -> tuple | None:
    if not isinstance(value, list):
        return () if isinstance(value, (int, float)) else None
    if not value:
        return (0,)
    inner = {_list_shape(v) for v in value}
    if len(inner) != 1 or None in inner:
        return None
    return (len(value), *inner.pop())


def _result_dtype(tensors: list[Tensor]) -> str | None:
    strong = [t.dtype for t in tensors if t.dtype not in ("weak_int", "weak_float")]
    weak = {t.dtype for t in tensors} - set(strong)
    if not strong:
        return "float32" if "weak_float" in weak else "int32"
    out = strong[0]
    for d in strong[1:]:
        out = promote(out, d)
    if out is not None and "weak_float" in weak and out not in FLOAT_DTYPES:
        return "float32"
    if out == "bool" and "weak_int" in weak:
        return "int32"
    return out


def _get(c: Call, key: str, default: Any = None) -> Any:
    return c.named.get(key, default)


def _operands(c: Call) -> tuple[Tensor, Tensor]:
    """The two operands `x1`, `x2` of a binary op."""
    return _operand(_get(c, "x1"), c, "x1"), _operand(_get(c, "x2"), c, "x2")


def _x(c: Call, key: str = "x") -> Tensor:
    value = c.named.get(key)
    if not isinstance(value, Tensor):
        raise Unknown(key)
    return value


def _axes_arg(c: Call, x: Tensor, key: str = "axis") -> list[int] | None:
    """An `axis` parameter (None, an int or a list) normalized, or None for all axes."""
    axis = _get(c, key)
    if axis is None:
        return None
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return sorted({c.axis(a, len(x.shape), x, key) for a in axes})


def _broadcast(c: Call, tensors: list[Tensor]) -> tuple:
    """numpy broadcasting as Keras's broadcast_shapes: a known size wins over None."""
    out: list = []
    for t in tensors:
        a, b = list(out), list(t.shape)
        n = max(len(a), len(b))
        a = [1] * (n - len(a)) + a
        b = [1] * (n - len(b)) + b
        merged = []
        for i, j in zip(a, b):
            if i == 1:
                merged.append(j)
            elif i is None:
                merged.append(None if j == 1 else j)
            elif j in (1, None) or j == i:
                merged.append(i)
            else:
                raise c.mismatch(
                    [s for s in tensors if s.shape or s.origin],
                    "the shapes do not broadcast (sizes must be equal or 1, aligned "
                    "from the last axis)",
                )
        out = merged
    return tuple(out)


# -- elementwise -------------------------------------------------------------------------------

_KEEP = (
    "abs absolute negative square sign clip copy identity stop_gradient flip roll sort conj "
    "conjugate nan_to_num convert_to_tensor relu relu6 zeros_like ones_like fabs tril triu cumsum "
    "cumprod leaky_relu hard_tanh round trunc floor ceil"
).split()
_TO_FLOAT = (
    "exp exp2 expm1 log log10 log1p log2 sqrt rsqrt cbrt sin cos tan sinh cosh tanh arcsin arccos "
    "arctan arcsinh arccosh arctanh sigmoid softplus softsign silu swish gelu elu selu celu glu "
    "hard_sigmoid hard_silu hard_swish log_sigmoid sparse_plus sparse_sigmoid squareplus "
    "soft_shrink hard_shrink tanh_shrink threshold erf erfc erfinv reciprocal deg2rad rad2deg sinc "
    "i0 softmax log_softmax sparsemax normalize"
).split()
_TO_BOOL = "isfinite isinf isnan isneginf isposinf logical_not signbit isreal".split()


@op(*_KEEP, *_TO_FLOAT, *_TO_BOOL)
def unary(c: Call):
    x = _x(c)
    name = c.type
    axis = _get(c, "axis")
    if (
        name
        in (
            "softmax",
            "log_softmax",
            "normalize",
            "flip",
            "sort",
            "cumsum",
            "cumprod",
            "roll",
            "sparsemax",
        )
        and axis is not None
    ):
        for a in axis if isinstance(axis, (list, tuple)) else [axis]:
            c.axis(a, len(x.shape), x)
    if name == "glu":
        (a,) = [c.axis(_get(c, "axis", -1), len(x.shape), x)]
        if x.shape[a] is not None and x.shape[a] % 2:
            raise c.bad_arg(("in",), x, f"glu splits axis {a} in two halves, but its size is odd")
        out = list(x.shape)
        out[a] = None if out[a] is None else out[a] // 2
        return Tensor(tuple(out), _float(x.dtype))
    if name in ("cumsum", "cumprod") and axis is None:
        return Tensor((size(x.shape),), _dtype_arg(c, x.dtype))
    if name in _TO_BOOL:
        return Tensor(x.shape, "bool")
    if name in _TO_FLOAT:
        return Tensor(x.shape, _float(x.dtype))
    if name in ("zeros_like", "ones_like"):
        return Tensor(x.shape, _dtype_arg(c, x.dtype))
    if name in ("round", "floor", "ceil", "trunc") and x.dtype not in FLOAT_DTYPES:
        return Tensor(x.shape, None)  # integer rounding differs by op and backend
    if name in ("cumsum", "cumprod") and x.dtype == "bool":
        return Tensor(x.shape, "int32")
    if name in ("abs", "absolute", "fabs") and x.dtype == "bool":
        return Tensor(x.shape, None)
    return Tensor(x.shape, x.dtype)


def _dtype_arg(c: Call, default: str | None) -> str | None:
    dtype = _get(c, "dtype")
    return dtype if isinstance(dtype, str) else default if dtype is None else None


_BINARY_KEEP = (
    "add subtract multiply maximum minimum mod floor_divide power fmax fmin fmod bitwise_and "
    "bitwise_or bitwise_xor left_shift right_shift bitwise_left_shift bitwise_right_shift"
).split()
_BINARY_FLOAT = (
    "divide true_divide arctan2 hypot logaddexp logaddexp2 divide_no_nan heaviside copysign "
    "nextafter ldexp"
).split()
_BINARY_BOOL = (
    "equal not_equal less less_equal greater greater_equal logical_and logical_or logical_xor"
).split()


@op(*_BINARY_KEEP, *_BINARY_FLOAT, *_BINARY_BOOL)
def binary(c: Call):
    a, b = _operands(c)
    shape = _broadcast(c, [a, b])
    c.macs = 0
    if c.type in _BINARY_BOOL:
        return Tensor(shape, "bool")
    dtype = _result_dtype([a, b])
    if c.type in _BINARY_FLOAT:
        dtype = _float(dtype)
    elif c.type in ("power", "floor_divide", "mod") and dtype not in FLOAT_DTYPES:
        dtype = None  # integer power and division follow backend-specific rules
    elif dtype == "bool" and c.type in ("add", "subtract", "multiply"):
        dtype = None
    return Tensor(shape, dtype)


@op("where")
def where(c: Call):
    cond = _get(c, "condition")
    x1, x2 = _get(c, "x1"), _get(c, "x2")
    if x1 is None or x2 is None:
        raise Unknown("where without x1, x2 is nonzero")
    tensors = [_operand(v, c, k) for k, v in (("condition", cond), ("x1", x1), ("x2", x2))]
    return Tensor(_broadcast(c, tensors), _result_dtype(tensors[1:]))


# -- reductions --------------------------------------------------------------------------------

# median is left out: graphspec's op layer infers it through the backend, which loses the
# reduced shape ((None, None) for (None, 5, 8) over axis 1), so no rule could match the build.
_REDUCE_KEEP = "max min amax amin prod sum nanmax nanmin nansum nanprod ptp".split()
_REDUCE_FLOAT = "mean std var logsumexp nanmean nanstd nanvar".split()
_REDUCE_BOOL = "any all".split()


def _reduced(c: Call, x: Tensor, axes: list[int] | None, keepdims: bool) -> tuple:
    if axes is None:
        return tuple(1 for _ in x.shape) if keepdims else ()
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


@op(*_REDUCE_KEEP, *_REDUCE_FLOAT, *_REDUCE_BOOL, "argmax", "argmin", "count_nonzero", "norm")
def reduction(c: Call):
    x = _x(c)
    name = c.type
    keepdims = bool(_get(c, "keepdims", False))
    if name in ("argmax", "argmin"):
        axis = _get(c, "axis")
        if axis is None:
            return Tensor(tuple(1 for _ in x.shape) if keepdims else (), "int32")
        axes = [c.axis(axis, len(x.shape), x)]
        return Tensor(_reduced(c, x, axes, keepdims), "int32")
    if name == "norm" and _get(c, "axis") is None:
        return Tensor(tuple(1 for _ in x.shape) if keepdims else (), _float(x.dtype))
    axes = _axes_arg(c, x)
    shape = _reduced(c, x, axes, keepdims)
    if name in _REDUCE_BOOL:
        return Tensor(shape, "bool")
    if name == "count_nonzero":
        return Tensor(shape, "int32")
    if name in _REDUCE_FLOAT or name == "norm":
        return Tensor(shape, _float(x.dtype))
    if name in ("sum", "prod", "nansum", "nanprod") and x.dtype == "bool":
        return Tensor(shape, "int32")
    return Tensor(shape, x.dtype)


# -- contractions ------------------------------------------------------------------------------


def _contraction_mismatch(c: Call, a: Tensor, b: Tensor, ka, kb, why: str):
    raise c.mismatch([a, b], f"{why}: {ka} and {kb}", "the contracted axes must have equal sizes")


def _contracted(c: Call, a: Tensor, b: Tensor, out: list | tuple, k: int | None) -> Tensor:
    """The product of `a` and `b` of shape `out`, contracted over `k` values: a MAC for each
    of them at every output position."""
    per = size(out[1:]) if len(out) > 1 else 1
    c.macs = None if per is None or k is None else per * k
    return Tensor(tuple(out), _result_dtype([a, b]))


@op("matmul")
def matmul(c: Call):
    a, b = _operands(c)
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise c.fail(
            "GS402",
            "rank",
            at=("in",),
            expected="two tensors of rank 1 or more",
            received=describe_all([a, b]),
        )
    a1, b1 = len(sa) == 1, len(sb) == 1
    if a1:
        sa = [1] + sa
    if b1:
        sb = sb + [1]
    k1, k2 = sa[-1], sb[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        _contraction_mismatch(
            c,
            a,
            b,
            k1,
            k2,
            "the last axis of the first and the second-to-last axis of the second differ",
        )
    batch = _broadcast(
        c, [Tensor(tuple(sa[:-2]), None, a.origin), Tensor(tuple(sb[:-2]), None, b.origin)]
    )
    out = list(batch) + [sa[-2], sb[-1]]
    if a1:
        out.pop(-2)
    if b1:
        out.pop(-1)
    k = k1 if k1 is not None else k2
    return _contracted(c, a, b, out, k)


@op("dot")
def dot(c: Call):
    a, b = _operands(c)
    if not a.shape or not b.shape:
        return Tensor(_broadcast(c, [a, b]), _result_dtype([a, b]))
    ka = a.shape[-1]
    kb = b.shape[-1] if len(b.shape) == 1 else b.shape[-2]
    if ka is not None and kb is not None and ka != kb:
        _contraction_mismatch(c, a, b, ka, kb, "the contracted axes differ")
    if len(b.shape) == 1:
        out = a.shape[:-1]
    else:
        out = (*a.shape[:-1], *b.shape[:-2], b.shape[-1])
    k = ka if ka is not None else kb
    return _contracted(c, a, b, out, k)


@op("outer")
def outer(c: Call):
    a, b = _operands(c)
    return Tensor(
        (size(a.shape) if a.shape else 1, size(b.shape) if b.shape else 1), _result_dtype([a, b])
    )


@op("tensordot")
def tensordot(c: Call):
    a, b = _operands(c)
    axes = _get(c, "axes", 2)
    if is_int(axes):
        if axes > len(a.shape) or axes > len(b.shape):
            raise Unknown("axes")
        ax_a = list(range(len(a.shape) - axes, len(a.shape)))
        ax_b = list(range(axes))
    elif isinstance(axes, (list, tuple)) and len(axes) == 2:
        ax_a = [axes[0]] if is_int(axes[0]) else list(axes[0])
        ax_b = [axes[1]] if is_int(axes[1]) else list(axes[1])
        ax_a = [c.axis(v, len(a.shape), a, "axes") for v in ax_a]
        ax_b = [c.axis(v, len(b.shape), b, "axes") for v in ax_b]
    else:
        raise Unknown("axes")
    if len(ax_a) != len(ax_b):
        raise Unknown("axes")
    for i, j in zip(ax_a, ax_b):
        if None not in (a.shape[i], b.shape[j]) and a.shape[i] != b.shape[j]:
            _contraction_mismatch(c, a, b, a.shape[i], b.shape[j], "the contracted axes differ")
    out = [d for i, d in enumerate(a.shape) if i not in ax_a] + [
        d for i, d in enumerate(b.shape) if i not in ax_b
    ]
    k = size([a.shape[i] for i in ax_a])
    return _contracted(c, a, b, out, k)


@op("einsum")
def einsum(c: Call):
    subscripts = _get(c, "subscripts")
    operands = _get(c, "operands")
    if not isinstance(subscripts, str):
        raise Unknown("subscripts")
    if isinstance(operands, Tensor):
        operands = [operands]
    if not isinstance(operands, list) or not all(isinstance(t, Tensor) for t in operands):
        raise Unknown("operands")
    spec = subscripts.replace(" ", "")
    if "..." in spec or "->" not in spec:
        raise Unknown("subscripts with an ellipsis or no output")
    ins, out = spec.split("->")
    terms = ins.split(",")
    if len(terms) != len(operands):
        raise Unknown("operands")
    sizes: dict[str, int | None] = {}
    for term, t in zip(terms, operands):
        if len(term) != len(t.shape):
            raise c.wrong_rank(t, f"a tensor of rank {len(term)} for '{term}' in '{subscripts}'")
        for letter, d in zip(term, t.shape):
            seen = sizes.get(letter)
            if seen is not None and d is not None and d != 1 and seen != 1 and seen != d:
                raise c.mismatch(operands, f"'{letter}' in '{subscripts}' has sizes {seen} and {d}")
            if seen is None or seen == 1:
                sizes[letter] = d
    shape = tuple(sizes.get(letter) for letter in out)
    batch = out[0] if out and terms and terms[0] and terms[0][0] == out[0] else None
    c.macs = size([d for letter, d in sizes.items() if letter != batch])
    return Tensor(shape, _result_dtype(operands))


# -- shape manipulation ------------------------------------------------------------------------


@op("reshape")
def reshape(c: Call):
    x = _x(c)
    return Tensor(reshape_shape(c, x, x.shape, _get(c, "newshape"), "newshape"), x.dtype)


@op("transpose")
def transpose(c: Call):
    x = _x(c)
    axes = _get(c, "axes")
    if axes is None:
        return Tensor(tuple(reversed(x.shape)), x.dtype)
    rank = len(x.shape)
    if isinstance(axes, (list, tuple)) and len(axes) == rank:
        norm = [c.axis(a, rank, x, "axes") for a in axes]
        if sorted(norm) == list(range(rank)):
            return Tensor(tuple(x.shape[a] for a in norm), x.dtype)
        axes = list(axes)  # as the spec writes them
    raise c.bad_arg(c.at_arg("axes"), x, f"axes {axes!r} must list each of the {rank} axes once")


@op("expand_dims")
def expand_dims(c: Call):
    x = _x(c)
    axis = _get(c, "axis")
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = len(x.shape) + len(axes)
    norm = sorted(c.axis(a, rank, x) for a in axes)
    out = list(x.shape)
    for a in norm:
        out.insert(a, 1)
    return Tensor(tuple(out), x.dtype)


@op("squeeze")
def squeeze(c: Call):
    x = _x(c)
    axis = _get(c, "axis")
    if axis is None:
        # The op layer cannot infer squeeze without an axis (a None size might be 1).
        raise Unknown("squeeze without an axis")
    axes = _axes_arg(c, x)
    for a in axes:
        if x.shape[a] not in (1, None):
            detail = f"axis {a} has size {x.shape[a]}, and only an axis of size 1 can be squeezed"
            raise c.bad_arg(c.at_arg("axis"), x, detail)
    return Tensor(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def _tensor_list(c: Call, key: str) -> list[Tensor]:
    value = _get(c, key)
    if isinstance(value, Tensor):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(t, Tensor) for t in value):
        raise Unknown(key)
    return value


@op("concatenate", "append", "hstack", "vstack")
def concatenate(c: Call):
    if c.type == "append":
        tensors = [_x(c, "x1"), _x(c, "x2")]
        axis = _get(c, "axis")
        if axis is None:
            return Tensor(
                (
                    size(tensors[0].shape) + size(tensors[1].shape)
                    if size(tensors[0].shape) is not None and size(tensors[1].shape) is not None
                    else None,
                ),
                _result_dtype(tensors),
            )
    else:
        tensors = _tensor_list(c, "xs")
        axis = _get(c, "axis", 0) if c.type == "concatenate" else 1 if c.type == "hstack" else 0
        if c.type == "hstack" and len(tensors[0].shape) == 1:
            axis = 0
    if not is_int(axis):
        raise Unknown("axis")
    rank = len(tensors[0].shape)
    if any(len(t.shape) != rank for t in tensors):
        raise c.mismatch(tensors, "concatenate needs tensors of one rank")
    a = c.axis(axis, rank, tensors[0])
    out = list(tensors[0].shape)
    for t in tensors[1:]:
        for i, (d, e) in enumerate(zip(out, t.shape)):
            if i == a:
                continue
            if d is not None and e is not None and d != e:
                raise c.mismatch(tensors, f"concatenating on axis {a}, the other axes must agree")
            if d is None:
                out[i] = e
    total = [t.shape[a] for t in tensors]
    out[a] = None if None in total else sum(total)
    return Tensor(tuple(out), _result_dtype(tensors))


@op("stack")
def stack(c: Call):
    tensors = _tensor_list(c, "x")
    axis = _get(c, "axis", 0)
    shape = tensors[0].shape
    for t in tensors[1:]:
        if len(t.shape) != len(shape) or any(
            d is not None and e is not None and d != e for d, e in zip(shape, t.shape)
        ):
            raise c.mismatch(tensors, "stack needs tensors of one shape")
    a = c.axis(axis, len(shape) + 1, tensors[0])
    out = list(shape)
    out.insert(a, len(tensors))
    return Tensor(tuple(out), _result_dtype(tensors))


@op("split")
def split(c: Call):
    x = _x(c)
    sections = _get(c, "indices_or_sections")
    a = c.axis(_get(c, "axis", 0), len(x.shape), x)
    length = x.shape[a]
    if is_int(sections) and not isinstance(sections, bool):
        if length is not None and length % sections:
            detail = f"axis {a} of size {length} cannot be split into {sections} equal parts"
            raise c.bad_arg(c.at_arg("indices_or_sections"), x, detail)
        parts = [None if length is None else length // sections] * sections
    elif isinstance(sections, (list, tuple)) and all(is_int(i) for i in sections):
        if length is None:
            parts = [None] * (len(sections) + 1)
        else:
            bounds = [0, *sections, length]
            parts = [max(min(e, length) - min(s, length), 0) for s, e in pairwise(bounds)]
    else:
        raise Unknown("indices_or_sections")
    outs = []
    for p in parts:
        shape = list(x.shape)
        shape[a] = p
        outs.append(Tensor(tuple(shape), x.dtype))
    return outs


@op("unstack")
def unstack(c: Call):
    x = _x(c)
    a = c.axis(_get(c, "axis", 0), len(x.shape), x)
    n = x.shape[a]
    if n is None:
        raise Unknown("unstack of an axis of unknown size")
    shape = tuple(d for i, d in enumerate(x.shape) if i != a)
    return [Tensor(shape, x.dtype)] * n


def _indexed(c: Call) -> tuple[Tensor, Tensor, Any]:
    """`x`, `indices` and `axis` of take and take_along_axis (no axis: the flattened x)."""
    return _x(c), _operand(_get(c, "indices"), c, "indices"), _get(c, "axis")


@op("take")
def take(c: Call):
    x, indices, axis = _indexed(c)
    if axis is None:
        return Tensor(indices.shape, x.dtype)
    a = c.axis(axis, len(x.shape), x)
    return Tensor((*x.shape[:a], *indices.shape, *x.shape[a + 1 :]), x.dtype)


@op("take_along_axis")
def take_along_axis(c: Call):
    x, indices, axis = _indexed(c)
    if axis is None:
        return Tensor(indices.shape, x.dtype)
    if len(indices.shape) != len(x.shape):
        raise c.fail(
            "GS402",
            "rank",
            at=("in",),
            expected=f"indices of the rank of x ({len(x.shape)})",
            received=describe_all([x, indices]),
        )
    a = c.axis(axis, len(x.shape), x)
    xs = list(x.shape)
    ins = list(indices.shape)
    xs[a] = ins[a] = 1
    shape = list(
        _broadcast(c, [Tensor(tuple(xs), None, x.origin), Tensor(tuple(ins), None, indices.origin)])
    )
    shape[a] = indices.shape[a]
    return Tensor(tuple(shape), x.dtype)


@op("one_hot", "multi_hot")
def one_hot(c: Call):
    x = _x(c, "x" if "x" in c.named else "inputs")
    classes = _get(c, "num_classes", _get(c, "num_tokens"))
    if not is_int(classes):
        raise Unknown("num_classes")
    dtype = _dtype_arg(c, "float32")
    if c.type == "multi_hot":
        a = _get(c, "axis", -1)
        out = list(x.shape)
        out[c.axis(a, len(out), x)] = classes
        return Tensor(tuple(out), dtype)
    a = c.axis(_get(c, "axis", -1), len(x.shape) + 1, x)
    out = list(x.shape)
    out.insert(a, classes)
    return Tensor(tuple(out), dtype)


@op("cast", "saturate_cast")
def cast(c: Call):
    x = _x(c)
    dtype = _get(c, "dtype")
    return Tensor(x.shape, dtype if isinstance(dtype, str) else None)


@op("ravel")
def ravel(c: Call):
    x = _x(c)
    return Tensor((size(x.shape),), x.dtype)


@op("broadcast_to")
def broadcast_to(c: Call):
    x = _x(c)
    shape = _get(c, "shape")
    if not isinstance(shape, (list, tuple)) or not all(is_int(d) for d in shape):
        raise Unknown("shape")
    _broadcast(c, [x, Tensor(tuple(shape), None, "shape")])
    return Tensor(tuple(shape), x.dtype)


@op("tile")
def tile(c: Call):
    x = _x(c)
    reps = _get(c, "repeats")
    reps = [reps] if is_int(reps) else reps
    if not isinstance(reps, (list, tuple)) or not all(is_int(r) for r in reps):
        raise Unknown("repeats")
    n = max(len(reps), len(x.shape))
    shape = [1] * (n - len(x.shape)) + list(x.shape)
    reps = [1] * (n - len(reps)) + list(reps)
    return Tensor(tuple(None if d is None else d * r for d, r in zip(shape, reps)), x.dtype)


@op("repeat")
def repeat(c: Call):
    x = _x(c)
    reps = _get(c, "repeats")
    axis = _get(c, "axis")
    if not is_int(reps):
        raise Unknown("repeats")
    if axis is None:
        n = size(x.shape)
        return Tensor((None if n is None else n * reps,), x.dtype)
    a = c.axis(axis, len(x.shape), x)
    out = list(x.shape)
    out[a] = None if out[a] is None else out[a] * reps
    return Tensor(tuple(out), x.dtype)


@op("pad")
def pad(c: Call):
    x = _x(c)
    width = _get(c, "pad_width")
    rank = len(x.shape)
    if is_int(width):
        width = [[width, width]] * rank
    if not isinstance(width, (list, tuple)):
        raise Unknown("pad_width")
    if len(width) == 1 and rank > 1:
        width = list(width) * rank
    if len(width) != rank:
        detail = f"pad_width gives {len(width)} pairs for a tensor of rank {rank}"
        raise c.bad_arg(c.at_arg("pad_width"), x, detail)
    out = []
    for d, w in zip(x.shape, width):
        pair = [w, w] if is_int(w) else list(w)
        if len(pair) != 2 or not all(is_int(p) for p in pair):
            raise Unknown("pad_width")
        out.append(None if d is None else d + sum(pair))
    return Tensor(tuple(out), x.dtype)


@op("moveaxis")
def moveaxis(c: Call):
    x = _x(c)
    src, dst = _get(c, "source"), _get(c, "destination")
    src = [src] if is_int(src) else src
    dst = [dst] if is_int(dst) else dst
    if (
        not isinstance(src, (list, tuple))
        or not isinstance(dst, (list, tuple))
        or len(src) != len(dst)
    ):
        raise Unknown("source")
    rank = len(x.shape)
    src = [c.axis(a, rank, x, "source") for a in src]
    dst = [c.axis(a, rank, x, "destination") for a in dst]
    order = [i for i in range(rank) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Tensor(tuple(x.shape[i] for i in order), x.dtype)


@op("swapaxes")
def swapaxes(c: Call):
    x = _x(c)
    a = c.axis(_get(c, "axis1"), len(x.shape), x, "axis1")
    b = c.axis(_get(c, "axis2"), len(x.shape), x, "axis2")
    out = list(x.shape)
    out[a], out[b] = out[b], out[a]
    return Tensor(tuple(out), x.dtype)


@op("top_k")
def top_k(c: Call):
    x = _x(c)
    k = _get(c, "k")
    if not is_int(k):
        raise Unknown("k")
    shape = (*x.shape[:-1], k)
    return [Tensor(shape, x.dtype), Tensor(shape, "int32")]


@op("argsort")
def argsort(c: Call):
    x = _x(c)
    axis = _get(c, "axis", -1)
    if axis is None:
        return Tensor((size(x.shape),), "int32")
    c.axis(axis, len(x.shape), x)
    return Tensor(x.shape, "int32")


@op("full_like")
def full_like(c: Call):
    x = _x(c)
    return Tensor(x.shape, _dtype_arg(c, x.dtype))


@op("moments")
def moments(c: Call):
    x = _x(c)
    axes = _axes_arg(c, x, "axes")
    shape = _reduced(c, x, axes, bool(_get(c, "keepdims", False)))
    dtype = _float(x.dtype)
    return [Tensor(shape, dtype), Tensor(shape, dtype)]


@op("slice")
def slice_(c: Call):
    x = _x(c, "inputs")
    shape = _get(c, "shape")
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != len(x.shape)
        or not all(is_int(d) for d in shape)
    ):
        raise Unknown("shape")
    return Tensor(tuple(shape), x.dtype)


@op("image.resize")
def image_resize(c: Call):
    x = _x(c, "images")
    target = _get(c, "size")
    if not isinstance(target, (list, tuple)) or len(target) != 2:
        raise Unknown("size")
    c.rank(x, 3, 4)
    last = _get(c, "data_format") in (None, "channels_last")
    out = list(x.shape)
    h = len(out) - 3 if last else len(out) - 2
    out[h], out[h + 1] = target
    return Tensor(tuple(out), _float(x.dtype))
