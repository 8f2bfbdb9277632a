"""Composition: imports, parameters, blocks and repeat -> the flat list of nodes that the
graph checks see.

Expansion is inline: a block instance `stage1` of a block with nodes `c1, c2` becomes nodes
`stage1_c1, stage1_c2`; with `repeat: 3`, copy k (1-based) of `stage1` is `stage1_k_c1`, ...
A repeated plain node `fc` becomes `fc_1 ... fc_N`. Nested blocks prefix again
(`conv2_rest_2_c1`). The instance's name refers to its output (for a repeat, the last copy's).

References are resolved after everything is expanded, so nodes may refer to nodes listed
after them, inside blocks as at the top level. Every node keeps the location where it was
written (possibly in an imported file) and, inside a block, the instance it belongs to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from . import expr
from .errors import ERROR, Diagnostic, SpecError, did_you_mean, pointer
from .limits import DEFAULT, Limits, too_many_nodes
from .source import Loc, Source, read
from .spec import (_INPUT_ADAPTER, _NODE_ADAPTER, COMPILE_ADAPTER, TRAIN_ADAPTER, Block,
                   BlockNode, LayerNode, OpNode, Parsed, ShareNode, split_ref, validate_document)

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
REPEAT_INDEX = "repeat_index"


class SubmodelNode(BaseModel):
    """An instance of a `nested` block: one node whose layer is a Keras sub-model built from
    `parts`. Internal to graphspec (not a key of the format)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    in_: Any = None
    block: str
    parts: Any  # Parts of the block's body


FROM_CALLER = "from the caller"  # a nested sub-model's inputs take the shapes they are given


@dataclass
class FlatNode:
    """One node after expansion. `decl` is None when its declaration was invalid."""

    decl: Any  # LayerNode | OpNode | ShareNode | None
    loc: Loc
    name: str | None


@dataclass
class Parts:
    """What graph validation works on."""

    name: str
    model: str
    inputs: dict[str, Any]  # InputSpec, None (invalid) or FROM_CALLER
    nodes: list[FlatNode]
    outputs: Any
    outputs_valid: bool
    params: dict[str, Any] = field(default_factory=dict)
    incomplete: bool = False  # something was invalid: the graph has holes
    invalid_names: set[str] = field(default_factory=set)
    compile: Any = None  # CompileSpec, parameters substituted
    train: Any = None  # TrainSpec, parameters substituted


