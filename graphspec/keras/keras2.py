"""Keras 2 models (tf.keras before TF 2.16, standalone Keras 2) -> specs, and their weights.

A Keras 2 model arrives as the JSON of `model.to_json()` or as an HDF5 `.h5` file written by
`model.save`. Both are read as plain data, never given to Keras to deserialize: the config
is `json.loads` of the file (or of the `.h5` file's `model_config` attribute, read with
h5py), there is no pickle, and a `Lambda` layer's bytecode is never looked at (it is an
error naming the layer). Keras 2's names and argument conventions are translated to Keras
3's, layer by layer: what has no exact Keras 3 counterpart is an ExportError naming the layer,
its class and where it sits in the config, never a silent approximation.

Each translated layer is then created once by Keras 3 from checked plain values (a built-in
class of `keras.layers`, built-in initializers and activations), which confirms that Keras 3
takes the arguments and lets `export.ArgMinimizer` write only those that differ from the
defaults. The wiring (Keras 2's `inbound_nodes`, shared layers, `node:k` outputs, nested
models) is read from the config as data.

`transfer_weights` copies the `.h5` file's weights into a model built from the spec,
matching layers by name, and reports what it could not match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from ..document import FORMAT_VERSION
from ..errors import ExportError, did_you_mean, pointer
from ..registry import LAYERS
from ..signatures import builtin_op
from .export import ArgMinimizer, _with_in, layer_type
from .export import _unique as _free_name

SUFFIXES = (".h5", ".hdf5", ".json")
_MAX_JSON = 256 * 2**20  # a model's config is kilobytes to a few megabytes

_MODELS = {"Functional": "functional", "Model": "functional", "Sequential": "sequential"}

# Keras 2 class names that Keras 3 spells differently (aliases and short-lived TF names).
_RENAMED = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "Deconvolution2D": "Conv2DTranspose",
    "Convolution2DTranspose": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D",
    "SeparableConvolution2D": "SeparableConv2D",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "UnifiedLSTM": "LSTM",
    "UnifiedGRU": "GRU",
    "BatchNormalizationV1": "BatchNormalization",
    "BatchNormalizationV2": "BatchNormalization",
}

# Keras 2 layers without an exact Keras 3 counterpart, and why.
_NO_COUNTERPART = {
    "ThresholdedReLU": "Keras 3 removed it; ReLU(threshold=theta) differs at x == theta",
    "LocallyConnected1D": "Keras 3 removed locally connected layers",
    "LocallyConnected2D": "Keras 3 removed locally connected layers",
    "CuDNNLSTM": "its weights are laid out for cuDNN; re-save the model with LSTM first",
    "CuDNNGRU": "its weights are laid out for cuDNN; re-save the model with GRU first",
    "DenseFeatures": "feature columns do not exist in Keras 3",
    "SequenceFeatures": "feature columns do not exist in Keras 3",
}

# The legacy `Merge` layer (Keras 2.0, 2.1): each named mode and the Keras 3 layer for it.
_MERGE_MODES = {
    "sum": "Add",
    "mul": "Multiply",
    "ave": "Average",
    "max": "Maximum",
    "concat": "Concatenate",
    "dot": "Dot",
}

# Where the model's input shape is written on a layer; never a constructor argument here.
_INPUT_KEYS = ("batch_input_shape", "batch_shape", "input_shape")

_ANY = object()
_RECURRENT = {
    "LSTM",
    "GRU",
    "SimpleRNN",
    "RNN",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Bidirectional",
}
_BN = ("BatchNormalization",)
_SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
# Keras 2 arguments that Keras 3 removed: (the value at which dropping one changes nothing,
# the layers that had it). Another value is an error naming the argument.
_DROPPED = {
    "time_major": (False, _RECURRENT),
    # how the recurrent kernels are grouped into matrix products, not what they compute
    "implementation": (_ANY, ("LSTM", "GRU", "LSTMCell", "GRUCell")),
    "fused": (_ANY, _BN),  # which TensorFlow kernel ran it
    "virtual_batch_size": (None, _BN),
    "adjustment": (None, _BN),
    "input_length": (_ANY, ("Embedding",)),  # a shape check; the input's shape says it
    "sparse": (False, ("Embedding",)),
    "query_shape": (_ANY, ("MultiHeadAttention",)),  # the shapes it was built with
    "key_shape": (_ANY, ("MultiHeadAttention",)),
    "value_shape": (_ANY, ("MultiHeadAttention",)),
    "groups": (1, ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D")),
    "causal": (False, ("Attention", "AdditiveAttention")),  # Keras 3: use_causal_mask in calls
    # Keras 2 wrote its base class's kernel_* on SeparableConv, which never used them.
    "kernel_initializer": (_ANY, _SEPARABLE),
    "kernel_regularizer": (_ANY, _SEPARABLE),
    "kernel_constraint": (_ANY, _SEPARABLE),
}
_RENORM = ("renorm", "renorm_clipping", "renorm_momentum")

# Activations whose Keras 2 and Keras 3 functions differ (Keras 2's hard_sigmoid is
# clip(0.2 x + 0.5, 0, 1); Keras 3's is relu6(x + 3) / 6).
_CHANGED_ACTIVATIONS = {
    "hard_sigmoid": "Keras 2 computes clip(0.2 * x + 0.5, 0, 1), Keras 3 relu6(x + 3) / 6"
}

# TensorFlow functions that Keras 2 recorded as TFOpLambda layers (`x + 3.0`, `tf.concat`),
# and the keras.ops function that computes the same: (op, its parameter for the function's
# first argument, the function's keyword arguments -> the op's). Keras 2 names the call's
# other arguments by the TensorFlow function's parameters. Most functions pass their
# arguments on in one of a few ways, each named once:
_BINARY = ("x1", {"y": "x2"})
_REDUCE = ("x", {"axis": "axis", "keepdims": "keepdims"})
_UNARY = ("x", {})
_ALONG_AXIS = ("x", {"axis": "axis"})
_TF_OPS = {
    "__operators__.add": ("add", *_BINARY),
    "math.add": ("add", *_BINARY),
    "math.subtract": ("subtract", *_BINARY),
    "math.multiply": ("multiply", *_BINARY),
    "math.truediv": ("true_divide", *_BINARY),
    "math.maximum": ("maximum", *_BINARY),
    "math.minimum": ("minimum", *_BINARY),
    "math.pow": ("power", *_BINARY),
    "math.reduce_mean": ("mean", *_REDUCE),
    "math.reduce_sum": ("sum", *_REDUCE),
    "math.reduce_max": ("max", *_REDUCE),
    "math.reduce_min": ("min", *_REDUCE),
    "nn.relu": ("relu", *_UNARY),
    "nn.relu6": ("relu6", *_UNARY),
    "math.sigmoid": ("sigmoid", *_UNARY),
    "nn.sigmoid": ("sigmoid", *_UNARY),
    "math.tanh": ("tanh", *_UNARY),
    "nn.tanh": ("tanh", *_UNARY),
    "nn.softmax": ("softmax", *_ALONG_AXIS),
    "math.exp": ("exp", *_UNARY),
    "math.sqrt": ("sqrt", *_UNARY),
    "math.abs": ("absolute", *_UNARY),
    "math.square": ("square", *_UNARY),
    "math.negative": ("negative", *_UNARY),
    "concat": ("concatenate", "xs", {"axis": "axis"}),
    "expand_dims": ("expand_dims", *_ALONG_AXIS),
    "transpose": ("transpose", "x", {"perm": "axes"}),
}
_CONSTANT = "_CONSTANT_VALUE"  # Keras 2's first argument that is not a tensor (`1.0 - x`)

_BAD_NAME = re.compile(r"[/:]")


@dataclass(frozen=True)
class _Ref:
    """Output `index` of call `call` of the layer `layer`, as Keras 2 numbers them."""

    layer: str
    call: int
    index: int


def _is_ref(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) in (3, 4)
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and isinstance(value[2], int)
    )


# -- reading files ---------------------------------------------------------------------------


def read_config(path: str | Path) -> dict:
    """The model config of a Keras 2 `.h5` or `.json` file, as plain data:
    `{"class_name": ..., "config": ...}`. Raises ExportError naming the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(
            f"'{path}' is not a Keras 2 model file. Expected a .h5 file "
            f"(model.save) or a .json file (model.to_json()). Received suffix: "
            f"'{suffix}'"
        )
    if not path.is_file():
        raise ExportError(f"'{path}' does not exist or is not a file")
    if suffix == ".json":
        if path.stat().st_size > _MAX_JSON:
            raise ExportError(
                f"'{path}' is larger than {_MAX_JSON // 2**20} MB: not a model's JSON"
            )
        text, version = path.read_bytes(), None
    else:
        text, version = _h5_config(path)
    try:
        config = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"'{path}' does not hold a model's JSON: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), (dict, list)):
        raise ExportError(
            f"'{path}' holds JSON that describes no model (expected the output "
            'of model.to_json(): {"class_name": ..., "config": ...})'
        )
    version = str(config.get("keras_version") or version or "")
    if version.startswith("1."):
        raise ExportError(
            f"'{path}' was written by Keras {version}, whose argument names "
            "Keras 2 renamed: load and save it with Keras 2 first"
        )
    return config


