"""Typed signatures of layers and ops: what validation needs to know about a node type.

Built-in signatures come from the shipped catalog (no Keras import); registered layers and
ops describe themselves when registered. Both become the same small frozen dataclasses, so
no module reads signatures as `sig["call"]` dictionaries.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import catalog


@dataclass(frozen=True)
class LayerSignature:
    args: tuple[str, ...]  # constructor arguments
    required: tuple[str, ...]  # constructor arguments without a default
    call: tuple[str, ...]  # arguments of `call`, the main input first
    inputs: tuple[int, int | None]  # fewest and most tensors the layer takes
    input_form: str  # "single" | "list" | "positional" | "auto": how several inputs are passed
    outputs: int | dict | None = 1  # None: known only once built; {"return_state": n}
    any_kwargs: bool = False
    module: str | None = None  # for layers of keras.applications: where the class lives
    # Constructor defaults that plain data can hold (tuples as lists): `graphspec diff` reads
    # an argument left out as its default.
    defaults: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_entry(cls, entry: dict) -> "LayerSignature":
        return cls(
            tuple(entry["args"]),
            tuple(entry["required"]),
            tuple(entry["call"]),
            (entry["inputs"][0], entry["inputs"][1]),
            entry["input_form"],
            entry.get("outputs", 1),
            bool(entry.get("any_kwargs")),
            entry.get("module"),
            dict(entry.get("defaults", {})),
        )

    def n_outputs(self, args: dict) -> int | None:
        """How many outputs a node with these constructor arguments has (None: unknown)."""
        if isinstance(self.outputs, dict):
            return self.outputs["return_state"] if args.get("return_state") else 1
        return self.outputs


@dataclass(frozen=True)
class OpSignature:
    positional: tuple[str, ...]  # parameters the node's inputs fill, in order
    keyword: tuple[str, ...]  # parameters that `args` may give
    required: tuple[str, ...]
    varargs: str | None = None
    any_kwargs: bool = False
    registered: bool = False  # a registered op takes all its inputs as its first parameter
    defaults: dict = field(default_factory=dict, compare=False)  # as LayerSignature.defaults

    @classmethod
    def from_entry(cls, entry: dict) -> "OpSignature":
        return cls(
            tuple(entry["positional"]),
            tuple(entry["keyword"]),
            tuple(entry["required"]),
            entry.get("varargs"),
            bool(entry.get("any_kwargs")),
            bool(entry.get("registered")),
            dict(entry.get("defaults", {})),
        )

    def to_entry(self) -> dict:
        """The catalog's JSON form."""
        return {
            "positional": list(self.positional),
            "keyword": list(self.keyword),
            "required": list(self.required),
            "varargs": self.varargs,
            "any_kwargs": self.any_kwargs,
            "defaults": dict(self.defaults),
        }


def classify(params: Iterable[inspect.Parameter], *, registered: bool = False) -> OpSignature:
    """An op's signature from its Python parameters (for a registered op, those after the
    first, which takes the inputs). The one place parameters are sorted into kinds, for the
    catalog generator and the registry alike."""
    params = list(params)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    positional = (
        ()
        if registered
        else tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    )
    varargs = (
        None if registered else next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    )
    return OpSignature(
        positional=positional,
        keyword=tuple(p.name for p in params if p.kind in named),
        required=tuple(
            p.name
            for p in params
            if p.default is p.empty
            and p.kind in (named if registered else named + (p.POSITIONAL_ONLY,))
        ),
        varargs=varargs,
        any_kwargs=any(p.kind is p.VAR_KEYWORD for p in params),
        registered=registered,
        defaults=defaults(params),
    )


_NO_VALUE = object()


def plain_default(value: Any) -> Any:
    """A parameter's default as spec data (tuples become lists), or `_NO_VALUE` for one
    that a spec cannot write (an object, a function, a non-finite number)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NO_VALUE
    if isinstance(value, (list, tuple)):
        items = [plain_default(v) for v in value]
        return _NO_VALUE if any(v is _NO_VALUE for v in items) else items
    return _NO_VALUE


def defaults(params: Iterable[inspect.Parameter]) -> dict:
    """{name: default} of the keyword parameters whose default a spec could write."""
    out = {}
    for p in params:
        if p.default is p.empty or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        value = plain_default(p.default)
        if value is not _NO_VALUE:
            out[p.name] = value
    return out


@functools.lru_cache(maxsize=None)
def builtin_layer(name: str) -> LayerSignature | None:
    entry = catalog.layer(name)
    return LayerSignature.from_entry(entry) if entry is not None else None


@functools.lru_cache(maxsize=None)
def builtin_op(name: str) -> OpSignature | None:
    entry = catalog.op(name)
    return OpSignature.from_entry(entry) if entry is not None else None


def describe_op(fn: Any) -> OpSignature:
    """The signature of a registered op `fn(inputs, **args)`."""
    return classify(list(inspect.signature(fn).parameters.values())[1:], registered=True)


# -- checks of a use against a signature ----------------------------------------------------
# They return problems relative to the node (`path` below the node's location); the graph
# stage, which knows where the node was written, turns them into located diagnostics.


@dataclass(frozen=True)
class Problem:
    code: str
    template: str
    path: tuple = ()  # below the node: ("args", "units"), ("in", "mask"), ...
    fields: tuple = ()  # (name, value) pairs for the template
    hint: str | None = None
    at_key: bool = False

    def fields_dict(self) -> dict:
        return dict(self.fields)


def _problem(
    code: str,
    template: str,
    path: tuple = (),
    hint: str | None = None,
    at_key: bool = False,
    **fields: Any,
) -> Problem:
    return Problem(code, template, path, tuple(fields.items()), hint, at_key)


def check_layer_args(sig: LayerSignature, layer: str, args: dict, where: str) -> list[Problem]:
    """Constructor arguments against the layer's signature (`where` names the node)."""
    from .errors import did_you_mean

    out = []
    for key in args:
        if key == "name":
            out.append(
                _problem(
                    "GS203",
                    "name",
                    ("args", key),
                    at_key=True,
                    hint="set the node's 'name' key instead",
                )
            )
        elif key not in sig.args and not sig.any_kwargs:
            out.append(
                _problem(
                    "GS203",
                    "layer",
                    ("args", key),
                    at_key=True,
                    key=key,
                    layer=layer,
                    where=where,
                    hint=did_you_mean(key, sig.args) or f"{layer} takes: {', '.join(sig.args)}",
                )
            )
    out += [
        _problem(
            "GS204",
            "layer",
            ("args",),
            key=key,
            layer=layer,
            where=where,
            hint=f"add it under args, e.g. args: {{{key}: ...}}",
        )
        for key in sig.required
        if key not in args
    ]
    return out


