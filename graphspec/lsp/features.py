"""What the server answers: diagnostics, completion, hover, definitions, references, rename
and code actions, computed from one `View` of a document (its text, position index, names
and validation result). Positions inside are 0-based (line, column) in code points;
`Text` converts them to and from the client's encoding at the edge."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from lsprotocol import types

from .. import catalog, document, expr, registry
from ..analysis.core import fmt_shape
from ..catalog import UNSUPPORTED_LAYERS
from ..composition import REPEAT_INDEX, default_names
from ..document import split_ref
from ..errors import ERROR, Diagnostic
from . import context as ctx
from . import index as idx
from . import names
from .check import Result

SOURCE = "graphspec"
MAX_ITEMS = 200  # completion items sent at once
_BREAK = re.compile(r"\r\n|\r|\n")


class Text:
    """A text's lines, and positions converted between code points (what PyYAML counts)
    and the client's units (UTF-16 unless the client chose another encoding)."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16):
        self.text = text
        self.lines = _BREAK.split(text)
        self.units = {types.PositionEncodingKind.Utf8: 8, types.PositionEncodingKind.Utf32: 32}.get(
            encoding, 16
        )

    def _count(self, text: str) -> int:
        if text.isascii() or self.units == 32:
            return len(text)
        if self.units == 8:
            return len(text.encode("utf-8", "surrogatepass"))
        return len(text) + sum(ord(c) > 0xFFFF for c in text)

    def position(self, at: idx.Position) -> types.Position:
        line, column = at
        if line >= len(self.lines):
            return types.Position(line=len(self.lines) - 1, character=self._count(self.lines[-1]))
        return types.Position(line=line, character=self._count(self.lines[line][:column]))

    def range(self, start: idx.Position, end: idx.Position) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def at(self, position: types.Position) -> idx.Position:
        line = min(position.line, len(self.lines) - 1)
        text = self.lines[line]
        if text.isascii() or self.units == 32:
            return line, min(position.character, len(text))
        units = 0
        for column, char in enumerate(text):
            if units >= position.character:
                return line, column
            units += self._count(char)
        return line, len(text)


class View:
    """One version of a document, with what the features need computed on first use."""

    def __init__(
        self,
        uri: str,
        path: str,
        text: str,
        result: Result | None,
        encoding: str = types.PositionEncodingKind.Utf16,
    ):
        self.uri, self.path, self.result = uri, path, result
        self.text = Text(text, encoding)

    @functools.cached_property
    def index(self) -> idx.Index:
        return idx.build(self.text.text)

    @functools.cached_property
    def occurrences(self) -> list[names.Occurrence]:
        parsed = self.result.document if self.result is not None else None
        return names.occurrences(self.index, self.text.lines, parsed)

    @property
    def data(self) -> Any:
        source = self.result.source if self.result is not None else None
        return source.data if source is not None else None


# -- diagnostics ----------------------------------------------------------------------------


def diagnostics(
    found: Iterable[Diagnostic], text: Text, related: bool, uri: str
) -> list[types.Diagnostic]:
    """graphspec's diagnostics as the protocol's: each underlines the whole key or value it
    is about; the hint is related information when the client shows it, else a line of the
    message."""
    out = []
    for d in found:
        if d.line is None:
            start, end = (0, 0), (0, len(text.lines[0]))
        else:
            start, end = idx.span(text.lines, d.line - 1, d.column - 1, _last(d.pointer))
        where = text.range(start, end)
        message = d.message
        info = None
        if d.hint and related:
            info = [
                types.DiagnosticRelatedInformation(
                    location=types.Location(uri=uri, range=where), message=f"hint: {d.hint}"
                )
            ]
        elif d.hint:
            message += f"\nhint: {d.hint}"
        out.append(
            types.Diagnostic(
                range=where,
                message=message,
                code=d.code,
                source=SOURCE,
                severity=(
                    types.DiagnosticSeverity.Error
                    if d.severity == ERROR
                    else types.DiagnosticSeverity.Warning
                ),
                related_information=info,
                data={"hint": d.hint, "pointer": d.pointer},
            )
        )
    return out


_POINTER = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def parse_pointer(pointer: str) -> tuple:
    """`layers[3].args` -> ('layers', 3, 'args')."""
    return tuple(int(m[1]) if m[1] is not None else m[2] for m in _POINTER.finditer(pointer))