def _h5_config(path: Path) -> tuple[str, str | None]:
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            if "model_config" not in attrs:
                what = (
                    "only weights (model.save_weights)"
                    if "layer_names" in attrs or "layers" in f or "model_weights" in f
                    else "no Keras model"
                )
                raise ExportError(
                    f"'{path}' holds {what}: export the architecture from the "
                    "model's JSON (model.to_json()) or a full model.save file"
                )
            version = attrs.get("keras_version")
            return _text(attrs["model_config"]), _text(version) if version is not None else None
    except OSError as exc:
        raise ExportError(f"'{path}' is not an HDF5 file that h5py can read: {exc}") from None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -- translation -----------------------------------------------------------------------------


def load_keras2(path: str | Path) -> dict:
    """The spec (plain data) of the Keras 2 model in a `.h5` or `.json` file. Raises
    ExportError naming the file, the layer, its class and its place in the config for
    anything without an exact Keras 3 counterpart."""
    config = read_config(path)
    try:
        return from_config(config)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from None


def from_config(config: dict) -> dict:
    """The spec (plain data) of a Keras 2 model config (`json.loads(model.to_json())`)."""
    try:
        return _Translator(ArgMinimizer()).document(config)
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        # The config is data from a file: a value of the wrong type where the format has
        # a mapping or a list is a damaged or foreign config, not a crash.
        raise ExportError(
            f"not a Keras model config that graphspec can read ({type(exc).__name__}: {exc})"
        ) from None


