"""Typed signatures of layers and ops: what validation needs to know about a node type.

Built-in signatures come from the shipped catalog (no Keras import); registered layers and
ops describe themselves when registered. Both become the same small frozen dataclasses, so
no module reads signatures as `sig["call"]` dictionaries.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
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

    @classmethod
    def from_entry(cls, entry: dict) -> "LayerSignature":
        return cls(tuple(entry["args"]), tuple(entry["required"]), tuple(entry["call"]),
                   (entry["inputs"][0], entry["inputs"][1]), entry["input_form"],
                   entry.get("outputs", 1), bool(entry.get("any_kwargs")), entry.get("module"))

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

    @classmethod
    def from_entry(cls, entry: dict) -> "OpSignature":
        return cls(tuple(entry["positional"]), tuple(entry["keyword"]), tuple(entry["required"]),
                   entry.get("varargs"), bool(entry.get("any_kwargs")),
                   bool(entry.get("registered")))

    def to_entry(self) -> dict:
        """The catalog's JSON form."""
        return {"positional": list(self.positional), "keyword": list(self.keyword),
                "required": list(self.required), "varargs": self.varargs,
                "any_kwargs": self.any_kwargs}


def classify(params: Iterable[inspect.Parameter], *, registered: bool = False) -> OpSignature:
    """An op's signature from its Python parameters (for a registered op, those after the
    first, which takes the inputs). The one place parameters are sorted into kinds, for the
    catalog generator and the registry alike."""
    params = list(params)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    positional = () if registered else tuple(
        p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    varargs = None if registered else next(
        (p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    return OpSignature(
        positional=positional,
        keyword=tuple(p.name for p in params if p.kind in named),
        required=tuple(p.name for p in params if p.default is p.empty
                       and p.kind in (named if registered else named + (p.POSITIONAL_ONLY,))),
        varargs=varargs,
        any_kwargs=any(p.kind is p.VAR_KEYWORD for p in params),
        registered=registered)


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
