"""Expansion: blocks, repeat and parameters turn the written nodes into flat, composed nodes.

Traversal state travels in one `Frame` (the scope, the parameter values, the name prefix,
the blocks being expanded and the block's inputs); the per-node work reads it and never
threads those through as separate arguments. References are recorded while expanding and
resolved by `Expander.resolve_all` once every node exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .. import expr
from ..codes import report
from ..document import _NODE_ADAPTER, Block, BlockNode, ShareNode
from ..errors import Diagnostic, did_you_mean, pointer
from ..source import Loc, Source
from .library import Definition, Library
from .model import CallerInput, ComposedNode, Composition
from .naming import default_names, valid_name
from .params import REPEAT_INDEX, Substituter
from .scope import Absent, Binding, BlockInput, Instance, Invalid, NodeName, Resolver, Scope

_INVALID = Invalid()
_VANISH = -1  # `repeat: 0`: no copies at all (0 itself means "not repeated")


class TooLarge(Exception):
    """The expansion would exceed a limit; raised before the work is done. `diagnostic` says
    which, when it is not the node limit."""

    def __init__(self, diagnostic: Diagnostic | None = None):
        super().__init__()
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Frame:
    """Where a list of nodes is being expanded."""

    scope: Scope
    values: dict  # parameter values in force
    prefix: str  # prepended to local names to make flat names (`stage1_2_`)
    stack: tuple[str, ...]  # the blocks being expanded, outermost first
    block_inputs: tuple[str, ...] | None  # the inputs of the block; None at the top level


@dataclass
class _Pending:
    """A composed node whose references wait until every node exists."""

    node: ComposedNode
    scope: Scope
    inputs: Any  # the written `in` (references as text), or a Binding for a default input
    share: str | None


class Expander:
    def __init__(
        self,
        main: Source,
        library: Library,
        subst: Substituter,
        diagnostics: list[Diagnostic],
        max_nodes: int,
        inputs: dict[str, Any],
        scope: Scope,
    ):
        self.main = main
        self.library = library
        self.subst = subst
        self.diags = diagnostics
        self.max_nodes = max_nodes
        self.inputs = inputs  # the model's (or nested body's) inputs; None where invalid
        self.resolver = Resolver(diagnostics, main)
        self.nodes: list[ComposedNode] = []
        self.pending: list[_Pending] = []
        self.flat: dict[str, Binding] = {}
        self.declared: dict[str, Loc] = {}  # flat name -> where it was declared first
        self.emitted: set[int] = set()  # declarations emitted once: later copies are charged
        self.placeholders: dict[tuple[int, bool], bool] = {}  # see _has_placeholder
        self.complete = True
        scope.flat = self.flat
        for name, spec in inputs.items():
            self.flat[name] = _INVALID if spec is None else NodeName(name)
            self.declared[name] = Loc(("inputs", name), main)

    def error(self, loc: Loc, code: str, template: str, **fields: Any) -> None:
        self.diags.append(report(self.main, loc, code, template, **fields))
        self.complete = False

    @property
    def is_complete(self) -> bool:
        return self.complete and not self.resolver.failed

    # -- lists of nodes ----------------------------------------------------------------------
    def expand(
        self, decls: list[Any], locs: list[Loc], raw_names: list[str | None], frame: Frame
    ) -> list[tuple[str | None, Binding]]:
        """Expand one list of nodes; returns each entry's local name and what it stands for."""
        decls = [
            d.model_copy(update={"name": self.subst.value(d.name, frame.values, loc + ("name",))})
            if d is not None and d.name and "${" in d.name
            else d
            for d, loc in zip(decls, locs)
        ]
        names = default_names(decls)
        names = [n if n is not None else raw for n, raw in zip(names, raw_names)]
        entries: list[tuple[str | None, Binding]] = []
        for decl, loc, name in zip(decls, locs, names):
            if decl is None:  # reported by the format check; it keeps its place and its name
                self.complete = False
                if name is not None:
                    self._claim(frame.prefix + name, loc, _INVALID)
                    frame.scope.names[name] = _INVALID
                entries.append((name, _INVALID))
                continue
            if not valid_name(name):  # a name made by substituting a parameter
                self.error(
                    loc + ("name",),
                    "GS114",
                    "name",
                    at=pointer(loc + ("name",)),
                    received=name,
                    hint="use letters, digits, '_' and '-'",
                )
                entries.append((None, _INVALID))
                continue
            present = self._condition(decl, loc, frame.values)
            if present is None:  # an invalid condition, reported
                binding = self._invalid()
            elif not present:
                written = decl.when  # as the spec wrote it: `false`, or `${...}`
                condition = str(written).lower() if isinstance(written, bool) else written.strip()
                binding = Absent(name, condition)
                self.flat.setdefault(frame.prefix + name, binding)  # named by its flat name
            else:
                default = None
                if decl.in_ is None:
                    default = self._default_input(loc, name, frame, entries)
                binding = self.node(decl, loc, name, frame, default)
            frame.scope.names[name] = binding
            entries.append((name, binding))
        return entries

    def _condition(self, decl, loc: Loc, values: dict) -> bool | None:
        """Whether a node is present: its `when`, with parameters substituted."""
        if decl.when is None:
            return True
        value = self.subst.value(decl.when, values, loc + ("when",))
        if isinstance(value, bool):
            return value
        if not (isinstance(value, str) and "${" in value):  # else reported already
            self.error(loc + ("when",), "GS144", "value", received=value)
        return None

    def _default_input(self, loc: Loc, name: str, frame: Frame, entries: list) -> Binding:
        """The one rule for an omitted `in`: the previous node of the list (nodes that `when`
        leaves out are skipped); for the first node, the block's input or the model's only
        input."""
        previous = _last_present(entries)
        if previous is not None:
            return previous
        if frame.block_inputs is not None:
            inputs = frame.block_inputs
            if len(inputs) != 1:
                self.error(
                    loc,
                    "GS212",
                    "block",
                    where=frame.scope.where,
                    count=len(inputs),
                    names=", ".join(inputs),
                    hint=f"say which, e.g. in: {inputs[0]}",
                )
            return frame.scope.lookup(inputs[0]) or _INVALID
        inputs = list(self.inputs)
        if len(inputs) == 1:
            return self.flat[inputs[0]]
        if inputs:
            self.error(
                loc,
                "GS212",
                "model",
                node=name,
                count=len(inputs),
                names=", ".join(inputs),
                hint=f"say which input it takes, e.g. in: {inputs[0]}",
            )
        self.complete = False  # no inputs at all: the format check reported it
        return _INVALID

    # -- one node ----------------------------------------------------------------------------
    def node(self, decl, loc: Loc, name: str, frame: Frame, default: Binding | None) -> Binding:
        count = self._repeat_count(decl, loc, frame.values)
        if count is None:
            return self._invalid()
        if count == _VANISH and not isinstance(decl, BlockNode):
            # No copies: the name stands for what the node would have been applied to.
            if isinstance(decl.in_, str):
                return BlockInput(frame.scope, decl.in_, loc + ("in",), name)
            if decl.in_ is None:
                return default if default is not None else _INVALID
        if isinstance(decl, BlockNode):
            return self.block(decl, loc, name, frame, default, count)
        if count and isinstance(decl, ShareNode):
            self.error(
                loc + ("repeat",),
                "GS142",
                "share",
                node=name,
                at_key=True,
                hint="repeat the node that owns the layer, or list the share nodes",
            )
            return _INVALID
        if count and isinstance(decl.in_, (list, dict)):
            self.error(
                loc + ("in",),
                "GS142",
                "inputs",
                node=name,
                received="a list" if isinstance(decl.in_, list) else "a mapping",
            )
            return _INVALID
        if not count:
            return self.emit(decl, loc, frame.prefix + name, frame, frame.values, default)
        previous = default
        for k in range(1, count + 1):
            copy_loc = Loc(loc, loc.source, _join(f"{name}[{k}]", loc.context), loc.clusters)
            previous = self.emit(
                decl,
                copy_loc,
                f"{frame.prefix}{name}_{k}",
                frame,
                {**frame.values, REPEAT_INDEX: k - 1},
                previous,
                chained=k > 1,
            )
        return previous

    def _invalid(self) -> Binding:
        self.complete = False
        return _INVALID

    def _repeat_count(self, decl, loc: Loc, values: dict) -> int | None:
        """0 for no repeat, `_VANISH` for `repeat: 0`; None after reporting an invalid count."""
        raw = decl.repeat
        if raw is None:
            return 0
        value = self.subst.value(raw, values, loc + ("repeat",))
        if value == 0 and not isinstance(value, bool):
            return _VANISH
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            if not (isinstance(value, str) and "${" in value):  # else reported already
                self.error(loc + ("repeat",), "GS142", "count", received=value)
            return None
        if value > self.max_nodes:
            raise TooLarge
        return value

    def emit(
        self,
        decl,
        loc: Loc,
        flat: str,
        frame: Frame,
        values: dict,
        default: Binding | None,
        chained: bool = False,
    ) -> Binding:
        """Substitute parameters, revalidate, and add one composed node."""
        if id(decl) in self.emitted:
            # A copy (of a repeat, or of a block instance) holds its arguments again: count
            # them, or a modest node repeated many times adds up to a huge spec.
            try:
                self.subst.budget.charge(getattr(decl, "args", None))
            except expr.ExprError as exc:
                raise TooLarge(
                    report(self.main, loc, exc.code, exc.template, hint=exc.hint, **exc.fields)
                ) from None
        self.emitted.add(id(decl))
        if "${" in flat or self._has_placeholder(decl, chained):
            data = decl.model_dump(by_alias=True, exclude_unset=True)
            data.pop("repeat", None)
            data["name"] = flat
            if chained:
                data.pop("in", None)
            data = {
                k: (v if k == "name" else self.subst.value(v, values, loc + (k,)))
                for k, v in data.items()
            }
            try:
                new = _NODE_ADAPTER.validate_python(data)
            except ValidationError as exc:
                self._revalidation_errors(exc, loc)
                self._claim(flat, loc, _INVALID)
                return self._invalid()
        else:  # nothing was substituted: the node is valid as it stands
            new = decl.model_copy(
                update={"name": flat, "repeat": None, **({"in_": None} if chained else {})}
            )
        if not self._claim(flat, loc, NodeName(flat)):
            return self._invalid()
        if len(self.nodes) >= self.max_nodes:
            raise TooLarge
        node = ComposedNode(flat, new, loc, None, index=len(self.nodes))
        self.nodes.append(node)
        written = new.in_ if new.in_ is not None else default
        self.pending.append(
            _Pending(node, frame.scope, written, new.share if isinstance(new, ShareNode) else None)
        )
        return NodeName(flat)

    def _has_placeholder(self, decl, chained: bool) -> bool:
        """Whether the fields a copy keeps hold a `${...}`: read from the field values as they
        stand, not a dump, and remembered per declaration (a repeat emits it many times).
        `vars` holds every field because the format's models forbid extra keys."""
        key = (id(decl), chained)
        found = self.placeholders.get(key)
        if found is None:
            dropped = ("name", "repeat", "in_") if chained else ("name", "repeat")
            found = self.placeholders[key] = any(
                expr.has_placeholder(v) for k, v in vars(decl).items() if k not in dropped
            )
        return found

    def _claim(self, flat: str, loc: Loc, binding: Binding) -> bool:
        """Record a flat name; a name declared twice is an error at the second place."""
        first = self.declared.get(flat)
        if first is None:
            self.declared[flat] = loc
            self.flat[flat] = binding
            return True
        kind = "input" if first[0] == "inputs" else "node"
        source = getattr(first, "source", None) or self.main
        line, _ = source.locate(first + (("name",) if kind == "node" else ()))
        where = f" (first declared at line {line})" if line else ""
        if source is not (getattr(loc, "source", None) or self.main) and line:
            where = f" (first declared at {source.path}:{line})"
        self.error(
            loc + ("name",),
            "GS205",
            "duplicate",
            name=flat,
            kind=kind,
            where=where,
            hint="names of inputs and nodes must be unique; rename one",
        )
        return False

    def _revalidation_errors(self, exc: ValidationError, loc: Loc) -> None:
        for err in exc.errors():
            parts = tuple(
                p
                for p in err["loc"]
                if p not in ("layer-node", "op-node", "share-node", "block-node")
            )
            at = loc + parts
            self.error(
                at,
                "GS110",
                "after_substitution",
                at=pointer(at),
                detail=err["msg"][0].lower() + err["msg"][1:],
                received=err.get("input"),
            )

    # -- block instances ---------------------------------------------------------------------
    def block(
        self,
        decl: BlockNode,
        loc: Loc,
        name: str,
        frame: Frame,
        default: Binding | None,
        count: int,
    ) -> Binding:
        definition = self.library.blocks.get(decl.block)
        if definition is None:
            hint = did_you_mean(decl.block, list(self.library.blocks))
            hint = hint or "define it under 'blocks', here or in an imported file"
            self.error(loc + ("block",), "GS140", "unknown", block=decl.block, node=name, hint=hint)
            return _INVALID
        block: Block | None = definition.value
        if block is None:  # its definition is invalid and was reported
            return self._invalid()
        if len(frame.stack) >= self.subst.limits.max_depth:
            raise TooLarge(
                report(
                    self.main,
                    loc + ("block",),
                    "GS160",
                    "block_depth",
                    depth=self.subst.limits.max_depth,
                    hint="nest fewer blocks, or raise the limit: --max-depth",
                )
            )
        if decl.block in frame.stack:
            chain = " -> ".join(frame.stack[frame.stack.index(decl.block) :] + (decl.block,))
            self.error(
                loc + ("block",),
                "GS141",
                "circle",
                chain=chain,
                hint="a block cannot contain itself, directly or through other blocks",
            )
            return _INVALID
        outputs = _listed(block.outputs, block)
        if count and (len(block.inputs) != 1 or len(outputs) != 1):
            self.error(
                loc + ("repeat",),
                "GS142",
                "block",
                block=decl.block,
                at_key=True,
                inputs=len(block.inputs),
                outputs=len(outputs),
            )
            return _INVALID
        for key in decl.args:
            if key not in block.params:
                self.error(
                    loc + ("args", key),
                    "GS203",
                    "block_arg",
                    key=key,
                    block=decl.block,
                    node=name,
                    at_key=True,
                    hint=did_you_mean(key, list(block.params))
                    or f"the block's params: {', '.join(block.params) or 'none'}",
                )
        bound = self._bind_inputs(decl, loc, name, block, default)
        if bound is None:
            return self._invalid()
        if count == _VANISH:  # no copies: the instance's name stands for its input
            (target,) = bound
            return (
                BlockInput(frame.scope, target, loc + ("in",), name)
                if isinstance(target, str)
                else target
            )
        # Refuse an expansion that would exceed the node limit before doing any of it.
        if (
            len(self.nodes)
            + max(count, 1) * self._size(block, frame.values, decl.args, frame.stack)
            > self.max_nodes
        ):
            raise TooLarge
        if block.nested:
            return self.nested(decl, loc, name, frame, definition, bound, count)
        previous: Binding | None = None
        for k in range(1, max(count, 1) + 1):
            values = {**frame.values, REPEAT_INDEX: k - 1} if count else frame.values
            label = f"{name}[{k}]" if count else name
            context = _join(f"{label} (block {decl.block})", loc.context)
            inner = Scope(f"block '{decl.block}'", parent=frame.scope)
            if previous is None:
                for input_name, target in zip(block.inputs, bound):
                    inner.names[input_name] = BlockInput(
                        frame.scope, target, loc + ("in",), input_name
                    )
            else:
                inner.names[block.inputs[0]] = previous
            prefix = f"{frame.prefix}{name}_{k}_" if count else f"{frame.prefix}{name}_"
            cluster = (prefix, f"{label} (block {decl.block})")
            source = definition.source
            locs = [
                Loc(("blocks", decl.block, "layers", i), source, context, loc.clusters + (cluster,))
                for i in range(len(block.layers))
            ]
            entries = self.expand(
                list(block.layers),
                locs,
                [getattr(n, "name", None) for n in block.layers],
                Frame(
                    inner,
                    self._copy_values(decl, loc, block, definition, values, context),
                    prefix,
                    frame.stack + (decl.block,),
                    tuple(block.inputs),
                ),
            )
            previous = Instance(
                inner,
                _outputs(block, entries),
                Loc(("blocks", decl.block), source, context),
                decl.block,
                name,
            )
        return previous

    def _copy_values(
        self,
        decl: BlockNode,
        loc: Loc,
        block: Block,
        definition: Definition,
        values: dict,
        context: str,
    ) -> dict:
        """The parameter values inside one copy of a block, inline or nested alike."""
        args = self.subst.value(dict(decl.args), values, loc + ("args",))
        return self.subst.block_values(block, args, values, definition.source, context, decl.block)

    def nested(
        self,
        decl: BlockNode,
        loc: Loc,
        name: str,
        frame: Frame,
        definition: Definition,
        bound: list,
        count: int,
    ) -> Binding:
        """Instances of a nested block: one sub-model node per copy, whose body is composed
        on its own (names inside are the block's own, unprefixed)."""
        from .model import Submodel

        block: Block = definition.value
        previous: Binding | None = None
        for k in range(1, max(count, 1) + 1):
            values = {**frame.values, REPEAT_INDEX: k - 1} if count else frame.values
            flat = f"{frame.prefix}{name}_{k}" if count else frame.prefix + name
            context = _join(
                f"{name}[{k}] (block {decl.block})" if count else f"{name} (block {decl.block})",
                loc.context,
            )
            inner_values = self._copy_values(decl, loc, block, definition, values, context)
            body_inputs = {i: CallerInput() for i in block.inputs}
            inner = Scope(f"block '{decl.block}'")
            sub = Expander(
                self.main,
                self.library,
                self.subst,
                self.diags,
                self.max_nodes - len(self.nodes),
                body_inputs,
                inner,
            )
            locs = [
                Loc(("blocks", decl.block, "layers", i), definition.source, context)
                for i in range(len(block.layers))
            ]
            entries = sub.expand(
                list(block.layers),
                locs,
                [getattr(n, "name", None) for n in block.layers],
                Frame(inner, inner_values, "", frame.stack + (decl.block,), tuple(block.inputs)),
            )
            sub.resolve_all()
            outs_loc = Loc(("blocks", decl.block, "outputs"), definition.source, context)
            outs = [sub.resolver.target(inner, out, outs_loc) for out in _outputs(block, entries)]
            body = Composition(
                flat,
                block.model,
                body_inputs,
                sub.nodes,
                outs[0] if len(outs) == 1 else outs,
                inner_values,
                sub.is_complete and None not in outs,
            )
            self.complete &= body.complete
            copy_loc = (
                Loc(loc, loc.source, _join(f"{name}[{k}]", loc.context), loc.clusters)
                if count
                else loc
            )
            if not self._claim(flat, copy_loc, NodeName(flat)):
                return self._invalid()
            node = ComposedNode(
                flat, Submodel(decl.block, body), copy_loc, None, index=len(self.nodes)
            )
            self.nodes.append(node)
            wired = previous if previous is not None else (bound[0] if len(bound) == 1 else bound)
            self.pending.append(_Pending(node, frame.scope, wired, None))
            previous = NodeName(flat)
        return previous

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
            # Past the nesting limit expansion stops with GS160; the estimate stops there too.
            if (
                isinstance(node, BlockNode)
                and node.block not in stack
                and len(stack) < self.subst.limits.max_depth
            ):
                definition = self.library.blocks.get(node.block)
                if definition is not None and definition.value is not None:
                    inner = self._size(definition.value, scope, node.args, stack + (node.block,))
            total += max(repeat, 1) * inner
            if total > self.max_nodes:
                return total
        return total

    def _bind_inputs(
        self, decl: BlockNode, loc: Loc, name: str, block: Block, default: Binding | None
    ) -> list | None:
        """What each block input is applied to: references as written, or the default."""
        raw = decl.in_
        if isinstance(raw, dict):
            unknown = [k for k in raw if k not in block.inputs]
            missing = [k for k in block.inputs if k not in raw]
            for key in unknown:
                self.error(
                    loc + ("in", key),
                    "GS203",
                    "block_input",
                    block=decl.block,
                    key=key,
                    at_key=True,
                    hint=did_you_mean(key, block.inputs)
                    or f"its inputs: {', '.join(block.inputs)}",
                )
            if missing and not unknown:
                self.error(
                    loc + ("in",),
                    "GS210",
                    "block_mapping",
                    node=name,
                    block=decl.block,
                    missing=", ".join(missing),
                )
            for key, value in raw.items():
                if isinstance(value, list) and key in block.inputs:
                    self.error(
                        loc + ("in", key),
                        "GS110",
                        "wrong_value",
                        at=pointer(loc + ("in", key)),
                        received=value,
                        detail="a block input takes one reference",
                    )
            if unknown or missing or any(isinstance(v, list) for v in raw.values()):
                return None
            return [raw[k] for k in block.inputs]
        if raw is None:
            if default is None or isinstance(default, Invalid):
                return None  # reported where the default was looked for
            refs, at = [default], loc  # no `in` is written: the node is at fault
        else:
            refs, at = ([raw] if isinstance(raw, str) else list(raw)), loc + ("in",)
        if len(refs) != len(block.inputs):
            self.error(
                at,
                "GS210",
                "block",
                block=decl.block,
                node=name,
                expected=len(block.inputs),
                names=", ".join(block.inputs),
                count=len(refs),
            )
            return None
        return refs

    # -- references --------------------------------------------------------------------------
    def resolve_all(self) -> None:
        """Resolve the references of every composed node, now that all of them exist."""
        for pending in self.pending:
            node = pending.node
            if pending.inputs is not None:
                node.inputs = self._resolve(
                    pending.inputs, pending.scope, node.loc + ("in",), node.name
                )
            if pending.share is not None:
                owner = self.resolver.text(
                    pending.scope, pending.share, node.loc + ("share",), node.name, share=True
                )
                node.share = owner.node if owner is not None else None
                if owner is None:
                    self.complete = False

    def _resolve(self, value: Any, scope: Scope, loc: Loc, user: str) -> Any:
        if isinstance(value, (str, list, dict)):
            return self.resolver.structure(value, scope, loc, user)
        # A default input: `loc` is the node itself, which is where an error about it belongs.
        return self.resolver.binding(value, None, user, loc[:-1])