class _Translator:
    def __init__(self, minimizer: ArgMinimizer, nested: bool = False):
        self.minimizer = minimizer
        self.nested = nested
        self.blocks: dict[str, dict] = {}

    def document(self, top: dict) -> dict:
        kind = _MODELS.get(top.get("class_name"))
        if kind is None:
            raise ExportError(
                f"the file holds a {top.get('class_name')!r}, not a Sequential "
                "or functional model: a subclassed model's call() is Python "
                "code, with no graph a spec can describe"
            )
        config = top["config"]
        body = (
            self.sequential(config, ("config",))
            if kind == "sequential"
            else self.functional(config, ("config",))
        )
        doc: dict = {"graphspec": FORMAT_VERSION, "name": _model_name(config, "model")}
        if kind == "functional":
            doc["model"] = "functional"  # a chain would otherwise come back as a Sequential
        if self.blocks:
            doc["blocks"] = self.blocks
        doc.update(body)
        return doc

    # -- models --------------------------------------------------------------------------------
    def sequential(self, config: Any, loc: tuple) -> dict:
        layers, at = (
            (config, loc) if isinstance(config, list) else (config.get("layers"), loc + ("layers",))
        )
        if not isinstance(layers, list) or not layers:
            raise ExportError(f"{pointer(at)}: a Sequential model without layers")
        for i, entry in enumerate(layers):
            if not isinstance(entry, dict) or not isinstance(entry.get("config"), (dict, list)):
                raise ExportError(f"{pointer(at + (i,))}: not a layer ({{class_name, config}})")
        entries = list(enumerate(layers))
        first_at, first = entries[0]
        if first.get("class_name") == "InputLayer":
            name, spec = _input(first, at + (first_at,))
            entries = entries[1:]
        else:
            name, spec = _sequential_input(config, first, at + (first_at,))
        _check_names({_layer_name(entry): (at + (i,), entry) for i, entry in entries})
        nodes = [self.layer(entry, at + (i,))[0] for i, entry in entries]
        return {"inputs": {name: spec}, "layers": nodes}

    def functional(self, config: dict, loc: tuple) -> dict:
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ExportError(f"{pointer(loc)}: a functional model without a list of layers")
        entries: dict[str, tuple[tuple, dict]] = {}
        for i, entry in enumerate(layers):
            at = loc + ("layers", i)
            if not isinstance(entry, dict) or not isinstance(entry.get("config"), (dict, list)):
                raise ExportError(f"{pointer(at)}: not a layer ({{class_name, config}})")
            name = entry.get("name") or _layer_name(entry)
            if name in entries:
                raise ExportError(f"{pointer(at)}: two layers are both named '{name}'")
            entries[name] = (at, entry)
        _check_names(entries)
        graph = _Wiring(entries, config.get("output_layers"), loc)

        inputs = {}
        for ref in _leaves(config.get("input_layers"), loc + ("input_layers",)):
            if ref.layer not in entries or entries[ref.layer][1].get("class_name") != "InputLayer":
                raise ExportError(
                    f"{pointer(loc + ('input_layers',))}: the model input "
                    f"'{ref.layer}' is not an InputLayer of the model"
                )
            at, entry = entries[ref.layer]
            inputs[spec_name(ref.layer)] = _input(entry, at)[1]

        nodes: list[dict] = []
        for name, (at, entry) in entries.items():
            if entry.get("class_name") == "InputLayer":
                continue
            calls = graph.calls[name]
            if not calls:
                continue  # a layer of the config that the model never calls
            tf_op = entry.get("class_name") == "TFOpLambda"
            node, kind = (None, "") if tf_op else self.layer(entry, at)
            for k, call in enumerate(calls):
                if tf_op:  # an op has no weights: each call is a node of its own
                    node, wired = graph.tf_op(
                        entry, call, graph.names[name][k], at + ("inbound_nodes", k)
                    )
                else:
                    wired = graph.inputs(call, kind, at + ("inbound_nodes", k))
                this = (
                    node
                    if k == 0 or tf_op
                    else {"name": graph.names[name][k], "share": graph.names[name][0]}
                )
                previous = (
                    nodes[-1]["name"]
                    if nodes
                    else (next(iter(inputs)) if len(inputs) == 1 else None)
                )
                if not (isinstance(wired, str) and wired == previous):
                    this = _with_in(this, wired)
                nodes.append(this)
        outputs_at = loc + ("output_layers",)
        outputs = _map(config.get("output_layers"), lambda r: graph.ref(r, outputs_at), outputs_at)
        return {"inputs": inputs, "layers": nodes, "outputs": outputs}

    def nested_model(self, entry: dict, kind: str, loc: tuple) -> str:
        name = spec_name(_layer_name(entry))
        if self.nested:
            raise ExportError(
                f"{pointer(loc)}: model '{name}' nests a model in a model that "
                "is nested itself; one level of nesting is supported"
            )
        if name in self.blocks:
            raise ExportError(f"{pointer(loc)}: two nested models are both named '{name}'")
        inner = _Translator(self.minimizer, nested=True)
        config = entry["config"]
        body = (
            inner.sequential(config, loc + ("config",))
            if kind == "sequential"
            else inner.functional(config, loc + ("config",))
        )
        block = {"nested": True, "inputs": list(body["inputs"]), "layers": body["layers"]}
        if kind == "functional":
            block["model"] = "functional"
            block["outputs"] = body["outputs"]
        self.blocks[name] = block
        return name

    # -- layers --------------------------------------------------------------------------------
    def layer(self, entry: dict, loc: tuple) -> tuple[dict, str]:
        """The node of one Keras 2 layer (without `in`) and its Keras 3 class name."""
        cls, config = entry.get("class_name"), entry.get("config")
        name = _layer_name(entry)
        if cls in _MODELS:
            block = self.nested_model(entry, _MODELS[cls], loc)
            return {"name": spec_name(name), "block": block}, cls
        if str(entry.get("module") or "").startswith(("keras.src.ops", "keras.ops")):
            raise ExportError(
                f"{pointer(loc)}: '{name}' ({cls}) is a Keras 3 operation: save "
                "the model as .keras and export that"
            )
        kind, args = _translate(cls, config, loc, name)
        layer = _make(kind, args, loc, spec_name(name))
        node: dict = {"name": spec_name(name), "layer": layer_type(layer)}
        minimal = _dtype_names(self.minimizer.args(layer, node["layer"]))
        if minimal:
            node["args"] = minimal
        return node, kind