def _last(pointer: str) -> Any:
    parts = parse_pointer(pointer)
    return parts[-1] if parts else None


# -- completion -----------------------------------------------------------------------------

_SECTIONS = {
    "compile": document.CompileSpec,
    "train": document.TrainSpec,
    "budget": document.BudgetSpec,
}
_NODE_MODELS = (document.LayerNode, document.OpNode, document.ShareNode, document.BlockNode)
_KINDS = types.CompletionItemKind


def completion(view: View, names_view: View, position: idx.Position) -> types.CompletionList:
    """Completions at `position` of `view`; names in scope come from `names_view`, the last
    version of the document that parsed (the current text is usually broken mid-word)."""
    where = ctx.at(view.text.lines, *position)
    items = _candidates(where, names_view)
    start = (position[0], where.start)
    replace = view.text.range(start, position)
    prefix = where.prefix.lower()
    if prefix:  # names that start with what is typed first, then those that contain it
        items = [i for i in items if i[0].lower().startswith(prefix)] + [
            i for i in items if prefix in i[0].lower() and not i[0].lower().startswith(prefix)
        ]
    # The client filters as the user types; a long list is cut and marked incomplete, so that
    # it asks again with more typed (serializing a thousand items costs more than finding them).
    complete = len(items) <= MAX_ITEMS
    out = []
    for label, kind, detail, doc, insert in items[:MAX_ITEMS]:
        if insert is None:
            insert = label if where.quoted or where.expression else _yaml_word(label)
        out.append(
            types.CompletionItem(
                label=label,
                kind=kind,
                detail=detail,
                documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc)
                if doc
                else None,
                text_edit=types.TextEdit(range=replace, new_text=insert),
            )
        )
    return types.CompletionList(is_incomplete=not complete, items=out)


Candidate = tuple  # (label, kind, detail, documentation, insert text or None)


def _candidates(where: ctx.Context, view: View) -> list[Candidate]:
    path = tuple(p for p in where.path if p != "?")
    scope = path[1] if len(path) >= 2 and path[0] == "blocks" else names.MODEL
    inner = path[2:] if scope != names.MODEL else path
    if where.expression:
        return _params(view, scope)
    node = _node_path(path)
    if where.role == "key" and not _is_reference_place(inner):
        if node is not None and path == node:
            return _keys(_NODE_MODELS, where.written())
        if node is not None and path == node + ("args",):
            return _arguments(view, where.written(node), where.written())
        if node is not None and path == node + ("in",):
            return _call_arguments(where.written(node), where.written())
        model = _mapping_model(path)
        return _keys((model,), where.written()) if model is not None else []
    key = where.key
    if key == "layer":
        return _layers()
    if key == "op":
        return _ops()
    if key == "block" and node is not None:
        return _blocks(view)
    if _is_reference_place(inner) or key == "share":
        return _references(view, scope, ports=key != "share")
    if key == "model":
        return [
            (m, _KINDS.EnumMember, None, None, None) for m in ("auto", "sequential", "functional")
        ]
    if key == "dtype" and len(path) == 3 and path[0] == "inputs":
        return [(d, _KINDS.EnumMember, None, None, None) for d in document.DTYPES]
    if (
        path[:1] == ("compile",)
        and key in ("optimizer", "loss")
        or path[:2] == ("compile", "metrics")
    ):
        kind = {"optimizer": "optimizers", "loss": "losses"}.get(key, "metrics")
        return [(n, _KINDS.Value, None, None, None) for n in catalog.load().get(kind, [])]
    return []


def _mapping_model(path: tuple) -> Any:
    """The format's model of the mapping at `path`, for its keys (None: not one of them)."""
    if not path:
        return document.DocumentModel
    if len(path) == 2 and path[0] in ("inputs", "blocks"):
        return document.InputSpec if path[0] == "inputs" else document.Block
    return _SECTIONS.get(path[0]) if len(path) == 1 else None


def _node_path(path: tuple) -> tuple | None:
    """The path of the node the cursor is in (`layers[]` at the top or in a block)."""
    for end in (2, 4):
        if (
            len(path) >= end
            and path[end - 2] == "layers"
            and path[end - 1] == ctx.ITEM
            and (end == 2 or path[0] == "blocks")
        ):
            return path[:end]
    return None


