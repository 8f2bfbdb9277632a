"""The graph stage: a `Composition` (names already resolved) -> `CheckedGraph`.

Checks structure only: node types and their arguments (against typed signatures), arity and
output indexes, `share` targets, cycles, reachability and the model kind; then the build order.
Every check is linear in nodes plus edges. No Keras here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from . import catalog, settings, signatures, walk
from .catalog import UNSUPPORTED_LAYERS
from .codes import report
from .composition import CallerInput, ComposedNode, Composition, Ref, Submodel
from .document import LayerNode, OpNode
from .errors import Diagnostic, did_you_mean, pointer
from .registry import LAYERS, OPS
from .signatures import LayerSignature
from .source import Loc, Source

__all__ = ["CallerInput", "CheckedGraph", "GraphNode", "Ref", "check"]


@dataclass
class GraphNode:
    """One vertex of the graph: an input or a composed node."""

    name: str
    kind: str  # "input" | "layer" | "op" | "share" | "submodel"
    loc: tuple  # where it is declared: ('inputs', name) or ('layers', i), as a Loc
    decl: Any  # InputSpec | CallerInput | LayerNode | OpNode | ShareNode | Submodel
    index: int | None = None  # position among the composed nodes
    type: str | None = None  # layer class, op name, block name, or the shared node's name
    form: str = "single"  # how inputs are passed: "single" | "list" | "mapping"
    inputs: Any = None  # Ref | list[Ref] | dict[str, Ref | list[Ref]]
    owner: str | None = None  # for share nodes: the node that owns the layer object
    n_outputs: int | None = 1  # None when it depends on things only a build knows
    sub: "CheckedGraph | None" = None  # for nested sub-models: their own checked graph
    written: int = 1  # how many inputs the spec gives (references that failed included)

    def refs(self) -> list[Ref]:
        return _refs(self.inputs)


@dataclass
class CheckedGraph:
    graph: nx.DiGraph
    nodes: dict[str, GraphNode]
    inputs: list[str]
    order: list[str]  # layer/op/share/submodel nodes in build order
    outputs: Any  # Ref | list[Ref] | dict[str, Ref]
    kind: str  # "sequential" | "functional"
    shared: dict[str, list[str]] = field(default_factory=dict)  # owner -> share nodes
    params: dict[str, Any] = field(default_factory=dict)  # final parameter values
    compile: Any = None  # CompileSpec
    train: Any = None  # TrainSpec
    budget: Any = None  # BudgetSpec


def _refs(value: Any) -> list[Ref]:
    """The references in an `in` or `outputs` structure, in order, holes left out."""
    if isinstance(value, Ref):  # most nodes take one input: no walk
        return [value]
    return [leaf for _, leaf in walk.leaves(value) if leaf is not None]


def _drop_holes(value: Any) -> Any:
    """A structure without the references that did not resolve (they were reported)."""
    if isinstance(value, list):
        return [v for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _drop_holes(v) for k, v in value.items() if v is not None}
    return value


class _Checker:
    def __init__(self, source: Source, composition: Composition):
        self.source = source
        self.composition = composition
        self.diags: list[Diagnostic] = []
        self.nodes: dict[str, GraphNode] = {}
        self.invalid: set[str] = set()  # nodes that failed a check: nothing is built from them
        self.holes = not composition.complete  # something upstream failed and was reported
        self.label_by_loc: dict[tuple, str] = {}

    def error(self, loc, code: str, template: str, **fields) -> None:
        self.diags.append(report(self.source, loc, code, template, **fields))

    # -- 1. vertices -------------------------------------------------------------------------
    def collect(self) -> None:
        for name, spec in self.composition.inputs.items():
            self.nodes[name] = GraphNode(name, "input", Loc(("inputs", name), self.source), spec)
            if spec is None:
                self.invalid.add(name)
        for composed in self.composition.nodes:
            node = self._vertex(composed)
            self.nodes[node.name] = node
            self.label_by_loc[tuple(node.loc)] = node.name

    def _vertex(self, composed: ComposedNode) -> GraphNode:
        decl = composed.decl
        inputs = composed.inputs
        form = (
            "list"
            if isinstance(inputs, list)
            else "mapping"
            if isinstance(inputs, dict)
            else "single"
        )
        if isinstance(decl, LayerNode):
            kind, type_ = "layer", decl.layer
        elif isinstance(decl, OpNode):
            kind, type_ = "op", decl.op
        elif isinstance(decl, Submodel):
            kind, type_ = "submodel", decl.block
        else:
            kind, type_ = "share", composed.share
        node = GraphNode(
            composed.name,
            kind,
            composed.loc,
            decl,
            composed.index,
            type_,
            form,
            _drop_holes(inputs),
            written=len(inputs) if form == "list" else 1,
        )
        if kind == "share" and composed.share is None:
            self.invalid.add(node.name)  # its target did not resolve: reported already
        return node

    # -- 2. types and arguments ------------------------------------------------------------
    def check_types(self) -> None:
        for node in list(self.nodes.values()):
            if node.kind == "layer":
                sig = self.check_layer(node.decl.layer, node.decl.args, node.loc)
                if sig is None:
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = sig.n_outputs(node.decl.args)
            elif node.kind == "submodel":
                node.sub, sub_diags = check(self.source, node.decl.body)
                self.diags += sub_diags
                if node.sub is None:
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = len(_refs(node.sub.outputs))
            elif node.kind == "op":
                if OPS.signature(node.decl.op) is None:
                    self.error(
                        node.loc + ("op",),
                        "GS202",
                        "unknown",
                        op=node.decl.op,
                        node=node.name,
                        hint=did_you_mean(node.decl.op, self._op_names())
                        or "custom ops must be registered with graphspec.register_op "
                        "(CLI: --plugin)",
                    )
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = None
        for node in self.nodes.values():  # after every owner is typed
            if node.kind == "share" and node.type is not None:
                self.check_share(node)

    def _op_names(self) -> list[str]:
        return OPS.names() + list(catalog.load()["ops"])

    def check_layer(self, layer: str, args: dict, loc: tuple) -> LayerSignature | None:
        if layer in UNSUPPORTED_LAYERS and layer not in LAYERS:
            self.error(
                loc + ("layer",),
                "GS215",
                "unsupported",
                layer=layer,
                reason=UNSUPPORTED_LAYERS[layer],
            )
            return None
        sig = LAYERS.signature(layer)
        if sig is None:
            known = LAYERS.names() + list(catalog.load()["layers"])
            hint = did_you_mean(layer, known)
            if hint is None and "." in layer:
                hint = (
                    "use the class name alone, e.g. 'Dense'; custom layers are registered "
                    "with graphspec.register_layer and loaded with --plugin"
                )
            self.error(
                loc + ("layer",),
                "GS201",
                "unknown",
                layer=layer,
                where=self._label(loc),
                hint=hint
                or "custom layers must be registered with graphspec.register_layer (CLI: --plugin)",
            )
            return None
        self.check_args(layer, sig, args, loc)
        return sig

    def check_args(self, layer: str, sig: LayerSignature, args: dict, loc: tuple) -> None:
        for problem in signatures.check_layer_args(sig, layer, args, lambda: self._label(loc)):
            if problem.path == ("args",) and "args" not in (self.source.value_at(loc) or {}):
                problem = replace(problem, path=())
            self._report(loc, problem)
        for key, value in args.items():
            self._check_nested(value, loc + ("args", key))

    def _report(self, loc: tuple, problem: signatures.Problem) -> None:
        self.error(
            loc + problem.path,
            problem.code,
            problem.template,
            hint=problem.hint,
            at_key=problem.at_key,
            **problem.fields_dict(),
        )

    def _check_nested(self, value: Any, at: tuple) -> None:
        """A mapping with a `layer` key inside args is itself a layer (wrappers)."""
        for path, nested in walk.find(value, _is_nested_layer):
            here = at + path
            for key in sorted(set(nested) - {"layer", "args"}):
                self.error(
                    here + (key,),
                    "GS112",
                    "nested_layer",
                    key=key,
                    at=pointer(here),
                    at_key=True,
                    hint=did_you_mean(key, ["layer", "args"]),
                )
            nested_args = nested.get("args", {})
            if not isinstance(nested_args, dict):
                self.error(here + ("args",), "GS110", "nested_args", received=nested_args)
                continue
            self.check_layer(nested["layer"], nested_args, here)

    def check_share(self, node: GraphNode) -> None:
        """Follow `share` to the node that owns the layer object."""

        def refuse(template: str, hint: str, **fields: Any) -> None:
            self.error(node.loc + ("share",), "GS214", template, hint=hint, **fields)
            self.invalid.add(node.name)

        seen = [node.name]
        owner = self.nodes.get(node.type)
        while owner is not None and owner.kind == "share" and owner.name not in seen:
            seen.append(owner.name)
            owner = self.nodes.get(owner.type)
        share_a_layer = "share a node that has 'layer' or 'op'"
        if owner is None:  # the target's own declaration was invalid, and reported
            self.invalid.add(node.name)
        elif owner.kind == "input":
            refuse("input", share_a_layer, node=node.name, target=owner.name)
        elif owner.kind == "op":
            refuse(
                "op", f"write another node with op: {owner.type}", node=node.name, target=owner.name
            )
        elif owner.kind == "share":  # met again: the shares go round in a circle
            refuse("circle", share_a_layer, chain=" -> ".join(seen + [owner.name]))
        elif owner.name in self.invalid:
            self.invalid.add(node.name)
        else:
            node.owner = owner.name
            node.n_outputs = owner.n_outputs

    def _label(self, loc: tuple) -> str:
        """`node 'fc1'`, with the key path when the location points inside the node."""
        for end in range(len(loc), 0, -1):
            name = self.label_by_loc.get(tuple(loc[:end]))
            if name is not None:
                inside = f" (at '{pointer(loc)}')" if end < len(loc) - 1 else ""
                return f"node '{name}'{inside}"
        return f"'{pointer(loc)}'"

    # -- 3. arity and output indexes --------------------------------------------------------
    def check_arity(self) -> None:
        for node in self.nodes.values():
            if node.kind == "input" or node.name in self.invalid:
                continue
            for ref in node.refs():
                self._check_index(ref, node)
            if node.kind == "op":
                self._check_op_arity(node)
                continue
            owner = self.nodes[node.owner] if node.kind == "share" else node
            if owner.kind == "submodel":
                self._check_submodel_arity(node, owner)
            else:
                self._check_layer_arity(node, owner, LAYERS.signature(owner.type))

    def _check_submodel_arity(self, node: GraphNode, owner: GraphNode) -> None:
        expected = len(owner.decl.body.inputs)
        if node.form == "mapping" or node.written != expected:
            self.error(
                node.loc + ("in",),
                "GS210",
                "submodel",
                node=owner.name,
                block=owner.type,
                expected=expected,
                received="a mapping" if node.form == "mapping" else node.written,
            )

    def _check_layer_arity(self, node: GraphNode, owner: GraphNode, sig: LayerSignature) -> None:
        keys = node.decl.in_ if node.form == "mapping" else ()
        for problem in signatures.check_layer_call(
            sig, owner.type, node.name, node.form, node.written, keys
        ):
            if problem.path == ("in",) and node.decl.in_ is None:
                problem = replace(problem, path=())  # a default input: point at the node
            self._report(node.loc, problem)

    def _check_op_arity(self, node: GraphNode) -> None:
        keys = node.inputs if node.form == "mapping" else ()
        for problem in signatures.check_op_call(
            OPS.signature(node.type),
            node.type,
            node.name,
            node.form,
            node.written,
            keys,
            node.decl.args,
        ):
            self._report(node.loc, problem)

    def _check_index(self, ref: Ref, node: GraphNode) -> None:
        if ref.index is None:
            return
        target = self.nodes.get(ref.node)
        if target is None:
            return
        count = 1 if target.kind == "input" else target.n_outputs
        if count is not None and ref.index >= count:
            hint = (
                "set return_state: true on the recurrent layer to get its states"
                if target.type in ("LSTM", "GRU", "SimpleRNN") and count == 1
                else None
            )
            self.error(
                ref.loc,
                "GS211",
                "index",
                ref=f"{ref.node}:{ref.index}",
                node=node.name,
                target=ref.node,
                count=count,
                last=count - 1,
                hint=hint,
            )

    # -- 4. the graph: cycles, reachability, kind ------------------------------------------
    def build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node in self.nodes.values():
            graph.add_node(node.name, kind=node.kind, type=node.type, index=node.index, node=node)
        for node in self.nodes.values():
            for ref in node.refs():
                if ref.node not in self.nodes:
                    continue  # a node whose own declaration was invalid
                if graph.has_edge(ref.node, node.name):
                    graph.edges[ref.node, node.name]["outputs"].append(ref.index)
                else:
                    graph.add_edge(ref.node, node.name, outputs=[ref.index])
        return graph

    def check_cycles(self, graph: nx.DiGraph) -> bool:
        found = False
        for component in nx.strongly_connected_components(graph):
            if len(component) == 1:
                (only,) = component
                if not graph.has_edge(only, only):
                    continue
            found = True
            sub = graph.subgraph(component)
            start = min(component, key=lambda n: self.nodes[n].index or 0)
            cycle = [u for u, _ in nx.find_cycle(sub, source=start)]
            self.error(
                self.nodes[start].loc + ("in",),
                "GS207",
                "cycle",
                cycle=" -> ".join(cycle + [cycle[0]]),
                hint="a node cannot depend on its own output; break one of these references",
            )
        return not found

    def check_reachability(self, graph: nx.DiGraph, outputs) -> None:
        refs = _refs(outputs)
        if not refs:
            return
        # Everything an output depends on: one walk backwards from all outputs at once.
        needed = {ref.node for ref in refs}
        stack = list(needed)
        while stack:
            for parent in graph.predecessors(stack.pop()):
                if parent not in needed:
                    needed.add(parent)
                    stack.append(parent)
        # A share node needs its owner's layer object built, even if the owner's output is unused.
        owners = {n.owner for n in self.nodes.values() if n.owner and n.name in needed}
        for name in self.composition.inputs:
            if name not in needed and name not in self.invalid:
                self.error(
                    ("inputs", name),
                    "GS208",
                    "unused",
                    name=name,
                    at_key=True,
                    hint="connect it to a node that leads to an output, or remove it",
                )
        for node in self.nodes.values():
            if (
                node.kind != "input"
                and node.name not in needed
                and node.name not in owners
                and node.name not in self.invalid
            ):
                self.diags.append(
                    report(
                        self.source,
                        node.loc,
                        "GS209",
                        "unused",
                        name=node.name,
                        hint="list it under 'outputs', use it as an input, or remove it",
                    )
                )

    def model_kind(self, graph: nx.DiGraph, outputs) -> str:
        chain = self._is_chain(graph, outputs)
        model = self.composition.model
        if model == "sequential" and not chain:
            self.error(
                Loc(("model",), self.source),
                "GS213",
                "not_chain",
                hint="use model: functional, or model: auto",
            )
        if model == "functional":
            return "functional"
        return "sequential" if chain else "functional"

    def _is_chain(self, graph: nx.DiGraph, outputs) -> bool:
        """One input, one output, and every node takes the previous one whole: a walk along
        the chain, each step constant time."""
        if len(self.composition.inputs) != 1 or not isinstance(outputs, (Ref, list)):
            return False
        outs = _refs(outputs)
        if len(outs) != 1 or outs[0].index is not None:
            return False
        owners = {n.owner for n in self.nodes.values() if n.owner}
        current = next(iter(self.composition.inputs))
        visited = 1
        while current != outs[0].node:
            if graph.out_degree(current) != 1:
                return False
            nxt = self.nodes[next(iter(graph.successors(current)))]
            if (
                nxt.kind == "share"
                or nxt.form != "single"
                or nxt.inputs.index is not None
                or nxt.n_outputs not in (1, None)
                or nxt.name in owners
            ):
                return False
            current = nxt.name
            visited += 1
        return visited == len(graph) and graph.out_degree(current) == 0


def _build_order(graph: nx.DiGraph, nodes: dict[str, GraphNode]) -> list[str]:
    """The topological order that keeps declaration order wherever the edges allow (inputs
    first). Specs are mostly written in that order already: when every edge goes forward,
    the sorted declarations are exactly what networkx's lexicographical sort returns, and
    one pass over the edges shows it (the heap-based sort costs a tenth of a large spec's
    graph checks)."""

    def key(name: str) -> tuple:
        index = nodes[name].index
        return (index if index is not None else -1, name)

    if all(key(u) < key(v) for u, v in graph.edges):
        return sorted(graph, key=key)
    return list(nx.lexicographical_topological_sort(graph, key=key))


def _is_nested_layer(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("layer"), str)


def check(source: Source, composition: Composition) -> tuple[CheckedGraph | None, list[Diagnostic]]:
    """Every structural check in one pass. Returns the graph when the spec is fully valid."""
    checker = _Checker(source, composition)
    checker.collect()
    checker.check_types()
    checker.check_arity()
    outputs = _drop_holes(composition.outputs)
    graph = checker.build_graph()
    acyclic = checker.check_cycles(graph)
    holes = checker.holes or bool(checker.invalid)
    if acyclic and not holes:
        # On a graph with holes, unreachable parts are an echo of errors already reported.
        checker.check_reachability(graph, outputs)
    kind = checker.model_kind(graph, outputs) if acyclic else "functional"
    if outputs is not None:
        checker.diags += settings.check(
            source,
            composition.compile,
            composition.train,
            settings.output_names(outputs, checker.nodes),
        )
    if any(d.is_error for d in checker.diags) or not acyclic or holes or outputs is None:
        return None, checker.diags
    order = [n for n in _build_order(graph, checker.nodes) if checker.nodes[n].kind != "input"]
    shared: dict[str, list[str]] = {}
    for node in checker.nodes.values():
        if node.owner:
            shared.setdefault(node.owner, []).append(node.name)
    return (
        CheckedGraph(
            graph,
            checker.nodes,
            list(composition.inputs),
            order,
            outputs,
            kind,
            shared,
            composition.params,
            composition.compile,
            composition.train,
            composition.budget,
        ),
        checker.diags,
    )