def _translate(cls: Any, config: Any, loc: tuple, name: str) -> tuple[str, dict]:
    """A Keras 2 layer's (class name, config) as (Keras 3 class name, constructor args)."""
    what = f"{pointer(loc)}: layer '{name}' ({cls})"
    if not isinstance(config, dict):
        raise ExportError(f"{what} has no config mapping")
    if cls == "Lambda":
        raise ExportError(
            f"{what} is a Lambda layer, which holds Python bytecode that "
            "graphspec never loads (it could run anything). Register the "
            "function with graphspec.register_op and use an op node instead"
        )
    if cls in ("TFOpLambda", "SlicingOpLambda"):
        raise ExportError(
            f"{what} applies the TensorFlow function "
            f"'tf.{config.get('function')}' directly to a tensor, and no "
            "keras.ops function is known to compute exactly the same (known: "
            f"{', '.join('tf.' + f for f in _TF_OPS)}). Replace it with a "
            "layer in the Keras 2 model, or write the op node by hand"
        )
    if cls in _NO_COUNTERPART:
        raise ExportError(f"{what} has no Keras 3 counterpart: {_NO_COUNTERPART[cls]}")
    if cls == "Merge":
        cls, config = _merge(config, what)
    if isinstance(cls, str) and ">" in cls:  # a registered custom class: "package>Name"
        cls = cls.rsplit(">", 1)[-1]
    kind = _RENAMED.get(cls, cls)
    if not _known_layer(kind):
        known = [n for n in dir(keras.layers) if n[:1].isupper()]
        hint = did_you_mean(kind, known)
        raise ExportError(
            f"{what} has no Keras 3 counterpart: keras.layers has no '{kind}' "
            "and no plugin registered one (graphspec.register_layer)"
            + (f"; {hint}" if hint else "")
        )
    return kind, _args(kind, config, loc, what)


def _known_layer(kind: str) -> bool:
    if LAYERS.get(kind) is not None:
        return True
    cls = getattr(keras.layers, kind, None)
    return (
        isinstance(cls, type)
        and issubclass(cls, keras.layers.Layer)
        and LAYERS.signature(kind) is not None
    )


def _merge(config: dict, what: str) -> tuple[str, dict]:
    mode = config.get("mode")
    if config.get("layers") or not isinstance(mode, str) or mode not in _MERGE_MODES:
        raise ExportError(
            f"{what} merges with mode {mode!r}, which no Keras 3 layer computes "
            f"exactly (known modes: {', '.join(_MERGE_MODES)})"
        )
    kind = _MERGE_MODES[mode]
    out = {"name": config.get("name")}
    if kind == "Concatenate":
        out["axis"] = config.get("concat_axis", -1)
    elif kind == "Dot":
        out["axes"] = config.get("dot_axes", -1)
    return kind, out


def _args(kind: str, config: dict, loc: tuple, what: str) -> dict:
    """Keras 2 config -> Keras 3 constructor arguments, with nested layers as `{layer, args}`."""
    out: dict = {}
    renorm = bool(config.get("renorm"))
    for key, value in config.items():
        if key == "name" or key in _INPUT_KEYS or (key in _RENORM and not renorm):
            continue
        neutral, classes = _DROPPED.get(key, (None, ()))
        if kind in classes and (neutral is _ANY or value == neutral):
            continue
        if kind in classes:
            raise ExportError(
                f"{what} sets {key}={value!r}, which Keras 3 cannot do: it has no '{key}' argument"
            )
        out[key] = _value(key, value, loc + ("config", key), what)
    if kind == "LeakyReLU" and "alpha" in out:  # renamed in Keras 3
        out["negative_slope"] = out.pop("alpha")
    if kind == "BatchNormalization" and isinstance(out.get("axis"), list):
        if len(out["axis"]) != 1:
            raise ExportError(
                f"{what} normalizes over the axes {out['axis']}; Keras 3's "
                "BatchNormalization takes one axis"
            )
        out["axis"] = out["axis"][0]
    return out


def _value(key: str, value: Any, loc: tuple, what: str) -> Any:
    if key == "dtype":
        return _dtype(value, what)
    if key in ("activation", "recurrent_activation"):
        return _activation(value, what, key)
    for suffix, module in (
        ("_initializer", keras.initializers),
        ("_regularizer", keras.regularizers),
        ("_constraint", keras.constraints),
    ):
        if key.endswith(suffix):
            return _object(value, module, what, key)
    if key in ("layer", "backward_layer", "cell") and isinstance(value, dict):
        return _nested_layer(value, loc, what)
    if key == "cells" and isinstance(value, list):
        return [_nested_layer(v, loc + (i,), what) for i, v in enumerate(value)]
    if isinstance(value, dict) and "class_name" in value:
        raise ExportError(
            f"{what} has an argument {key} of class {value['class_name']}, "
            "which graphspec does not translate"
        )
    return value


def _nested_layer(value: dict, loc: tuple, what: str) -> dict:
    cls, config = value.get("class_name"), value.get("config")
    name = config.get("name", "?") if isinstance(config, dict) else "?"
    if cls in _MODELS:
        raise ExportError(f"{what} wraps a model ('{name}'); a wrapper takes a layer here")
    kind, args = _translate(cls, config, loc, name)
    return {"layer": kind, "args": args}