def _is_reference_place(inner: tuple) -> bool:
    """Under `in` of a node, or under `outputs` (the model's or a block's)."""
    return (inner[:1] == ("outputs",)) or (
        len(inner) >= 3 and inner[0] == "layers" and inner[2] == "in"
    )


def _keys(models: Iterable[Any], written: dict) -> list[Candidate]:
    document.describe_fields()  # the field docstrings, read once
    out, seen = [], set(written)
    for model in models:
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key in seen:
                continue
            seen.add(key)
            out.append((key, _KINDS.Property, None, info.description, f"{key}: "))
    return out


def _layers() -> list[Candidate]:
    return _named(tuple(registry.LAYERS.names()), "layer")


def _ops() -> list[Candidate]:
    return _named(tuple(registry.OPS.names()), "op")


@functools.lru_cache(maxsize=8)
def _named(registered: tuple[str, ...], kind: str) -> list[Candidate]:
    """Layer or op names, Keras's then the registered ones (cached: the registries only
    change when a plugin is loaded)."""
    if kind == "layer":
        builtin = [n for n in catalog.load()["layers"] if n not in UNSUPPORTED_LAYERS]
        return [(n, _KINDS.Class, "keras.layers", _layer_doc(n), None) for n in builtin] + [
            (n, _KINDS.Class, "registered layer", _layer_doc(n), None) for n in registered
        ]
    return [(n, _KINDS.Function, "keras.ops", _op_doc(n), None) for n in catalog.load()["ops"]] + [
        (n, _KINDS.Function, "registered op", _op_doc(n), None) for n in registered
    ]


def _arguments(view: View, node: dict, written: dict) -> list[Candidate]:
    if node.get("block"):
        block = _block_data(view, node["block"])
        params = (block or {}).get("params") or {}
        return (
            [
                (p, _KINDS.Variable, f"default: {_show(v)}", None, f"{p}: ")
                for p, v in params.items()
                if p not in written
            ]
            if isinstance(params, dict)
            else []
        )
    sig = _signature(node)
    if sig is None:
        return []
    names = sig.args if node.get("layer") else sig.keyword
    return [
        (a, _KINDS.Field, _default(sig, a), None, f"{a}: ")
        for a in sorted(names, key=lambda a: a not in sig.required)
        if a not in written and a != "name"
    ]


def _signature(node: dict) -> Any:
    """The signature of the node's layer or op, or None when it names neither."""
    if node.get("layer"):
        return registry.LAYERS.signature(node["layer"])
    return registry.OPS.signature(node["op"]) if node.get("op") else None


def _default(sig: Any, name: str) -> str:
    """`required`, `default: 0.5`, or `optional` (a default a spec cannot write)."""
    if name in sig.required:
        return "required"
    return f"default: {_show(sig.defaults[name])}" if name in sig.defaults else "optional"


def _with_defaults(sig: Any, names: Iterable[str], limit: int = 12) -> str:
    """`units, activation=None, use_bias=True, ...`: required first."""
    names = sorted(names, key=lambda a: a not in sig.required)
    shown = [
        a if a in sig.required or a not in sig.defaults else f"{a}={_show(sig.defaults[a])}"
        for a in names[:limit]
    ]
    return ", ".join(shown) + (", ..." if len(names) > limit else "")


def _call_arguments(node: dict, written: dict) -> list[Candidate]:
    """Keys of a mapping `in`: the layer's call arguments or the op's parameters."""
    sig = _signature(node)
    if sig is None:
        return []
    keys = sig.call if hasattr(sig, "call") else sig.keyword
    return [(k, _KINDS.Field, "call argument", None, f"{k}: ") for k in keys if k not in written]


def _references(view: View, scope: str, ports: bool = True) -> list[Candidate]:
    """The inputs and nodes a reference may name in `scope`, and `node:k` for each output
    of a node that has several. Read from the data, not the position index, so that
    completion stays fast on large specs."""
    inputs, nodes = _scope_names(view, scope)
    counts = _outputs(view, scope) if ports else {}
    out = [(name, _KINDS.Reference, "input", None, None) for name in inputs]
    for name in nodes:
        out.append((name, _KINDS.Reference, "node", None, None))
        for k in range(counts.get(name, 0)):
            out.append((f"{name}:{k}", _KINDS.Reference, f"output {k} of {name}", None, None))
    return out


