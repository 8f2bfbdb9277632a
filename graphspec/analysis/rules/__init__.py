"""The shape rules: one function per layer class or op, registered by name.

A rule is `fn(call: Call)` and returns the output shape (a tuple, batch axis first), a list
of shapes for several outputs, or `Tensor`s when the dtype is not the layer's compute dtype.
It records weights with `call.weights(n, trainable=...)` and cost in `call.macs`, raises
`Issue` for a shape error and `Unknown` when it cannot tell (never a guess).

Plugins give rules for their own layers and ops with `register_shape`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import Call, Tensor, Unknown

LAYERS: dict[str, Callable[[Call], Any]] = {}
OPS: dict[str, Callable[[Call], Any]] = {}
_PLUGINS: dict[tuple[str, str], Callable[[Call], Any]] = {}


def _register(table: dict[str, Callable[[Call], Any]], names: tuple[str, ...]):
    def register(fn):
        table.update(dict.fromkeys(names, fn))
        return fn

    return register


def layer(*names: str):
    """Decorator: the rule of the layer classes `names`."""
    return _register(LAYERS, names)


def op(*names: str):
    """Decorator: the rule of the ops `names`."""
    return _register(OPS, names)


def register_shape(
    kind: str,
    name: str,
    fn: Callable,
    *,
    params: Callable | None = None,
    macs: Callable | None = None,
) -> None:
    """Give a registered layer (`kind="layer"`) or op (`kind="op"`) a pure-Python shape rule.

    `fn(input_shapes, args)` gets the input shape(s) as the node passes them (one tuple, a
    list of tuples, or a dict of them by call argument; batch axis first, None for an unknown
    size) and the node's `args`, and returns the output shape (a tuple) or a list of shapes
    (several outputs); None when it cannot tell. Raising ValueError reports a shape error at
    the node, with the exception's text. `params(input_shapes, args)` and
    `macs(input_shapes, args)` may give the trainable parameter count and the multiply-
    accumulates per sample; without them both are unknown."""
    if kind not in ("layer", "op"):
        raise ValueError(f"kind must be 'layer' or 'op'. Received: {kind!r}")
    if not callable(fn):
        raise ValueError(
            f"a shape rule must be a function fn(input_shapes, args). Received: {fn!r}"
        )
    _PLUGINS[(kind, name)] = _plugin_rule(fn, params, macs)


def unregister_shape(kind: str, name: str) -> None:
    _PLUGINS.pop((kind, name), None)


def rule_for(kind: str, name: str, registered: bool) -> Callable[[Call], Any] | None:
    """The rule of a node type: a plugin's first; built-in rules only for Keras's own names
    (a registered layer that shadows a built-in name has no built-in rule)."""
    plugin = _PLUGINS.get((kind, name))
    if plugin is not None or registered:
        return plugin
    return (LAYERS if kind == "layer" else OPS).get(name)


def _shapes(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, dict):
        return {k: _shapes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shapes(v) for v in value]
    return value


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value
    )


def _plugin_rule(fn: Callable, params: Callable | None, macs: Callable | None):
    def rule(call: Call):
        shapes = _shapes(call.inputs)
        try:
            out = fn(shapes, dict(call.args))
        except ValueError as exc:
            received = ", ".join(_received(call))
            raise call.fail("GS408", "arg", ("in",), detail=str(exc), received=received) from None
        if out is None:
            raise Unknown("the plugin's rule cannot tell")
        if _is_shape(out) and not (out and isinstance(out[0], (tuple, list))):
            result = tuple(out)
        elif isinstance(out, (list, tuple)) and out and all(_is_shape(s) for s in out):
            result = [tuple(s) for s in out]
        else:
            raise Unknown(f"the plugin's rule returned {out!r}, not a shape")
        call.params = params(shapes, dict(call.args)) if params else None
        call.macs = macs(shapes, dict(call.args)) if macs else None
        return result

    return rule


def _received(call: Call) -> list[str]:
    from ..core import describe

    return [describe(t) for t in call.tensors()]


# The built-in rules register themselves on import, with the decorators above.
from . import layers, ops  # noqa: E402, F401