def _dtype(value: Any, what: str) -> Any:
    """A dtype name or a dtype policy's name (`mixed_float16`): Keras 3 takes both."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") in (
        "Policy",
        "DTypePolicy",
        "PolicyV1",
        "FloatDTypePolicy",
    ):
        name = (value.get("config") or {}).get("name")
        if isinstance(name, str):
            return name
    raise ExportError(f"{what} has the dtype {value!r}, which is not a dtype or a dtype policy")


def _activation(value: Any, what: str, key: str) -> str:
    if (
        isinstance(value, dict)
        and value.get("class_name") in ("function", "Activation")
        and isinstance(value.get("config"), str)
    ):
        value = value["config"]  # a function serialized with its module (Keras 2.13+)
    if not isinstance(value, str):
        raise ExportError(f"{what} has {key}={value!r}, not the name of an activation")
    if value in _CHANGED_ACTIVATIONS:
        raise ExportError(
            f"{what} uses the activation '{value}' ({key}), which has no exact "
            f"Keras 3 counterpart: {_CHANGED_ACTIVATIONS[value]}"
        )
    try:
        keras.activations.get(value)
    except Exception:
        raise ExportError(
            f"{what} uses the activation '{value}' ({key}), which Keras 3 does "
            "not have (a custom function of the Keras 2 model?)"
        ) from None
    return value


def _object(value: Any, module, what: str, key: str) -> Any:
    """An initializer, regularizer or constraint: a name, or `{class_name, config}` with a
    class of the Keras 3 module (Keras 2.13+ writes `module` and `registered_name` too)."""
    kind = module.__name__.rsplit(".", 1)[-1]
    if value is None or isinstance(value, str):
        obj = value
    elif isinstance(value, dict) and isinstance(value.get("class_name"), str):
        config = dict(value.get("config") or {})
        if value["class_name"] == "VarianceScaling" and config.get("distribution") == "normal":
            config["distribution"] = "truncated_normal"  # what Keras 2 did with "normal"
        obj = {"class_name": value["class_name"], "config": config}
        cls = getattr(module, value["class_name"], None)
        if not isinstance(cls, type):
            raise ExportError(
                f"{what} has {key} of class {value['class_name']}, which keras.{kind} does not have"
            )
    else:
        raise ExportError(f"{what} has {key}={value!r}, which is not one of keras.{kind}")
    try:
        module.get(obj)
    except Exception as exc:
        raise ExportError(
            f"{what} has {key}={value!r}, which keras.{kind} cannot make: {exc}"
        ) from None
    return obj


def _make(kind: str, args: dict, loc: tuple, name: str):
    """The Keras 3 layer for translated args (nested `{layer, args}` made first)."""

    def materialize(value):
        if isinstance(value, dict) and isinstance(value.get("layer"), str) and "args" in value:
            return _layer_class(value["layer"])(**materialize(value["args"]))
        if isinstance(value, dict):
            return {k: materialize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [materialize(v) for v in value]
        return value

    try:
        return _layer_class(kind)(name=name, **{k: materialize(v) for k, v in args.items()})
    except Exception as exc:
        text = " ".join(str(exc).split())[:400]
        raise ExportError(
            f"{pointer(loc)}: layer '{name}' ({kind}): Keras 3 does not take its "
            f"Keras 2 arguments: {text}"
        ) from None


def _layer_class(kind: str):
    return LAYERS.get(kind) or getattr(keras.layers, kind)


def _dtype_names(value: Any) -> Any:
    """Keras 3 writes dtypes as policy objects; a spec names them."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and set(value) == {"class_name", "config"}:
            return value["config"]["name"]
        return {k: _dtype_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dtype_names(v) for v in value]
    return value


# -- inputs ----------------------------------------------------------------------------------


def _input(entry: dict, loc: tuple) -> tuple[str, dict]:
    config = entry["config"]
    name = _layer_name(entry)
    what = f"{pointer(loc)}: input '{name}'"
    shape = next((config[k] for k in ("batch_input_shape", "batch_shape") if k in config), None)
    if not isinstance(shape, list) or not shape:
        raise ExportError(f"{what} has no batch_input_shape")
    if config.get("ragged"):
        raise ExportError(f"{what} is ragged; Keras 3 has no ragged tensors")
    if config.get("optional"):
        raise ExportError(f"{what} is optional, which a spec input cannot be")
    return spec_name(name), _input_spec(shape, config.get("dtype"), bool(config.get("sparse")))


def _sequential_input(config: Any, first: dict, loc: tuple) -> tuple[str, dict]:
    """A Sequential model's input, from its first layer (`input_shape=` in Keras 2) or from
    the shape Keras 2 built it with."""
    layer_config = first.get("config") if isinstance(first.get("config"), dict) else {}
    shape = next((layer_config[k] for k in _INPUT_KEYS[:2] if k in layer_config), None)
    if shape is None and isinstance(config, dict):
        shape = config.get("build_input_shape")
    if not isinstance(shape, list) or not shape:
        raise ExportError(
            f"{pointer(loc)}: the Sequential model has no input shape (Keras 2 "
            "never built it): give its first layer an input_shape and save it "
            "again"
        )
    dtype = layer_config.get("dtype")
    if not isinstance(dtype, str) or dtype.startswith("mixed"):
        dtype = "float32"
    return f"{spec_name(_layer_name(first))}_input", _input_spec(shape, dtype, False)


def _input_spec(shape: list, dtype: Any, sparse: bool) -> dict:
    spec: dict = {"shape": list(shape[1:])}
    if dtype and dtype != "float32":
        spec["dtype"] = dtype
    if sparse:
        spec["sparse"] = True
    if shape[0] is not None:
        spec["batch_size"] = shape[0]
    return spec


# -- wiring ----------------------------------------------------------------------------------


