"""Keras model -> spec: the inverse of the compiler.

The spec is written for people: layer arguments only where they differ from the layer's
defaults, inputs named after the model's inputs, nodes in an order that runs, `share` for a
layer applied more than once, `node:k` for one output of a multi-output layer, Sequential
models as plain chains, nested sub-models as `nested` blocks. What a spec cannot express (a
`Lambda` holding bytecode, an unregistered custom class, a non-tensor call argument) raises
ExportError naming the layer: nothing is ever written silently wrong.

A functional model's wiring is read from its public config (`topology`), not from Keras's
private graph attributes.
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any

import keras

from ..composition import snake_case
from ..document import FORMAT_VERSION
from ..errors import ExportError, did_you_mean
from ..registry import LAYERS
from ..signatures import builtin_layer, builtin_op
from . import saving
from .ops import Op
from .topology import Call, TensorRef, Topology, input_names, operations

_SKIP_CONFIG = {"name"}
_NONE = object()


def _plain(value: Any) -> Any:
    """Config values as plain YAML data: tuples become lists, floats stay exact."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ExportError(f"a non-finite number ({value}) cannot be written to a spec")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def load_model(path):
    """A saved `.keras` model, loaded by Keras in safe mode (graphspec's op layer included).
    Raises ExportError, naming the file, for one that cannot be loaded or exported: not a
    .keras archive, a Lambda, an unregistered class, a subclassed model."""
    return saving.load(path, ExportError, "the model", graph_only=True)


def _check_graph(model) -> None:
    """ExportError unless `model` is a functional or Sequential model: a subclassed model
    has no graph to read, only Python code in its call()."""
    cls = type(model)
    if cls.__module__.startswith("keras") and cls.__name__ in ("Functional", "Sequential"):
        return
    where = f"{cls.__module__}.{cls.__qualname__}"
    if any(c.__name__ == "Functional" and c.__module__.startswith("keras") for c in cls.__mro__):
        raise ExportError(
            f"model '{model.name}' is an instance of {where}, a subclass of the "
            "functional keras.Model: export keras.Model(model.inputs, "
            "model.outputs), the same graph without the subclass"
        )
    raise ExportError(
        f"model '{model.name}' is a subclassed model ({where}), whose call() is "
        "Python code: it has no graph to export. Rebuild it with the functional "
        "API (keras.Model(inputs, outputs)) or keras.Sequential, and register "
        "its custom layers with graphspec.register_layer"
    )


def layer_type(layer) -> str:
    """The node type a spec names a layer by: its registered name, or its Keras class."""
    cls = type(layer)
    for name in LAYERS.names():
        if LAYERS.get(name) is cls:
            return name
    builtin = builtin_layer(cls.__name__)
    if getattr(keras.layers, cls.__name__, None) is cls and builtin:
        return cls.__name__
    if builtin and builtin.module == cls.__module__:
        return cls.__name__
    if cls is keras.layers.Lambda:
        raise ExportError(
            f"layer '{layer.name}' is a Keras Lambda, which holds Python "
            "bytecode a spec cannot express. Register the function with "
            "graphspec.register_op and rebuild the model with an op node."
        )
    raise ExportError(
        f"layer '{layer.name}' is an instance of {cls.__module__}."
        f"{cls.__qualname__}, which graphspec does not know. Register it "
        "with graphspec.register_layer (and import that plugin) to export it."
    )


