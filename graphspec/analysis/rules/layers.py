"""Shape rules of Keras's built-in layers (and the layers of keras.applications).

Each rule encodes the constructor defaults it needs (Keras 3): a spec, like an exported
model, writes only the arguments that differ from them. Formulas follow Keras's own
`compute_output_shape` and `build`; `tests/test_analysis.py` and
`benchmarks/static_fidelity.py` check them against built models.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from ..core import (
    FLOAT_DTYPES,
    Call,
    Issue,
    Tensor,
    Unknown,
    describe,
    fmt_shape,
    is_int,
    size,
)
from . import layer

# -- helpers ----------------------------------------------------------------------------------


def _channels_last(c: Call) -> bool:
    return c.arg("data_format") in (None, "channels_last")


def _spatial(c: Call, x: Tensor, n: int) -> tuple[list, int]:
    """The n spatial sizes of an (n+2)-rank input and the index of its channel axis."""
    axes = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}[n]
    layout = f"(batch, {axes}, channels)" if _channels_last(c) else f"(batch, channels, {axes})"
    try:
        c.rank(x, n + 2, expected=f"a tensor of rank {n + 2} {layout}")
    except Issue as issue:
        if len(x.shape) == n + 1 and _channels_last(c):
            issue.hint = (
                "give the input a channels axis, e.g. shape "
                f"{[*x.shape[1:], 1]}, or a Reshape to that"
            ).replace("None", "null")
        raise
    if _channels_last(c):
        return list(x.shape[1:-1]), len(x.shape) - 1
    return list(x.shape[2:]), 1


def _put(x: Tensor, spatial: list, channels, channel_axis: int) -> tuple:
    if channel_axis == 1:
        return (x.shape[0], channels, *spatial)
    return (x.shape[0], *spatial, channels)


def _window_out(
    c: Call,
    x: Tensor,
    i: int,
    length,
    window: int,
    stride: int,
    padding: str,
    dilation: int = 1,
    what: str = "kernel_size",
):
    """Output length of a strided window (convolution or pooling), as Keras computes it."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return (length - 1) // stride + 1
    if padding != "valid":
        raise Unknown("padding")
    span = dilation * (window - 1) + 1
    out = (length - span) // stride + 1
    if out <= 0:
        detail = f"{what} {window}" + (f" (dilated by {dilation}: {span})" if dilation > 1 else "")
        raise c.fail(
            "GS403",
            "window",
            at=("in",),
            axis=i,
            received=describe(x),
            detail=f"{detail} is larger than the input's {length} there (padding 'valid')",
            hint="use padding: same, a smaller window, or a larger input",
        )
    return out


def _bias(c: Call, units: int) -> int:
    return units if c.arg("use_bias", True) else 0


def _elementwise_out(c: Call, tensors: list[Tensor]) -> tuple:
    """Keras's Merge layers: batch axes aside, shapes broadcast from the right, where a None
    meets anything the result is None."""
    out = tensors[0].shape[1:]
    for t in tensors[1:]:
        a, b = (out, t.shape[1:]) if len(out) >= len(t.shape) - 1 else (t.shape[1:], out)
        if not b:
            out = a
            continue
        merged = list(a[: -len(b)])
        for i, j in zip(a[-len(b) :], b):
            if i is None or j is None:
                merged.append(None)
            elif i == 1:
                merged.append(j)
            elif j == 1 or i == j:
                merged.append(i)
            else:
                raise c.mismatch(
                    tensors,
                    "the shapes must match on every axis after the batch axis "
                    "(an axis of size 1 broadcasts)",
                    _merge_hint(tensors),
                )
        out = tuple(merged)
    batches = {t.shape[0] for t in tensors} - {None}
    if len(batches) > 1:
        raise c.mismatch(tensors, "the batch sizes differ")
    return (batches.pop() if batches else None, *out)


def _merge_hint(tensors: list[Tensor]) -> str:
    last = {t.shape[-1] for t in tensors if t.shape}
    if len({len(t.shape) for t in tensors}) == 1 and len(last) > 1 and None not in last:
        return (
            "project the inputs to one width first (e.g. a Dense layer), or join them "
            "with Concatenate instead"
        )
    return "reshape or pool the inputs to one shape first, or join them with Concatenate"


# -- core --------------------------------------------------------------------------------------


@layer("Dense")
def dense(c: Call):
    x = c.x
    c.rank(x, 2, -1)
    units = c.arg("units")
    if not is_int(units):
        raise Unknown("units")
    d = c.known(x, -1)
    c.weights(d * units + _bias(c, units))
    inner = size(x.shape[1:-1])
    c.macs = None if inner is None else inner * d * units
    return (*x.shape[:-1], units)


