"""The model graph: names, references, node types, arguments, arity, cycles, reachability,
the model kind and the build order. No Keras here: signatures come from the registries and
the shipped catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .errors import WARNING, Diagnostic, did_you_mean, pointer
from . import catalog
from .catalog import UNSUPPORTED_LAYERS
from .registry import LAYERS, OPS
from .compose import Parts, SubmodelNode
from .source import Loc, Source
from .spec import LayerNode, OpNode, split_ref



@dataclass(frozen=True)
class Ref:
    """A resolved reference: output `index` of `node` (None: the node's only/whole output)."""

    node: str
    index: int | None
    loc: tuple


@dataclass
class GraphNode:
    """One vertex of the graph: an input or a node of `layers`."""

    name: str
    kind: str  # "input" | "layer" | "op" | "share"
    loc: tuple  # where it is declared: ('inputs', name) or ('layers', i)
    decl: Any  # InputSpec | LayerNode | OpNode | ShareNode
    index: int | None = None  # position in `layers`
    type: str | None = None  # layer class, op name, or the shared node's name
    form: str = "single"  # how inputs are passed: "single" | "list" | "mapping"
    inputs: Any = None  # Ref | list[Ref] | dict[str, Ref | list[Ref]]
    owner: str | None = None  # for share nodes: the node that owns the layer object
    n_outputs: int | None = 1  # None when it depends on things only a build knows
    sub: "CheckedGraph | None" = None  # for nested sub-models: their own checked graph

    def refs(self) -> list[Ref]:
        if self.inputs is None:
            return []
        if isinstance(self.inputs, Ref):
            return [self.inputs]
        if isinstance(self.inputs, list):
            return list(self.inputs)
        out = []
        for value in self.inputs.values():
            out += value if isinstance(value, list) else [value]
        return out


@dataclass
class CheckedGraph:
    graph: nx.DiGraph
    nodes: dict[str, GraphNode]
    inputs: list[str]
    order: list[str]  # layer/op/share nodes in build order
    outputs: Any  # Ref | list[Ref] | dict[str, Ref]
    kind: str  # "sequential" | "functional"
    shared: dict[str, list[str]] = field(default_factory=dict)  # owner -> share nodes
    params: dict[str, Any] = field(default_factory=dict)  # final parameter values
    compile: Any = None  # CompileSpec
    train: Any = None  # TrainSpec


class _Checker:
    def __init__(self, source: Source, parts: Parts):
        self.source = source
        self.parts = parts
        self.diags: list[Diagnostic] = []
        self.nodes: dict[str, GraphNode] = {}
        self.invalid: set[str] = set()  # names of nodes whose declaration was invalid
        self.by_index: dict[int, str] = {}
        self.unresolved = parts.incomplete  # a reference or a default input did not resolve
        self.label_by_loc: dict[tuple, str] = {}

    def error(self, loc, code, message, hint=None, key=False):
        self.diags.append(self.source.diagnostic(loc, code, message, hint, key=key))

    def warn(self, loc, code, message, hint=None):
        self.diags.append(self.source.diagnostic(loc, code, message, hint, severity=WARNING))

    # -- 1. names ----------------------------------------------------------------------------
    def collect_names(self) -> None:
        for name, spec in self.parts.inputs.items():
            self.nodes[name] = GraphNode(name, "input", Loc(("inputs", name), self.source), spec)
            if spec is None:
                self.invalid.add(name)
        self.invalid |= self.parts.invalid_names
        declared = {name: node.loc for name, node in self.nodes.items()}
        for index, flat in enumerate(self.parts.nodes):
            decl, loc, name = flat.decl, flat.loc, flat.name
            if name is None:
                continue
            if name in declared:
                first = declared[name]
                kind = "input" if first[0] == "inputs" else "node"
                source = getattr(first, "source", None) or self.source
                fline, _ = source.locate(first + (("name",) if kind == "node" else ()))
                where = f" (first declared at line {fline})" if fline else ""
                if source is not (getattr(loc, "source", None) or self.source) and fline:
                    where = f" (first declared at {source.path}:{fline})"
                self.error(loc + ("name",), "GS205",
                           f"duplicate name '{name}': {kind} '{name}' is already declared"
                           f"{where}", "names of inputs and nodes must be unique; rename one")
                self.invalid.add(name)
                continue
            declared[name] = loc
            self.by_index[index] = name
            self.label_by_loc[tuple(loc)] = name
            if decl is None:
                self.invalid.add(name)
                continue
            kind = ("layer" if isinstance(decl, LayerNode) else "op" if isinstance(decl, OpNode)
                    else "submodel" if isinstance(decl, SubmodelNode) else "share")
            node = GraphNode(name, kind, loc, decl, index=index)
            node.type = (decl.layer if kind == "layer" else decl.op if kind == "op"
                         else decl.block if kind == "submodel" else decl.share)
            self.nodes[name] = node

    # -- 2. types and arguments ------------------------------------------------------------
    def check_types(self) -> None:
        for node in list(self.nodes.values()):
            if node.kind == "layer":
                sig = self.check_layer(node.decl.layer, node.decl.args, node.loc)
                if sig is None:
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = _outputs_of(sig, node.decl.args)
            elif node.kind == "submodel":
                node.sub, sub_diags = check(self.source, node.decl.parts)
                self.diags += sub_diags
                if node.sub is None:
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = len(_flatten(node.sub.outputs))
            elif node.kind == "op":
                sig = OPS.signature(node.decl.op)
                if sig is None:
                    self.error(node.loc + ("op",), "GS202", f"unknown op '{node.decl.op}' in node "
                               f"'{node.name}'", did_you_mean(node.decl.op, self._op_names()) or
                               "custom ops must be registered with graphspec.register_op "
                               "(CLI: --plugin)")
                    self.invalid.add(node.name)
                else:
                    node.n_outputs = None
        for node in self.nodes.values():  # after all owners are typed
            if node.kind == "share":
                self.check_share(node)

    def _op_names(self) -> list[str]:
        return OPS.names() + list(catalog.load()["ops"])

    def check_layer(self, layer: str, args: dict, loc: tuple) -> dict | None:
        if layer in UNSUPPORTED_LAYERS and layer not in LAYERS:
            self.error(loc + ("layer",), "GS215", f"layer '{layer}' cannot be used in a spec: "
                       f"{UNSUPPORTED_LAYERS[layer]}")
            return None
        sig = LAYERS.signature(layer)
        if sig is None:
            known = LAYERS.names() + list(catalog.load()["layers"])
            hint = did_you_mean(layer, known)
            if hint is None and "." in layer:
                hint = "use the class name alone, e.g. 'Dense'; custom layers are registered " \
                       "with graphspec.register_layer and loaded with --plugin"
            self.error(loc + ("layer",), "GS201", f"unknown layer '{layer}' in "
                       f"{self._label(loc)}", hint or "custom layers must be registered with "
                       "graphspec.register_layer (CLI: --plugin)")
            return None
        self.check_args(layer, sig, args, loc)
        return sig

    def check_args(self, layer: str, sig: dict, args: dict, loc: tuple) -> None:
        allowed = sig["args"]
        for key, value in args.items():
            at = loc + ("args", key)
            if key == "name":
                self.error(at, "GS203", "'name' is not an argument here: the layer is named "
                           "after its node", "set the node's 'name' key instead", key=True)
            elif key not in allowed and not sig.get("any_kwargs"):
                self.error(at, "GS203", f"unknown argument '{key}' for layer '{layer}' in "
                           f"{self._label(loc)}", did_you_mean(key, allowed) or
                           f"{layer} takes: {', '.join(allowed)}", key=True)
            self._check_nested(value, at)
        for key in sig["required"]:
            if key not in args:
                self.error(loc + ("args",) if "args" in (self.source.value_at(loc) or {}) else loc,
                           "GS204", f"missing required argument '{key}' for layer '{layer}' in "
                           f"{self._label(loc)}", f"add it under args, e.g. args: {{{key}: ...}}")

    def _check_nested(self, value: Any, at: tuple) -> None:
        """A mapping with a `layer` key inside args is itself a layer (wrappers)."""
        if isinstance(value, dict) and isinstance(value.get("layer"), str):
            extra = set(value) - {"layer", "args"}
            for key in sorted(extra):
                self.error(at + (key,), "GS112", f"unknown key '{key}' in the nested layer at "
                           f"'{pointer(at)}'. Expected: layer, args", did_you_mean(key, ["layer", "args"]),
                           key=True)
            nested_args = value.get("args", {})
            if not isinstance(nested_args, dict):
                self.error(at + ("args",), "GS110", f"'args' of the nested layer must be a "
                           f"mapping. Received: {nested_args!r}")
                return
            self.check_layer(value["layer"], nested_args, at)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._check_nested(item, at + (i,))

    def check_share(self, node: GraphNode) -> None:
        target = node.decl.share
        seen = [node.name]
        while True:
            owner = self.nodes.get(target)
            if owner is None:
                if target not in self.invalid:
                    self.error(node.loc + ("share",), "GS206", f"node '{node.name}' shares "
                               f"unknown node '{target}'", did_you_mean(target, self._layer_nodes()))
                self.invalid.add(node.name)
                return
            if owner.kind == "input":
                self.error(node.loc + ("share",), "GS214", f"node '{node.name}' shares '{target}', "
                           "which is an input, not a layer", "share a node that has 'layer' or 'op'")
                self.invalid.add(node.name)
                return
            if owner.kind != "share":
                break
            if owner.name in seen:
                self.error(node.loc + ("share",), "GS214", f"'share' goes round in a circle: "
                           f"{' -> '.join(seen + [owner.name])}", "share a node that has 'layer' or 'op'")
                self.invalid.add(node.name)
                return
            seen.append(owner.name)
            target = owner.decl.share
        if owner.name in self.invalid:
            self.invalid.add(node.name)
            return
        node.owner = owner.name
        node.n_outputs = owner.n_outputs

    def _layer_nodes(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.kind != "input"]

    def _label(self, loc: tuple) -> str:
        """`node 'fc1'`, with the key path when the location points inside the node."""
        for end in range(len(loc), 0, -1):
            name = self.label_by_loc.get(tuple(loc[:end]))
            if name is not None:
                inside = f" (at '{pointer(loc)}')" if end < len(loc) - 1 else ""
                return f"node '{name}'{inside}"
        return f"'{pointer(loc)}'"

    # -- 3. references -----------------------------------------------------------------------
    def resolve_inputs(self) -> None:
        ordered = [self.by_index.get(i) for i in range(len(self.parts.nodes))]
        for node in self.nodes.values():
            if node.kind == "input":
                continue
            raw = node.decl.in_
            at = node.loc + ("in",)
            if raw is None:
                node.inputs = self._default_input(node, ordered)
                node.form = "single"
            elif isinstance(raw, str):
                node.inputs, node.form = self._ref(raw, at, node), "single"
            elif isinstance(raw, list):
                node.inputs = [self._ref(r, at + (i,), node) for i, r in enumerate(raw)]
                node.form = "list"
            else:
                node.form = "mapping"
                node.inputs = {
                    key: ([self._ref(r, at + (key, i), node) for i, r in enumerate(value)]
                          if isinstance(value, list) else self._ref(value, at + (key,), node))
                    for key, value in raw.items()}
            node.inputs = _drop_none(node.inputs)

    def _default_input(self, node: GraphNode, ordered: list) -> Ref | None:
        if node.index == 0:
            names = list(self.parts.inputs)
            if len(names) == 1:
                return Ref(names[0], None, node.loc)
            self.unresolved = True
            if not names:
                return None  # `inputs` is empty or invalid, which the format check reported
            self.error(node.loc, "GS212", f"node '{node.name}' is the first node and has no 'in', "
                       f"but the model has {len(names)} inputs ({', '.join(names)})",
                       "say which input it takes, e.g. in: " + names[0])
            return None
        previous = ordered[node.index - 1]
        if previous is None or previous in self.invalid and previous not in self.nodes:
            self.unresolved = True
            return None  # the previous node is broken and already reported
        return Ref(previous, None, node.loc)

    def _ref(self, text: str, loc: tuple, node: GraphNode) -> Ref | None:
        name, k = split_ref(text)
        if name not in self.nodes:
            self.unresolved = True
            if name not in self.invalid:
                known = list(self.nodes)
                self.error(loc, "GS206", f"unknown reference '{text}' in node '{node.name}'",
                           did_you_mean(name, known) or f"inputs and nodes: {', '.join(known[:12])}")
            return None
        return Ref(name, k, loc)

    # -- 4. arity and output indexes --------------------------------------------------------
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
                expected = len(owner.decl.parts.inputs)
                if node.form == "mapping" or _written_count(node) != expected:
                    self.error(node.loc + ("in",), "GS210", f"sub-model '{owner.name}' (block "
                               f"{owner.type}) takes {expected} input(s) in order. Received: "
                               + ("a mapping" if node.form == "mapping" else str(_written_count(node))))
                continue
            sig = LAYERS.signature(owner.type)
            if node.form == "mapping":
                for key in node.inputs:
                    if key not in sig["call"]:
                        self.error(node.loc + ("in", key), "GS203", f"'{key}' is not an argument "
                                   f"of {owner.type}.call in node '{node.name}'",
                                   did_you_mean(key, sig["call"]) or
                                   f"{owner.type}.call takes: {', '.join(sig['call'])}", key=True)
                first = sig["call"][0] if sig["call"] else None
                if first and first not in node.decl.in_:
                    self.error(node.loc + ("in",), "GS204", f"the mapping 'in' of node "
                               f"'{node.name}' has no '{first}', the main input of "
                               f"{owner.type}.call", f"add {first}: <reference>")
                continue
            count = _written_count(node)
            low, high = sig["inputs"]
            if count and (count < low or (high is not None and count > high)):
                want = (f"exactly {low}" if low == high else f"at least {low}" if high is None
                        else f"{low} to {high}")
                self.error(node.loc + ("in",) if node.decl.in_ is not None else node.loc, "GS210",
                           f"{owner.type} in node '{node.name}' takes {want} input(s). "
                           f"Received: {count}", _arity_hint(owner.type, low, sig["call"]))

    def _check_op_arity(self, node: GraphNode) -> None:
        sig = OPS.signature(node.type)
        args = node.decl.args
        if sig.get("registered"):
            taken = []
        elif node.form == "mapping":
            taken = list(node.inputs)
            for key in taken:
                if key not in sig["keyword"]:
                    self.error(node.loc + ("in", key), "GS203", f"'{key}' is not an argument of "
                               f"op '{node.type}' in node '{node.name}'",
                               did_you_mean(key, sig["keyword"]), key=True)
        else:
            count = _written_count(node)
            positional = sig["positional"]
            if count > len(positional) and not sig["varargs"]:
                self.error(node.loc + ("in",), "GS210", f"op '{node.type}' in node '{node.name}' "
                           f"takes at most {len(positional)} input(s) ({', '.join(positional)}). "
                           f"Received: {count}",
                           "to pass a list as one argument, use a mapping, e.g. in: {"
                           f"{positional[0] if positional else 'x'}: [a, b]}}")
            taken = positional[:count]
        for key in args:
            if key in taken:
                self.error(node.loc + ("args", key), "GS203", f"argument '{key}' of op "
                           f"'{node.type}' is already given by the node's inputs", key=True)
            elif key not in sig["keyword"] and not sig["any_kwargs"]:
                self.error(node.loc + ("args", key), "GS203", f"unknown argument '{key}' for op "
                           f"'{node.type}' in node '{node.name}'",
                           did_you_mean(key, sig["keyword"]) or
                           f"{node.type} takes: {', '.join(sig['keyword'])}", key=True)
        for key in sig["required"]:
            if key not in taken and key not in args:
                self.error(node.loc + ("args",) if args else node.loc, "GS204",
                           f"missing required argument '{key}' for op '{node.type}' in node "
                           f"'{node.name}'", "add it under args, or as an input")

    def _check_index(self, ref: Ref, node: GraphNode) -> None:
        if ref.index is None:
            return
        source = self.nodes[ref.node]
        count = 1 if source.kind == "input" else source.n_outputs
        if count is not None and ref.index >= count:
            hint = ("set return_state: true on the recurrent layer to get its states"
                    if source.type in ("LSTM", "GRU", "SimpleRNN") and count == 1 else None)
            self.error(ref.loc, "GS211", f"'{ref.node}:{ref.index}' in node '{node.name}' is out "
                       f"of range: '{ref.node}' has {count} output(s) (indexes 0 to {count - 1})", hint)

    # -- 5. outputs, cycles, reachability, kind ------------------------------------------------
    def resolve_outputs(self):
        raw = self.parts.outputs
        if not self.parts.outputs_valid or raw is None:
            return None
        node = GraphNode("outputs", "outputs", Loc(("outputs",), self.source), None)
        if isinstance(raw, str):
            return self._ref(raw, node.loc, node)
        if isinstance(raw, list):
            return _drop_none([self._ref(r, node.loc + (i,), node) for i, r in enumerate(raw)])
        return _drop_none({k: self._ref(r, node.loc + (k,), node) for k, r in raw.items()})

    def build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node in self.nodes.values():
            graph.add_node(node.name, kind=node.kind, type=node.type, index=node.index, node=node)
        for node in self.nodes.values():
            for ref in node.refs():
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
            spelled = " -> ".join(cycle + [cycle[0]])
            self.error(self.nodes[start].loc + ("in",), "GS207", f"cycle in the graph: {spelled}",
                       "a node cannot depend on its own output; break one of these references")
        return not found

    def check_reachability(self, graph: nx.DiGraph, outputs) -> None:
        refs = _flatten(outputs)
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
        for name in self.parts.inputs:
            if name not in needed and name not in self.invalid:
                self.error(("inputs", name), "GS208", f"input '{name}' reaches no output",
                           "connect it to a node that leads to an output, or remove it", key=True)
        for node in self.nodes.values():
            if (node.kind != "input" and node.name not in needed and node.name not in owners
                    and node.name not in self.invalid):
                self.warn(node.loc, "GS209", f"node '{node.name}' reaches no output and is not "
                          "built", "list it under 'outputs', use it as an input, or remove it")

    def model_kind(self, graph: nx.DiGraph, outputs) -> str:
        chain = self._is_chain(graph, outputs)
        if self.parts.model == "sequential" and not chain:
            self.error(("model",), "GS213", "model: sequential needs one input, one output, no "
                       "shared layers, and nodes that each take the previous one; this graph "
                       "is not a single chain", "use model: functional, or model: auto")
        if self.parts.model == "functional":
            return "functional"
        return "sequential" if chain else "functional"

    def _is_chain(self, graph: nx.DiGraph, outputs) -> bool:
        if len(self.parts.inputs) != 1 or not isinstance(outputs, (Ref, list)):
            return False
        outs = _flatten(outputs)
        if len(outs) != 1 or outs[0].index is not None:
            return False
        current = next(iter(self.parts.inputs))
        visited = 1
        while current != outs[0].node:
            successors = list(graph.successors(current))
            if len(successors) != 1:
                return False
            nxt = self.nodes[successors[0]]
            if (nxt.kind == "share" or nxt.form != "single" or nxt.inputs.index is not None
                    or nxt.n_outputs not in (1, None)
                    or any(n.owner == nxt.name for n in self.nodes.values())):
                return False
            current = nxt.name
            visited += 1
        return visited == len(graph) and not list(graph.successors(current))


def _drop_none(value):
    """References that did not resolve were reported; leave them out of the graph."""
    if isinstance(value, list):
        return [v for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _written_count(node: GraphNode) -> int:
    """How many inputs the spec gives the node, counting references that did not resolve."""
    raw = node.decl.in_
    return len(raw) if isinstance(raw, list) else 1


def _flatten(outputs) -> list[Ref]:
    if outputs is None:
        return []
    if isinstance(outputs, Ref):
        return [outputs]
    if isinstance(outputs, list):
        return outputs
    return list(outputs.values())


def _outputs_of(sig: dict, args: dict) -> int | None:
    outputs = sig.get("outputs", 1)
    if isinstance(outputs, dict):
        return outputs["return_state"] if args.get("return_state") else 1
    return outputs


def _arity_hint(layer: str, low: int, call: list[str]) -> str:
    if low >= 2:
        return "list the inputs, e.g. in: [a, b]"
    hint = f"{layer} takes one tensor: merge several first, e.g. with a Concatenate or Add node"
    if len(call) > 1 and call[1] not in ("training", "mask"):
        hint += f"; pass call arguments by name with a mapping, e.g. in: {{{call[0]}: a, {call[1]}: b}}"
    return hint


def check(source: Source, parts: Parts) -> tuple[CheckedGraph | None, list[Diagnostic]]:
    """Every structural check in one pass. Returns the graph when the spec is fully valid."""
    checker = _Checker(source, parts)
    checker.collect_names()
    checker.check_types()
    checker.resolve_inputs()
    checker.check_arity()
    outputs = checker.resolve_outputs()
    graph = checker.build_graph()
    acyclic = checker.check_cycles(graph)
    if acyclic and not checker.unresolved and not checker.invalid:
        # On a graph with holes, unreachable parts are an echo of errors already reported.
        checker.check_reachability(graph, outputs)
    kind = checker.model_kind(graph, outputs) if acyclic else "functional"
    if any(d.is_error for d in checker.diags) or not acyclic or checker.invalid:
        return None, checker.diags
    order = [n for n in nx.lexicographical_topological_sort(
        graph, key=lambda n: (checker.nodes[n].index if checker.nodes[n].index is not None else -1, n))
        if checker.nodes[n].kind != "input"]
    shared: dict[str, list[str]] = {}
    for node in checker.nodes.values():
        if node.owner:
            shared.setdefault(node.owner, []).append(node.name)
    return (CheckedGraph(graph, checker.nodes, list(parts.inputs), order, outputs, kind, shared,
                         parts.params, parts.compile, parts.train), checker.diags)