class ArgMinimizer:
    """Which constructor arguments a spec writes: those that differ from the class defaults
    (required ones always). One object serves a model and all its nested sub-models, so
    each class's defaults and each distinct config are worked out once.

    Some defaults derive from other arguments (MaxPooling2D's strides default to its
    pool_size), so the choice is checked: the layer is rebuilt from the chosen arguments,
    and any key whose config differs is added until the configs agree."""

    def __init__(self):
        self._defaults: dict[tuple, dict] = {}  # (class, required args) -> default config
        self._chosen: dict[tuple, set[str]] = {}  # (class, config) -> keys to write

    def args(self, layer, layer_type: str) -> dict:
        config = {k: v for k, v in layer.get_config().items() if k not in _SKIP_CONFIG}
        cls = type(layer)
        memo_key = (cls, repr(config))
        if memo_key not in self._chosen:
            self._chosen[memo_key] = self._choose(cls, config, layer_type)
        return {k: self.arg_value(config[k], layer) for k in config if k in self._chosen[memo_key]}

    def _choose(self, cls, config: dict, layer_type: str) -> set[str]:
        sig = LAYERS.signature(layer_type)
        required = [k for k in (sig.required if sig else ()) if k in config]
        key = (cls, repr([(k, config[k]) for k in required]))
        if key not in self._defaults:
            try:
                self._defaults[key] = cls(**{k: config[k] for k in required}).get_config()
            except Exception:  # a class whose defaults cannot be built alone: keep everything
                self._defaults[key] = {}
        defaults = self._defaults[key]
        keys = {k for k, v in config.items() if k in required or defaults.get(k, _NONE) != v}
        for _ in range(len(config) + 1):
            try:
                # A deep copy: some from_config methods pop keys (StackedRNNCells' cells).
                rebuilt = cls.from_config(copy.deepcopy({k: config[k] for k in keys})).get_config()
            except Exception:
                return set(config)
            differ = {k for k, v in config.items() if rebuilt.get(k, _NONE) != v}
            if not differ:
                return keys
            keys |= differ
        return set(config)

    def arg_value(self, value: Any, layer) -> Any:
        """A config value as spec data; serialized nested layers become `{layer, args}`."""
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            module = value.get("module") or ""
            cls = getattr(keras.layers, value["class_name"], None)
            if (
                module.startswith("keras")
                and cls is not None
                and isinstance(cls, type)
                and issubclass(cls, keras.layers.Layer)
            ):
                nested = keras.saving.deserialize_keras_object(value)
                nested_type = layer_type(nested)
                return {"layer": nested_type, "args": self.args(nested, nested_type)}
            out = {"class_name": value["class_name"], "config": _plain(value["config"])}
            if module and not module.startswith("keras"):
                raise ExportError(
                    f"layer '{layer.name}' has an argument of class "
                    f"{module}.{value['class_name']}, which a spec cannot name"
                )
            return out
        if isinstance(value, dict):
            return {k: self.arg_value(v, layer) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.arg_value(v, layer) for v in value]
        return _plain(value)


class _Exporter:
    def __init__(self, minimizer: ArgMinimizer):
        self.minimizer = minimizer
        self.blocks: dict[str, dict] = {}

    # -- models ------------------------------------------------------------------------------
    def model(self, model) -> dict:
        if not isinstance(model, keras.Model):
            raise ExportError(f"expected a keras.Model. Received: {type(model).__name__}")
        _check_graph(model)
        if not model.built or not getattr(model, "inputs", None):
            raise ExportError(
                f"model '{model.name}' has no inputs yet: build it (call it on "
                "data or give it a keras.Input) before exporting"
            )
        doc = {"graphspec": FORMAT_VERSION, "name": model.name}
        if isinstance(model, keras.Sequential):
            body = self.sequential(model)
        else:
            topology = Topology(model)
            body = self.functional(model, topology)
            if _is_chain(model, topology):
                doc["model"] = "functional"  # else a chain would come back as a Sequential
        if self.blocks:
            doc["blocks"] = self.blocks
        doc.update(body)
        return doc

    def sequential(self, model) -> dict:
        nodes = [self.node_for(layer, layer.name) for layer in model.layers]
        return {"inputs": _input_specs(model, input_names(model)), "layers": nodes}

    def node_for(self, layer, name: str, call: Call | None = None) -> dict:
        if isinstance(layer, keras.Model):
            return {"name": name, "block": self.nested(layer)}
        if not isinstance(layer, keras.layers.Layer):
            return {"name": name, **_raw_op(layer, call)}
        if isinstance(layer, Op):  # an op node of a model graphspec built
            return {
                "name": name,
                "op": layer.op,
                **({"args": _plain(layer.op_args)} if layer.op_args else {}),
            }
        kind = layer_type(layer)
        node = {"name": name, "layer": kind}
        args = self.minimizer.args(layer, kind)
        if args:
            node["args"] = args
        return node

    def nested(self, model) -> str:
        name = model.name
        _check_graph(model)
        if name in self.blocks:
            raise ExportError(f"two different sub-models are both named '{name}'; rename one")
        inner = _Exporter(self.minimizer)
        body = (
            inner.sequential(model)
            if isinstance(model, keras.Sequential)
            else inner.functional(model, Topology(model))
        )
        if inner.blocks:
            raise ExportError(
                f"sub-model '{name}' contains sub-models itself; one level of nesting is supported"
            )
        block = {"nested": True, "inputs": list(body["inputs"]), "layers": body["layers"]}
        if not isinstance(model, keras.Sequential):
            block["model"] = "functional"
        if "outputs" in body:
            block["outputs"] = body["outputs"]
        self.blocks[name] = block
        return name

    def functional(self, model, topology: Topology) -> dict:
        inputs = _input_specs(model, topology.input_names)
        names: dict[tuple[str, int], str] = {(n, 0): n for n in topology.input_names}
        used = set(inputs)
        only_input = next(iter(inputs)) if len(model.inputs) == 1 else None
        calls: dict[str, int] = {}  # operation name -> times seen
        entries = []
        for call in topology.calls:
            op = call.op
            seen = calls.get(op.name, 0)
            calls[op.name] = seen + 1
            if seen == 0:
                name = op.name
                entry = self.node_for(op, name, call)
            else:
                name = _unique(f"{op.name}_{seen}", used)
                entry = {"name": name, "share": op.name}
            if name in used and seen == 0:
                raise ExportError(f"two layers of the model are both named '{name}'")
            used.add(name)
            names[(op.name, call.call)] = name
            wired = _inputs_of(call, lambda ref: _ref(ref, names, topology))
            previous = entries[-1]["name"] if entries else None
            if not (isinstance(wired, str) and wired == (previous or only_input)):
                # An omitted `in` means "the previous node": write it only where it says more.
                entry = _with_in(entry, wired)
            entries.append(entry)
        struct = topology.outputs
        if isinstance(struct, dict):
            outputs: Any = {k: _ref(r, names, topology) for k, r in struct.items()}
        elif isinstance(struct, TensorRef):
            outputs = _ref(struct, names, topology)
        else:
            outputs = [_ref(r, names, topology) for r in keras.tree.flatten(struct)]
        return {"inputs": inputs, "layers": entries, "outputs": outputs}


