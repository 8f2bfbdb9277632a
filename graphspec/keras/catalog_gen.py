"""Generation of `graphspec/catalog.json`: the signatures of the installed Keras's layers and
ops, read once here so that validation (`graphspec.catalog`) never imports Keras.

Run `python scripts/update_catalog.py` after upgrading Keras; `tests/test_catalog.py` fails
while the shipped catalog differs from what `generate()` returns.
"""

from __future__ import annotations

import inspect
import json

import keras

from ..catalog import UNSUPPORTED_LAYERS
from ..signatures import classify, defaults
from . import _private

# How several inputs reach a layer's call. Merge layers and Attention take one list; the
# attention layers below take separate positional tensors. Everything else takes one tensor.
_LIST_INPUT = {
    "Attention": (2, 3),
    "AdditiveAttention": (2, 3),
    "HashedCrossing": (2, None),
    "CustomScaleLayer": (2, 2),
}
_POSITIONAL_INPUTS = {
    "MultiHeadAttention": ("query", "value", "key"),
    "GroupQueryAttention": ("query", "value", "key"),
}
# Output count of recurrent layers with `return_state: true`: the output plus the states.
_STATE_OUTPUTS = {
    "LSTM": 3,
    "GRU": 2,
    "SimpleRNN": 2,
    "ConvLSTM1D": 3,
    "ConvLSTM2D": 3,
    "ConvLSTM3D": 3,
}
# Outputs that depend on call arguments or on the wrapped layer: `node:k` is checked at build.
_UNKNOWN_OUTPUTS = {
    "MultiHeadAttention",
    "GroupQueryAttention",
    "Attention",
    "AdditiveAttention",
    "RNN",
    "Bidirectional",
    "TimeDistributed",
    "Pipeline",
}
_OP_SUBMODULES = ("image", "linalg")  # keras.ops.nn and keras.ops.numpy repeat top-level names
# Metric strings `model.compile` resolves itself (in any case) before asking
# keras.metrics.get: accuracy picks binary, categorical or sparse accuracy from the shapes.
_COMPILE_METRICS = ("accuracy", "acc", "crossentropy", "ce")


def _params(fn) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return []


def layer_entry(cls, base_args: list[str] | None = None) -> dict:
    """Describe a Layer class from its signatures."""
    if base_args is None:
        base_args = _base_args()

    args: list[str] = []
    found: dict = {}  # defaults, a subclass's over its parents'
    own = _params(cls.__init__)
    required = [
        p.name
        for p in own
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    # Follow **kwargs up the MRO: a subclass forwards unknown keywords to its parent.
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is keras.layers.Layer:
            break
        params = _params(klass.__init__)
        args += [
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in args
        ]
        found = {**defaults(params), **found}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    args = [a for a in args if a != "name"] + [a for a in base_args if a not in args]
    found = {**defaults(_params(keras.layers.Layer.__init__)), **found}
    call = [
        p.name for p in _params(cls.call) if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    entry = {
        "args": sorted(args),
        "required": required,
        "call": call,
        "defaults": {k: v for k, v in sorted(found.items()) if k in args},
    }
    name = cls.__name__
    if issubclass(cls, _private.merge_layer_base()):
        entry["inputs"] = [2, 2 if name in ("Subtract", "Dot") else None]
        entry["input_form"] = "list"
    elif name in _LIST_INPUT:
        entry["inputs"] = list(_LIST_INPUT[name])
        entry["input_form"] = "list"
    elif name in _POSITIONAL_INPUTS:
        entry["inputs"] = [2, len(_POSITIONAL_INPUTS[name])]
        entry["input_form"] = "positional"
    else:
        entry["inputs"] = [1, 1]
        entry["input_form"] = "single"
    if name in _UNKNOWN_OUTPUTS:
        entry["outputs"] = None
    elif name in _STATE_OUTPUTS:
        entry["outputs"] = {"return_state": _STATE_OUTPUTS[name]}
    else:
        entry["outputs"] = 1
    return entry


def _op_entry(fn) -> dict:
    return classify(inspect.signature(fn).parameters.values()).to_entry()


def _base_args() -> list[str]:
    return [
        p.name
        for p in _params(keras.layers.Layer.__init__)
        if p.kind is p.KEYWORD_ONLY and p.name != "name"
    ]


def generate() -> dict:
    """Read the signatures from the installed Keras."""
    base = _base_args()
    layers = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if (
            name.startswith("_")
            or name in UNSUPPORTED_LAYERS
            or not inspect.isclass(obj)
            or not issubclass(obj, keras.layers.Layer)
        ):
            continue
        layers[name] = layer_entry(obj, base)
    for name, obj in _private.application_layers().items():
        layers[name] = {**layer_entry(obj, base), "module": obj.__module__}
    ops = {}
    for prefix, module in [("", keras.ops)] + [
        (m + ".", getattr(keras.ops, m)) for m in _OP_SUBMODULES
    ]:
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("_") or inspect.isclass(fn) or not callable(fn):
                continue
            ops[prefix + name] = _op_entry(fn)
    return {"keras_version": keras.__version__, "layers": layers, "ops": ops, **compile_names()}


def compile_names() -> dict[str, list[str]]:
    """The optimizer, loss and metric names a spec's `compile` section may use: each one
    that Keras's own getter turns into a usable object (abstract bases and classes that need
    arguments, such as MeanIoU, are left out: a name alone cannot make them)."""
    getters = {
        "optimizers": (keras.optimizers.get, keras.optimizers.Optimizer),
        "losses": (keras.losses.get, keras.losses.Loss),
        "metrics": (keras.metrics.get, keras.metrics.Metric),
    }
    found = {}
    for kind, names in _private.compile_names().items():
        get, base = getters[kind]
        found[kind] = [name for name in names if _made_by(get, base, name)]
    found["metrics"] = sorted(set(found["metrics"]) | set(_COMPILE_METRICS))
    return found


def _made_by(get, base: type, name: str) -> bool:
    try:
        made = get(name)
    except Exception:  # Keras's reason does not matter here: the name alone is not enough
        return False
    return type(made) is not base


def dumps(catalog: dict) -> str:
    """The catalog as the text of catalog.json."""
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"
