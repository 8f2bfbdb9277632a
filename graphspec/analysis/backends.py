"""`validate --backend NAME`: the layers and ops of a checked graph that a Keras backend does
not run, from the catalog and without importing any backend.

    diagnostics = check(source, checked, "jax")

What a backend refuses is recorded in `catalog.json` by `graphspec.keras.catalog_gen`, read
from Keras's own backend sources: an op a backend does not implement, arguments a backend
refuses (`segment_sum` without `num_segments` on JAX, `one_hot(sparse=True)` on PyTorch),
layers that run TensorFlow inside the model (`StringLookup`, `Hashing`, ...), which JAX
cannot train, and layers of string tensors, which PyTorch cannot hold. Each finding has been
run on its backend (tests/test_backends.py). Each becomes one GS216 error at the node's
`layer:` or `op:` value. A condition the spec leaves undecided (an argument the catalog has
no value for) is not reported: never a guess. Registered custom layers and ops are not
checked (their code is the plugin's).
"""

from __future__ import annotations

from typing import Any, Iterator

from .. import catalog, walk
from ..codes import report
from ..errors import Diagnostic, did_you_mean, pointer
from ..registry import LAYERS, OPS

BACKENDS = catalog.BACKENDS

_WHY = {
    "tensorflow_ops": "it runs TensorFlow operations in its call, and TensorFlow cannot take "
    "the traced tensors that Keras's {backend} backend runs the model on before fit and "
    "evaluate",
    "strings": "it takes or gives string tensors, which Keras's {backend} backend has no dtype for",
    "missing": "Keras's {backend} backend does not define it",
    "not_implemented": "Keras's {backend} backend raises NotImplementedError for it",
}


def backend_name(name: str) -> str:
    """`name` when it is a backend `check` knows; else ValueError with a did-you-mean (the
    command line turns it into a usage error, exit 2)."""
    if name in BACKENDS:
        return name
    hint = did_you_mean(name, BACKENDS)
    raise ValueError(
        f"unknown backend '{name}'. Expected one of: {', '.join(BACKENDS)}."
        + (f" {hint[0].upper()}{hint[1:]}" if hint else "")
    )


def check(source, checked, backend: str) -> list[Diagnostic]:
    """A GS216 error for each layer or op of `checked` (a CheckedGraph, nested sub-models
    included) that `backend` does not run with the arguments the spec gives it."""
    backend = backend_name(backend)
    out = []
    for node in _nodes(checked):
        if node.kind == "op" and node.decl.op not in OPS:
            found = _op(source, node, backend)
            out += [found] if found else []
        elif node.kind == "layer":
            for loc, layer, args in _layers(node):
                found = _layer(source, node, loc, layer, args, backend)
                out += [found] if found else []
    return out


def _nodes(checked) -> Iterator[Any]:
    for name in checked.order:
        node = checked.nodes[name]
        if node.kind == "submodel" and node.sub is not None:
            yield from _nodes(node.sub)
        else:
            yield node


def _layers(node) -> Iterator[tuple[tuple, str, dict]]:
    """(loc, class name, args) of the node's layer and of the layers nested in its args
    (wrappers such as Bidirectional)."""
    yield node.loc, node.decl.layer, node.decl.args
    for key, value in node.decl.args.items():
        for path, nested in walk.find(value, _is_nested_layer):
            args = nested.get("args", {})
            yield (
                node.loc + ("args", key) + path,
                nested["layer"],
                args if isinstance(args, dict) else {},
            )


def _is_nested_layer(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("layer"), str)


def _op(source, node, backend: str) -> Diagnostic | None:
    name, args = node.decl.op, node.decl.args
    entry = catalog.op(name) or {}
    # Arguments the node's inputs give are tensors: their values are unknown here.
    given = node.inputs if node.form == "mapping" else entry.get("positional", [])[: node.written]
    values = {k: v for k, v in {**entry.get("defaults", {}), **args}.items() if k not in given}
    fields = {"op": name, "node": node.name}
    return _diagnostic(source, node.loc + ("op",), "op", fields, name, values, args, backend)


def _layer(source, node, loc, layer: str, args: dict, backend: str) -> Diagnostic | None:
    if layer in LAYERS:
        return None
    values = {**(catalog.layer(layer) or {}).get("defaults", {}), **args}
    inside = f" (at '{pointer(loc)}')" if loc != node.loc else ""
    fields = {"layer": layer, "where": f"node '{node.name}'{inside}"}
    return _diagnostic(source, loc + ("layer",), "layer", fields, layer, values, args, backend)


