"""Op nodes as a serializable Keras layer.

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
        "registers it before building or loading the model.")


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
        if self._registered or self.form == "single":
            return self._fn(inputs, **self.op_args)
        if self.form == "list":
            return self._fn(*inputs, **self.op_args)
        return self._fn(**inputs, **self.op_args)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "args": self.op_args, "form": self.form}