def _scope_names(view: View, scope: str) -> tuple[list[str], list[str]]:
    """(input names, node names) of the model or of a block, default names included."""
    data = view.data if isinstance(view.data, dict) else {}
    parsed = view.result.document if view.result is not None else None
    if scope == names.MODEL:
        inputs = list(data.get("inputs") or {}) if isinstance(data.get("inputs"), dict) else []
        decls = parsed.layers if parsed is not None else None
    else:
        block = _block_data(view, scope) or {}
        inputs = (
            [i for i in block.get("inputs") or [] if isinstance(i, str)]
            if isinstance(block.get("inputs"), list)
            else []
        )
        model = (parsed.blocks or {}).get(scope) if parsed is not None else None
        decls = model.layers if model is not None else None
    written = [n.get("name") if isinstance(n, dict) else None for n in _scope_layers(data, scope)]
    if decls is not None and len(decls) == len(written):
        written = [
            w if isinstance(w, str) else d for w, d in zip(written, default_names(list(decls)))
        ]
    return [str(i) for i in inputs], [n for n in written if isinstance(n, str)]


def _outputs(view: View, scope: str) -> dict[str, int]:
    """How many outputs each node or block instance with several outputs has."""
    counts: dict[str, int] = {}
    result = view.result
    if scope == names.MODEL and result is not None and result.checked is not None:
        counts = {
            name: node.n_outputs
            for name, node in result.checked.nodes.items()
            if node.n_outputs and node.n_outputs > 1
        }
    for node in _scope_layers(view.data, scope):
        if isinstance(node, dict) and isinstance(node.get("name"), str) and node.get("block"):
            outputs = (_block_data(view, node["block"]) or {}).get("outputs")
            if isinstance(outputs, list) and len(outputs) > 1:
                counts[node["name"]] = len(outputs)
    return counts


def _scope_layers(data: Any, scope: str) -> list:
    if not isinstance(data, dict):
        return []
    if scope != names.MODEL:
        block = (
            (data.get("blocks") or {}).get(scope) if isinstance(data.get("blocks"), dict) else None
        )
        data = block if isinstance(block, dict) else {}
    layers = data.get("layers")
    return layers if isinstance(layers, list) else []


def _blocks(view: View) -> list[Candidate]:
    out, seen = [], set()
    for path, data in _files(view):
        blocks = data.get("blocks") if isinstance(data, dict) else None
        for name, block in blocks.items() if isinstance(blocks, dict) else ():
            if name in seen:
                continue
            seen.add(name)
            where = "" if path == view.path else f" ({Path(path).name})"
            out.append(
                (
                    name,
                    _KINDS.Module,
                    f"block{where}",
                    _block_doc(name, block) if isinstance(block, dict) else None,
                    None,
                )
            )
    return out


def _params(view: View, scope: str) -> list[Candidate]:
    out, seen = [], set()
    if scope != names.MODEL:
        block = _block_data(view, scope) or {}
        params = block.get("params")
        for name, value in params.items() if isinstance(params, dict) else ():
            seen.add(name)
            out.append(
                (name, _KINDS.Variable, f"block parameter, default {_show(value)}", None, None)
            )
    result = view.result
    final = (
        result.composition.params if result is not None and result.composition is not None else {}
    )
    for _, data in _files(view):
        params = data.get("params") if isinstance(data, dict) else None
        for name, value in params.items() if isinstance(params, dict) else ():
            if name not in seen:
                seen.add(name)
                out.append(
                    (name, _KINDS.Variable, f"= {_show(final.get(name, value))}", None, None)
                )
    out.append(
        (
            REPEAT_INDEX,
            _KINDS.Variable,
            "0-based index of the copy, inside a repeated node or block",
            None,
            None,
        )
    )
    out += [(f, _KINDS.Function, f"{f}(a, b, ...)", None, f"{f}(") for f in expr.FUNCTIONS]
    return out


def _files(view: View) -> list[tuple[str, Any]]:
    """(path, data) of the document and of every file it imported."""
    files = [(view.path, view.data)]
    if view.result is not None:
        files += [(p, s.data) for p, s in view.result.imported.items()]
    return files


