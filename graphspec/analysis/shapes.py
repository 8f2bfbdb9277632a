"""Propagation of shapes and dtypes over a checked graph, in build order.

Each node's inputs are looked up, its rule (`rules.LAYERS`, `rules.OPS`, or a plugin's) is
applied, and the result recorded. A node whose input is unknown, or failed, is unknown
itself: one mistake is reported once, at the node where it happens.
"""

from __future__ import annotations

import math
from typing import Any

from .. import walk
from ..codes import report
from ..graph import CallerInput, CheckedGraph, GraphNode, Ref
from ..registry import LAYERS as LAYER_REGISTRY
from ..registry import OPS as OP_REGISTRY
from . import rules
from .core import FLOAT_DTYPES, ITEMSIZE, Call, Issue, Tensor, Unknown, describe_all
from .summary import NodeSummary, Summary


def _label(ref: Ref) -> str:
    return ref.node if ref.index is None else f"{ref.node}:{ref.index}"


def _activation_bytes(tensors: list[Tensor]) -> int | None:
    total = 0
    for t in tensors:
        if any(d is None for d in t.shape[1:]) or t.dtype not in ITEMSIZE:
            return None
        total += math.prod(t.shape[1:]) * ITEMSIZE[t.dtype]
    return total


# Built-in layers that take string tensors; every other built-in layer computes with numbers.
_TEXT_LAYERS = frozenset(
    {"StringLookup", "TextVectorization", "Hashing", "HashedCrossing", "Identity"}
)