class _Wiring:
    """The calls of a functional config's layers and how references name them in a spec."""

    def __init__(self, entries: dict[str, tuple[tuple, dict]], outputs: Any, loc: tuple):
        self.entries = entries
        self.loc = loc
        self.calls: dict[str, list] = {}
        self.names: dict[str, list[str]] = {}
        self.multi: dict[str, bool] = {}
        self.offset: dict[str, int] = {}
        used = {spec_name(name) for name in entries}
        for name, (at, entry) in entries.items():
            nodes = entry.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                raise ExportError(f"{pointer(at + ('inbound_nodes',))}: not a list of calls")
            self.calls[name] = nodes
            self.names[name] = [spec_name(name)] + [
                _unique(f"{spec_name(name)}_{k}", used) for k in range(1, len(nodes))
            ]
            self.multi[name] = _has_outputs(entry)
            self.offset[name] = int(_owns_first_call(entry))
        refs = [
            r
            for calls in self.calls.values()
            for call in calls
            for r in _call_refs(call, self._known)
        ]
        try:
            refs += _leaves(outputs, ())
        except ExportError:
            pass  # reported with its location when the outputs are read
        seen: dict[str, set[int]] = {}
        for ref in refs:
            if ref.layer in self.entries:
                seen.setdefault(ref.layer, set()).add(ref.call)
                self.multi[ref.layer] = self.multi[ref.layer] or ref.index > 0
        for name, calls in seen.items():
            # A nested model's call 0 is the one that made it, on its own inputs; a config
            # may leave it out and number the calls it lists from 1. The references say.
            if len(self.calls[name]) in calls:
                self.offset[name] = 1
            elif 0 in calls:
                self.offset[name] = 0

    def _known(self, name: str) -> bool:
        return name in self.entries

    def ref(self, ref: _Ref, loc: tuple) -> str:
        if ref.layer not in self.entries:
            raise ExportError(
                f"{pointer(loc)}: a tensor comes from '{ref.layer}', which is "
                "not a layer of the model"
            )
        entry = self.entries[ref.layer][1]
        if entry.get("class_name") == "InputLayer":
            if (ref.call, ref.index) != (0, 0):
                raise ExportError(
                    f"{pointer(loc)}: a tensor comes from call {ref.call}, "
                    f"output {ref.index} of the input '{ref.layer}', which has "
                    "one call and one output"
                )
            return spec_name(ref.layer)
        k = ref.call - self.offset[ref.layer]
        if not 0 <= k < len(self.calls[ref.layer]):
            raise ExportError(
                f"{pointer(loc)}: a tensor comes from call {ref.call} of "
                f"'{ref.layer}', which the config does not list"
            )
        name = self.names[ref.layer][k]
        return f"{name}:{ref.index}" if self.multi[ref.layer] else name

    def tf_op(self, entry: dict, call: Any, name: str, loc: tuple) -> tuple[dict, Any]:
        """The op node (without `in`) of one call of a TFOpLambda layer, and its `in`."""
        function = entry["config"].get("function")
        if function not in _TF_OPS:
            _translate("TFOpLambda", entry["config"], loc[:-2], name)  # raises, naming it
        op, first, renamed = _TF_OPS[function]
        args, kwargs = _read_call(call, self._known, loc)
        given = {first: args[0][0] if len(args[0]) == 1 and first != "xs" else args[0]}
        for key, value in kwargs.items():
            if key == "name" or (value is None and key not in renamed):
                continue
            if key not in renamed:
                raise ExportError(
                    f"{pointer(loc)}: 'tf.{function}' is called with {key}="
                    f"{value!r}, which keras.ops.{op} has no argument for"
                )
            if value is not None:
                given[renamed[key]] = value
        tensors = {k: v for k, v in given.items() if _has_ref(v)}
        constants = {k: v for k, v in given.items() if k not in tensors}
        for key, value in tensors.items():
            if not (isinstance(value, _Ref) or all(isinstance(v, _Ref) for v in value)):
                raise ExportError(
                    f"{pointer(loc)}: 'tf.{function}' gets tensors and constants "
                    f"mixed in {key}, which a spec cannot pass"
                )
        wired = {
            k: [self.ref(r, loc) for r in v] if isinstance(v, list) else self.ref(v, loc)
            for k, v in tensors.items()
        }
        # Leading parameters in order are written as a reference or a list, as export does.
        leading = list(builtin_op(op).positional[: len(wired)])
        if list(wired) == leading and not any(isinstance(v, list) for v in wired.values()):
            wired = next(iter(wired.values())) if len(wired) == 1 else list(wired.values())
        node = {"name": name, "op": op}
        if constants:
            node["args"] = constants
        return node, wired

    def inputs(self, call: Any, kind: str, loc: tuple) -> Any:
        """A call's `in`: one reference, a list, or a mapping by call argument."""
        args, kwargs = _read_call(call, self._known, loc)
        sig = LAYERS.signature(kind)
        params = list(sig.call) if sig else ["inputs"]

        def convert(value, where):
            if isinstance(value, _Ref):
                return self.ref(value, loc)
            if isinstance(value, list) and value and all(isinstance(v, _Ref) for v in value):
                return [self.ref(v, loc) for v in value]
            raise ExportError(
                f"{pointer(loc)}: the layer is called with {where}={value!r}, "
                "which is not a tensor; a spec passes only tensors to a call"
            )

        first = args[0] if args else None
        mapping: dict = {}
        if kind in _RECURRENT and isinstance(first, list) and len(first) > 1:
            # Keras 2 passed recurrent states as more inputs: [sequences, *states].
            mapping = {params[0]: first[0], "initial_state": first[1:]}
        elif first is not None:
            mapping[params[0]] = first[0] if isinstance(first, list) and len(first) == 1 else first
        for param, value in zip(params[1:], args[1:]):
            mapping[param] = value
        for key, value in kwargs.items():
            if value is None or (key == "training" and value is False):
                continue  # Keras's defaults outside training
            if key == "training":
                raise ExportError(
                    f"{pointer(loc)}: the layer is called with training={value!r}, "
                    "which a spec cannot express (it would always train)"
                )
            mapping[key] = value
        wired = {k: convert(v, k) for k, v in mapping.items()}
        if list(wired) == [params[0]]:
            return wired[params[0]]
        return wired