def snake_case(name: str) -> str:
    """`GlobalAveragePooling2D` -> `global_average_pooling2d`; `image.resize` -> `image_resize`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower().replace(".", "_")


def default_names(decls: list[Any]) -> list[str | None]:
    """Names for nodes without one: the kind in snake case, numbered when taken
    (`dense`, `dense_1`, ...). Explicit names are kept and never reused."""
    taken = {d.name for d in decls if d is not None and d.name}
    counters: dict[str, int] = {}
    out = []
    for decl in decls:
        if decl is None or decl.name:
            out.append(decl.name if decl is not None else None)
            continue
        base = snake_case(decl.layer if isinstance(decl, LayerNode) else decl.op
                      if isinstance(decl, OpNode) else decl.block
                      if isinstance(decl, BlockNode) else f"{decl.share}_shared")
        while True:
            n = counters.get(base, 0)
            counters[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in taken:
                taken.add(name)
                out.append(name)
                break
    return out


# -- imports ---------------------------------------------------------------------------------

@dataclass
class _Definition:
    value: Any
    source: Source
    loc: Loc


class _Imports:
    """Blocks and parameter defaults of a spec and of everything it imports."""

    def __init__(self, diagnostics: list[Diagnostic], limits: Limits):
        self.limits = limits
        self.diags = diagnostics
        self.blocks: dict[str, _Definition] = {}
        self.params: dict[str, _Definition] = {}  # from imported files only
        self.loaded: set[Path] = set()

    def visit(self, source: Source, parsed: Parsed, chain: tuple[Path, ...], main: bool) -> None:
        for i, ref in enumerate(parsed.imports):
            loc = Loc(("imports", i), source)
            target = self._resolve(source, ref, loc, chain)
            if target is None:
                continue
            path, shown = target
            if path in self.loaded:
                continue  # a file imported twice (a diamond) is read once
            self.loaded.add(path)
            try:
                imported, diags = read(shown, self.limits)
            except SpecError as exc:
                self.diags.extend(exc.diagnostics)
                continue
            self.diags.extend(diags)
            parsed_import, doc_diags = validate_document(imported)
            self.diags.extend(doc_diags)
            if parsed_import is not None:
                self.visit(imported, parsed_import, chain + (path,), main=False)
        for name, block in parsed.blocks.items():
            self._define(self.blocks, "block", name, block, source, Loc(("blocks", name), source))
        if not main:
            for name, value in parsed.params.items():
                self._define(self.params, "parameter", name, value, source,
                             Loc(("params", name), source))

    def _resolve(self, source: Source, ref: str, loc: Loc, chain: tuple[Path, ...]):
        if Path(ref).suffix.lower() not in SPEC_SUFFIXES:
            self.diags.append(source.diagnostic(
                loc, "GS150", f"only spec files can be imported. Expected a .yaml, .yml or .json "
                f"file. Received: '{ref}'"))
            return None
        base = source.base_dir or Path.cwd()
        path = (base / ref).resolve()
        shown = os.path.normpath(os.path.join(os.path.dirname(source.path), ref)) \
            if source.text is not None else str(path)
        if path in chain:
            names = " -> ".join(p.name for p in chain[chain.index(path):] + (path,))
            self.diags.append(source.diagnostic(loc, "GS151", f"import cycle: {names}",
                                                "a file cannot import itself, directly or not"))
            return None
        if not path.is_file():
            self.diags.append(source.diagnostic(loc, "GS150", f"cannot import '{ref}': no such "
                                                f"file ('{shown}')"))
            return None
        return path, shown

    def _define(self, table: dict, what: str, name: str, value: Any, source: Source, loc: Loc):
        first = table.get(name)
        if first is not None and first.source is not source:
            self.diags.append(source.diagnostic(
                loc, "GS152", f"{what} '{name}' is defined in both '{first.source.path}' and "
                f"'{source.path}'", f"rename one of them; a {what} name must be defined once",
                key=True))
            return
        table[name] = _Definition(value, source, loc)


# -- parameters ------------------------------------------------------------------------------

class _Substituter:
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diags = diagnostics
        self.failed = False

    def value(self, value: Any, scope: dict, loc: Loc) -> Any:
        """`value` with every `${...}` replaced; errors are reported at their place and the
        failing string is left as it is."""
        if isinstance(value, str):
            if "${" not in value:
                return value
            try:
                return expr.substitute(value, scope)
            except expr.ExprError as exc:
                self.failed = True
                source = loc.source
                line, column = source.locate(loc)
                self.diags.append(source.diagnostic(
                    loc, exc.code, str(exc), exc.hint,
                    column_offset=exc.offset if line is not None and "\n" not in value
                    and _written(source, line, column, value) else 0))
                return value
        if isinstance(value, dict):
            return {k: self.value(v, scope, loc + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, scope, loc + (i,)) for i, v in enumerate(value)]
        return value

    def params(self, entries: list[tuple[str, Any, Loc]], scope: dict | None = None) -> dict:
        """Evaluate parameters in order; each may use the ones before it."""
        scope = dict(scope or {})
        for name, value, loc in entries:
            scope[name] = self.value(value, scope, loc)
        return scope


def _written(source: Source, line: int, column: int, value: str) -> bool:
    """Whether the scalar is written on its line as it reads (no escapes, no folding), so that
    an offset into it is an offset into the line."""
    text = source.text.splitlines()[line - 1] if source.text else ""
    return value in text[column - 1:]


# -- expansion -------------------------------------------------------------------------------

class _Scope:
    """Local names of the model or of one block instance, mapped to what they stand for."""

    def __init__(self, parent: "_Scope | None", where: str):
        self.parent = parent
        self.where = where  # "the model", or "block 'b'" for messages
        self.names: dict[str, tuple] = {}

    @property
    def top(self) -> bool:
        return self.parent is None


class _TooLarge(Exception):
    pass


class _Expander:
    def __init__(self, main: Source, imports: _Imports, subst: _Substituter,
                 diagnostics: list[Diagnostic], max_nodes: int):
        self.max_nodes = max_nodes
        self.main = main
        self.imports = imports
        self.subst = subst
        self.diags = diagnostics
        self.flat: list[FlatNode] = []
        self.pending: list[tuple[int, _Scope]] = []  # flat nodes whose references are local
        self.invalid: set[str] = set()
        self.incomplete = False

    def error(self, loc: Loc, code: str, message: str, hint: str | None = None, key=False):
        self.diags.append(self.main.diagnostic(loc, code, message, hint, key=key))
        self.incomplete = True

    # -- lists of nodes ----------------------------------------------------------------------
    def expand(self, decls: list[Any], locs: list[Loc], raw_names: list[str | None],
               scope: _Scope, values: dict, prefix: str, stack: tuple[str, ...],
               block_inputs: list[str] | None) -> list[str | None]:
        """Expand one list of nodes into `self.flat`; returns their local names."""
        decls = [d.model_copy(update={"name": self.subst.value(d.name, values, loc + ("name",))})
                 if d is not None and d.name and "${" in d.name else d
                 for d, loc in zip(decls, locs)]
        names = default_names(decls)
        names = [n if n is not None else raw for n, raw in zip(names, raw_names)]
        previous_plain = False
        for i, (decl, loc, name) in enumerate(zip(decls, locs, names)):
            if decl is None:  # reported by the format check; keep its place and its name
                flat = prefix + name if name is not None else None
                if name is not None:
                    scope.names[name] = ("invalid", flat)
                    self.invalid.add(flat)
                self.flat.append(FlatNode(None, loc, flat))
                self.incomplete = True
                previous_plain = True
                continue
            default_in = None
            if decl.in_ is None:
                expands = isinstance(decl, BlockNode) or decl.repeat is not None
                if i == 0 and not scope.top:
                    if len(block_inputs) != 1:
                        self.error(loc, "GS212", f"the first node of {scope.where} has no 'in', "
                                   f"but the block has {len(block_inputs)} inputs "
                                   f"({', '.join(block_inputs)})", f"say which, e.g. in: {block_inputs[0]}")
                    default_in = block_inputs[0]
                elif i == 0 and expands:
                    default_in = self._only_model_input(loc, name)
                elif i > 0 and (not scope.top or expands or not previous_plain):
                    default_in = names[i - 1]
                # Otherwise (a plain top-level node after a plain node, or the first one) the
                # omitted `in` stays omitted: the graph checks apply the default, exactly as
                # for a spec without composition.
            previous_plain = self.node(decl, loc, name, scope, values, prefix, stack, default_in)
        return names

    def _only_model_input(self, loc: Loc, name: str) -> str | None:
        inputs = list(self.main.value_at(("inputs",), {}) or {})
        if len(inputs) == 1:
            return inputs[0]
        self.error(loc, "GS212", f"node '{name}' is the first node and has no 'in', but the "
                   f"model has {len(inputs)} inputs ({', '.join(inputs)})",
                   f"say which input it takes, e.g. in: {inputs[0] if inputs else 'x'}")
        return None

    # -- one node ----------------------------------------------------------------------------
    def node(self, decl, loc: Loc, name: str, scope: _Scope, values: dict, prefix: str,
             stack: tuple[str, ...], default_in: str | None) -> bool:
        """Expand one node; returns whether it became exactly one plain flat node."""
        count = self._repeat_count(decl, loc, values)
        if count is None:
            scope.names[name] = ("invalid", prefix + name)
            self.invalid.add(prefix + name)
            return False
        if isinstance(decl, BlockNode):
            self.block(decl, loc, name, scope, values, prefix, stack, default_in, count)
            return False
        if count and isinstance(decl, ShareNode):
            self.error(loc + ("repeat",), "GS142", f"'repeat' on share node '{name}' would apply "
                       "the same weights again and again; repeat makes copies with fresh weights",
                       "repeat the node that owns the layer, or list the share nodes", key=True)
            self._mark_invalid(scope, name, prefix)
            return False
        if count and isinstance(decl.in_, (list, dict)):
            self.error(loc + ("in",), "GS142", f"'repeat' chains copies of node '{name}', so it "
                       "needs exactly one input. Received: " + ("a list" if isinstance(decl.in_, list)
                                                               else "a mapping"))
            self._mark_invalid(scope, name, prefix)
            return False
        if not count:
            flat = prefix + name
            scope.names[name] = ("node", flat)
            self.emit(decl, loc, flat, scope, values, default_in)
            return True
        previous = default_in
        for k in range(1, count + 1):
            flat = f"{prefix}{name}_{k}"
            context = _join(f"{name}[{k}]", loc.context)
            copy_loc = Loc(loc, loc.source, context, loc.clusters)
            self.emit(decl, copy_loc, flat, scope, {**values, REPEAT_INDEX: k - 1},
                      previous if k > 1 else default_in, chained=k > 1)
            previous = flat
        scope.names[name] = ("node", previous)
        return False

    def _repeat_count(self, decl, loc: Loc, values: dict) -> int | None:
        """0 for no repeat; None after reporting an invalid count."""
        raw = decl.repeat
        if raw is None:
            return 0
        value = self.subst.value(raw, values, loc + ("repeat",))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            if not (isinstance(value, str) and "${" in value):  # else reported already
                self.error(loc + ("repeat",), "GS142", f"'repeat' needs a whole number of at "
                           f"least 1. Received: {value!r}")
            self.incomplete = True
            return None
        if value > self.max_nodes:
            raise _TooLarge
        return value

    def emit(self, decl, loc: Loc, flat: str, scope: _Scope, values: dict,
             default_in: str | None, chained: bool = False) -> None:
        """Substitute parameters, revalidate, and append one flat node."""
        data = decl.model_dump(by_alias=True, exclude_unset=True)
        data.pop("repeat", None)
        data["name"] = flat
        if chained:
            data.pop("in", None)
        if expr.has_placeholder(data):
            data = {k: (v if k == "name" else self.subst.value(v, values, loc + (k,)))
                    for k, v in data.items()}
            try:
                new = _NODE_ADAPTER.validate_python(data)
            except ValidationError as exc:
                self._revalidation_errors(exc, loc)
                self.invalid.add(flat)
                self.flat.append(FlatNode(None, loc, flat))
                self.incomplete = True
                return
        else:  # nothing was substituted: the node is valid as it stands
            new = decl.model_copy(update={"name": flat, "repeat": None,
                                          **({"in_": None} if chained else {})})
        if new.in_ is None and default_in is not None:
            new = new.model_copy(update={"in_": default_in})
        index = len(self.flat)
        if index >= self.max_nodes:
            raise _TooLarge
        self.flat.append(FlatNode(new, loc, flat))
        if not chained:
            self.pending.append((index, scope))

    def _revalidation_errors(self, exc: ValidationError, loc: Loc) -> None:
        for err in exc.errors():
            parts = tuple(p for p in err["loc"] if p not in ("layer-node", "op-node", "share-node",
                                                             "block-node"))
            at = loc + parts
            self.error(at, "GS110", f"after substituting parameters, '{pointer(at)}' is invalid: "
                       f"{err['msg'][0].lower() + err['msg'][1:]}. Received: {err.get('input')!r}")

    # -- block instances ---------------------------------------------------------------------
    def block(self, decl: BlockNode, loc: Loc, name: str, scope: _Scope, values: dict,
              prefix: str, stack: tuple[str, ...], default_in: str | None, count: int) -> None:
        definition = self.imports.blocks.get(decl.block)
        if definition is None:
            self.error(loc + ("block",), "GS140", f"unknown block '{decl.block}' in node '{name}'",
                       did_you_mean(decl.block, list(self.imports.blocks)) or
                       "define it under 'blocks', here or in an imported file")
            self._mark_invalid(scope, name, prefix)
            return
        block: Block | None = definition.value
        if block is None:  # its definition is invalid and was reported
            self._mark_invalid(scope, name, prefix)
            return
        if decl.block in stack:
            chain = " -> ".join(stack[stack.index(decl.block):] + (decl.block,))
            self.error(loc + ("block",), "GS141", f"blocks use each other in a circle: {chain}",
                       "a block cannot contain itself, directly or through other blocks")
            self._mark_invalid(scope, name, prefix)
            return
        if count and (len(block.inputs) != 1 or len(_listed(block.outputs, block)) != 1):
            self.error(loc + ("repeat",), "GS142", f"'repeat' chains copies of block "
                       f"'{decl.block}', so it needs one input and one output. Received: "
                       f"{len(block.inputs)} input(s), {len(_listed(block.outputs, block))} "
                       "output(s)", key=True)
            self._mark_invalid(scope, name, prefix)
            return
        for key in decl.args:
            if key not in block.params:
                self.error(loc + ("args", key), "GS203", f"unknown argument '{key}' for block "
                           f"'{decl.block}' in node '{name}'", did_you_mean(key, list(block.params))
                           or f"the block's params: {', '.join(block.params) or 'none'}", key=True)
        bound = self._bind_inputs(decl, loc, name, block, default_in)
        if bound is None:
            self._mark_invalid(scope, name, prefix)
            return
        # Refuse an expansion that would exceed the node limit before doing any of it.
        if len(self.flat) + max(count, 1) * self._size(block, values, decl.args, stack) \
                > self.max_nodes:
            raise _TooLarge
        if block.nested:
            self.nested(decl, loc, name, scope, values, prefix, stack, definition, bound, count)
            return
        previous: tuple | None = None
        for k in range(1, max(count, 1) + 1):
            copy_values = {**values, REPEAT_INDEX: k - 1} if count else values
            args = self.subst.value(dict(decl.args), copy_values, loc + ("args",))
            label = f"{name}[{k}]" if count else name
            context = _join(f"{label} (block {decl.block})", loc.context)
            inner = _Scope(scope, f"block '{decl.block}'")
            if previous is None:
                for input_name, ref in zip(block.inputs, bound):
                    inner.names[input_name] = ("input", scope, ref, loc + ("in",))
            else:
                inner.names[block.inputs[0]] = previous
            source = definition.source
            inner_values = self.subst.params(
                [(p, v, Loc(("blocks", decl.block, "params", p), source, context))
                 for p, v in block.params.items() if p not in args], copy_values)
            inner_values.update({k2: v for k2, v in args.items() if k2 in block.params})
            inner_prefix = f"{prefix}{name}_{k}_" if count else f"{prefix}{name}_"
            cluster = (inner_prefix, f"{label} (block {decl.block})")
            locs = [Loc(("blocks", decl.block, "layers", i), source, context,
                        loc.clusters + (cluster,)) for i in range(len(block.layers))]
            raw_names = [getattr(n, "name", None) for n in block.layers]
            self.expand(list(block.layers), locs, raw_names, inner, inner_values, inner_prefix,
                        stack + (decl.block,), list(block.inputs))
            previous = ("block", inner, _listed(block.outputs, block),
                        Loc(("blocks", decl.block), source, context), decl.block)
        scope.names[name] = previous

    def nested(self, decl: BlockNode, loc: Loc, name: str, scope: _Scope, values: dict,
               prefix: str, stack: tuple[str, ...], definition: "_Definition",
               bound: list[str], count: int) -> None:
        """Instances of a nested block: one sub-model node per copy, whose body is composed
        on its own (names inside are the block's own, unprefixed)."""
        block: Block = definition.value
        previous = None
        for k in range(1, max(count, 1) + 1):
            copy_values = {**values, REPEAT_INDEX: k - 1} if count else values
            args = self.subst.value(dict(decl.args), copy_values, loc + ("args",))
            flat = f"{prefix}{name}_{k}" if count else prefix + name
            context = _join(f"{name}[{k}] (block {decl.block})" if count
                            else f"{name} (block {decl.block})", loc.context)
            inner_values = self.subst.params(
                [(p, v, Loc(("blocks", decl.block, "params", p), definition.source, context))
                 for p, v in block.params.items() if p not in args], copy_values)
            inner_values.update({p: v for p, v in args.items() if p in block.params})
            sub = _Expander(self.main, self.imports, self.subst, self.diags,
                            self.max_nodes - len(self.flat))
            inner = _Scope(None, f"block '{decl.block}'")
            for input_name in block.inputs:
                inner.names[input_name] = ("model_input", input_name)
            locs = [Loc(("blocks", decl.block, "layers", i), definition.source, context)
                    for i in range(len(block.layers))]
            sub.expand(list(block.layers), locs, [getattr(n, "name", None) for n in block.layers],
                       inner, inner_values, "", stack + (decl.block,), list(block.inputs))
            sub.resolve_all()
            outs_loc = Loc(("blocks", decl.block, "outputs"), definition.source, context)
            outputs = [sub.resolve(inner, ref, outs_loc) for ref in _listed(block.outputs, block)]
            parts = Parts(flat, block.model, {i: FROM_CALLER for i in block.inputs}, sub.flat,
                          outputs[0] if len(outputs) == 1 else outputs, None not in outputs,
                          inner_values, sub.incomplete, sub.invalid)
            self.incomplete |= sub.incomplete
            wired = previous if previous is not None else (bound[0] if len(bound) == 1 else bound)
            node = SubmodelNode(name=flat, in_=wired, block=decl.block, parts=parts)
            self.flat.append(FlatNode(node, Loc(loc, loc.source, _join(f"{name}[{k}]", loc.context),
                                                loc.clusters) if count else loc, flat))
            if previous is None:
                self.pending.append((len(self.flat) - 1, scope))
            previous = flat
        scope.names[name] = ("node", previous)

    def _size(self, block: Block, values: dict, args: dict, stack: tuple[str, ...]) -> int:
        """About how many nodes one instance of `block` expands to, for the node limit.
        Repeats that cannot be evaluated here count once; the exact count is enforced as
        nodes are emitted."""
        scope = {**values, **{k: v for k, v in block.params.items() if "${" not in str(v)}}
        for key, value in args.items():
            try:
                scope[key] = expr.substitute(value, values) if isinstance(value, str) else value
            except expr.ExprError:
                pass
        total = 0
        for node in block.layers:
            repeat = node.repeat or 1
            if isinstance(repeat, str):
                try:
                    repeat = expr.substitute(repeat, {**scope, REPEAT_INDEX: 0})
                except expr.ExprError:
                    repeat = 1
            repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) else 1
            inner = 1
            if isinstance(node, BlockNode) and node.block not in stack:
                definition = self.imports.blocks.get(node.block)
                if definition is not None and definition.value is not None:
                    inner = self._size(definition.value, scope, node.args,
                                       stack + (node.block,))
            total += max(repeat, 1) * inner
            if total > self.max_nodes:
                return total
        return total

    def _bind_inputs(self, decl: BlockNode, loc: Loc, name: str, block: Block,
                     default_in: str | None) -> list[str] | None:
        raw = decl.in_
        if raw is None:
            raw = default_in
        if raw is None:
            return None  # reported where the default was looked for
        if isinstance(raw, dict):
            unknown = [k for k in raw if k not in block.inputs]
            missing = [k for k in block.inputs if k not in raw]
            for key in unknown:
                self.error(loc + ("in", key), "GS203", f"block '{decl.block}' has no input '{key}'",
                           did_you_mean(key, block.inputs) or f"its inputs: {', '.join(block.inputs)}",
                           key=True)
            if missing and not unknown:
                self.error(loc + ("in",), "GS210", f"node '{name}' does not give block "
                           f"'{decl.block}' its input(s) {', '.join(missing)}")
            if unknown or missing or any(isinstance(v, list) for v in raw.values()):
                return None
            return [raw[k] for k in block.inputs]
        refs = [raw] if isinstance(raw, str) else list(raw)
        if len(refs) != len(block.inputs):
            self.error(loc + ("in",) if decl.in_ is not None else loc, "GS210",
                       f"block '{decl.block}' in node '{name}' takes {len(block.inputs)} "
                       f"input(s) ({', '.join(block.inputs)}). Received: {len(refs)}")
            return None
        return refs

    def _mark_invalid(self, scope: _Scope, name: str, prefix: str) -> None:
        scope.names[name] = ("invalid", prefix + name)
        self.invalid.add(prefix + name)
        self.incomplete = True

    # -- references --------------------------------------------------------------------------
    def resolve(self, scope: _Scope, text: str, loc: Loc, depth: int = 0) -> str | None:
        name, index = split_ref(text)
        target = scope.names.get(name)
        if depth > 200:
            self.error(loc, "GS207", f"reference '{text}' goes round in a circle through block "
                       "inputs and outputs")
            return None
        if target is None:
            if scope.top:
                return text  # the graph checks report it, with every model-level name
            self.error(loc, "GS206", f"unknown reference '{text}' in {scope.where}",
                       did_you_mean(name, list(scope.names)) or
                       f"inside a block, references name its inputs and nodes: "
                       f"{', '.join(scope.names)}")
            return None
        kind = target[0]
        if kind in ("node", "invalid", "model_input"):
            return target[1] if index is None else f"{target[1]}:{index}"
        if kind == "input":
            _, parent, ref, ref_loc = target
            resolved = self.resolve(parent, ref, ref_loc, depth + 1)
            if resolved is None or index is None:
                return resolved
            if split_ref(resolved)[1] is not None:
                self.error(loc, "GS211", f"'{text}' selects output {index} of block input "
                           f"'{name}', which is already one output ('{resolved}')")
                return None
            return f"{resolved}:{index}"
        _, inner, outputs, block_loc, block_name = target
        if index is None:
            if len(outputs) != 1:
                self.error(loc, "GS211", f"block instance '{name}' ({block_name}) has "
                           f"{len(outputs)} outputs: reference one of them as "
                           + ", ".join(f"{name}:{i}" for i in range(len(outputs))))
                return None
            return self.resolve(inner, outputs[0], block_loc + ("outputs",), depth + 1)
        if index >= len(outputs):
            self.error(loc, "GS211", f"'{text}' is out of range: block instance '{name}' "
                       f"({block_name}) has {len(outputs)} output(s)")
            return None
        return self.resolve(inner, outputs[index], block_loc + ("outputs",), depth + 1)

    def resolve_all(self) -> None:
        for index, scope in self.pending:
            node = self.flat[index]
            decl = node.decl
            update = {}
            if decl.in_ is not None:
                update["in_"] = self._resolve_structure(decl.in_, scope, node.loc + ("in",))
            if isinstance(decl, ShareNode):
                owner = self.resolve(scope, decl.share, node.loc + ("share",))
                update["share"] = owner if owner is not None else decl.share
            node.decl = decl.model_copy(update=update)

    def _resolve_structure(self, value: Any, scope: _Scope, loc: Loc):
        if isinstance(value, str):
            resolved = self.resolve(scope, value, loc)
            return resolved if resolved is not None else _missing(self)
        if isinstance(value, list):
            return [self._resolve_structure(v, scope, loc + (i,)) for i, v in enumerate(value)]
        return {k: self._resolve_structure(v, scope, loc + (k,)) for k, v in value.items()}


