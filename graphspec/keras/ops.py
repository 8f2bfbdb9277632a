"""Op nodes: Keras's own operations, or a serializable layer for registered ops.

An op node that names a `keras.ops` function becomes the operation Keras itself records for
that call (`Mean`, `Subtract`, ...), named after the node: a saved model reloads in plain
Keras, in safe mode, without graphspec (`KerasOp`). A registered op is a Python function
Keras cannot know, so it runs inside the `Op` layer below, which needs its plugin to reload.

Keras's own `Lambda` stores Python bytecode, which `keras.models.load_model` refuses in its
default safe mode. An `Op` layer stores only the op's *name* and its arguments; on load the
name is looked up again among `keras.ops` and the registered ops. So a saved model reloads
safely, provided the plugin that registered a custom op is imported first.

The layer is registered with Keras as `graphspec>Op`, the name saved models record (models
saved before this module moved into `graphspec.keras` reload through it too).
"""

from __future__ import annotations

import keras

from .. import catalog
from ..registry import OPS
from . import _private


def resolve(name: str):
    """(function, registered?) for an op name; registered ops win over `keras.ops`."""
    fn = OPS.get(name)
    if fn is not None:
        return fn, True
    if catalog.op(name) is not None:
        target = keras.ops
        for part in name.split("."):
            target = getattr(target, part)
        return target, False
    raise ValueError(
        f"op '{name}' is not registered. Expected a function of keras.ops or an op registered "
        "with graphspec.register_op. Received: " + repr(name) + ". Import the plugin that "
        "registers it before building or loading the model."
    )


def _apply(fn, form: str, inputs, args: dict, registered: bool):
    if registered or form == "single":
        return fn(inputs, **args)
    if form == "list":
        return fn(*inputs, **args)
    return fn(**inputs, **args)


def _flat(value) -> list:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return [value]


class KerasOp:
    """An op node of a `keras.ops` function, applied as the function itself.

    Called on symbolic tensors, the function records one Keras operation, which then gets
    the node's name (Keras saves and reloads that name). Should a function hand back one of
    its inputs unchanged (nothing recorded to name), the node falls back to the `Op` layer so
    that it still exists, under its name, in the model."""

    def __init__(self, op: str, args: dict | None = None, form: str = "single"):
        self.op, self.args, self.form = op, dict(args or {}), form
        self._fn, registered = resolve(op)
        if registered:
            raise ValueError(f"op '{op}' is registered: it runs in the Op layer")

    def __call__(self, inputs, name: str):
        out = _apply(self._fn, self.form, inputs, self.args, False)
        first = _flat(out)[0]
        operation = _private.operation_of(first)
        if any(first is t for t in _flat(inputs)) or isinstance(operation, keras.layers.Layer):
            return Op(op=self.op, args=self.args, form=self.form, name=name)(inputs)
        operation.name = name
        return out


@keras.saving.register_keras_serializable(package="graphspec", name="Op")
class Op(keras.layers.Layer):
    """Applies a named op to its inputs.

    `form` says how the node's inputs arrive: `single` (one tensor), `list` or `mapping`.
    A `keras.ops` function gets them as leading positional arguments (or keywords, for a
    mapping); a registered op `fn(inputs, **args)` gets the tensor, list or dict as is.
    """

    def __init__(self, op: str, args: dict | None = None, form: str = "single", **kwargs):
        super().__init__(**kwargs)
        self.op = op
        self.op_args = dict(args or {})
        self.form = form
        self._fn, self._registered = resolve(op)

    def call(self, inputs):
        return _apply(self._fn, self.form, inputs, self.op_args, self._registered)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "args": self.op_args, "form": self.form}
