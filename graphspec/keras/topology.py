"""A Keras model's wiring, read from its public `model.get_config()`.

Keras keeps the live graph in private attributes (`_nodes_by_depth`, `_inbound_nodes`,
`_keras_history`, `_outputs_struct`). The config that `model.save` writes describes the same
graph, and Keras must keep reading it back: every call of every operation with the arguments
it received (tensors as `[operation, call, output]`), and the structure of the inputs and the
outputs. Export, `wiring` and `BatchSequence.for_model` read the graph from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras


@dataclass(frozen=True)
class TensorRef:
    """Output `index` of call `call` of the operation named `op` (calls numbered as the
    config numbers them)."""

    op: str
    call: int
    index: int


@dataclass
class Call:
    """One call of an operation, with its arguments; tensors in them are `TensorRef`s and
    every other value is live again (deserialized)."""

    op: Any  # the layer or keras.ops operation
    call: int
    args: tuple
    kwargs: dict
    tensors: list[TensorRef] = field(init=False)
    """The tensors the call received, in Keras's order (`tree.flatten` of the arguments)."""

    def __post_init__(self):
        self.tensors = [t for t in keras.tree.flatten((self.args, self.kwargs))
                        if isinstance(t, TensorRef)]


def _is_ref(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))


def _refs(struct: Any) -> Any:
    """`input_layers` / `output_layers` of a config with `TensorRef` leaves."""
    if _is_ref(struct):
        return TensorRef(*struct)
    if isinstance(struct, dict):
        return {k: _refs(v) for k, v in struct.items()}
    return [_refs(v) for v in struct]


def _argument(value: Any) -> Any:
    """A serialized call argument made live again, tensors as `TensorRef`."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] == "__keras_tensor__":
            return TensorRef(*value["config"]["keras_history"])
        return keras.saving.deserialize_keras_object(value)
    if isinstance(value, dict):
        return {k: _argument(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_argument(v) for v in value)
    return value


def operations(model) -> list:
    return model.layers if isinstance(model, keras.Sequential) else model.operations


class Topology:
    """The graph of a functional model: `inputs` and `outputs` (their structure, with
    `TensorRef` leaves) and `calls`, every call of every operation in an order that runs
    (input layers, which are not called, excluded)."""

    def __init__(self, model):
        config = model.get_config()
        by_name = {op.name: op for op in operations(model)}
        self._operations = by_name
        self.inputs = _refs(config["input_layers"])
        self.outputs = _refs(config["output_layers"])
        self.input_names = _flat_names(self.inputs)
        calls = []
        for layer in config["layers"]:
            op = by_name[layer["name"]]
            # A functional model's call 0 is its own inner graph: the config numbers a
            # nested functional model's calls from 1.
            first = 1 if "input_layers" in (layer.get("config") or {}) else 0
            for i, node in enumerate(layer["inbound_nodes"]):
                calls.append(Call(op, first + i, tuple(_argument(node["args"])),
                                  _argument(node["kwargs"])))
        self.calls = _in_running_order(calls)

    def n_outputs(self, name: str) -> int:
        """How many tensors a call of the operation `name` returns (`op.output` is those of
        its first call)."""
        return len(keras.tree.flatten(self._operations[name].output))


def _in_running_order(calls: list[Call]) -> list[Call]:
    """The calls with every call after the calls it takes tensors from. The config lists
    operations in Keras's order (`model.operations`, by depth), each with all of its calls,
    so a shared layer's later call can come before its inputs exist: it waits until they do."""
    keys = {(c.op.name, c.call) for c in calls}
    done: set[tuple[str, int]] = set()
    pending, ordered = list(calls), []
    while pending:
        for i, c in enumerate(pending):
            if all((t.op, t.call) in done or (t.op, t.call) not in keys for t in c.tensors):
                ordered.append(pending.pop(i))
                done.add((c.op.name, c.call))
                break
        else:  # a cycle, which Keras does not build; keep the config's order
            ordered += pending
            break
    return ordered


def _flat_names(refs: Any) -> list[str]:
    return [ref.op for ref in keras.tree.flatten(refs)]


def input_names(model) -> list[str]:
    """The names of a model's inputs, in the order of `model.inputs`."""
    config = model.get_config()
    if isinstance(model, keras.Sequential):  # its config lists its InputLayer first
        return [config["layers"][0]["config"]["name"]]
    return _flat_names(_refs(config["input_layers"]))


def output_names(model) -> list[str]:
    """The keys of a model's mapping of outputs, else the names of the operations that make
    its outputs, in the order of `model.outputs`."""
    if isinstance(model, keras.Sequential):
        return [model.layers[-1].name]
    outputs = _refs(model.get_config()["output_layers"])
    return list(outputs) if isinstance(outputs, dict) else _flat_names(outputs)