def _input_specs(model, names: list[str]) -> dict:
    """The `inputs` section: each input's shape, and its dtype, sparsity and batch size
    where they are not the defaults."""
    inputs = {}
    for name, tensor in zip(names, model.inputs):
        spec: dict = {"shape": [None if d is None else int(d) for d in tensor.shape[1:]]}
        if tensor.dtype != "float32":
            spec["dtype"] = str(tensor.dtype)
        if getattr(tensor, "sparse", False):
            spec["sparse"] = True
        if tensor.shape[0] is not None:
            spec["batch_size"] = int(tensor.shape[0])
        inputs[name] = spec
    return inputs


def _ref(ref: TensorRef, names: dict[tuple[str, int], str], topology: Topology) -> str:
    name = names.get((ref.op, ref.call))
    if name is None:
        raise ExportError(f"a tensor comes from '{ref.op}', which is outside the model")
    return f"{name}:{ref.index}" if topology.n_outputs(ref.op) > 1 else name


def _inputs_of(call: Call, ref) -> Any:
    """A call's `in`: one reference, a list, or a mapping by call argument."""
    op = call.op
    if not isinstance(op, keras.layers.Layer):
        name = snake_case(type(op).__name__)
        tensors = _raw_call(call, name)[0]
        leading = list(tensors) == list(builtin_op(name).positional[: len(tensors)])
        refs = {k: ref(t) for k, t in tensors.items()}
        if leading:
            return next(iter(refs.values())) if len(refs) == 1 else list(refs.values())
        return refs
    args, kwargs = call.args, call.kwargs

    def is_tensor(value) -> bool:
        return isinstance(value, TensorRef)

    def convert(value, where):
        if is_tensor(value):
            return ref(value)
        if isinstance(value, (list, tuple)) and value and all(is_tensor(v) for v in value):
            return [ref(v) for v in value]
        raise ExportError(
            f"layer '{op.name}' is called with {where}={value!r}, which is "
            "not a tensor; a spec passes only tensors to a call"
        )

    # None is every call argument's default; a recorded training=False is what Keras
    # does anyway outside training (fit() passes training=True to every layer).
    extra = {
        k: v for k, v in kwargs.items() if v is not None and not (k == "training" and v is False)
    }
    if not extra and len(args) == 1:
        if isinstance(args[0], dict):  # an op node's mapping `in`
            return {k: convert(v, k) for k, v in args[0].items()}
        return convert(args[0], "its first argument")
    if not extra and all(is_tensor(a) for a in args):
        return [ref(a) for a in args]
    # Tensors passed by name (initial_state, mask, ...): a mapping by call argument.
    params = [p for p in inspect.signature(op.call).parameters][: len(args)]
    mapping = {p: convert(a, p) for p, a in zip(params, args)}
    for key, value in extra.items():
        if key == "training" and isinstance(value, bool):
            raise ExportError(
                f"layer '{op.name}' is called with training={value}, which a "
                "spec cannot express (it would always train)"
            )
        mapping[key] = convert(value, key)
    return mapping


def _raw_op(op, call: Call) -> dict:
    """A Keras operation used directly on tensors (`x + y`, `x * 0.5` in a functional
    model): an op node named after its keras.ops function; constants become `args`."""
    name = snake_case(type(op).__name__)
    if builtin_op(name) is None:
        raise ExportError(
            f"operation '{op.name}' ({type(op).__module__}."
            f"{type(op).__name__}) has no keras.ops function to name it"
        )
    config = {k: v for k, v in op.get_config().items() if k != "name"}
    args = _plain({**config, **_raw_call(call, name)[1]})
    return {"op": name, **({"args": args} if args else {})}