def check_layer_call(
    sig: LayerSignature, layer: str, node: str, form: str, count: int, keys: Iterable[str] = ()
) -> list[Problem]:
    """How a node applies the layer: `count` inputs in a list or single form, or the call
    arguments `keys` of a mapping `in`."""
    from .errors import did_you_mean

    if form == "mapping":
        keys = list(keys)
        out = [
            _problem(
                "GS203",
                "call",
                ("in", key),
                at_key=True,
                key=key,
                layer=layer,
                node=node,
                hint=did_you_mean(key, sig.call) or f"{layer}.call takes: {', '.join(sig.call)}",
            )
            for key in keys
            if key not in sig.call
        ]
        first = sig.call[0] if sig.call else None
        if first and first not in keys:
            out.append(
                _problem(
                    "GS204",
                    "call",
                    ("in",),
                    node=node,
                    key=first,
                    layer=layer,
                    hint=f"add {first}: <reference>",
                )
            )
        return out
    low, high = sig.inputs
    if count and (count < low or (high is not None and count > high)):
        want = (
            f"exactly {low}"
            if low == high
            else f"at least {low}"
            if high is None
            else f"{low} to {high}"
        )
        return [
            _problem(
                "GS210",
                "layer",
                ("in",),
                layer=layer,
                node=node,
                want=want,
                count=count,
                hint=_arity_hint(layer, low, sig.call),
            )
        ]
    return []


def check_op_call(
    sig: OpSignature, op: str, node: str, form: str, count: int, keys: Iterable[str], args: dict
) -> list[Problem]:
    """An op node's inputs (positional `count`, or mapping `keys`) and `args`."""
    from .errors import did_you_mean

    out = []
    if sig.registered:
        taken: tuple[str, ...] = ()
    elif form == "mapping":
        taken = tuple(keys)
        out += [
            _problem(
                "GS203",
                "op_input",
                ("in", key),
                at_key=True,
                key=key,
                op=op,
                node=node,
                hint=did_you_mean(key, sig.keyword),
            )
            for key in taken
            if key not in sig.keyword
        ]
    else:
        if count > len(sig.positional) and not sig.varargs:
            out.append(
                _problem(
                    "GS210",
                    "op",
                    ("in",),
                    op=op,
                    node=node,
                    most=len(sig.positional),
                    names=", ".join(sig.positional),
                    count=count,
                    hint="to pass a list as one argument, use a mapping, e.g. in: "
                    f"{{{sig.positional[0] if sig.positional else 'x'}: [a, b]}}",
                )
            )
        taken = sig.positional[:count]
    for key in args:
        if key in taken:
            out.append(_problem("GS203", "op_given", ("args", key), at_key=True, key=key, op=op))
        elif key not in sig.keyword and not sig.any_kwargs:
            out.append(
                _problem(
                    "GS203",
                    "op",
                    ("args", key),
                    at_key=True,
                    key=key,
                    op=op,
                    node=node,
                    hint=did_you_mean(key, sig.keyword) or f"{op} takes: {', '.join(sig.keyword)}",
                )
            )
    out += [
        _problem(
            "GS204",
            "op",
            ("args",) if args else (),
            key=key,
            op=op,
            node=node,
            hint="add it under args, or as an input",
        )
        for key in sig.required
        if key not in taken and key not in args
    ]
    return out


def _arity_hint(layer: str, low: int, call: tuple[str, ...]) -> str:
    if low >= 2:
        return "list the inputs, e.g. in: [a, b]"
    hint = f"{layer} takes one tensor: merge several first, e.g. with a Concatenate or Add node"
    if len(call) > 1 and call[1] not in ("training", "mask"):
        hint += (
            f"; pass call arguments by name with a mapping, e.g. in: {{{call[0]}: a, {call[1]}: b}}"
        )
    return hint
