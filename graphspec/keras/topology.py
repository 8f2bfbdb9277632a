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

from . import _private


@dataclass(frozen=True)
class TensorRef:
    """Output `index` of call `call` of the operation named `op`; an operation's calls in
    the model are numbered from 0, in the order they were made."""

    op: str
    call: int
    index: int


@dataclass
class Call:
    """One call of an operation, with its arguments: tensors in them are `TensorRef`s,
    every other value is deserialized again."""

    op: Any  # the layer or keras.ops operation
    call: int
    args: tuple
    kwargs: dict
    tensors: list[TensorRef] = field(init=False)
    """The tensors the call received, in Keras's order (`tree.flatten` of the arguments)."""

    def __post_init__(self):
        self.tensors = [
            t for t in keras.tree.flatten((self.args, self.kwargs)) if isinstance(t, TensorRef)
        ]


def _is_ref(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    )


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


def _config(model) -> dict:
    """`model.get_config()`, which on another backend need not import TensorFlow (_private)."""
    with _private.tensorflow_left_unimported():
        return model.get_config()


def operations(model) -> list:
    return model.layers if isinstance(model, keras.Sequential) else model.operations


class Topology:
    """The graph of a functional model: `inputs` and `outputs` (their structure, with
    `TensorRef` leaves) and `calls`, every call of every operation in an order that runs
    (input layers, which are not called, excluded)."""

    def __init__(self, model):
        config = _config(model)
        by_name = {op.name: op for op in operations(model)}
        self._operations = by_name
        calls, functional = [], set()
        for layer in config["layers"]:
            op = by_name[layer["name"]]
            if "input_layers" in (layer.get("config") or {}):
                functional.add(op.name)
            for i, node in enumerate(layer["inbound_nodes"]):
                calls.append(Call(op, i, tuple(_argument(node["args"])), _argument(node["kwargs"])))
        self.calls = _in_running_order(calls)
        self.inputs = _refs(config["input_layers"])
        # Call arguments number an operation's calls from 0, but `input_layers` and
        # `output_layers` number a nested functional model's from 1 (its call 0 is its own
        # inner graph, which Keras's `functional_from_config` skips the same way).
        self.outputs = keras.tree.map_structure(
            lambda r: TensorRef(r.op, r.call - 1, r.index) if r.op in functional else r,
            _refs(config["output_layers"]),
        )
        self.input_names = _flat_names(self.inputs)

    def n_outputs(self, name: str) -> int:
        """How many tensors a call of the operation `name` returns (`op.output` is those of
        its first call)."""
        return len(keras.tree.flatten(self._operations[name].output))


def _in_running_order(calls: list[Call]) -> list[Call]:
    """The calls in an order that runs, for a spec people read: each after the calls it
    takes tensors from and after the operation's earlier calls; next comes a call of what
    was just placed when one can run (so its `in` goes unwritten), else the first that can
    run in the config's order (Keras's `model.operations`, which lists each operation with
    all its calls, so a shared layer's later calls come too early there)."""
    key = {(c.op.name, c.call): i for i, c in enumerate(calls)}
    takes = [{key[(t.op, t.call)] for t in c.tensors if (t.op, t.call) in key} for c in calls]
    waits_for = [
        producers | ({key[(c.op.name, c.call - 1)]} if c.call else set())
        for c, producers in zip(calls, takes)
    ]
    released: list[list[int]] = [[] for _ in calls]
    for i, before in enumerate(waits_for):
        for b in before:
            released[b].append(i)
    ready = {i for i, before in enumerate(waits_for) if not before}
    order: list[int] = []
    while ready:
        follow = (
            [i for i in released[order[-1]] if i in ready and order[-1] in takes[i]]
            if order
            else []
        )
        pick = min(follow or ready)
        ready.discard(pick)
        order.append(pick)
        for i in released[pick]:
            waits_for[i].discard(pick)
            if not waits_for[i]:
                ready.add(i)
    placed = set(order)  # a cycle, which Keras cannot build, keeps the config's order
    return [calls[i] for i in order] + [c for i, c in enumerate(calls) if i not in placed]


def _flat_names(refs: Any) -> list[str]:
    return [ref.op for ref in keras.tree.flatten(refs)]


def input_names(model) -> list[str]:
    """The names of a model's inputs, in the order of `model.inputs`."""
    config = _config(model)
    if isinstance(model, keras.Sequential):  # its config lists its InputLayer first
        return [config["layers"][0]["config"]["name"]]
    return _flat_names(_refs(config["input_layers"]))


def output_names(model) -> list[str]:
    """The keys of a model's mapping of outputs, else the names of the operations that make
    its outputs, in the order of `model.outputs`."""
    if isinstance(model, keras.Sequential):
        return [model.layers[-1].name]
    outputs = _refs(_config(model)["output_layers"])
    return list(outputs) if isinstance(outputs, dict) else _flat_names(outputs)