class Analyzer:
    def __init__(self, source, strict: bool = False):
        self.source = source
        self.strict = strict
        self.diagnostics: list = []

    # -- one graph ---------------------------------------------------------------------------
    def run(
        self,
        checked: CheckedGraph,
        name: str = "model",
        caller: dict[str, Tensor | None] | None = None,
    ) -> tuple[Summary, dict]:
        values: dict[str, list[Tensor] | None] = {}
        built: dict[str, int | None] = {}  # layer owner -> parameters its weights have
        rows: list[NodeSummary] = []
        for input_name in checked.inputs:
            node = checked.nodes[input_name]
            tensor = self._input(node, caller or {})
            values[input_name] = None if tensor is None else [tensor]
            rows.append(self._row(node, "Input", values[input_name], 0, 0, 0))
        needed = _needed(checked)
        for node_name in checked.order:
            node = checked.nodes[node_name]
            row = self._node(checked, node, values, built)
            if node_name in needed:  # the rest is not part of the model (warning GS209)
                rows.append(row)
        return Summary(name, rows), values

    def _input(self, node: GraphNode, caller: dict) -> Tensor | None:
        decl = node.decl
        if isinstance(decl, CallerInput):
            given = caller.get(node.name)
            return None if given is None else given._replace(origin=node.name)
        shape = decl.shape
        if not isinstance(shape, (list, tuple)) or not all(
            d is None or isinstance(d, int) for d in shape
        ):
            return None
        batch = decl.batch_size if isinstance(decl.batch_size, int) else None
        dtype = decl.dtype if isinstance(decl.dtype, str) else None
        return Tensor((batch, *shape), dtype, node.name)

    def _row(
        self,
        node: GraphNode,
        type_: str,
        outputs,
        params,
        trainable,
        macs,
        note: str | None = None,
        shares: str | None = None,
        sub=None,
    ) -> NodeSummary:
        known = outputs is not None
        source = getattr(node.loc, "source", None) or self.source
        return NodeSummary(
            node.name,
            type_,
            node.kind,
            [t.shape for t in outputs] if known else None,
            [t.dtype for t in outputs] if known else None,
            params,
            trainable,
            macs,
            _activation_bytes(outputs) if known else None,
            shares=shares,
            sub=sub,
            note=note,
            _where=(source, node.loc),
        )

    # -- one node ----------------------------------------------------------------------------
    def _node(
        self, checked: CheckedGraph, node: GraphNode, values: dict, built: dict
    ) -> NodeSummary:
        owner = checked.nodes[node.owner] if node.kind == "share" else node
        shares = owner.name if node.kind == "share" else None
        type_ = node.type if node.kind == "share" else owner.type
        inputs, missing = self._gather(node, values)
        if owner.kind == "submodel":
            return self._submodel(node, owner, inputs, missing, values, built, shares)

        def unknown(note: str) -> NodeSummary:
            values[node.name] = None
            return self._row(node, type_, None, None, None, None, note=note, shares=shares)

        if missing:
            return unknown("an input is unknown")
        call, rule = self._call(node, owner, inputs)
        strings = [t for t in call.tensors() if t.dtype == "string"]
        if (
            strings
            and owner.kind == "layer"
            and owner.type not in _TEXT_LAYERS
            and owner.type not in LAYER_REGISTRY
        ):
            # Keras builds such a model and fails only when it is called on data.
            self._report(
                node,
                Issue(
                    "GS411",
                    "string",
                    at=("in",) if node.decl.in_ is not None else (),
                    what=type_,
                    received=describe_all(strings),
                    hint="turn text into numbers first, e.g. with a StringLookup, "
                    "TextVectorization or Hashing node",
                ),
            )
            return unknown("dtype error")
        if rule is None:
            self._warn_unknown(node, owner, "no_rule")
            return unknown("no shape rule")
        try:
            result = rule(call)
        except Issue as issue:
            self._report(node, issue)
            return unknown("shape error")
        except Unknown as why:
            self._warn_unknown(node, owner, "cannot_tell", reason=str(why))
            return unknown(f"unknown: {why}")
        except Exception as exc:  # noqa: BLE001 - arguments Keras would reject: unknown
            return unknown(f"rule failed: {type(exc).__name__}: {exc}")
        for warning in call.warnings:
            self._report(node, warning)
        outputs = self._outputs(result, call)
        values[node.name] = outputs
        params, trainable = self._params(call, owner)
        if node.kind == "share":
            first = built.get(owner.name)
            if first is not None and params is not None and params != first:
                self._report(
                    node,
                    Issue(
                        "GS401",
                        "shared",
                        at=("in",),
                        node=node.name,
                        owner=owner.name,
                        received=describe_all(call.tensors()),
                        built=f"inputs that give it {first:,} parameters (here it would need "
                        f"{params:,})",
                        hint="a shared layer needs inputs of the same size on the axes its "
                        "weights depend on",
                    ),
                )
                return unknown("shape error")
            params, trainable = 0, 0  # counted once, at the node that owns the layer
        else:
            built[node.name] = params
        return self._row(node, type_, outputs, params, trainable, call.macs, shares=shares)

    def _gather(self, node: GraphNode, values: dict) -> tuple[Any, bool]:
        missing = False

        def get(ref: Ref):
            nonlocal missing
            outputs = values.get(ref.node)
            if outputs is None:
                missing = True
                return None
            if ref.index is None:
                if len(outputs) != 1:
                    missing = True  # a whole multi-output node passed on: Keras decides
                    return None
                return outputs[0]._replace(origin=ref.node)
            if ref.index >= len(outputs):
                missing = True
                return None
            return outputs[ref.index]._replace(origin=_label(ref))

        def resolve(value):  # `in` is a reference, a list, or a mapping of either
            if isinstance(value, Ref):
                return get(value)
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        return resolve(node.inputs), missing

    def _call(self, node: GraphNode, owner: GraphNode, inputs: Any):
        if owner.kind == "op":
            sig = OP_REGISTRY.signature(owner.type)
            rule = rules.rule_for("op", owner.type, owner.type in OP_REGISTRY)
            call = Call(f"op '{owner.type}'", owner.type, owner.decl.args, inputs, node.form)
            call.named = _op_named(sig, node.form, inputs, owner.decl.args)
            return call, rule
        sig = LAYER_REGISTRY.signature(owner.type)
        rule = rules.rule_for("layer", owner.type, owner.type in LAYER_REGISTRY)
        what = owner.type if node.kind != "share" else f"{owner.type} (the layer of '{owner.name}')"
        call = Call(
            what,
            owner.type,
            owner.decl.args,
            inputs,
            node.form,
            sig.call if sig else (),
            positional=bool(sig and sig.input_form == "positional"),
        )
        return call, rule

    def _outputs(self, result: Any, call: Call) -> list[Tensor]:
        results = result if isinstance(result, list) else [result]
        first = next(iter(call.tensors()), None)
        out = []
        for r in results:
            if isinstance(r, Tensor):
                out.append(r._replace(origin=""))
                continue
            dtype = call.dtype
            if call.keep_dtype and first is not None and first.dtype not in FLOAT_DTYPES:
                dtype = first.dtype
            out.append(Tensor(tuple(r), dtype))
        return out

    def _params(self, call: Call, owner: GraphNode) -> tuple[int | None, int | None]:
        if owner.kind == "op":
            return 0, 0  # an op node's layer has no weights
        if call.params is None:
            return None, None
        if owner.decl.args.get("trainable") is False:
            return call.params, 0
        return call.params, call.params - call.non_trainable

    def _submodel(self, node, owner, inputs, missing, values, built, shares) -> NodeSummary:
        given = [None if missing else t for t in (inputs if isinstance(inputs, list) else [inputs])]
        if missing or any(t is None for t in given):
            values[node.name] = None
            return self._row(
                node, owner.type, None, None, None, None, note="an input is unknown", shares=shares
            )
        sub = owner.sub
        summary, sub_values = self.run(sub, owner.type, dict(zip(sub.inputs, given)))
        outputs = []
        for _, ref in walk.leaves(sub.outputs):
            got = sub_values.get(ref.node)
            if got is None or (ref.index or 0) >= len(got):
                outputs = None
                break
            outputs.append(got[ref.index or 0])
        values[node.name] = outputs
        if outputs is None:
            return self._row(
                node,
                owner.type,
                None,
                summary.params,
                summary.trainable_params,
                summary.macs,
                note="its output is unknown",
                shares=shares,
                sub=summary,
            )
        params, trainable = summary.params, summary.trainable_params
        if node.kind == "share":
            params, trainable = 0, 0
        return self._row(
            node, owner.type, outputs, params, trainable, summary.macs, shares=shares, sub=summary
        )

    # -- diagnostics -------------------------------------------------------------------------
    def _report(self, node: GraphNode, issue: Issue) -> None:
        at = issue.at
        if node.kind == "share" and at[:1] == ("args",):
            at = ("in",)  # the arguments are written at the node that owns the layer
        self.diagnostics.append(
            report(
                self.source,
                node.loc + at,
                issue.code,
                issue.template,
                hint=issue.hint,
                **issue.fields,
            )
        )

    def _warn_unknown(self, node: GraphNode, owner: GraphNode, why: str, reason: str = ""):
        if not self.strict:
            return
        template = (
            ("layer" if owner.kind == "layer" else "op") if why == "no_rule" else "cannot_tell"
        )
        hint = None
        if why == "no_rule":
            hint = (
                "give it a rule: graphspec.register_layer(cls, shape=fn)"
                if owner.kind == "layer"
                else "give it a rule: graphspec.register_op(name, shape=fn)"
            )
        self.diagnostics.append(
            report(
                self.source,
                node.loc,
                "GS409",
                template,
                hint=hint,
                type=owner.type,
                node=node.name,
                reason=reason,
            )
        )