def _block_data(view: View, name: str) -> dict | None:
    for _, data in _files(view):
        blocks = data.get("blocks") if isinstance(data, dict) else None
        if isinstance(blocks, dict) and isinstance(blocks.get(name), dict):
            return blocks[name]
    return None


# -- hover ----------------------------------------------------------------------------------


def hover(view: View, position: idx.Position) -> types.Hover | None:
    scalar = view.index.scalar_at(position)
    if scalar is None:
        return None
    found = names.at(view.occurrences, position)
    text = None
    if scalar.value is not None and not scalar.is_key and "${" in scalar.value:
        text = _expression_hover(view, scalar, position, found)
    if text is None and found is not None:
        text = _name_hover(view, found)
    if text is None and not scalar.is_key and scalar.path[-1:] in (("layer",), ("op",)):
        text = _layer_doc(scalar.value) if scalar.path[-1] == "layer" else _op_doc(scalar.value)
    if text is None:
        node = _node_at(scalar.path)
        if node is not None:
            text = _node_hover(view, node)
    if not text:
        return None
    start, end = (found.start, found.end) if found is not None else (scalar.start, scalar.end)
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=view.text.range(start, end),
    )


def _node_at(path: tuple) -> tuple | None:
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
        return path[:2]
    return None


def _expression_hover(
    view: View, scalar: idx.Item, position: idx.Position, found: names.Occurrence | None
) -> str | None:
    offset = position[1] - scalar.start[1] - (1 if scalar.style in ("'", '"') else 0)
    at = names.expression_at(scalar.value, offset) if scalar.start[0] == scalar.end[0] else None
    if at is None or (found is not None and found.kind == names.PARAM):
        return None
    scope, _ = names.scope_of(scalar.path)
    values = _param_values(view, scope)
    try:
        value = expr.substitute("${" + at[0] + "}", values)
    except expr.ExprError as exc:
        return f"`${{{at[0]}}}`: {exc}"
    where = "" if scope == names.MODEL else f" (with block `{scope}`'s defaults)"
    return f"`${{{at[0]}}}` = `{_show(value)}`{where}"


def _param_values(view: View, scope: str) -> dict:
    result = view.result
    values = (
        dict(result.composition.params)
        if result is not None and result.composition is not None
        else {}
    )
    if scope != names.MODEL:
        block = _block_data(view, scope) or {}
        for name, value in (block.get("params") or {}).items():
            try:
                values[name] = expr.substitute(value, values) if isinstance(value, str) else value
            except expr.ExprError:
                values[name] = value
    return values


def _name_hover(view: View, found: names.Occurrence) -> str | None:
    if found.kind == names.PARAM:
        values = _param_values(view, found.scope)
        if found.name not in values:
            return f"parameter `{found.name}` (not declared)"
        where = "parameter" if found.scope == names.MODEL else f"parameter of block `{found.scope}`"
        return f"{where} `{found.name}` = `{_show(values[found.name])}`"
    if found.kind == names.BLOCK:
        block = _block_data(view, found.name)
        return (
            _block_doc(found.name, block)
            if block is not None
            else f"block `{found.name}` (not defined)"
        )
    if found.scope != names.MODEL:
        return f"node or input `{found.name}` of block `{found.scope}` (one per instance)"
    definition = names.definition(view.occurrences, found.symbol)
    if definition is None:
        return f"`{found.name}`: no such input or node"
    item = definition.item or view.index.scalar_at(definition.start)
    path = item.path if item is not None else ()
    if path[:1] == ("inputs",):
        return _input_hover(view, found.name)
    node = _node_at(path)
    return _node_hover(view, node) if node is not None else None


def _input_hover(view: View, name: str) -> str:
    lines = [f"**{name}** · input"]
    summary = view.result.summary if view.result is not None else None
    node = _summary_node(summary, name)
    if node is not None:
        lines.append(_shape_line(node))
    return "\n\n".join(lines)