def _analyze_einsum(c: Call, equation: str, bias_axes, x: Tensor, output_shape):
    """keras.layers.EinsumDense's `_analyze_einsum_string`: kernel shape, bias shape, output
    shape and the letters of the contraction."""
    replaced = equation.replace("...", "0")
    left = False
    match = re.fullmatch(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", replaced)
    if not match:
        match = re.fullmatch(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", replaced)
        left = bool(match)
    if not match:
        match = re.fullmatch(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", replaced)
    if not match:
        raise Unknown("equation")
    ins, ws, outs = match.groups()
    shape = x.shape
    elided = len(shape) - len(ins)
    if elided < 0 or (elided > 0 and "0" not in replaced):
        raise c.wrong_rank(x, f"a tensor of rank {len(ins)} (equation '{equation}')")
    out = [output_shape] if is_int(output_shape) else list(output_shape or [])
    out.insert(0, shape[0])
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, shape[i])
    elif elided > 0:
        out.extend(shape[len(shape) - elided :])
    if left:
        in_map = {d: (i + elided) - len(shape) for i, d in enumerate(ins)}
        out_map = {d: i + elided for i, d in enumerate(outs)}
    else:
        in_map = {d: i for i, d in enumerate(ins)}
        out_map = {d: i for i, d in enumerate(outs)}
    for d in ins:
        if d in out_map and out[out_map[d]] is not None and out[out_map[d]] != shape[in_map[d]]:
            raise c.bad_arg(
                ("args", "output_shape"),
                x,
                f"output_shape gives {out[out_map[d]]} for '{d}', which the input has as "
                f"{shape[in_map[d]]}",
            )
    kernel = []
    for d in ws:
        if d in out_map:
            kernel.append(out[out_map[d]])
        elif d in in_map:
            kernel.append(shape[in_map[d]])
        else:
            raise Unknown("equation")
    bias = None
    if bias_axes:
        lead = elided if left else 0
        idx = {ch: out[i + lead] for i, ch in enumerate(outs)}
        if any(ch not in outs for ch in bias_axes):
            raise Unknown("bias_axes")
        first = min(outs.find(ch) for ch in bias_axes)
        bias = [idx[ch] if ch in bias_axes else 1 for ch in outs[first:]]
    letters = {d: shape[in_map[d]] for d in ins}
    for d, n in zip(ws, kernel):
        letters.setdefault(d, n)
    return kernel, bias, tuple(out), letters, ins


@layer("EinsumDense")
def einsum_dense(c: Call):
    x = c.x
    equation = c.arg("equation")
    if not isinstance(equation, str):
        raise Unknown("equation")
    kernel, bias, out, letters, ins = _analyze_einsum(
        c, equation, c.arg("bias_axes"), x, c.arg("output_shape")
    )
    if any(d is None for d in kernel) or (bias and any(d is None for d in bias)):
        hint = "give the input a fixed size on the axes the equation contracts"
        raise c.unknown_size(x, "(of the kernel)", hint)
    c.weights(math.prod(kernel) + (math.prod(bias) if bias else 0))
    # A MAC per combination of every letter of the contraction, the batch letter aside.
    batch = ins[0] if not equation.startswith("...") else None
    sizes = [n for d, n in letters.items() if d != batch]
    elided = len(x.shape) - len(ins)
    extra = (
        x.shape[1 : 1 + elided]
        if equation.startswith("...")
        else x.shape[len(x.shape) - elided :]
        if elided > 0
        else ()
    )
    total = size([*sizes, *extra])
    c.macs = total
    return out


@layer("Embedding", "ReversibleEmbedding")
def embedding(c: Call):
    x = c.x
    input_dim, output_dim = c.arg("input_dim"), c.arg("output_dim")
    if not is_int(input_dim) or not is_int(output_dim):
        raise Unknown("input_dim")
    _indices_dtype(c, x)
    c.weights(input_dim * output_dim)
    if c.type == "ReversibleEmbedding" and not c.arg("tie_weights", True):
        c.weights(input_dim * output_dim)
    return (*x.shape, output_dim)


def _indices_dtype(c: Call, x: Tensor) -> None:
    if x.dtype in FLOAT_DTYPES:
        c.warnings.append(
            c.fail(
                "GS405",
                "dtype",
                at=("in",),
                expected="integer indices",
                received=f"{describe(x)} of dtype {x.dtype}",
                hint="declare the input with dtype: int32 (Keras casts floats, silently "
                "truncating any fraction)",
            )
        )


@layer(
    "Identity",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
    "Masking",
    "StochasticDepth",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)
def same_shape(c: Call):
    x = c.x
    if c.type == "Softmax":
        axis = c.arg("axis", -1)
        for a in axis if isinstance(axis, (list, tuple)) else [axis]:
            c.axis(a, len(x.shape), x)
    return x.shape


@layer("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def spatial_dropout(c: Call):
    x = c.x
    c.rank(x, int(c.type[-2]) + 2)
    return x.shape


@layer("PReLU")
def prelu(c: Call):
    x = c.x
    c.rank(x, 2, -1)
    shape = list(x.shape[1:])
    shared = c.arg("shared_axes")
    if shared is not None:
        for a in shared if isinstance(shared, (list, tuple)) else [shared]:
            if not is_int(a) or not 1 <= a <= len(shape):
                raise Unknown("shared_axes")
            shape[a - 1] = 1
    if None in shape:
        hint = "give the input a fixed size there, or list that axis in shared_axes"
        raise c.unknown_size(x, 1 + shape.index(None), hint)
    c.weights(math.prod(shape))
    return x.shape


@layer("Rescaling")
def rescaling(c: Call):
    return c.x.shape


@layer("LayerScale")
def layer_scale(c: Call):
    x = c.x
    dim = c.arg("projection_dim")
    if not is_int(dim):
        raise Unknown("projection_dim")
    c.weights(dim)
    return _elementwise_out(c, [x, Tensor((None, dim), None, "gamma")])


@layer("CustomScaleLayer")
def custom_scale(c: Call):
    tensors = c.list_inputs(2)
    if len(tensors) != 2:
        raise Unknown("inputs")
    return _elementwise_out(c, tensors)


# -- convolutions ------------------------------------------------------------------------------


def _conv_dims(c: Call) -> int:
    return int(re.search(r"(\d)D", c.type).group(1))


@dataclass(frozen=True)
class _Conv:
    """The arguments every convolution reads alike, with its input's spatial sizes and
    channel axis."""

    spatial: list
    ch_axis: int
    filters: int | None  # None for a depthwise convolution, which takes none
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str

    def out(self, c: Call, x: Tensor, lead: int = 0) -> list:
        """The output's spatial sizes; `lead` counts the axes of `x` between the batch axis
        and the input's own (a time axis)."""
        first = lead + (1 if self.ch_axis != 1 else 2)
        return [
            _window_out(c, x, first + i, s, k, st, self.padding, d)
            for i, (s, k, st, d) in enumerate(
                zip(self.spatial, self.kernel, self.strides, self.dilation)
            )
        ]


def _conv_args(c: Call, x: Tensor, filters: bool = True) -> _Conv:
    """`filters`: the layer takes that argument. What is read first is checked first."""
    n = _conv_dims(c)
    spatial, ch_axis = _spatial(c, x, n)
    count = c.arg("filters") if filters else None
    if filters and not is_int(count):
        raise Unknown("filters")
    return _Conv(
        spatial,
        ch_axis,
        count,
        c.ints("kernel_size", n, None),
        c.ints("strides", n, 1),
        c.ints("dilation_rate", n, 1),
        str(c.arg("padding", "valid")).lower(),
    )


def _per_position(spatial: list, cost: int) -> int | None:
    """`cost` MACs at every position of `spatial`; None when a size is unknown."""
    positions = size(spatial)
    return None if positions is None else positions * cost


@layer("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D")
def conv(c: Call):
    x = c.x
    w = _conv_args(c, x)
    groups = c.arg("groups", 1)
    in_ch = c.known(x, w.ch_axis)
    if not is_int(groups) or groups < 1:
        raise Unknown("groups")
    for count, key, what, whole in (
        (w.filters, "filters", f"{w.filters} filters", "filters"),
        (in_ch, "groups", f"the {in_ch} input channels", "the input channels"),
    ):
        if count % groups:
            detail = f"{what} cannot be split into {groups} groups"
            raise c.bad_arg(("args", key), x, detail, f"{whole} must be a multiple of groups")
    out = w.out(c, x)
    kernel_weights = math.prod(w.kernel) * (in_ch // groups) * w.filters
    c.weights(kernel_weights + _bias(c, w.filters))
    c.macs = _per_position(out, kernel_weights)
    return _put(x, out, w.filters, w.ch_axis)


@layer(
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "Convolution3DTranspose",
)
def conv_transpose(c: Call):
    x = c.x
    w = _conv_args(c, x)
    n = len(w.spatial)
    pads = (None,) * n if c.arg("output_padding") is None else c.ints("output_padding", n, None)
    in_ch = c.known(x, w.ch_axis)
    out = []
    for length, k, s, d, p in zip(w.spatial, w.kernel, w.strides, w.dilation, pads):
        span = (k - 1) * d + 1
        if length is None:
            out.append(None)
        elif w.padding == "valid":
            out.append((length - 1) * s + span + (max(span, s) - span if p is None else p))
        elif w.padding == "same":
            out.append(length * s if p is None else (length - 1) * s + span % 2 + p)
        else:
            raise Unknown("padding")
    kernel_weights = math.prod(w.kernel) * in_ch * w.filters
    c.weights(kernel_weights + _bias(c, w.filters))
    # Every input position scatters a kernel-sized patch to every filter.
    c.macs = _per_position(w.spatial, kernel_weights)
    return _put(x, out, w.filters, w.ch_axis)


@layer(
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
)
def depthwise_conv(c: Call):
    """A depthwise convolution; a separable one follows it with a pointwise (1x1) one to
    `filters` channels."""
    separable = c.type.startswith("Separable")
    x = c.x
    w = _conv_args(c, x, filters=separable)
    multiplier = c.arg("depth_multiplier", 1)
    if not is_int(multiplier):
        raise Unknown("depth_multiplier")
    in_ch = c.known(x, w.ch_axis)
    out = w.out(c, x)
    depthwise = math.prod(w.kernel) * in_ch * multiplier
    pointwise = in_ch * multiplier * w.filters if separable else 0
    channels = w.filters if separable else in_ch * multiplier
    c.weights(depthwise + pointwise + _bias(c, channels))
    c.macs = _per_position(out, depthwise + pointwise)
    return _put(x, out, channels, w.ch_axis)


# -- pooling -----------------------------------------------------------------------------------


def _resizes_spatial(*names: str, channels_last_1d: bool = False):
    """Registers the rule of a layer that changes only the spatial sizes of its input and
    keeps its channels: `fn(c, x, spatial, ch_axis)` gives the new sizes.
    `channels_last_1d`: the 1D layer takes no data_format (Keras's Cropping1D, UpSampling1D)."""

    def register(fn):
        def rule(c: Call):
            n = _conv_dims(c)
            x = c.x
            if channels_last_1d and n == 1:
                c.rank(x, 3)
                spatial, ch_axis = [x.shape[1]], 2
            else:
                spatial, ch_axis = _spatial(c, x, n)
            return _put(x, fn(c, x, spatial, ch_axis), x.shape[ch_axis], ch_axis)

        return layer(*names)(functools.wraps(fn)(rule))

    return register


@_resizes_spatial(
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
)
def pooling(c: Call, x: Tensor, spatial: list, ch_axis: int) -> list:
    n = len(spatial)
    pool = c.ints("pool_size", n, 2)
    strides = pool if c.arg("strides") is None else c.ints("strides", n, None)
    padding = str(c.arg("padding", "valid")).lower()
    return [
        _window_out(c, x, i + (1 if ch_axis != 1 else 2), s, k, st, padding, what="pool_size")
        for i, (s, k, st) in enumerate(zip(spatial, pool, strides))
    ]


@layer(
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
)
def global_pooling(c: Call):
    n = _conv_dims(c)
    x = c.x
    _, ch_axis = _spatial(c, x, n)
    if c.arg("keepdims", False):
        return _put(x, [1] * n, x.shape[ch_axis], ch_axis)
    return (x.shape[0], x.shape[ch_axis])


@_resizes_spatial(
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
)
def adaptive_pooling(c: Call, x: Tensor, spatial: list, ch_axis: int) -> list:
    return list(c.ints("output_size", len(spatial), None))


# -- reshaping ---------------------------------------------------------------------------------


def _pairs(c: Call, key: str, n: int, default) -> list[tuple[int, int]]:
    """ZeroPadding/Cropping amounts: an int, n ints, or n (before, after) pairs."""
    value = c.arg(key, default)
    if is_int(value) and not isinstance(value, bool):
        return [(value, value)] * n
    if isinstance(value, (list, tuple)) and len(value) == n:
        out = []
        for v in value:
            if is_int(v) and not isinstance(v, bool):
                out.append((v, v))
            elif isinstance(v, (list, tuple)) and len(v) == 2 and all(is_int(p) for p in v):
                out.append((v[0], v[1]))
            else:
                raise Unknown(key)
        return out
    if n == 1 and isinstance(value, (list, tuple)) and len(value) == 2:
        return [(value[0], value[1])]
    raise Unknown(key)


@_resizes_spatial("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(c: Call, x: Tensor, spatial: list, ch_axis: int) -> list:
    pads = _pairs(c, "padding", len(spatial), 1)
    return [None if s is None else s + a + b for s, (a, b) in zip(spatial, pads)]


@_resizes_spatial("Cropping1D", "Cropping2D", "Cropping3D", channels_last_1d=True)
def cropping(c: Call, x: Tensor, spatial: list, ch_axis: int) -> list:
    n = len(spatial)
    default = (1, 1) if n == 1 else 0 if n == 2 else 1
    crops = _pairs(c, "cropping", n, default)
    out = []
    for i, (s, (a, b)) in enumerate(zip(spatial, crops)):
        if s is not None and s - a - b <= 0:
            raise c.fail(
                "GS403",
                "window",
                at=c.at_arg("cropping"),
                axis=i + (1 if ch_axis != 1 else 2),
                received=describe(x),
                detail=f"cropping {a} + {b} leaves nothing of {s}",
            )
        out.append(None if s is None else s - a - b)
    return out


@_resizes_spatial("UpSampling1D", "UpSampling2D", "UpSampling3D", channels_last_1d=True)
def up_sampling(c: Call, x: Tensor, spatial: list, ch_axis: int) -> list:
    if len(spatial) == 1:
        factors = [c.arg("size", 2)]  # one int: UpSampling1D takes no tuple
        if not is_int(factors[0]):
            raise Unknown("size")
    else:
        factors = c.ints("size", len(spatial), 2)
    return [None if s is None else s * f for s, f in zip(spatial, factors)]


@layer("Flatten")
def flatten(c: Call):
    x = c.x
    c.keep_dtype = True
    dims = x.shape[1:]
    return (x.shape[0], 1 if not dims else size(dims))


def reshape_shape(c: Call, x: Tensor, dims: tuple, target, key: str, what: str | None = None):
    """Reshape `dims` (a shape's non-batch part, or the whole for ops) to `target`, with one
    -1 inferred; as keras's compute_reshape_output_shape."""
    if not isinstance(target, (list, tuple)) or not all(is_int(d) for d in target):
        raise Unknown(key)
    target = tuple(target)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise Unknown(key)  # Keras rejects the argument itself
    if None in dims:
        return tuple(None if d == -1 else d for d in target)
    total = math.prod(dims)

    def mismatch(why: str, hint: str | None = None) -> Issue:
        return c.fail(
            "GS404",
            "reshape",
            at=c.at_arg(key),
            what=what or c.what,
            received=describe(x),
            size=f"{total:,}",
            target=fmt_shape(target),
            why=why,
            hint=hint,
        )

    if -1 not in target:
        if total != math.prod(target):
            raise mismatch(
                f"that holds {math.prod(target):,}", hint="use -1 for one axis to have it inferred"
            )
        return target
    known = math.prod(d for d in target if d != -1)
    if known == 0 or total % known:
        raise mismatch(f"{total:,} is not a multiple of {known:,}")
    return tuple(total // known if d == -1 else d for d in target)


@layer("Reshape")
def reshape(c: Call):
    x = c.x
    c.keep_dtype = True
    return (x.shape[0], *reshape_shape(c, x, x.shape[1:], c.arg("target_shape"), "target_shape"))


@layer("Permute")
def permute(c: Call):
    x = c.x
    dims = c.arg("dims")
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(dims) + 1)):
        raise Unknown("dims")
    if len(dims) != len(x.shape) - 1:
        raise c.wrong_rank(
            x,
            f"a tensor of rank {len(dims) + 1} "
            f"(dims {list(dims)} permute {len(dims)} axes after the batch axis)",
        )
    return (x.shape[0], *(x.shape[d] for d in dims))


@layer("RepeatVector")
def repeat_vector(c: Call):
    x = c.x
    c.rank(x, 2)
    n = c.arg("n")
    if not is_int(n):
        raise Unknown("n")
    return (x.shape[0], n, x.shape[1])


# -- normalization -----------------------------------------------------------------------------


def _axes(c: Call, x: Tensor, default=-1) -> list[int]:
    axis = c.arg("axis", default)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return [c.axis(a, len(x.shape), x) for a in axes]


@layer("BatchNormalization")
def batch_norm(c: Call):
    x = c.x
    (axis,) = _axes(c, x) if not isinstance(c.arg("axis", -1), (list, tuple)) else (None,)
    if axis is None:
        raise Unknown("axis")
    ch = c.known(x, axis)
    trainable = (c.arg("center", True) + c.arg("scale", True)) * ch
    c.weights(trainable)
    c.weights(2 * ch, trainable=False)  # the moving mean and variance
    return x.shape


@layer("LayerNormalization", "RMSNormalization")
def layer_norm(c: Call):
    x = c.x
    axes = _axes(c, x)
    for a in axes:
        c.known(x, a)
    shape = [x.shape[a] for a in axes]
    n = math.prod(shape)
    if c.type == "RMSNormalization":
        c.weights(n)
    else:
        c.weights(n * (bool(c.arg("center", True)) + bool(c.arg("scale", True))))
    return x.shape


@layer("GroupNormalization")
def group_norm(c: Call):
    x = c.x
    (axis,) = _axes(c, x)
    ch = c.known(x, axis)
    groups = c.arg("groups", 32)
    if not is_int(groups):
        raise Unknown("groups")
    if groups == -1:
        groups = ch
    if ch < groups or ch % groups:
        raise c.bad_arg(
            c.at_arg("groups"),
            x,
            f"{ch} channels cannot be split into {groups} groups",
            "the channels must be a multiple of groups (default 32)",
        )
    c.weights(ch * (bool(c.arg("center", True)) + bool(c.arg("scale", True))))
    return x.shape


@layer("UnitNormalization")
def unit_norm(c: Call):
    x = c.x
    _axes(c, x)
    return x.shape


@layer("Normalization")
def normalization(c: Call):
    x = c.x
    axes = _axes(c, x)
    if c.arg("mean") is None:
        for a in axes:
            c.known(x, a)
        n = math.prod(x.shape[a] for a in axes)
        c.weights(2 * n + 1, trainable=False)  # mean, variance and the sample count
    return x.shape


# -- merging -----------------------------------------------------------------------------------


@layer("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def merge(c: Call):
    tensors = c.list_inputs(1)
    if c.type == "Subtract" and len(tensors) != 2:
        raise Unknown("Subtract takes two inputs")
    out = _elementwise_out(c, tensors)
    ranks = {len(t.shape) for t in tensors}
    if len(ranks) > 1:
        # Keras adds axes after the batch axis to the lower-rank inputs, then broadcasts.
        high = max(ranks)
        shapes = [(t.shape[0], *([1] * (high - len(t.shape))), *t.shape[1:]) for t in tensors]
        _elementwise_out(c, [Tensor(s, t.dtype, t.origin) for s, t in zip(shapes, tensors)])
    return out


@layer("Concatenate")
def concatenate(c: Call):
    tensors = c.list_inputs(1)
    axis = c.arg("axis", -1)
    if not is_int(axis):
        raise Unknown("axis")
    ranks = {len(t.shape) for t in tensors}
    reduced = []
    for t in tensors:
        dims = list(t.shape)
        c.axis(axis, len(dims), t)
        if len(dims) > axis:
            del dims[axis]
        reduced.append(dims)
    bad = len(ranks) > 1
    if not bad:
        for i in range(len(reduced[0])):
            if len({r[i] for r in reduced} - {None}) > 1:
                bad = True
    if bad:
        raise c.mismatch(
            tensors,
            f"Concatenate (axis {axis}) needs equal ranks and equal sizes on every "
            "axis but the concatenation axis",
            "reshape, pool or project the inputs so the other axes agree, or "
            "concatenate on another axis",
        )
    out = list(tensors[0].shape)
    for t in tensors[1:]:
        if out[axis] is None or t.shape[axis] is None:
            out[axis] = None
            break
        out[axis] += t.shape[axis]
    return tuple(out)


@layer("Dot")
def dot(c: Call):
    tensors = c.list_inputs(2)
    if len(tensors) != 2:
        raise Unknown("Dot takes two inputs")
    a, b = tensors
    axes = c.arg("axes")
    if is_int(axes):
        axes = (axes, axes)
    if not isinstance(axes, (list, tuple)) or len(axes) != 2 or not all(is_int(v) for v in axes):
        raise Unknown("axes")
    ax = [c.axis(v, len(t.shape), t, "axes") for v, t in zip(axes, tensors)]
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise Unknown("rank")
    if (
        a.shape[ax[0]] is not None
        and b.shape[ax[1]] is not None
        and a.shape[ax[0]] != b.shape[ax[1]]
    ):
        raise c.mismatch(
            tensors,
            f"the dot product axes ({ax[0]} and {ax[1]}) have sizes "
            f"{a.shape[ax[0]]} and {b.shape[ax[1]]}",
        )
    sa = list(a.shape)
    sb = list(b.shape)
    k = sa.pop(ax[0])
    sb.pop(ax[1])
    sb.pop(0)
    out = sa + sb
    if len(out) == 1:
        out += [1]
    inner = size(out[1:])
    c.macs = None if inner is None or k is None else inner * k
    return tuple(out)


# -- recurrent ---------------------------------------------------------------------------------

_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def rnn_result(c: Call, kind: str, args: dict, x: Tensor, initial_state=None):
    """Output shapes, weights and cost of one SimpleRNN, GRU or LSTM over `x`."""
    units = args.get("units")
    if not is_int(units):
        raise Unknown("units")
    c.rank(x, 3, expected="a tensor of rank 3 (batch, timesteps, features)")
    d = c.known(x, -1)
    gates = _GATES[kind]
    params = gates * (d * units + units * units)
    if args.get("use_bias", True):
        params += (
            2 * 3 * units if kind == "GRU" and args.get("reset_after", True) else gates * units
        )
    steps = x.shape[1]
    n_states = 2 if kind == "LSTM" else 1
    if initial_state is not None:
        states = initial_state if isinstance(initial_state, list) else [initial_state]
        for s in states:
            if isinstance(s, Tensor) and (len(s.shape) != 2 or s.shape[-1] not in (None, units)):
                detail = f"each initial state must be (batch, {units}), the layer's units"
                raise c.bad_arg(("in", "initial_state"), s, detail)
    out = (x.shape[0], steps, units) if args.get("return_sequences", False) else (x.shape[0], units)
    state = (x.shape[0], units)
    outputs = [out] + [state] * n_states if args.get("return_state", False) else out
    macs = None if steps is None else steps * gates * (d * units + units * units)
    return outputs, params, macs


def _sequences(c: Call) -> Tensor:
    """The main input of a recurrent layer, which may come with initial states."""
    x = c.by_name().get("sequences", c.inputs if c.form != "mapping" else None)
    if not isinstance(x, Tensor):
        raise Unknown("sequences")
    return x


@layer("SimpleRNN", "GRU", "LSTM")
def recurrent(c: Call):
    outputs, params, macs = rnn_result(
        c, c.type, c.args, _sequences(c), c.by_name().get("initial_state")
    )
    c.weights(params)
    c.macs = macs
    return outputs


def _nested(c: Call, key: str) -> tuple[str, dict]:
    value = c.arg(key)
    if not isinstance(value, dict) or not isinstance(value.get("layer"), str):
        raise Unknown(key)
    return value["layer"], dict(value.get("args") or {})


@layer("Bidirectional")
def bidirectional(c: Call):
    kind, args = _nested(c, "layer")
    if kind not in _GATES:
        raise Unknown("a wrapped layer without a rule")
    x = _sequences(c)
    outputs, params, macs = rnn_result(c, kind, args, x)
    c.weights(params)
    c.macs = macs
    if c.arg("backward_layer") is not None:
        bkind, bargs = _nested(c, "backward_layer")
        if bkind not in _GATES:
            raise Unknown("backward_layer")
        _, bparams, bmacs = rnn_result(c, bkind, bargs, x)
    else:
        bparams, bmacs = params, macs
    c.weights(bparams)
    c.macs = None if macs is None or bmacs is None else macs + bmacs
    mode = c.arg("merge_mode", "concat")
    out, states = (outputs[0], outputs[1:]) if isinstance(outputs, list) else (outputs, [])
    if mode == "concat":
        out = (*out[:-1], out[-1] * 2)
        outs = [out]
    elif mode is None:
        outs = [out, out]
    elif mode in ("sum", "mul", "ave"):
        outs = [out]
    else:
        raise Unknown("merge_mode")
    if states:
        return outs + states + states
    return outs if len(outs) > 1 else outs[0]


@layer("TimeDistributed")
def time_distributed(c: Call):
    from . import LAYERS

    kind, args = _nested(c, "layer")
    rule = LAYERS.get(kind)
    if rule is None:
        raise Unknown("a wrapped layer without a rule")
    x = c.x
    c.rank(x, 3, -1)
    inner = Call(
        c.what,
        kind,
        args,
        Tensor((x.shape[0], *x.shape[2:]), x.dtype, x.origin),
        "single",
        ("inputs",),
    )
    result = rule(inner)
    if not isinstance(result, tuple):
        raise Unknown("the wrapped layer has several outputs")
    c.params, c.non_trainable = inner.params, inner.non_trainable
    c.macs = None if inner.macs is None or x.shape[1] is None else inner.macs * x.shape[1]
    c.warnings += inner.warnings
    return (result[0], x.shape[1], *result[1:])


# -- attention ---------------------------------------------------------------------------------


def _query_value_key(c: Call) -> tuple[Tensor, Tensor, Tensor]:
    """The inputs of an attention layer by name; the key defaults to the value."""
    named = c.by_name()
    q, v, k = named.get("query"), named.get("value"), named.get("key")
    if not isinstance(q, Tensor) or not isinstance(v, Tensor):
        raise Unknown("query, value")
    k = v if k is None else k
    if not isinstance(k, Tensor):
        raise Unknown("key")
    return q, v, k


@layer("MultiHeadAttention")
def multi_head_attention(c: Call):
    q, v, k = _query_value_key(c)
    heads, key_dim = c.arg("num_heads"), c.arg("key_dim")
    value_dim = c.arg("value_dim") or key_dim
    if not all(is_int(n) for n in (heads, key_dim, value_dim)):
        raise Unknown("num_heads")
    if v.shape[1:-1] != k.shape[1:-1]:
        raise c.mismatch([v, k], "value and key must have the same shape but for the last axis")
    for t in (q, k, v):
        c.rank(t, 3, -1)
        c.known(t, -1)
    dq, dk, dv = q.shape[-1], k.shape[-1], v.shape[-1]
    output_shape = c.arg("output_shape")
    if output_shape:
        out_dims = (output_shape,) if is_int(output_shape) else tuple(output_shape)
    else:
        out_dims = (dq,)
    bias = c.arg("use_bias", True)
    hk, hv = heads * key_dim, heads * value_dim
    params = dq * hk + dk * hk + dv * hv + hv * math.prod(out_dims)
    if bias:
        params += hk + hk + hv + math.prod(out_dims)
    if c.arg("use_gate", False):
        params += dq * hv + (hv if bias else 0)
    c.weights(params)
    tq, tk = size(q.shape[1:-1]), size(k.shape[1:-1])
    if tq is None or tk is None:
        c.macs = None
    else:
        c.macs = (
            tq * dq * hk
            + tk * dk * hk
            + tk * dv * hv  # projections
            + heads * tq * tk * (key_dim + value_dim)  # scores, weighted values
            + tq * hv * math.prod(out_dims)
            + (tq * dq * hv if c.arg("use_gate", False) else 0)
        )
    return (*q.shape[:-1], *out_dims)


@layer("Attention", "AdditiveAttention")
def attention(c: Call):
    tensors = c.list_inputs(2)
    if len(tensors) not in (2, 3):
        raise Unknown("inputs")
    q, v = tensors[0], tensors[1]
    k = tensors[2] if len(tensors) == 3 else v
    for t in tensors:
        c.rank(t, 3)
    if (
        c.type == "Attention"
        and c.arg("score_mode", "dot") == "dot"
        and None not in (q.shape[-1], k.shape[-1])
        and q.shape[-1] != k.shape[-1]
    ):
        raise c.mismatch(
            [q, k],
            "query and key must have the same last axis for dot-product scores",
        )
    if c.type == "Attention":
        c.weights(
            int(bool(c.arg("use_scale", False))) + int(c.arg("score_mode", "dot") == "concat")
        )
    elif c.arg("use_scale", True):
        c.weights(c.known(k, -1))
    tq, tk, d, dv = q.shape[1], k.shape[1], q.shape[-1], v.shape[-1]
    c.macs = None if None in (tq, tk, d, dv) else tq * tk * (d + dv)
    return (*q.shape[:-1], v.shape[-1])


# -- preprocessing -----------------------------------------------------------------------------


def _image(c: Call, x: Tensor) -> tuple[int, int, int]:
    """Indexes of the height, width and channel axes of a batched or unbatched image."""
    c.rank(
        x,
        3,
        4,
        expected="an image: a tensor of rank 4 (batch, height, width, channels), "
        "or 3 without the batch axis",
    )
    rank = len(x.shape)
    if _channels_last(c):
        return rank - 3, rank - 2, rank - 1
    return rank - 2, rank - 1, rank - 3


@layer("Resizing", "CenterCrop")
def resizing(c: Call):
    x = c.x
    h, w, _ = _image(c, x)
    height, width = c.arg("height"), c.arg("width")
    if not is_int(height) or not is_int(width):
        raise Unknown("height")
    out = list(x.shape)
    out[h], out[w] = height, width
    return tuple(out)


@layer("CategoryEncoding")
def category_encoding(c: Call):
    x = c.x
    tokens = c.arg("num_tokens")
    mode = c.arg("output_mode", "multi_hot")
    if not is_int(tokens):
        raise Unknown("num_tokens")
    if mode == "one_hot":
        if len(x.shape) >= 2 and x.shape[-1] == 1:
            return (*x.shape[:-1], tokens)
        return (*x.shape, tokens)
    if len(x.shape) == 1:
        return (tokens,)
    if len(x.shape) == 2:
        return (x.shape[0], tokens)
    raise Unknown("rank")


@layer("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
def conv_lstm(c: Call):
    n = _conv_dims(c)
    x = _sequences(c)
    c.rank(
        x,
        n + 3,
        expected=f"a tensor of rank {n + 3} (batch, timesteps, "
        + ("spatial axes, channels)" if _channels_last(c) else "channels, spatial axes)"),
    )
    step = Tensor((x.shape[0], *x.shape[2:]), x.dtype, x.origin)
    w = _conv_args(c, step)
    filters, ch_axis = w.filters, w.ch_axis
    in_ch = c.known(x, ch_axis + 1)
    out = w.out(c, x, lead=1)
    k = math.prod(w.kernel)
    c.weights(
        4 * (k * in_ch * filters + k * filters * filters)
        + 4 * filters * bool(c.arg("use_bias", True))
    )
    positions, steps = size(out), x.shape[1]
    c.macs = (
        None
        if positions is None or steps is None
        else steps * positions * 4 * k * filters * (in_ch + filters)
    )
    state = _put(step, out, filters, ch_axis)
    result = (x.shape[0], steps, *state[1:]) if c.arg("return_sequences", False) else state
    return [result, state, state] if c.arg("return_state", False) else result


@layer("GroupQueryAttention")
def group_query_attention(c: Call):
    q, v, k = _query_value_key(c)
    hd, hq, hkv = c.arg("head_dim"), c.arg("num_query_heads"), c.arg("num_key_value_heads")
    if not all(is_int(v_) for v_ in (hd, hq, hkv)):
        raise Unknown("heads")
    if q.shape[-1] != v.shape[-1] or v.shape[1:-1] != k.shape[1:-1]:
        raise c.mismatch(
            [q, v, k],
            "query and value need the same last axis, and value and key the "
            "same shape but for the last axis",
        )
    for t in (q, k, v):
        c.rank(t, 3)
        c.known(t, -1)
    dq, dk, dv = q.shape[-1], k.shape[-1], v.shape[-1]
    bias = bool(c.arg("use_bias", True))
    params = (
        (dq + bias) * hq * hd
        + (dk + bias) * hkv * hd
        + (dv + bias) * hkv * hd
        + hq * hd * dq
        + bias * dq
    )
    if c.arg("use_gate", False):
        params += (dq + bias) * hq * hd
    c.weights(params)
    tq, tk = q.shape[1], k.shape[1]
    c.macs = (
        None
        if tq is None or tk is None
        else (
            tq * dq * hq * hd
            + tk * (dk + dv) * hkv * hd
            + 2 * hq * tq * tk * hd
            + tq * hq * hd * dq
            + (tq * dq * hq * hd if c.arg("use_gate", False) else 0)
        )
    )
    return q.shape


@layer("RandomCrop")
def random_crop(c: Call):
    return resizing(c)


@layer("Hashing", "Discretization")
def hashing(c: Call):
    x = c.x
    mode = c.arg("output_mode", "int")
    if mode != "int" or "dtype" in c.args:
        raise Unknown("output_mode")
    return Tensor(x.shape, "int64" if c.type == "Hashing" else "int32")


@layer("SpectralNormalization")
def spectral_normalization(c: Call):
    from . import LAYERS

    kind, args = _nested(c, "layer")
    rule = LAYERS.get(kind)
    if rule is None or kind not in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Embedding"):
        raise Unknown("a wrapped layer without a rule")
    inner = Call(c.what, kind, args, c.x, "single", ("inputs",))
    result = rule(inner)
    if kind == "Embedding":
        out_dim = args["output_dim"]
    else:
        out_dim = args["units"] if kind == "Dense" else args["filters"]
    c.params, c.non_trainable = inner.params + out_dim, inner.non_trainable + out_dim
    c.macs = inner.macs
    c.warnings += inner.warnings
    return result