def _read_call(call: Any, known, loc: tuple) -> tuple[list, dict]:
    """(positional arguments, keyword arguments) of one call, tensors as `_Ref`: Keras 2's
    `[[layer, call, index, kwargs], ...]` (the tensors of the first argument, each with the
    call's keyword arguments) or Keras 3's `{"args": [...], "kwargs": {...}}`."""
    if isinstance(call, dict) and "args" in call:
        return (_refs3(call.get("args") or []), _refs3(call.get("kwargs") or {}))
    if _is_ref(call) or _is_constant(call):  # TFOpLambda keeps a lone tensor unwrapped
        call = [call]
    if isinstance(call, list) and call and all(_is_ref(t) or _is_constant(t) for t in call):
        tensors = [_Ref(t[0], t[1], t[2]) if _is_ref(t) else t[2] for t in call]
        kwargs = call[0][3] if len(call[0]) == 4 and isinstance(call[0][3], dict) else {}
        return [tensors], _refs2(kwargs, known)
    raise ExportError(
        f"{pointer(loc)}: a call this translator cannot read ({str(call)[:120]}); "
        "only layers called on Keras tensors are supported"
    )


def _is_constant(value: Any) -> bool:
    return isinstance(value, list) and len(value) in (3, 4) and value[0] == _CONSTANT


def _has_ref(value: Any) -> bool:
    return isinstance(value, _Ref) or (isinstance(value, list) and any(map(_has_ref, value)))