def _node_hover(view: View, path: tuple) -> str | None:
    data = _scope_layers(view.data, names.MODEL)
    i = path[1]
    if i >= len(data) or not isinstance(data[i], dict):
        return None
    raw = data[i]
    result = view.result
    parsed = result.document if result is not None else None
    name = raw.get("name")
    if (
        not isinstance(name, str)
        and parsed is not None
        and parsed.layers is not None
        and i < len(parsed.layers)
    ):
        name = default_names(list(parsed.layers))[i]
    if not isinstance(name, str):
        return None
    kind = next((k for k in ("layer", "op", "share", "block") if k in raw), None)
    head = f"**{name}** · " + {
        "layer": f"`{raw.get('layer')}` layer",
        "op": f"op `{raw.get('op')}`",
        "share": f"shares the layer of `{raw.get('share')}`",
        "block": f"block `{raw.get('block')}`",
    }.get(kind, "node")
    lines = [head]
    args = raw.get("args") if isinstance(raw.get("args"), dict) else {}
    if args:
        lines.append("args: " + ", ".join(f"`{k}={_show(v)}`" for k, v in args.items()))
    sig = (
        registry.LAYERS.signature(raw["layer"])
        if kind == "layer" and isinstance(raw["layer"], str)
        else registry.OPS.signature(raw["op"])
        if kind == "op" and isinstance(raw["op"], str)
        else None
    )
    if sig is not None:
        unset = [a for a in sig.defaults if a not in args]
        if unset:
            lines.append(
                "defaults: "
                + ", ".join(f"`{a}={_show(sig.defaults[a])}`" for a in unset[:8])
                + (", ..." if len(unset) > 8 else "")
            )
    summary = result.summary if result is not None else None
    if kind == "block" and summary is not None and result.checked is not None:
        lines += _instance_lines(result, name)
    else:
        node = _summary_node(summary, name)
        if node is not None:
            lines.append(_shape_line(node))
            lines.append(f"params: {_count(node.params)} · MACs: {_count(node.macs)}")
        elif summary is None:
            lines.append("_shapes are shown once the spec validates_")
    return "\n\n".join(lines)


def _instance_lines(result: Result, name: str) -> list[str]:
    """Shapes, parameters and MACs of a block instance: the nodes expanded from it."""
    own = re.compile(re.escape(name) + r"_(\d+_)?")
    members = [
        n
        for n, node in result.checked.nodes.items()
        if getattr(node.loc, "clusters", ()) and own.fullmatch(node.loc.clusters[0][0])
    ]
    if not members:
        node = _summary_node(result.summary, name)  # a nested block: one node
        return (
            [_shape_line(node), f"params: {_count(node.params)} · MACs: {_count(node.macs)}"]
            if node is not None
            else []
        )
    inside = set(members)
    graph = result.checked.graph
    outputs = [n for n in members if any(s not in inside for s in graph.successors(n))] or members[
        -1:
    ]
    rows = [_summary_node(result.summary, n) for n in members]
    params = (
        None if any(r is None or r.params is None for r in rows) else sum(r.params for r in rows)
    )
    macs = None if any(r is None or r.macs is None for r in rows) else sum(r.macs for r in rows)
    out = [f"{len(members)} nodes"]
    for n in outputs:
        node = _summary_node(result.summary, n)
        if node is not None:
            out.append(f"`{n}`: " + _shape_line(node))
    out.append(f"params: {_count(params)} · MACs: {_count(macs)}")
    return out


def _summary_node(summary: Any, name: str):
    if summary is None:
        return None
    try:
        return summary.node(name)
    except KeyError:
        return None


def _shape_line(node: Any) -> str:
    if node.shapes is None:
        return "output: unknown" + (f" ({node.note})" if node.note else "")
    shapes = ", ".join(fmt_shape(s) for s in node.shapes)
    return f"output: `{shapes}` {node.dtype or ''}".rstrip()


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _show(value: Any) -> str:
    text = (
        yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
        if not isinstance(value, str)
        else value
    )
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _layer_doc(name: str) -> str | None:
    sig = registry.LAYERS.signature(name)
    if sig is None:
        return None
    origin = "registered layer" if name in registry.LAYERS else f"keras.layers.{name}"
    low, high = sig.inputs
    takes = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
    lines = [f"**{name}** · {origin}", f"`{name}({_with_defaults(sig, sig.args)})`"]
    if sig.required:
        lines.append("required: " + ", ".join(f"`{a}`" for a in sig.required))
    lines.append(f"call: `{', '.join(sig.call)}` · takes {takes} input(s)")
    return "\n\n".join(lines)