def _needed(checked: CheckedGraph) -> set[str]:
    """The nodes a model built from the spec contains: those its outputs depend on, and the
    owners of the shared layers among them."""
    stack = [ref.node for _, ref in walk.leaves(checked.outputs) if isinstance(ref, Ref)]
    needed = set(stack)
    while stack:
        node = checked.nodes[stack.pop()]
        for ref in [*node.refs(), *([Ref(node.owner, None, ())] if node.owner else [])]:
            if ref.node not in needed:
                needed.add(ref.node)
                stack.append(ref.node)
    return needed


def _op_named(sig, form: str, inputs: Any, args: dict) -> dict:
    """An op's inputs and arguments by parameter name (registered ops take `inputs` whole)."""
    if sig is None or sig.registered:
        named = {"inputs": inputs}
    elif form == "mapping":
        named = dict(inputs)
    elif form == "list":
        named = dict(zip(sig.positional, inputs))
        if len(inputs) > len(sig.positional) and sig.varargs:
            named[sig.varargs] = list(inputs[len(sig.positional) :])
    else:
        named = {sig.positional[0] if sig.positional else "x": inputs}
    for key, value in args.items():
        named.setdefault(key, value)
    return named


def analyze(
    source, checked: CheckedGraph, *, strict: bool = False, name: str = "model"
) -> tuple[Summary, list]:
    """Shapes, dtypes, parameters and cost of every node of `checked`, and the diagnostics
    of every shape error (GS401-GS411), plus with `strict` a warning (GS409) for each node
    whose output cannot be told."""
    analyzer = Analyzer(source, strict)
    summary, _ = analyzer.run(checked, name)
    return summary, analyzer.diagnostics


def tensor_shapes(source, checked: CheckedGraph) -> dict | None:
    """The static output shape of every input and node, as
    `graphspec.keras.compiler.tensor_shapes` gives them from a build (a tuple, or a list of
    tuples for several outputs); None when one is unknown or a shape error was found, so a
    caller falls back to building."""
    analyzer = Analyzer(source)
    _, values = analyzer.run(checked)
    if analyzer.diagnostics and any(d.is_error for d in analyzer.diagnostics):
        return None
    if any(v is None for v in values.values()):
        return None
    return {
        name: outs[0].shape if len(outs) == 1 else [t.shape for t in outs]
        for name, outs in values.items()
    }