def _raw_call(call: Call, name: str) -> tuple[dict, dict]:
    """The tensors and the constants a raw operation was called with, by the parameter names
    of its keras.ops function: ({param: tensor}, {param: constant})."""
    positional = builtin_op(name).positional
    tensors, constants = {}, {}
    for param, value in list(zip(positional, call.args)) + list(call.kwargs.items()):
        if isinstance(value, TensorRef):
            tensors[param] = value
        elif value is not None:
            constants[param] = value
    return tensors, constants


def _is_chain(model, topology: Topology) -> bool:
    """Whether graphspec's `model: auto` would make a Sequential of this graph's shape."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    ops = [c.op for c in topology.calls]
    # Raw operations count too: `auto` makes a Sequential of a chain of op nodes as well.
    return len(set(map(id, ops))) == len(ops) and all(
        len(c.tensors) == 1 and topology.n_outputs(c.op.name) == 1 for c in topology.calls
    )


def _with_in(entry: dict, wired: Any) -> dict:
    """Key order for reading: name, kind, in, args."""
    out = {k: v for k, v in entry.items() if k != "args"}
    out["in"] = wired
    if "args" in entry:
        out["args"] = entry["args"]
    return out


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def describe(model) -> dict:
    """name -> (what, class or op, config without names) for each operation of a model,
    nested models included. A Keras operation used on tensors directly (`x + y`) and
    graphspec's op layer for the same op describe alike: both are the op by its name."""

    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "name"}
        return value

    first_calls: dict[str, Call] = {}
    if not isinstance(model, keras.Sequential):
        for call in Topology(model).calls:
            first_calls.setdefault(call.op.name, call)
    out = {}
    for op in operations(model):
        if isinstance(op, keras.layers.InputLayer):
            continue
        if isinstance(op, keras.Model):
            out[op.name] = ("model", type(op).__name__, describe(op))
        elif isinstance(op, Op):
            out[op.name] = ("op", op.op, plain(op.op_args))
        elif not isinstance(op, keras.layers.Layer):
            name = snake_case(type(op).__name__)
            constants = _raw_call(first_calls[op.name], name)[1]
            out[op.name] = ("op", name, plain({**op.get_config(), **constants}))
        else:
            out[op.name] = ("layer", type(op).__name__, plain(op.get_config()))
    return out


def wiring(model) -> dict:
    """name -> for each call of the operation, which output of which operation it received."""
    if isinstance(model, keras.Sequential):
        return {layer.name: i for i, layer in enumerate(model.layers)}
    topology = Topology(model)
    calls: dict[str, list] = {name: [[]] for name in topology.input_names}
    for call in topology.calls:
        calls.setdefault(call.op.name, []).append([(t.op, t.index) for t in call.tensors])
    return {k: sorted(v) for k, v in calls.items()}


def differences(original, rebuilt) -> list[str]:
    """What differs between two models in kind, layers (class and config), wiring and
    parameter count; empty for an exact round trip (weights aside)."""
    out = []
    if type(original) is not type(rebuilt):
        out.append(f"kind: {type(original).__name__} != {type(rebuilt).__name__}")
    if original.count_params() != rebuilt.count_params():
        out.append(f"parameters: {original.count_params()} != {rebuilt.count_params()}")
    a, b = describe(original), describe(rebuilt)
    out += [f"layer {name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    if not out and wiring(original) != wiring(rebuilt):
        out.append("wiring")
    if not out and operation_list(original) != operation_list(rebuilt):
        out.append("operations")
    return out


def operation_list(model) -> list[tuple[str, str]]:
    """(class, name) of each of `model.operations`, in order: a raw `keras.ops` call must
    come back as the same Keras operation, not as a layer that wraps it. (A Sequential has
    layers only, and no `operations`.)"""
    return [(type(op).__name__, op.name) for op in getattr(model, "operations", model.layers)]


def to_data(model) -> dict:
    """The spec of a Keras model, as plain data."""
    return _Exporter(ArgMinimizer()).model(model)


def application(name: str):
    """`keras.applications.MobileNetV2` (or `MobileNetV2`) built with weights=None."""
    short = name.removeprefix("keras.applications.")
    builder = getattr(keras.applications, short, None)
    if not short or not short[0].isupper() or builder is None or not callable(builder):
        known = [n for n in dir(keras.applications) if n[:1].isupper()]
        raise ExportError(
            f"'{name}' is not an architecture of keras.applications. "
            f"{did_you_mean(short, known) or 'Known: ' + ', '.join(known)}"
        )
    # Layers that Keras names itself (the input, `add`, `re_lu`) get the names they get in
    # a new process, whatever was built before: two exports in one process compare.
    keras.backend.clear_session()
    return builder(weights=None)
