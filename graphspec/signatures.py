"""Typed signatures of layers and ops: what validation needs to know about a node type.

Built-in signatures come from the shipped catalog (no Keras import); registered layers and
ops describe themselves when registered. Both become the same small frozen dataclasses, so
no module reads signatures as `sig["call"]` dictionaries.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import catalog


class _Entry:
    """Read from a catalog entry, whose keys are the signature's field names."""

    @classmethod
    def from_entry(cls, entry: dict):
        """JSON lists become tuples; a key left out keeps the field's default."""
        fields = dataclasses.fields(cls)
        return cls(**{f.name: _frozen(entry[f.name]) for f in fields if f.name in entry})


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    # A copy: no signature shares a dict with the catalog it was read from.
    return dict(value) if isinstance(value, dict) else value


@dataclass(frozen=True)
class LayerSignature(_Entry):
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

    def n_outputs(self, args: dict) -> int | None:
        """How many outputs a node with these constructor arguments has (None: unknown)."""
        if isinstance(self.outputs, dict):
            return self.outputs["return_state"] if args.get("return_state") else 1
        return self.outputs


@dataclass(frozen=True)
class OpSignature(_Entry):
    positional: tuple[str, ...]  # parameters the node's inputs fill, in order
    keyword: tuple[str, ...]  # parameters that `args` may give
    required: tuple[str, ...]
    varargs: str | None = None
    any_kwargs: bool = False
    registered: bool = False  # a registered op takes all its inputs as its first parameter
    defaults: dict = field(default_factory=dict, compare=False)  # as LayerSignature.defaults

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


def _unknown(
    template: str, at: tuple, key: str, known: tuple, owner: str | None, **fields: Any
) -> Problem:
    """GS203 at `key` below `at`: the hint is the closest `known` name, or else the list of
    what `owner` takes (no list without an owner)."""
    from .errors import did_you_mean

    hint = did_you_mean(key, known)
    if hint is None and owner is not None:
        hint = f"{owner} takes: {', '.join(known)}"
    return _problem("GS203", template, at + (key,), hint=hint, at_key=True, key=key, **fields)


def _missing(template: str, at: tuple, keys: Iterable[str], hint: str, **fields: Any) -> list:
    """GS204 for each of `keys`; `hint` may name the key as `{key}`."""
    return [
        _problem("GS204", template, at, hint=hint.format(key=key), key=key, **fields)
        for key in keys
    ]


def check_layer_args(
    sig: LayerSignature, layer: str, args: dict, where: Callable[[], str]
) -> list[Problem]:
    """Constructor arguments against the layer's signature. `where()` names the node; it is
    called only for a problem (most nodes have none)."""
    out = []
    for key in args:
        if key == "name":
            hint = "set the node's 'name' key instead"
            out.append(_problem("GS203", "name", ("args", key), hint=hint, at_key=True))
        elif key not in sig.args and not sig.any_kwargs:
            out.append(
                _unknown("layer", ("args",), key, sig.args, layer, layer=layer, where=where())
            )
    missing = [key for key in sig.required if key not in args]
    if not missing:
        return out
    hint = "add it under args, e.g. args: {{{key}: ...}}"
    return out + _missing("layer", ("args",), missing, hint, layer=layer, where=where())


def check_layer_call(
    sig: LayerSignature, layer: str, node: str, form: str, count: int, keys: Iterable[str] = ()
) -> list[Problem]:
    """How a node applies the layer: `count` inputs in a list or single form, or the call
    arguments `keys` of a mapping `in`."""
    if form == "mapping":
        keys = list(keys)
        out = [
            _unknown("call", ("in",), key, sig.call, f"{layer}.call", layer=layer, node=node)
            for key in keys
            if key not in sig.call
        ]
        # Only the main input is required: the other call arguments have defaults.
        missing = [key for key in sig.call[:1] if key not in keys]
        hint = "add {key}: <reference>"
        return out + _missing("call", ("in",), missing, hint, node=node, layer=layer)
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
    out = []
    if sig.registered:
        taken: tuple[str, ...] = ()
    elif form == "mapping":
        taken = tuple(keys)
        out += [
            _unknown("op_input", ("in",), key, sig.keyword, None, op=op, node=node)
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
            out.append(_unknown("op", ("args",), key, sig.keyword, op, op=op, node=node))
    missing = [key for key in sig.required if key not in taken and key not in args]
    hint = "add it under args, or as an input"
    return out + _missing("op", ("args",) if args else (), missing, hint, op=op, node=node)


def _arity_hint(layer: str, low: int, call: tuple[str, ...]) -> str:
    if low >= 2:
        return "list the inputs, e.g. in: [a, b]"
    hint = f"{layer} takes one tensor: merge several first, e.g. with a Concatenate or Add node"
    if len(call) > 1 and call[1] not in ("training", "mask"):
        hint += (
            f"; pass call arguments by name with a mapping, e.g. in: {{{call[0]}: a, {call[1]}: b}}"
        )
    return hint
