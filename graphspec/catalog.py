"""Signatures of Keras's built-in layers and ops, so that validation never imports Keras.

`catalog.json` beside this file is generated from the installed Keras by
`python scripts/update_catalog.py`; `tests/test_catalog.py` fails when it is stale.
Only `generate()` imports Keras.
"""

from __future__ import annotations

import functools
import inspect
import json
from importlib import resources

CATALOG_FILE = "catalog.json"

# Layers that a spec cannot describe: they hold Python callables or foreign objects, or load
# files. Each maps to the reason shown to the user.
UNSUPPORTED_LAYERS = {
    "Lambda": "a Lambda holds Python code; register the function with graphspec.register_op "
              "and use an 'op' node, which also reloads in Keras's safe mode",
    "Layer": "the abstract base class; register a subclass with graphspec.register_layer",
    "InputLayer": "inputs are declared under 'inputs'",
    "Input": "inputs are declared under 'inputs'",
    "InputSpec": "not a layer",
    "Wrapper": "an abstract base class; use Bidirectional or TimeDistributed",
    "TFSMLayer": "it loads a SavedModel from disk at build time",
    "TorchModuleWrapper": "it wraps a Python object",
    "JaxLayer": "it wraps a Python function",
    "FlaxLayer": "it wraps a Python object",
}

# How several inputs reach a layer's call. Merge layers and Attention take one list; the
# attention layers below take separate positional tensors. Everything else takes one tensor.
_LIST_INPUT = {"Attention": (2, 3), "AdditiveAttention": (2, 3), "HashedCrossing": (2, None),
               "CustomScaleLayer": (2, 2)}
_POSITIONAL_INPUTS = {"MultiHeadAttention": ("query", "value", "key"),
                      "GroupQueryAttention": ("query", "value", "key")}
# Output count of recurrent layers with `return_state: true`: the output plus the states.
_STATE_OUTPUTS = {"LSTM": 3, "GRU": 2, "SimpleRNN": 2, "ConvLSTM1D": 3, "ConvLSTM2D": 3,
                  "ConvLSTM3D": 3}
# Outputs that depend on call arguments or on the wrapped layer: `node:k` is checked at build.
_UNKNOWN_OUTPUTS = {"MultiHeadAttention", "GroupQueryAttention", "Attention",
                    "AdditiveAttention", "RNN", "Bidirectional", "TimeDistributed", "Pipeline"}
_OP_SUBMODULES = ("image", "linalg")  # keras.ops.nn and keras.ops.numpy repeat top-level names


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """The shipped catalog (read once per process)."""
    return json.loads(resources.files(__package__).joinpath(CATALOG_FILE).read_text("utf-8"))


def layer(name: str) -> dict | None:
    return load()["layers"].get(name)


def op(name: str) -> dict | None:
    return load()["ops"].get(name)


# -- generation (imports Keras) -------------------------------------------------------------

def _params(fn) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return []


def layer_entry(cls, base_args: list[str] | None = None) -> dict:
    """Describe a Layer class from its signatures (imports Keras)."""
    import keras

    if base_args is None:
        base_args = _base_args()

    args: list[str] = []
    own = _params(cls.__init__)
    required = [p.name for p in own if p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    # Follow **kwargs up the MRO: a subclass forwards unknown keywords to its parent.
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is keras.layers.Layer:
            break
        params = _params(klass.__init__)
        args += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                 and p.name not in args]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    args = [a for a in args if a != "name"] + [a for a in base_args if a not in args]
    call = [p.name for p in _params(cls.call)
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    entry = {"args": sorted(args), "required": required, "call": call}
    from keras.src.layers.merging.base_merge import Merge

    name = cls.__name__
    if issubclass(cls, Merge):
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
    params = list(inspect.signature(fn).parameters.values())
    return {
        "positional": [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
        "keyword": [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)],
        "required": [p.name for p in params if p.default is p.empty
                     and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)],
        "varargs": next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None),
        "any_kwargs": any(p.kind is p.VAR_KEYWORD for p in params),
    }


def _base_args() -> list[str]:
    import keras

    return [p.name for p in _params(keras.layers.Layer.__init__)
            if p.kind is p.KEYWORD_ONLY and p.name != "name"]


def _application_layers() -> dict:
    """Layer classes that keras.applications models use but keras.layers does not export
    (ConvNeXt's LayerScale, ...), so that exported application models rebuild."""
    import importlib
    import pkgutil

    import keras
    import keras.src.applications as apps

    found = {}
    for info in sorted(pkgutil.iter_modules(apps.__path__), key=lambda i: i.name):
        if info.name.endswith("_test"):
            continue
        module = importlib.import_module(f"{apps.__name__}.{info.name}")
        for name, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
                    and obj.__module__ == module.__name__ and not hasattr(keras.layers, name)):
                found[name] = obj
    return found


def generate() -> dict:
    """Read the signatures from the installed Keras."""
    import keras

    base = _base_args()
    layers = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if (name.startswith("_") or name in UNSUPPORTED_LAYERS or not inspect.isclass(obj)
                or not issubclass(obj, keras.layers.Layer)):
            continue
        layers[name] = layer_entry(obj, base)
    for name, obj in _application_layers().items():
        layers[name] = {**layer_entry(obj, base), "module": obj.__module__}
    ops = {}
    for prefix, module in [("", keras.ops)] + [(m + ".", getattr(keras.ops, m)) for m in _OP_SUBMODULES]:
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("_") or inspect.isclass(fn) or not callable(fn):
                continue
            ops[prefix + name] = _op_entry(fn)
    return {"keras_version": keras.__version__, "layers": layers, "ops": ops}


def dumps(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"