def _diagnostic(source, at, kind, fields, name, values, args, backend) -> Diagnostic | None:
    """GS216 at `at` for the first finding of the catalog about layer or op `name` (`kind`)
    that holds on `backend` with these argument values (`args`: those the spec gives)."""
    finding = _refusal(kind + "s", name, values, backend)
    if finding is None:
        return None
    hint = _hint(finding, kind + "s", name, values, args, backend)
    if "when" in finding:
        condition, received = _condition_text(finding["when"]), _received(finding, values, args)
        return report(
            source,
            at,
            "GS216",
            kind + "_args",
            condition=condition,
            received=received,
            hint=hint,
            backend=backend,
            **fields,
        )
    why = _WHY[finding["reason"]].format(backend=backend)
    return report(source, at, "GS216", kind, why=why, hint=hint, backend=backend, **fields)


def _refusal(kind: str, name: str, values: dict, backend: str) -> dict | None:
    """The first finding of the catalog that holds for `backend` with these argument values."""
    for finding in catalog.unsupported(kind, name):
        if backend not in finding["backends"]:
            continue
        filled = {
            k: (finding.get("none_as", {}).get(k, v) if v is None else v) for k, v in values.items()
        }
        if "when" not in finding or holds(finding["when"], filled) is True:
            return finding
    return None


def _hint(finding: dict, kind: str, name: str, values: dict, args: dict, backend: str) -> str:
    others = [b for b in BACKENDS if b != backend and _refusal(kind, name, values, b) is None]
    if finding["reason"] in ("tensorflow_ops", "strings"):
        fix = (
            f"apply {name} to the data before the model (in a tf.data or NumPy input "
            "pipeline), as Keras recommends"
        )
    elif "when" in finding:
        names = _args(finding["when"])
        verb = "change" if any(n in args for n in names) else "set"
        fix = f"{verb} {', '.join(names)}"
    else:
        fix = "use another op"
    if others:
        fix += f", or use the {' or '.join(others)} backend"
    return f"{fix} (Keras: {finding['source']})"


# -- conditions ------------------------------------------------------------------------------
#
# A condition is catalog data on arguments: {"arg": a} (a is truthy), {"arg": a, "op": "in",
# "value": [...]} (the comparisons of Python), {"not": c}, {"all": [...]}, {"any": [...]}.
# `holds` answers True, False, or None when an argument it reads has no value here.

_PLAIN = (type(None), bool, int, float, str)


def holds(condition: dict, values: dict) -> bool | None:
    """Whether `condition` holds for these argument values; None when it cannot be told."""
    if "all" in condition or "any" in condition:
        parts = [holds(c, values) for c in condition.get("all", condition.get("any"))]
        decisive = False if "all" in condition else True
        if decisive in parts:
            return decisive
        return None if None in parts else not decisive
    if "not" in condition:
        inner = holds(condition["not"], values)
        return None if inner is None else not inner
    name = condition["arg"]
    if name not in values or not _plain(values[name]):
        return None
    value = values[name]
    if "op" not in condition:
        return bool(value)
    other = condition["value"]
    try:
        return {
            "==": lambda: value == other,
            "!=": lambda: value != other,
            "is": lambda: value is other,  # None, True or False: the values Keras tests
            "is not": lambda: value is not other,
            "in": lambda: value in other,
            "not in": lambda: value not in other,
            "<": lambda: value < other,
            "<=": lambda: value <= other,
            ">": lambda: value > other,
            ">=": lambda: value >= other,
        }[condition["op"]]()
    except TypeError:  # an order between a number and a string
        return None


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


def _args(condition: dict) -> list[str]:
    """The arguments a condition reads, in order, once each."""
    if "arg" in condition:
        return [condition["arg"]]
    parts = condition.get("all") or condition.get("any") or [condition.get("not")]
    return list(dict.fromkeys(a for c in parts for a in _args(c)))


def _condition_text(condition: dict) -> str:
    """The condition as a Python expression: `sorted and num_segments is not None`."""
    if condition.keys() == {"arg"}:
        return f"`{condition['arg']}` is true"
    return f"`{_expression(condition)}`"


def _expression(condition: dict, nested: bool = False) -> str:
    if "arg" in condition:
        if "op" not in condition:
            return condition["arg"]
        value = condition["value"]
        shown = repr(tuple(value)) if isinstance(value, list) else repr(value)
        return f"{condition['arg']} {condition['op']} {shown}"
    if "not" in condition:
        return f"not {_expression(condition['not'], True)}"
    word = " and " if "all" in condition else " or "
    text = word.join(_expression(c, True) for c in condition.get("all") or condition["any"])
    return f"({text})" if nested else text


def _received(finding: dict, values: dict, given: dict) -> str:
    return ", ".join(
        f"{name}={values[name]!r}" + ("" if name in given else " (the default)")
        for name in _args(finding["when"])
        if name in values
    )