def _op_doc(name: str) -> str | None:
    sig = registry.OPS.signature(name)
    if sig is None:
        return None
    origin = "registered op" if name in registry.OPS else f"keras.ops.{name}"
    params = list(sig.positional) + [k for k in sig.keyword if k not in sig.positional]
    shown = _with_defaults(sig, params) + (f", *{sig.varargs}" if sig.varargs else "")
    lines = [f"**{name}** · {origin}", f"`{name}({shown})`"]
    if sig.positional:
        lines.append("the node's inputs fill: " + ", ".join(f"`{p}`" for p in sig.positional))
    if sig.required:
        lines.append("required: " + ", ".join(f"`{a}`" for a in sig.required))
    return "\n\n".join(lines)


def _block_doc(name: str, block: dict) -> str:
    lines = [f"**{name}** · block"]
    if block.get("description"):
        lines.append(str(block["description"]))
    inputs = block.get("inputs")
    if isinstance(inputs, list):
        lines.append("inputs: " + ", ".join(f"`{i}`" for i in inputs))
    outputs = block.get("outputs")
    if outputs is not None:
        lines.append(
            "outputs: "
            + (
                ", ".join(f"`{o}`" for o in outputs)
                if isinstance(outputs, list)
                else f"`{outputs}`"
            )
        )
    params = block.get("params")
    if isinstance(params, dict) and params:
        lines.append("params: " + ", ".join(f"`{k}={_show(v)}`" for k, v in params.items()))
    layers = block.get("layers")
    if isinstance(layers, list):
        lines.append(f"{len(layers)} node(s)")
    return "\n\n".join(lines)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?::[0-9]+)?")  # `node:k` too
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}  # YAML 1.1's


def _yaml_word(name: str) -> str:
    """`name` as it can be written unquoted, or quoted when YAML could read it otherwise
    (a number, true, null, ...)."""
    if _PLAIN.fullmatch(name) and name.lower() not in _YAML_WORDS:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- definitions, references, rename --------------------------------------------------------

Locate = Callable[[str], "View | None"]  # path of an imported file -> its view


def definition(view: View, position: idx.Position, imported: Locate) -> list[types.Location]:
    found = names.at(view.occurrences, position)
    if found is None:
        scalar = view.index.scalar_at(position)
        if scalar is not None and scalar.path[:1] == ("imports",) and not scalar.is_key:
            target = Path(view.path).parent / str(scalar.value)
            if target.is_file():
                return [
                    types.Location(
                        uri=target.resolve().as_uri(),
                        range=types.Range(
                            start=types.Position(line=0, character=0),
                            end=types.Position(line=0, character=0),
                        ),
                    )
                ]
        return []
    target = names.definition(view.occurrences, found.symbol)
    if target is not None:
        return [types.Location(uri=view.uri, range=view.text.range(target.start, target.end))]
    if found.kind == names.NODE:
        return []
    for path in view.result.imported if view.result is not None else {}:
        other = imported(path)
        if other is None:
            continue
        symbol = (
            (found.kind, found.name, names.MODEL) if found.kind == names.PARAM else found.symbol
        )
        target = names.definition(other.occurrences, symbol)
        if target is not None:
            return [types.Location(uri=other.uri, range=other.text.range(target.start, target.end))]
    return []


def references(view: View, position: idx.Position, declaration: bool) -> list[types.Location]:
    found = names.at(view.occurrences, position)
    if found is None:
        return []
    return [
        types.Location(uri=view.uri, range=view.text.range(o.start, o.end))
        for o in names.same(view.occurrences, found.symbol)
        if not o.implicit and (declaration or not o.definition)
    ]


class RenameError(Exception):
    """Why a rename cannot be done (shown to the user)."""


def prepare_rename(view: View, position: idx.Position) -> types.Range | None:
    found = names.at(view.occurrences, position)
    if found is None:
        return None
    return view.text.range(found.start, found.end)


