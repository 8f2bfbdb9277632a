"""What differs between two models: `graphspec diff A B` and `graphspec.diff(a, b)`.

Each side is a spec, a saved `.keras` model or a `keras.applications` name (the last two are
exported to a spec first, as `graphspec export` does). The sides are compared after
composition, node by flat name, so the comparison is structural, not textual:

- the order of independent nodes in the file, a block instead of the same nodes written
  out, or `in` left implicit instead of written make no difference;
- an argument left out equals its default, and an integer equals a list that repeats it
  (Keras reads `kernel_size: 3` as `(3, 3)`), so `strides: 1`, `strides: [1, 1]` and no
  `strides` at all are the same Conv2D. Defaults are the constructors' own, read from the
  installed Keras into the catalog (`LayerSignature.defaults`): nothing here imports Keras.
  A default that depends on another argument (MaxPooling2D's strides follow pool_size) is
  compared as written;
- a node whose name is only in B, but whose kind, type, arguments and inputs (after mapping
  the renames found before it) equal those of a node only in A, is a rename of it (alike
  candidates, which nothing tells apart, are paired in order).

Shapes and parameters come from the static summary (`Spec.summary()`): no model is built.
The report's JSON form follows `SCHEMA` (documented in docs/surgery.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import api
from .analysis.core import fmt_shape
from .errors import Error, SpecError
from .graph import CheckedGraph, GraphNode, Ref
from .registry import LAYERS, OPS

__all__ = [
    "ABSENT",
    "ArgChange",
    "Diff",
    "NodeChange",
    "NodeInfo",
    "Rename",
    "SCHEMA",
    "add_parser",
    "diff",
    "run",
]

FORMAT = 1  # of the JSON report; raised only for a change that breaks a reader
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
PICTURES = (".svg", ".png", ".dot", ".gv", ".html")


class _Absent:
    """An argument that one side neither writes nor has a known default for."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """One node (or model input) of one side."""

    name: str
    kind: str  # "input" | "layer" | "op" | "share" | "submodel"
    type: str | None  # layer class, op, block; a share node's: the node owning the layer
    args: dict  # as written (an input's: shape, dtype, sparse, batch_size)
    inputs: Any  # "node", "node:k", a list or a mapping of those; None for a model input
    shapes: list | None  # one per output, from the static summary; None: unknown
    params: int | None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "type": self.type,
            "args": self.args,
            "inputs": self.inputs,
            "shapes": _plain_shapes(self.shapes),
            "params": self.params,
        }


@dataclass(frozen=True)
class ArgChange:
    """One argument whose value differs; `ABSENT` on a side that neither writes it nor
    has a default for it."""

    arg: str
    old: Any
    new: Any

    def to_dict(self) -> dict:
        out: dict = {"arg": self.arg}
        if self.old is not ABSENT:
            out["old"] = self.old
        if self.new is not ABSENT:
            out["new"] = self.new
        return out


@dataclass(frozen=True)
class NodeChange:
    """A node on both sides (by name, or renamed) that differs. `what` lists the aspects:
    kind, type, args, inputs, body (a sub-model's own nodes: `body` is their Diff), shapes,
    params."""

    old: NodeInfo
    new: NodeInfo
    what: tuple[str, ...]
    args: tuple[ArgChange, ...] = ()
    body: Diff | None = None

    @property
    def name(self) -> str:
        return self.new.name

    def to_dict(self) -> dict:
        def pair(old, new):
            return {"old": old, "new": new}

        return {
            "name": self.name,
            "what": list(self.what),
            "kind": pair(self.old.kind, self.new.kind),
            "type": pair(self.old.type, self.new.type),
            "args": [a.to_dict() for a in self.args],
            "inputs": pair(self.old.inputs, self.new.inputs),
            "shapes": pair(_plain_shapes(self.old.shapes), _plain_shapes(self.new.shapes)),
            "params": pair(self.old.params, self.new.params),
            "body": None if self.body is None else self.body.to_dict(),
        }


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    kind: str
    type: str | None

    def to_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "kind": self.kind, "type": self.type}


@dataclass
class Diff:
    """The differences from side A to side B. True when anything differs.

    `changed`: nodes whose own definition differs (with their shape and parameter changes);
    `reshaped`: nodes defined alike whose output shape or parameter count still changed,
    because of something upstream; `outputs` and `model` are (old, new) pairs or None."""

    a: str  # what was given for each side: a path or a name
    b: str
    name_a: str
    name_b: str
    nodes: tuple[int, int]
    params: tuple[int | None, int | None]
    added: list[NodeInfo] = field(default_factory=list)
    removed: list[NodeInfo] = field(default_factory=list)
    changed: list[NodeChange] = field(default_factory=list)
    renamed: list[Rename] = field(default_factory=list)
    reshaped: list[NodeChange] = field(default_factory=list)
    outputs: tuple | None = None
    model: tuple[str, str] | None = None
    _spec_a: Any = field(default=None, repr=False, compare=False)
    _spec_b: Any = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.changed
            or self.renamed
            or self.reshaped
            or self.outputs
            or self.model
        )

    @property
    def params_delta(self) -> int | None:
        """B's parameters minus A's (None when either is unknown)."""
        old, new = self.params
        return None if old is None or new is None else new - old

    def totals(self) -> str:
        """`3 changed, 1 added, 0 removed; params 25,636,712 -> 23,608,202 (-2,028,510)`."""
        text = f"{len(self.changed)} changed, {len(self.added)} added, {len(self.removed)} removed"
        if self.renamed:
            text += f", {len(self.renamed)} renamed"
        old, new = self.params
        delta = self.params_delta
        return text + (
            f"; params {_num(old)} -> {_num(new)} "
            f"({'?' if delta is None else f'{delta:+,}' if delta else '0'})"
        )

    # -- renderings --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON report (`SCHEMA`)."""
        return {
            "format": FORMAT,
            "a": {
                "source": self.a,
                "name": self.name_a,
                "nodes": self.nodes[0],
                "params": self.params[0],
            },
            "b": {
                "source": self.b,
                "name": self.name_b,
                "nodes": self.nodes[1],
                "params": self.params[1],
            },
            "equivalent": not self,
            "totals": {
                "changed": len(self.changed),
                "added": len(self.added),
                "removed": len(self.removed),
                "renamed": len(self.renamed),
                "reshaped": len(self.reshaped),
                "params": {"old": self.params[0], "new": self.params[1]},
                "params_delta": self.params_delta,
            },
            "changed": [c.to_dict() for c in self.changed],
            "added": [n.to_dict() for n in self.added],
            "removed": [n.to_dict() for n in self.removed],
            "renamed": [r.to_dict() for r in self.renamed],
            "reshaped": [c.to_dict() for c in self.reshaped],
            "outputs": None
            if self.outputs is None
            else {"old": self.outputs[0], "new": self.outputs[1]},
            "model": None if self.model is None else {"old": self.model[0], "new": self.model[1]},
        }

    def text(self, *, color: bool = False) -> str:
        """The readable report: `--- A` / `+++ B`, a section per kind of change, totals."""
        paint = _painter(color)
        lines = [
            paint("red", f"--- {self.a} ({self.name_a})"),
            paint("green", f"+++ {self.b} ({self.name_b})"),
        ]
        if not self:
            lines.append(f"no differences ({self.nodes[1]} nodes, params {_num(self.params[1])})")
            return "\n".join(lines) + "\n"
        lines += self._sections(paint, "")
        lines.append(paint("bold", self.totals()))
        return "\n".join(lines) + "\n"

    def _sections(self, paint, indent: str) -> list[str]:
        out: list[str] = []

        def section(title: str, items: list, render) -> None:
            if items:
                out.append(paint("bold", f"{indent}{title} ({len(items)}):"))
                for item in items:
                    out.extend(render(item))

        section("changed", self.changed, lambda c: self._change(c, paint, indent))
        section("added", self.added, lambda n: [paint("green", f"{indent}  + {_describe(n)}")])
        section("removed", self.removed, lambda n: [paint("red", f"{indent}  - {_describe(n)}")])
        section(
            "renamed",
            self.renamed,
            lambda r: [
                paint("cyan", f"{indent}  = {r.old} -> {r.new}: {_type_text(r.kind, r.type)}")
            ],
        )
        if self.outputs:
            out.append(paint("bold", f"{indent}outputs:"))
            out.append(
                paint(
                    "yellow",
                    f"{indent}  ~ {_refs_text(self.outputs[0])} -> {_refs_text(self.outputs[1])}",
                )
            )
        if self.model:
            out.append(paint("bold", f"{indent}model:"))
            out.append(paint("yellow", f"{indent}  ~ {self.model[0]} -> {self.model[1]}"))
        section(
            "reshaped by changes upstream",
            self.reshaped,
            lambda c: [
                f"{indent}  ~ {c.name}: {_shapes_text(c.old.shapes)} -> "
                f"{_shapes_text(c.new.shapes)}" + _params_change(c, ", params ")
            ],
        )
        return out

    def _change(self, change: NodeChange, paint, indent: str) -> list[str]:
        old, new = change.old, change.new
        kind = _type_text(new.kind, new.type)
        if "kind" in change.what or "type" in change.what:
            kind = f"{_type_text(old.kind, old.type)} -> {kind}"
        lines = [paint("yellow", f"{indent}  ~ {new.name}: {kind}")]
        more = indent + "      "
        lines += [f"{more}{a.arg}: {_value(a.old)} -> {_value(a.new)}" for a in change.args]
        if "inputs" in change.what:
            lines.append(f"{more}in: {_refs_text(old.inputs)} -> {_refs_text(new.inputs)}")
        if change.body is not None:
            lines += change.body._sections(paint, more)
        if "shapes" in change.what:
            lines.append(f"{more}out: {_shapes_text(old.shapes)} -> {_shapes_text(new.shapes)}")
        if "params" in change.what:
            lines.append(_params_change(change, f"{more}params: "))
        return lines

    def to_dot(self) -> str:
        """Graphviz DOT of B: added nodes green, changed orange, renamed blue, removed nodes
        as dashed grey ghosts wired where they were. Attributes are appended to the DOT
        that `Spec.to_dot` draws (a later statement about a node adds to its attributes)."""
        if self._spec_b is None:
            raise Error("this Diff holds no graphs to draw")
        ga, gb = self._spec_a._checked, self._spec_b._checked
        body = self._spec_b.to_dot().rstrip().removesuffix("}").rstrip()
        lines = [
            body,
            "  // graphspec diff: added green, changed orange, renamed blue, removed dashed grey",
        ]
        for node in self.added:
            lines.append(f'  {_q(node.name)} [fillcolor="#b2f2bb", color="#2f9e44", penwidth=2];')
        for change in self.changed:
            lines.append(f'  {_q(change.name)} [fillcolor="#ffd8a8", color="#e8590c", penwidth=2];')
        for rename in self.renamed:
            lines.append(
                f'  {_q(rename.new)} [fillcolor="#d0ebff", color="#1971c2", '
                f"xlabel={_q('was ' + rename.old)}];"
            )
        to_b = {r.old: r.new for r in self.renamed}
        removed = {n.name for n in self.removed}

        def ghost(name: str) -> str:
            return _q("removed: " + name)

        for node in self.removed:
            label = f"{node.name}\n{_type_text(node.kind, node.type)}\nremoved"
            lines.append(
                f'  {ghost(node.name)} [label={_q(label)}, style="rounded,dashed", '
                'color="#868e96", fontcolor="#868e96", fillcolor="#ffffff"];'
            )
            for ref in ga.nodes[node.name].refs():
                source = (
                    ghost(ref.node) if ref.node in removed else _q(to_b.get(ref.node, ref.node))
                )
                lines.append(f'  {source} -> {ghost(node.name)} [style=dashed, color="#adb5bd"];')
        for name in list(ga.inputs) + list(ga.order):  # edges from ghosts into B's nodes
            target = to_b.get(name, name)
            if name in removed or target not in gb.nodes:
                continue
            for ref in ga.nodes[name].refs():
                if ref.node in removed:
                    lines.append(
                        f'  {ghost(ref.node)} -> {_q(target)} [style=dashed, color="#adb5bd"];'
                    )
        return "\n".join(lines) + "\n}\n"


# -- comparing ----------------------------------------------------------------------------


def diff(
    a: Any,
    b: Any,
    *,
    params: dict | None = None,
    params_a: dict | None = None,
    params_b: dict | None = None,
) -> Diff:
    """The structural differences from model `a` to model `b`. Each is a `graphspec.Spec`,
    a spec (a path or a dict), a `.keras` path, a `keras.applications` name such as
    `"ResNet50"`, or a `keras.Model`; the last three import Keras. `params` overrides the
    parameters of both specs, `params_a` and `params_b` of one."""
    spec_a = _side(a, {**(params or {}), **(params_a or {})}, "params_a")
    spec_b = _side(b, {**(params or {}), **(params_b or {})}, "params_b")
    return compare(spec_a, spec_b, _label(a, spec_a), _label(b, spec_b))


def compare(
    spec_a: api.Spec, spec_b: api.Spec, label_a: str | None = None, label_b: str | None = None
) -> Diff:
    """The Diff of two loaded specs."""
    sum_a, sum_b = spec_a.summary(), spec_b.summary()
    result = _Comparison(spec_a._checked, spec_b._checked, _by_name(sum_a), _by_name(sum_b)).run(
        label_a or spec_a.path,
        label_b or spec_b.path,
        spec_a.name,
        spec_b.name,
        (sum_a.params, sum_b.params),
    )
    result._spec_a, result._spec_b = spec_a, spec_b
    return result


def _by_name(summary) -> dict:
    return {n.name: n for n in summary.nodes} if summary is not None else {}


class _Comparison:
    def __init__(self, ga: CheckedGraph, gb: CheckedGraph, sa: dict, sb: dict):
        self.ga, self.gb, self.sa, self.sb = ga, gb, sa, sb
        self.names_a = list(ga.inputs) + list(ga.order)
        self.names_b = list(gb.inputs) + list(gb.order)
        self.to_b: dict[str, str] = {}  # renames, A's name -> B's
        self.args_a: dict[str, dict] = {}
        self.args_b: dict[str, dict] = {}
        self.bodies: dict[tuple[str, str], Diff] = {}

    def run(self, label_a, label_b, name_a, name_b, params) -> Diff:
        self.find_renames()
        pairs = [(n, n) for n in self.names_b if n in self.ga.nodes]
        pairs += [(old, new) for old, new in self.to_b.items()]
        position = {n: i for i, n in enumerate(self.names_b)}
        pairs.sort(key=lambda p: position[p[1]])
        result = Diff(
            label_a, label_b, name_a, name_b, (len(self.names_a), len(self.names_b)), params
        )
        for old, new in pairs:
            change = self.change(old, new)
            if change is None:
                continue
            if set(change.what) - {"shapes", "params"}:
                result.changed.append(change)
            else:
                result.reshaped.append(change)
        renamed_b = set(self.to_b.values())
        result.added = [
            self.info(self.gb, self.sb, n)
            for n in self.names_b
            if n not in self.ga.nodes and n not in renamed_b
        ]
        result.removed = [
            self.info(self.ga, self.sa, n)
            for n in self.names_a
            if n not in self.gb.nodes and n not in self.to_b
        ]
        result.renamed = [
            Rename(old, new, self.gb.nodes[new].kind, _type(self.gb.nodes[new]))
            for old, new in sorted(self.to_b.items(), key=lambda p: position[p[1]])
        ]
        old_out, new_out = _refs(self.ga.outputs), _refs(self.gb.outputs)
        if _refs(self.ga.outputs, self.to_b) != new_out:
            result.outputs = (old_out, new_out)
        if self.ga.kind != self.gb.kind:
            result.model = (self.ga.kind, self.gb.kind)
        return result

    # -- renames -----------------------------------------------------------------------------
    def find_renames(self) -> None:
        only_a = [n for n in self.names_a if n not in self.gb.nodes]
        if not only_a:
            return
        # Candidates are looked up by kind, type and inputs: a node of B asks with its
        # inputs mapped back to A's names, so each lookup is one dictionary access.
        pool: dict[tuple, list[str]] = {}
        for name in only_a:
            pool.setdefault(_key(self.ga.nodes[name], {}), []).append(name)
        to_a: dict[str, str] = {}
        for name in self.names_b:  # B's order: a node's renamed inputs are mapped first
            if name in self.ga.nodes:
                continue
            node = self.gb.nodes[name]
            free = [old for old in pool.get(_key(node, to_a), ()) if old not in self.to_b]
            # Alike candidates cannot be told apart: pair them in order, first with first.
            same = next((old for old in free if not self.differences(old, name)[0]), None)
            if same is not None:
                self.to_b[same] = name
                to_a[name] = same

    # -- one pair of nodes -------------------------------------------------------------------
    def differences(self, old: str, new: str) -> tuple[list[str], list[ArgChange]]:
        """What differs in the definitions of two nodes (not their shapes): the aspects
        (none when they are alike) and the arguments."""
        na, nb = self.ga.nodes[old], self.gb.nodes[new]
        what: list[str] = []
        if na.kind != nb.kind:
            what += ["kind", "type"]
        elif na.kind == "share":
            if self.to_b.get(na.owner, na.owner) != nb.owner:
                what.append("type")
        elif na.type != nb.type:
            what.append("type")
        if what:  # another type has other defaults: compare what is written
            args = _arg_changes(_written_args(na), _written_args(nb), loose=False)
        else:
            args = _arg_changes(
                self.full_args(self.args_a, na),
                self.full_args(self.args_b, nb),
                loose=na.kind == "layer",
            )
        if args:
            what.append("args")
        if _refs(na.inputs, self.to_b) != _refs(nb.inputs):
            what.append("inputs")
        if na.kind == "submodel" and not what and self.body(old, new):
            what.append("body")
        return what, args

    def full_args(self, cache: dict, node: GraphNode) -> dict:
        if node.name not in cache:
            cache[node.name] = _full_args(node)
        return cache[node.name]

    def body(self, old: str, new: str) -> Diff:
        key = (old, new)
        if key not in self.bodies:
            na, nb = self.ga.nodes[old], self.gb.nodes[new]
            sa, sb = self.sa.get(old), self.sb.get(new)
            sub_a = _by_name(sa.sub) if sa is not None and sa.sub is not None else {}
            sub_b = _by_name(sb.sub) if sb is not None and sb.sub is not None else {}
            params = (sa.params if sa else None, sb.params if sb else None)
            self.bodies[key] = _Comparison(na.sub, nb.sub, sub_a, sub_b).run(
                na.type, nb.type, na.type, nb.type, params
            )
        return self.bodies[key]

    def change(self, old: str, new: str) -> NodeChange | None:
        what, args = self.differences(old, new)
        ia, ib = self.info(self.ga, self.sa, old), self.info(self.gb, self.sb, new)
        if ia.shapes != ib.shapes:
            what.append("shapes")
        if ia.params != ib.params:
            what.append("params")
        if not what:
            return None
        body = self.bodies.get((old, new)) if "body" in what else None
        return NodeChange(ia, ib, tuple(what), tuple(args), body)

    @staticmethod
    def info(g: CheckedGraph, summaries: dict, name: str) -> NodeInfo:
        node = g.nodes[name]
        summary = summaries.get(name)
        shapes = summary.shapes if summary is not None else None
        return NodeInfo(
            name,
            node.kind,
            _type(node),
            _written_args(node),
            None if node.kind == "input" else _refs(node.inputs),
            [list(s) for s in shapes] if shapes is not None else None,
            summary.params if summary is not None else None,
        )


def _key(node: GraphNode, rename: dict) -> tuple:
    """What a renamed node keeps: kind, type (a share node's owner) and inputs, with names
    mapped by `rename`."""
    type_ = _type(node)
    if node.kind == "share":
        type_ = rename.get(type_, type_)
    return node.kind, type_, json.dumps(_refs(node.inputs, rename), sort_keys=True)


def _type(node: GraphNode) -> str | None:
    return node.owner if node.kind == "share" else node.type


def _written_args(node: GraphNode) -> dict:
    if node.kind == "input":
        decl = node.decl
        if not hasattr(decl, "shape"):  # a nested sub-model's input: the caller's shape
            return {}
        return {
            "shape": list(decl.shape),
            "dtype": decl.dtype,
            "sparse": decl.sparse,
            "batch_size": decl.batch_size,
        }
    return dict(getattr(node.decl, "args", None) or {})


def _full_args(node: GraphNode) -> dict:
    """The arguments as compared: written ones over the type's defaults, nested layers
    (wrappers) likewise."""
    written = _written_args(node)
    if node.kind not in ("layer", "op"):
        return written
    return {**_defaults(node.kind, node.type), **{k: _nested(v) for k, v in written.items()}}


def _defaults(kind: str, type_: str) -> dict:
    sig = (LAYERS if kind == "layer" else OPS).signature(type_)
    return getattr(sig, "defaults", None) or {}  # None: an unknown type; {}: not recorded


def _nested(value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("layer"), str):
            args = value.get("args") or {}
            return {
                "layer": value["layer"],
                "args": {
                    **_defaults("layer", value["layer"]),
                    **{k: _nested(v) for k, v in args.items()},
                },
            }
        return {k: _nested(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nested(v) for v in value]
    return value


def _arg_changes(old: dict, new: dict, *, loose: bool) -> list[ArgChange]:
    return [
        ArgChange(k, old.get(k, ABSENT), new.get(k, ABSENT))
        for k in sorted(set(old) | set(new))
        if not _same(old.get(k, ABSENT), new.get(k, ABSENT), loose)
    ]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _same(a: Any, b: Any, loose: bool) -> bool:
    """Equal as arguments. `loose` (layers): an int equals a list repeating it, at any depth,
    as Keras's layers read `padding: 1` as ((1, 1), (1, 1))."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, loose) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], loose) for k in a)
    if loose and _is_int(a) and isinstance(b, (list, tuple)):
        return bool(b) and all(_same(a, y, loose) for y in b)
    if loose and _is_int(b) and isinstance(a, (list, tuple)):
        return bool(a) and all(_same(x, b, loose) for x in a)
    if isinstance(a, (list, tuple, dict)) or isinstance(b, (list, tuple, dict)):
        return False
    return a == b


def _refs(value: Any, rename: dict | None = None) -> Any:
    """References as plain data (`node`, `node:k`), names mapped by `rename`."""
    if isinstance(value, Ref):
        name = rename.get(value.node, value.node) if rename else value.node
        return name if value.index is None else f"{name}:{value.index}"
    if isinstance(value, (list, tuple)):
        return [_refs(v, rename) for v in value]
    if isinstance(value, dict):
        return {k: _refs(v, rename) for k, v in value.items()}
    return value


# -- the sides ----------------------------------------------------------------------------


def source_kind(given: str) -> str:
    """`"spec"`, `"keras"` (a saved model) or `"application"` (a keras.applications name)."""
    suffix = Path(given).suffix.lower()
    if suffix == ".keras":
        return "keras"
    if suffix in SPEC_SUFFIXES or Path(given).exists():
        return "spec"  # an existing file of another kind is refused by the spec reader
    return "application"


def from_model(given: str, kind: str) -> api.Spec:
    """The spec of a saved `.keras` model or a keras.applications architecture (imports
    Keras), as `graphspec export` makes it."""
    from .keras import export

    model = export.load_model(given) if kind == "keras" else export.application(given)
    return api.from_keras(model)


def _side(given: Any, params: dict, which: str) -> api.Spec:
    if isinstance(given, api.Spec):
        if params:
            raise ValueError(f"{which} cannot apply to a loaded Spec: pass the spec's path")
        return given
    if isinstance(given, dict):
        return api.load(given, params=params or None)
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(given, keras.Model):
        if params:
            raise ValueError(f"{which} applies to a spec, not to a Keras model")
        return api.from_keras(given)
    given = os.fspath(given)
    kind = source_kind(given)
    if kind == "spec":
        return api.load(given, params=params or None)
    if params:
        raise ValueError(f"{which} applies to a spec, not to the Keras model '{given}'")
    return from_model(given, kind)


def _label(given: Any, spec: api.Spec) -> str:
    return os.fspath(given) if isinstance(given, (str, os.PathLike)) else spec.path


# -- the command --------------------------------------------------------------------------


# The command's help line and its description in `graphspec diff --help`.
HELP = "what differs between two models"
DESCRIPTION = (
    "Compare two models node by node after composition: added, removed, changed and renamed "
    "nodes, outputs, shapes and parameters. Each side is a spec, a .keras file or a "
    "keras.applications name. Exit status: 0 when equivalent, 1 when different, 2 on trouble."
)


def add_arguments(cmd) -> None:
    """`graphspec diff A B`: its own arguments."""
    cmd.add_argument("a", metavar="A", help="spec, .keras file or e.g. keras.applications.ResNet50")
    cmd.add_argument("b", metavar="B", help="the same kinds")
    cmd.add_argument(
        "--set-a",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter of A only (repeatable; --set sets both)",
    )
    cmd.add_argument(
        "--set-b",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter of B only (repeatable)",
    )
    cmd.add_argument("--format", choices=["text", "json"], default="text")
    cmd.add_argument(
        "-o",
        "--output",
        metavar="diff.svg|diff.dot|diff.html",
        help="also draw B with the changes marked (.svg, .png, .dot, .gv; .html: the viewer's "
        "page, self-contained)",
    )


def add_parser(sub, spec_options) -> None:
    cmd = sub.add_parser("diff", parents=[spec_options], help=HELP, description=DESCRIPTION)
    add_arguments(cmd)


def run(args) -> int:
    """Like diff(1): 0 equivalent, 1 different, 2 trouble. A problem with a side is trouble,
    not a difference, so graphspec's errors end here with 2 instead of the usual 1."""
    from . import cli, output

    try:
        if args.output:
            output.check_target(args.output, PICTURES)
        sides = [
            _cli_side(args, given, extra, flag, cli)
            for given, extra, flag in (
                (args.a, args.set_a, "--set-a"),
                (args.b, args.set_b, "--set-b"),
            )
        ]
        result = compare(sides[0], sides[1], args.a, args.b)
        if args.output:
            _draw(result, args.output)
    except SpecError as exc:
        cli._print_diagnostics(exc.diagnostics)
        return cli.ExitCode.USAGE
    except Error as exc:
        return cli._fail(exc, cli.ExitCode.USAGE)
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(result.text(color=color))
        if args.output:
            print(f"drew {result.name_b} with the changes marked -> {args.output}")
    return cli.ExitCode.ERRORS if result else cli.ExitCode.OK  # ERRORS is 1: "different"


def _cli_side(args, given: str, extra: list[str], flag: str, cli) -> api.Spec:
    kind = source_kind(given)
    if kind == "spec":
        both = argparse.Namespace(**{**vars(args), "overrides": args.overrides + extra})
        return cli._load(both, given)
    if extra:
        raise cli.UsageError(f"{flag} overrides parameters of a spec; '{given}' is a Keras model")
    if kind == "keras" and not Path(given).is_file():
        raise cli.UsageError(f"no such file: '{given}'")
    return from_model(given, kind)


def _draw(result: Diff, path: str) -> None:
    from . import output, plot

    suffix = Path(path).suffix.lower()
    if suffix == ".html":  # the viewer's page, with the changes coloured
        output.write_text(path, _html(result))
        return
    dot = result.to_dot()
    if suffix in plot.RENDERED:
        data = plot.render(dot, plot.RENDERED[suffix])
        with output.atomic_path(path) as tmp:
            tmp.write_bytes(data)
    else:
        output.write_text(path, dot)


def _html(result: Diff) -> str:
    """B drawn by the viewer's page: added nodes green, changed orange, removed ones as ghosts
    (nodes of their own, without edges, since they are not in B)."""
    from .view import model as view_model
    from .view import page

    spec = result._spec_b
    graph = view_model.build(spec.path if spec.source.text is not None else spec.source.data)
    states = {info.name: "added" for info in result.added}
    states.update({change.new.name: "changed" for change in result.changed})
    for info in result.removed:
        graph["nodes"].append(
            {
                "id": info.name,
                "kind": info.kind,
                "type": info.type,
                "label": info.name,
                "args": {},
                "refs": [],
                "file": None,
                "line": None,
                "pointer": "",
                "context": None,
            }
        )
        states[info.name] = "removed"
    return page.render_html(graph, states=states)


# -- text helpers -------------------------------------------------------------------------

_ANSI = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1"}


def _painter(on: bool):
    """`paint(colour, text)`: the text in an ANSI colour, or unchanged when `on` is false."""

    def paint(colour: str, text: str) -> str:
        return f"\x1b[{_ANSI[colour]}m{text}\x1b[0m" if on else text

    return paint


def _num(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _params_change(change: NodeChange, head: str) -> str:
    """`params: 2,049,000 -> 20,490 (-2,028,510)`; empty when the count did not change."""
    old, new = change.old.params, change.new.params
    if "params" not in change.what:
        return ""
    delta = "" if old is None or new is None else f" ({new - old:+,})"
    return f"{head}{_num(old)} -> {_num(new)}{delta}"


def _value(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value)


def _refs_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_refs_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_refs_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _type_text(kind: str, type_: str | None) -> str:
    return {
        "input": "input",
        "layer": type_,
        "op": f"op {type_}",
        "share": f"shares {type_}",
        "submodel": f"sub-model {type_}",
    }.get(kind, str(type_))


def _shapes_text(shapes: list | None) -> str:
    return "?" if shapes is None else ", ".join(fmt_shape(s) for s in shapes)


def _plain_shapes(shapes: list | None) -> list | None:
    return None if shapes is None else [list(s) for s in shapes]


def _describe(node: NodeInfo) -> str:
    """`name: Conv2D(filters=64, kernel_size=[1, 1]) <- pool; (None, 56, 56, 64), 4,160 params`."""
    if node.kind == "input":
        head = f"{node.name}: input {json.dumps(node.args.get('shape'))} {node.args.get('dtype')}"
    else:
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in node.args.items())
        head = f"{node.name}: {_type_text(node.kind, node.type)}" + (f"({args})" if args else "")
        head += f" <- {_refs_text(node.inputs)}"
    return f"{head}; {_shapes_text(node.shapes)}, {_num(node.params)} params"


def _q(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# -- the JSON report's schema -------------------------------------------------------------


def _record(properties: dict, required: list | None = None) -> dict:
    """A JSON object with just these properties, all of them required unless `required`
    says which."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _pair(item: dict) -> dict:
    return _record({"old": item, "new": item})


_NULLABLE_INT = {"type": ["integer", "null"]}
_REFS = {
    "description": "references: 'node' or 'node:k', a list or a mapping of them",
    "anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}],
}
_SHAPES = {
    "description": "one shape per output, batch axis first; null: unknown",
    "anyOf": [
        {"type": "null"},
        {"type": "array", "items": {"type": "array", "items": _NULLABLE_INT}},
    ],
}
_KIND = {"enum": ["input", "layer", "op", "share", "submodel"]}
_TYPE = {"type": ["string", "null"]}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://graphspec.dev/schemas/diff.schema.json",
    "title": "graphspec diff report",
    **_record(
        {
            "format": {"const": FORMAT},
            "a": {"$ref": "#/$defs/side"},
            "b": {"$ref": "#/$defs/side"},
            "equivalent": {"type": "boolean"},
            "totals": _record(
                {
                    **{
                        k: {"type": "integer", "minimum": 0}
                        for k in ("changed", "added", "removed", "renamed", "reshaped")
                    },
                    "params": _pair(_NULLABLE_INT),
                    "params_delta": _NULLABLE_INT,
                }
            ),
            "changed": {"type": "array", "items": {"$ref": "#/$defs/change"}},
            "added": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            "removed": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            "renamed": {
                "type": "array",
                "items": _record(
                    {
                        "old": {"type": "string"},
                        "new": {"type": "string"},
                        "kind": _KIND,
                        "type": _TYPE,
                    }
                ),
            },
            "reshaped": {"type": "array", "items": {"$ref": "#/$defs/change"}},
            "outputs": {"anyOf": [{"type": "null"}, _pair(_REFS)]},
            "model": {"anyOf": [{"type": "null"}, _pair({"enum": ["sequential", "functional"]})]},
        }
    ),
    "$defs": {
        "side": _record(
            {
                "source": {"type": "string"},
                "name": {"type": "string"},
                "nodes": {"type": "integer", "minimum": 0},
                "params": _NULLABLE_INT,
            }
        ),
        "node": _record(
            {
                "name": {"type": "string"},
                "kind": _KIND,
                "type": _TYPE,
                "args": {"type": "object"},
                "inputs": {"anyOf": [{"type": "null"}, _REFS]},
                "shapes": _SHAPES,
                "params": _NULLABLE_INT,
            }
        ),
        "change": _record(
            {
                "name": {"type": "string"},
                "what": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {
                        "enum": ["kind", "type", "args", "inputs", "body", "shapes", "params"]
                    },
                },
                "kind": _pair(_KIND),
                "type": _pair(_TYPE),
                "args": {
                    "type": "array",
                    "items": _record(
                        {"arg": {"type": "string"}, "old": {}, "new": {}}, required=["arg"]
                    ),
                },
                "inputs": _pair({"anyOf": [{"type": "null"}, _REFS]}),
                "shapes": _pair(_SHAPES),
                "params": _pair(_NULLABLE_INT),
                "body": {"anyOf": [{"type": "null"}, {"$ref": "#"}]},
            }
        ),
    },
}