def _refs2(value: Any, known) -> Any:
    if _is_ref(value) and known(value[0]):
        return _Ref(value[0], value[1], value[2])
    if isinstance(value, dict):
        return {k: _refs2(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs2(v, known) for v in value]
    return value


def _refs3(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _Ref(*value["config"]["keras_history"])
    if isinstance(value, dict):
        return {k: _refs3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs3(v) for v in value]
    return value


def _call_refs(call: Any, known) -> list[_Ref]:
    try:
        args, kwargs = _read_call(call, known, ())
    except ExportError:
        return []  # reported with its location when the call is wired
    out: list[_Ref] = []

    def walk(value):
        if isinstance(value, _Ref):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk([args, kwargs])
    return out


def _leaves(struct: Any, loc: tuple) -> list[_Ref]:
    out: list[_Ref] = []
    _map(struct, lambda r: out.append(r), loc)
    return out


def _map(struct: Any, fn, loc: tuple) -> Any:
    """`input_layers`/`output_layers`: one `[layer, call, index]`, a list or a mapping."""
    if _is_ref(struct):
        return fn(_Ref(struct[0], struct[1], struct[2]))
    if isinstance(struct, list) and struct:
        out = [_map(v, fn, loc) for v in struct]
        return out[0] if len(out) == 1 else out
    if isinstance(struct, dict) and struct:
        return {k: _map(v, fn, loc) for k, v in struct.items()}
    raise ExportError(
        f"{pointer(loc)}: expected [layer, call, index] references. Received: {str(struct)[:120]}"
    )


def _owns_first_call(entry: dict) -> bool:
    """Whether the calls of a layer are numbered from 1 in the config, where the references
    do not tell: Keras 2 leaves out the call that made a nested model on its own inputs
    (functional models, and Sequential models with an input shape); Keras 3 does so for
    functional models only."""
    cls, config = entry.get("class_name"), entry.get("config")
    if _MODELS.get(cls) == "functional":
        return True
    keras3 = any(isinstance(call, dict) for call in entry.get("inbound_nodes") or [])
    if cls == "Sequential" and not keras3:
        layers = config if isinstance(config, list) else (config or {}).get("layers") or []
        first = layers[0] if layers and isinstance(layers[0], dict) else {}
        first_config = first.get("config") if isinstance(first.get("config"), dict) else {}
        return first.get("class_name") == "InputLayer" or any(
            k in first_config for k in _INPUT_KEYS
        )
    return False


def _has_outputs(entry: dict) -> bool:
    """Whether a layer returns several tensors (so references pick one with `node:k`)."""
    config = entry.get("config")
    if not isinstance(config, dict):
        return False
    if _MODELS.get(entry.get("class_name")) == "functional":
        outputs = config.get("output_layers")
        return isinstance(outputs, (list, dict)) and len(_leaves(outputs, ())) > 1
    inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
    return bool(config.get("return_state") or (inner.get("config") or {}).get("return_state"))


def _unique(name: str, used: set[str]) -> str:
    """A name not in `used`, claimed there at once (several are made in one go)."""
    candidate = _free_name(name, used)
    used.add(candidate)
    return candidate


def spec_name(name: str) -> str:
    """A Keras 2 layer name as Keras 3 and spec references can hold it: Keras 2 allowed
    `/` (MobileNetV3's `Conv/BatchNorm`), which Keras 3 refuses, and `:` selects an output
    in a spec; both become `_`. `transfer_weights` matches layers by these names too."""
    return _BAD_NAME.sub("_", name)


def _check_names(entries) -> None:
    seen: dict[str, str] = {}
    for name, (at, _) in entries.items():
        other = seen.setdefault(spec_name(name), name)
        if other != name:
            raise ExportError(
                f"{pointer(at)}: layers '{other}' and '{name}' both become "
                f"'{spec_name(name)}' ('/' and ':' are written as '_'); rename "
                "one"
            )


def _layer_name(entry: dict) -> str:
    config = entry.get("config")
    name = (config.get("name") if isinstance(config, dict) else None) or entry.get("name")
    if not isinstance(name, str) or not name:
        raise ExportError(f"a {entry.get('class_name')} layer without a name")
    return name


def _model_name(config: Any, default: str) -> str:
    name = config.get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else default


# -- weights ---------------------------------------------------------------------------------


@dataclass
class WeightReport:
    """What `transfer_weights` did: which layers of the model received their weights, and
    what it could not match (layer names, with shapes where they disagree)."""

    path: str
    assigned: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model layers the file has nothing for
    unused: list[str] = field(default_factory=list)  # file entries no model layer took
    mismatched: list[str] = field(default_factory=list)  # "layer: why"

    @property
    def complete(self) -> bool:
        """Every weight of the model came from the file, and every weight in it was used."""
        return not (self.missing or self.unused or self.mismatched)

    def problems(self) -> list[str]:
        return (
            [f"no weights in the file for layer '{n}'" for n in self.missing]
            + [f"weights in the file for '{n}', which the model does not have" for n in self.unused]
            + [f"weights of '{m}" for m in self.mismatched]
        )

    def summary(self) -> str:
        total = len(self.assigned) + len(self.missing) + len(self.mismatched)
        return f"weights of {len(self.assigned)} of {total} layers from '{self.path}'"

    def __str__(self) -> str:
        return "\n".join([self.summary()] + [f"  {p}" for p in self.problems()])


def transfer_weights(model, h5_path: str | Path) -> WeightReport:
    """Copy the weights of a Keras 2 `.h5` file (`model.save` or `model.save_weights`) into
    `model` (built from the file's spec), layer by layer, matching layers by name; within a
    layer, in Keras 2's order (checked against the shapes), or by weight name where the
    orders differ. Nothing is assigned to a layer whose weights do not all match."""
    report = WeightReport(str(h5_path))
    try:
        f = h5py.File(h5_path, "r")
    except OSError as exc:
        raise ExportError(f"'{h5_path}' is not an HDF5 file that h5py can read: {exc}") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ExportError(f"'{h5_path}' has no Keras 2 weights (no layer_names)")
        if _text(root.attrs.get("backend", f.attrs.get("backend", ""))) == "theano":
            raise ExportError(
                f"'{h5_path}' has Theano weights, whose convolution kernels are "
                "flipped: load and save the model with the TensorFlow backend"
            )
        stored = {}
        for group in (_text(n) for n in root.attrs["layer_names"]):
            names = [_text(n) for n in root[group].attrs.get("weight_names", [])]
            if names:
                stored[group] = [(n, np.asarray(root[group][n])) for n in names]
        targets = _weighted_layers(model)
        for group, weights in stored.items():
            outer = spec_name(group)
            layer = targets.get((outer,))
            if isinstance(layer, keras.Model):  # a nested model: its layers by name prefix
                for inner, values in _by_prefix(group, weights).items():
                    _assign(
                        targets.pop((outer, spec_name(inner)), None),
                        f"{outer}/{inner}",
                        values,
                        report,
                    )
                targets.pop((outer,))
            else:
                _assign(targets.pop((outer,), None), outer, weights, report)
        report.missing += [
            "/".join(k) for k, layer in targets.items() if not isinstance(layer, keras.Model)
        ]
    return report


def _weighted_layers(model) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        out[(layer.name,)] = layer
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                if inner.weights:
                    out[(layer.name, inner.name)] = inner
    return out


def _by_prefix(group: str, weights: list) -> dict[str, list]:
    """A nested model's weights by its layers' names: Keras 2 names them `layer/...`,
    Keras 3 `model/layer/...`."""
    out: dict[str, list] = {}
    for name, value in weights:
        inner = name.removeprefix(f"{group}/") if name.count("/") > 1 else name
        out.setdefault(inner.split("/", 1)[0], []).append((name, value))
    return out


def _short_name(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def _assign(layer, name: str, weights: list, report: WeightReport) -> None:
    if layer is None:
        report.unused.append(name)
        return
    variables = list(layer.weights)
    values = [v for _, v in weights]
    if len(variables) != len(values):
        report.mismatched.append(
            f"{name}': the file has {len(values)} weights, the layer {len(variables)}"
        )
        return
    if any(tuple(v.shape) != value.shape for v, value in zip(variables, values)):
        by_name = {_short_name(n): value for n, value in weights}
        if len(by_name) == len(values) and {v.name for v in variables} == set(by_name):
            values = [by_name[v.name] for v in variables]
    shapes = [(tuple(v.shape), value.shape) for v, value in zip(variables, values)]
    if any(a != b for a, b in shapes):
        report.mismatched.append(
            f"{name}': shapes in the file {[b for _, b in shapes]}, in "
            f"the model {[a for a, _ in shapes]}"
        )
        return
    for variable, value in zip(variables, values):
        variable.assign(value)
    report.assigned.append(name)


# -- the export command ----------------------------------------------------------------------


@dataclass
class Conversion:
    """A Keras 2 model as a validated spec, the model built from it (when asked for) and
    what the weight transfer did (when there was one)."""

    spec: Any  # graphspec.Spec
    model: Any = None
    report: WeightReport | None = None


def convert(path: str | Path, *, build: bool = False, weights: bool | None = None) -> Conversion:
    """`graphspec export MODEL.h5|MODEL.json`: the spec of a Keras 2 model; with `build`, the
    Keras 3 model built from it, with the weights of the `.h5` file (`weights`: default on
    for `.h5`, impossible for `.json`, which holds none)."""
    from .. import api
    from ..errors import SpecError

    suffix = Path(path).suffix.lower()
    if weights and suffix == ".json":
        raise ExportError(
            f"'{path}' holds no weights (model.to_json() writes the "
            "architecture only): leave out --weights"
        )
    data = load_keras2(path)
    try:
        spec = api.load(data)
    except SpecError as exc:  # a name or value the format refuses
        problems = "; ".join(d.message for d in exc.diagnostics[:3])
        raise ExportError(f"{path}: the translated model is not a valid spec: {problems}") from None
    if not build:
        return Conversion(spec)
    model = spec.build()
    if weights is None:
        weights = suffix != ".json"
    return Conversion(spec, model, transfer_weights(model, path) if weights else None)