def rename(view: View, position: idx.Position, new: str) -> types.WorkspaceEdit | None:
    found = names.at(view.occurrences, position)
    if found is None:
        return None
    all_of = names.same(view.occurrences, found.symbol)
    if any(o.implicit for o in all_of):
        raise RenameError(f"'{found.name}' is a default name: give the node a 'name' first")
    if not any(o.definition for o in all_of):
        raise RenameError(f"'{found.name}' is not defined in this file")
    valid = (
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new)
        if found.kind == names.PARAM
        else re.fullmatch(r"[^/:\s'\"]+", new)
    )
    if not valid:
        raise RenameError(f"'{new}' is not a valid {found.kind} name")
    plain = _yaml_word(new) == new
    edits = []
    for o in all_of:
        quoted = o.start[1] > 0 and view.text.lines[o.start[0]][o.start[1] - 1 : o.start[1]] in (
            "'",
            '"',
        )
        if not plain and not quoted and o.kind != names.PARAM:
            raise RenameError(f"'{new}' must be quoted in YAML; rename to a plain name")
        edits.append(types.TextEdit(range=view.text.range(o.start, o.end), new_text=new))
    return types.WorkspaceEdit(changes={view.uri: edits})


# -- code actions ---------------------------------------------------------------------------

_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")
_MISSING = re.compile(r"missing required argument '([^']+)'")


def code_actions(view: View, diagnostics: list[types.Diagnostic]) -> list[types.CodeAction]:
    out = []
    for d in diagnostics:
        if d.source != SOURCE:
            continue
        data = d.data if isinstance(d.data, dict) else {}
        hint = data.get("hint") or _hint_of(d)
        match = _DID_YOU_MEAN.search(hint or "")
        if match:
            edit = _replace(view, d.range, match[1])
            if edit is not None:
                out.append(_action(f"Change to '{match[1]}'", view.uri, [edit], d, True))
        missing = _MISSING.search(d.message) if d.code == "GS204" else None
        if missing:
            edit = _add_argument(view, parse_pointer(data.get("pointer") or ""), missing[1])
            if edit is not None:
                out.append(
                    _action(f"Add required argument '{missing[1]}'", view.uri, [edit], d, False)
                )
    return out


def _hint_of(d: types.Diagnostic) -> str | None:
    for info in d.related_information or ():
        if info.message.startswith("hint: "):
            return info.message[6:]
    _, _, hint = d.message.partition("\nhint: ")
    return hint or None


def _action(
    title: str, uri: str, edits: list, d: types.Diagnostic, preferred: bool
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[d],
        is_preferred=preferred,
        edit=types.WorkspaceEdit(changes={uri: edits}),
    )


def _replace(view: View, where: types.Range, name: str) -> types.TextEdit | None:
    start, end = view.text.at(where.start), view.text.at(where.end)
    if start[0] != end[0]:
        return None
    written = view.text.lines[start[0]][start[1] : end[1]]
    if len(written) >= 2 and written[0] == written[-1] and written[0] in "'\"":
        start, end, written = (start[0], start[1] + 1), (end[0], end[1] - 1), written[1:-1]
    if not written or re.search(r"[\s{}\[\],]", written):
        return None
    old, index = split_ref(written)
    new = name if index is None or ":" in name else f"{name}:{index}"
    quoted = start[1] > 0 and view.text.lines[start[0]][start[1] - 1] in "'\""
    return types.TextEdit(
        range=view.text.range(start, end), new_text=new if quoted else _yaml_word(new)
    )


def _add_argument(view: View, pointer: tuple, key: str) -> types.TextEdit | None:
    """An edit that writes `key: null` into the node's `args` (made when absent)."""
    if not pointer:
        return None
    node = pointer[:-1] if pointer[-1] == "args" else pointer
    index = view.index
    args = index.value(node + ("args",))
    entry = f"{key}: null"
    if args is not None and args.kind == "map":
        return _insert_into(view, args, entry)
    item = index.value(node)
    if item is None or item.kind != "map":
        return None
    return _insert_into(view, item, f"args: {{{entry}}}")


def _insert_into(view: View, mapping: idx.Item, entry: str) -> types.TextEdit:
    lines = view.text.lines
    depth = len(mapping.path)
    inside = [i for i in view.index.under(mapping.path) if len(i.path) > depth]
    if mapping.flow:
        close = (mapping.end[0], mapping.end[1] - 1)
        return types.TextEdit(
            range=view.text.range(close, close), new_text=f", {entry}" if inside else entry
        )
    last = max((i.end for i in inside), default=mapping.start)
    last_line = last[0] if last[1] > 0 or last[0] == mapping.start[0] else last[0] - 1
    end = (last_line, len(lines[last_line].rstrip()))
    indent = mapping.start[1]
    return types.TextEdit(range=view.text.range(end, end), new_text="\n" + " " * indent + entry)