def _last_present(entries: list) -> Binding | None:
    """What the last entry that is not left out by `when` stands for."""
    return next((b for _, b in reversed(entries) if not isinstance(b, Absent)), None)


def _outputs(block: Block, entries: list) -> tuple:
    """A block instance's outputs: the names its `outputs` lists, or what its last present
    node stands for."""
    if block.outputs is None:
        last = _last_present(entries)
        return (last if last is not None else _INVALID,)
    return tuple(_listed(block.outputs, block))


def _listed(outputs: Any, block: Block) -> list[str]:
    if outputs is None:
        last = block.layers[-1]
        return [last.name or default_names(list(block.layers))[-1]]
    return [outputs] if isinstance(outputs, str) else list(outputs)


_CONTEXT_LEVELS = 4  # block instances named in a message; deeper ones are elided


def _join(inner: str, outer: str | None) -> str:
    """`inner, inside outer`, naming at most a few levels, so that a message about a deeply
    nested node stays a line long: the innermost ones, then the outermost."""
    if not outer:
        return inner
    levels = [inner] + outer.split(", inside ")
    if len(levels) > _CONTEXT_LEVELS:
        levels = levels[: _CONTEXT_LEVELS - 2] + ["..."] + levels[-1:]
    return ", inside ".join(levels)