_UNRESOLVED = "\x00unresolved"


def _missing(expander: _Expander) -> str:
    """A stand-in for a reference whose error is already reported: the graph knows it as
    invalid, so nothing downstream is reported twice."""
    expander.invalid.add(_UNRESOLVED)
    expander.incomplete = True
    return _UNRESOLVED


def _listed(outputs: Any, block: Block) -> list[str]:
    if outputs is None:
        last = block.layers[-1]
        return [last.name or default_names(list(block.layers))[-1]]
    return [outputs] if isinstance(outputs, str) else list(outputs)


def _join(inner: str, outer: str | None) -> str:
    return f"{inner}, inside {outer}" if outer else inner


# -- the whole document ----------------------------------------------------------------------

def compose(source: Source, parsed: Parsed, overrides: dict | None,
            limits: Limits = DEFAULT) -> tuple[Parts | None, list[Diagnostic]]:
    """Expand imports, parameters, blocks and repeats of a model spec."""
    diags: list[Diagnostic] = []
    imports = _Imports(diags, limits)
    imports.loaded.add(Path(source.path).resolve() if source.text is not None else Path("<dict>"))
    root = Path(source.path).resolve() if source.text is not None else Path("<dict>")
    imports.visit(source, parsed, (root,), main=True)
    subst = _Substituter(diags)

    # Parameters: imported defaults, then this file's (which override them), then overrides.
    entries: dict[str, tuple[Any, Loc]] = {n: (d.value, d.loc) for n, d in imports.params.items()}
    for name, value in parsed.params.items():
        entries[name] = (value, Loc(("params", name), source))
    for name, value in (overrides or {}).items():
        if name not in entries:
            diags.append(Diagnostic(source.path, None, None, "GS120", ERROR,
                                    f"unknown parameter '{name}' in an override",
                                    did_you_mean(name, list(entries)) or
                                    (f"declared parameters: {', '.join(entries)}" if entries
                                     else "this spec declares no parameters")))
            continue
        entries[name] = (value, entries[name][1])
    values = subst.params([(n, v, loc) for n, (v, loc) in entries.items()])

    # Absent or null; a value of the wrong type was reported by the format check already.
    missing = [key for key in ("inputs", "layers")
               if getattr(parsed, key) is None and (source.data or {}).get(key) is None]
    if missing:
        diags.append(source.diagnostic((), "GS111", "missing required key(s) "
                                       f"{' and '.join(repr(k) for k in missing)} in the spec",
                                       "only a library file used through 'imports' may leave "
                                       "out inputs and layers"))
    if parsed.inputs is None or parsed.layers is None:
        return None, diags

    inputs = {}
    for name, spec in parsed.inputs.items():
        if spec is not None and expr.has_placeholder(spec.model_dump()):
            loc = Loc(("inputs", name), source)
            data = subst.value(spec.model_dump(exclude_unset=True), values, loc)
            try:
                spec = _INPUT_ADAPTER.validate_python(data)
                if expr.has_placeholder(spec.model_dump()):
                    spec = None  # an expression failed and was reported
            except ValidationError as exc:
                for err in exc.errors():
                    at = loc + tuple(err["loc"])
                    diags.append(source.diagnostic(at, "GS110", f"after substituting "
                                                   f"parameters, '{pointer(at)}' is invalid: "
                                                   f"{err['msg']}. Received: {err.get('input')!r}"))
                spec = None
        inputs[name] = spec

    expander = _Expander(source, imports, subst, diags, limits.max_nodes)
    top = _Scope(None, "the model")
    for name in inputs:
        top.names[name] = ("model_input", name)
    locs = [Loc(("layers", i), source) for i in range(len(parsed.layers))]
    try:
        names = expander.expand(list(parsed.layers), locs, parsed.layer_names, top, values, "",
                                (), None)
    except _TooLarge:
        diags.append(too_many_nodes(source.path, limits))
        return None, diags
    expander.resolve_all()

    outputs = parsed.outputs
    if parsed.outputs_valid:
        if outputs is None:
            last = names[-1] if names else None
            outputs = expander.resolve(top, last, Loc(("layers", len(names) - 1), source)) \
                if last is not None else None
        else:
            outputs = subst.value(outputs, values, Loc(("outputs",), source))
            outputs = expander._resolve_structure(outputs, top, Loc(("outputs",), source))
    invalid_inputs = {n for n, s in inputs.items() if s is None}
    settings = {key: _settings(source, getattr(parsed, key), adapter, values, subst, key, diags)
                for key, adapter in (("compile", COMPILE_ADAPTER), ("train", TRAIN_ADAPTER))}
    return Parts(parsed.name, parsed.model, inputs, expander.flat, outputs, parsed.outputs_valid,
                 values, expander.incomplete or subst.failed or bool(invalid_inputs),
                 expander.invalid, settings["compile"], settings["train"]), diags


def _settings(source: Source, raw: Any, adapter, values: dict, subst: _Substituter, key: str,
              diags: list[Diagnostic]):
    """The `compile` or `train` section with parameters substituted, checked again."""
    if raw is None:
        return None
    loc = Loc((key,), source)
    data = subst.value(raw, values, loc)
    try:
        section = adapter.validate_python(data)
    except ValidationError as exc:
        for err in exc.errors():
            at = loc + tuple(p for p in err["loc"] if isinstance(p, (str, int)))
            diags.append(source.diagnostic(at, "GS110", f"after substituting parameters, "
                                           f"'{pointer(at)}' is invalid: {err['msg']}. "
                                           f"Received: {err.get('input')!r}"))
        return None
    if expr.has_placeholder(section.model_dump()):
        return None  # an expression failed, and was reported
    return section
