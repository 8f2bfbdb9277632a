"""Name resolution: what each name in the model or in a block instance stands for, and the
one function that turns a written reference into a resolved `Ref`.

Every `in`, `share` and `outputs` reference, and every default input, is resolved here, after
all nodes are expanded (so a node may refer to one listed after it). Errors are reported at
the place the reference was written; a reference to something whose own declaration was
invalid resolves to None without a second error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .. import walk
from ..codes import report
from ..document import split_ref
from ..errors import Diagnostic, did_you_mean
from ..source import Loc
from .model import Ref

MAX_DEPTH = 200  # block inputs passed through block outputs: a loop of them is an error


@dataclass(frozen=True)
class NodeName:
    """A node, or an input, under its flat name."""

    flat: str


@dataclass(frozen=True)
class Invalid:
    """Something whose declaration was invalid and is reported: references to it are holes."""


@dataclass(frozen=True)
class Absent:
    """A node that `when` leaves out: references to it are errors that name the condition."""

    name: str
    condition: str


@dataclass(frozen=True)
class BlockInput:
    """An input of a block instance: what the instance was applied to, a reference written in
    the caller's scope (or the caller's default input, a binding)."""

    scope: "Scope"
    target: Union[str, "Binding"]
    loc: Loc
    name: str  # the block input's name


@dataclass(frozen=True)
class Instance:
    """An instance (or one copy) of an inline block: its outputs are names in its own scope."""

    scope: "Scope"
    outputs: tuple  # names in `scope`, or (by default) what the last present node stands for
    loc: Loc  # the block's definition, for errors in its `outputs`
    block: str
    name: str  # the instance's local name


Binding = Union[NodeName, Invalid, Absent, BlockInput, Instance]


@dataclass(eq=False)
class Scope:
    """The local names of the model or of one block instance. At the model's top level, a name
    that is not local may still be the flat name of a node expanded from a block."""

    where: str  # "the model", or "block 'b'" for messages
    parent: "Scope | None" = None
    names: dict[str, Binding] = field(default_factory=dict)
    flat: dict[str, Binding] | None = None  # the model's flat names; top level only

    @property
    def top(self) -> bool:
        return self.parent is None

    def lookup(self, name: str) -> Binding | None:
        found = self.names.get(name)
        if found is None and self.flat is not None:
            found = self.flat.get(name)
        return found

    def known(self) -> list[str]:
        """Names a reference here may use, for did-you-mean hints."""
        if self.flat is not None:
            return [n for n, b in self.flat.items() if isinstance(b, NodeName)]
        return list(self.names)


class Resolver:
    def __init__(self, diagnostics: list[Diagnostic], main):
        self.diags = diagnostics
        self.main = main  # the Source diagnostics fall back to
        self.failed = False

    def error(self, loc: Loc, code: str, template: str, **fields: Any) -> None:
        self.diags.append(report(self.main, loc, code, template, **fields))
        self.failed = True

    def text(
        self,
        scope: Scope,
        text: str,
        loc: Loc,
        user: str | None,
        depth: int = 0,
        share: bool = False,
    ) -> Ref | None:
        """Resolve `text` (`name` or `name:k`) written at `loc` by node `user` (None for
        `outputs`); `share` when it names the node whose layer `user` reuses."""
        name, index = split_ref(text)
        binding = scope.lookup(name)
        if binding is None:
            self._unknown(scope, text, name, loc, user, share)
            return None
        return self.binding(binding, index, text, loc, depth)

    def binding(
        self, binding: Binding, index: int | None, text: str, loc: Loc, depth: int = 0
    ) -> Ref | None:
        if depth > MAX_DEPTH:
            self.error(loc, "GS207", "references", ref=text)
            return None
        if isinstance(binding, NodeName):
            return Ref(binding.flat, index, loc)
        if isinstance(binding, Invalid):
            self.failed = True
            return None
        if isinstance(binding, Absent):
            self.error(
                loc,
                "GS143",
                "absent",
                ref=text,
                name=binding.name,
                condition=binding.condition,
                hint="make the reference conditional too, or refer to another node",
            )
            return None
        if isinstance(binding, BlockInput):
            target = binding.target
            base = (
                self.text(binding.scope, target, binding.loc, None, depth + 1)
                if isinstance(target, str)
                else self.binding(target, None, text, binding.loc, depth + 1)
            )
            if base is None or index is None:
                return base if base is None else Ref(base.node, base.index, loc)
            if base.index is not None:
                self.error(
                    loc,
                    "GS211",
                    "input_index",
                    ref=text,
                    index=index,
                    name=binding.name,
                    resolved=f"{base.node}:{base.index}",
                )
                return None
            return Ref(base.node, index, loc)
        # An inline block instance: a reference names one of its outputs.
        name = binding.name
        outputs = binding.outputs
        if index is None and len(outputs) != 1:
            self.error(
                loc,
                "GS211",
                "instance_outputs",
                name=name,
                block=binding.block,
                count=len(outputs),
                choices=", ".join(f"{name}:{i}" for i in range(len(outputs))),
            )
            return None
        if index is not None and index >= len(outputs):
            self.error(
                loc,
                "GS211",
                "instance_index",
                ref=text,
                name=name,
                block=binding.block,
                count=len(outputs),
            )
            return None
        inner = self.target(
            binding.scope, outputs[index or 0], binding.loc + ("outputs",), depth + 1
        )
        return None if inner is None else Ref(inner.node, inner.index, loc)

    def target(
        self, scope: Scope, target: Union[str, Binding], loc: Loc, depth: int = 0
    ) -> Ref | None:
        """A reference written as text in `scope`, or a binding already in hand."""
        if isinstance(target, str):
            return self.text(scope, target, loc, None, depth)
        return self.binding(target, None, "", loc, depth)

    def structure(self, value: Any, scope: Scope, loc: Loc, user: str | None) -> Any:
        """An `in` or `outputs` value with every reference resolved (None where one failed)."""
        return walk.map_leaves(value, lambda text, path: self.text(scope, text, loc + path, user))

    def _unknown(
        self, scope: Scope, text: str, name: str, loc: Loc, user: str | None, share: bool
    ) -> None:
        known = scope.known()
        if share and scope.top:
            self.error(loc, "GS206", "share", ref=text, node=user, hint=did_you_mean(name, known))
        elif not scope.top:
            self.error(
                loc,
                "GS206",
                "block",
                ref=text,
                where=scope.where,
                hint=did_you_mean(name, known)
                or f"inside a block, references name its inputs and nodes: {', '.join(known)}",
            )
        else:
            self.error(
                loc,
                "GS206",
                "outputs" if user is None else "node",  # no user: the model's outputs
                ref=text,
                node=user,
                hint=did_you_mean(name, known) or f"inputs and nodes: {', '.join(known[:12])}",
            )
