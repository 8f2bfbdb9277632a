"""What composition hands to the graph stage: flat nodes whose references are resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ..document import InputSpec, LayerNode, OpNode, ShareNode


@dataclass(frozen=True)
class Ref:
    """A resolved reference: output `index` of node `node` (None: its only or whole output).
    `loc` is where the reference was written, so errors about it point there."""

    node: str
    index: int | None
    loc: tuple


class CallerInput:
    """The input of a nested sub-model: it takes the shape of what the caller applies it to."""

    def __repr__(self) -> str:
        return "CallerInput()"


#: `in` after resolution: a reference, a list, or a mapping of call-argument names to
#: references or lists. `None` stands where a reference did not resolve (already reported).
Inputs = Union[Ref, None, list, dict]


@dataclass
class Submodel:
    """An instance of a `nested` block: one node whose layer is a Keras sub-model built from
    `body`, the block's own composition (names inside are the block's, unprefixed)."""

    block: str
    body: "Composition"


@dataclass
class ComposedNode:
    """One node after expansion, with parameters substituted and references resolved."""

    name: str
    decl: LayerNode | OpNode | ShareNode | Submodel
    loc: tuple  # a Loc: where it was written (maybe in an imported file), and its instance
    inputs: Inputs
    share: str | None = None  # for a share node: the node whose layer it reuses
    index: int = 0  # position among the composed nodes: default order and ties in build order


@dataclass
class Composition:
    """The model (or a nested block's body) as the graph stage sees it."""

    name: str
    model: str  # "auto" | "sequential" | "functional"
    inputs: dict[str, InputSpec | CallerInput | None]  # None: invalid, reported
    nodes: list[ComposedNode]
    outputs: Inputs  # a reference, a list or a mapping of output names to references
    params: dict[str, Any] = field(default_factory=dict)
    #: False when a declaration was invalid or a reference did not resolve: the graph then has
    #: holes, and judging what reaches the outputs would only echo errors already reported.
    complete: bool = True
    compile: Any = None  # CompileSpec, parameters substituted
    train: Any = None  # TrainSpec, parameters substituted
    budget: Any = None  # BudgetSpec, parameters substituted
