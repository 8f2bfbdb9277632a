"""Pictures of a spec's graph: Graphviz DOT (rendered to SVG or PNG by Graphviz's `dot`) and
Mermaid text for Markdown pages.

Nodes show their name, their kind (layer class, op, shared layer, sub-model) and their main
arguments; inputs and outputs have shapes and colours of their own; block instances are
labelled clusters. Without `shapes` nothing here imports Keras; `tensor_shapes` builds the
model to label each edge with its tensor's shape.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from .errors import PlotError
from .graph import CheckedGraph, GraphNode, Ref

MAX_ARGS = 3  # arguments shown on a node
RENDERED = {".svg": "svg", ".png": "png"}
TEXT = (".dot", ".gv", ".mmd")


def _value(value: Any) -> str:
    if isinstance(value, dict) and "layer" in value:
        return value["layer"]
    text = str(value).replace("'", "")
    return text if len(text) <= 24 else text[:21] + "..."


def _kind(node: GraphNode, g: CheckedGraph) -> str:
    if node.kind == "layer":
        return node.type
    if node.kind == "op":
        return f"op {node.type}"
    if node.kind == "submodel":
        return f"sub-model (block {node.type})"
    return f"shares {node.owner}"


def _label_lines(node: GraphNode, g: CheckedGraph) -> list[str]:
    if node.kind == "input":
        spec = node.decl
        shape = ", ".join("None" if d is None else str(d) for d in getattr(spec, "shape", []))
        return [node.name, f"input [{shape}] {getattr(spec, 'dtype', '')}".rstrip()]
    lines = [node.name, _kind(node, g)]
    args = getattr(node.decl, "args", None) or {}
    shown = [f"{k}={_value(v)}" for k, v in list(args.items())[:MAX_ARGS]]
    if len(args) > MAX_ARGS:
        shown.append("...")
    if shown:
        lines.append(", ".join(shown))
    return lines


def _outputs(g: CheckedGraph) -> list[tuple[str, Ref]]:
    outs = g.outputs
    if isinstance(outs, Ref):
        return [("output", outs)]
    if isinstance(outs, list):
        return [(f"output {i}" if len(outs) > 1 else "output", r) for i, r in enumerate(outs)]
    return [(f"output {k}", r) for k, r in outs.items()]


def _edges(g: CheckedGraph):
    """(source node, target node, reference) for every input of every node, in order."""
    for name in g.order:
        for ref in g.nodes[name].refs():
            yield ref.node, name, ref


def _cluster_tree(g: CheckedGraph) -> dict:
    """{(id, label): {"nodes": [...], "children": {...}}} from the nodes' block instances."""
    root: dict = {"nodes": [], "children": {}}
    for name in g.order:
        level = root
        for cluster in getattr(g.nodes[name].loc, "clusters", ()):
            level = level["children"].setdefault(cluster, {"nodes": [], "children": {}})
        level["nodes"].append(name)
    return root


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return " ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _edge_shape(shapes: dict | None, ref: Ref) -> str | None:
    if not shapes or ref.node not in shapes:
        return None
    shape = shapes[ref.node]
    if ref.index is not None and isinstance(shape, list):
        shape = shape[ref.index]
    return _shape_text(shape)


# -- DOT --------------------------------------------------------------------------------------


def _dot_quote(text: str) -> str:
    """A DOT string; a newline in `text` becomes a line break in the label."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(g: CheckedGraph, name: str, shapes: dict | None = None) -> str:
    lines = [
        f"digraph {_dot_quote(name)} {{",
        "  rankdir=TB;",
        '  graph [fontname="Helvetica", fontsize=11];',
        '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    output_nodes = {ref.node for _, ref in _outputs(g)}
    for input_name in g.inputs:
        label = "\n".join(_label_lines(g.nodes[input_name], g))
        lines.append(
            f"  {_dot_quote(input_name)} [label={_dot_quote(label)}, shape=invhouse, "
            'fillcolor="#cfe8fc"];'
        )

    def emit(level: dict, indent: str) -> None:
        for node_name in level["nodes"]:
            node = g.nodes[node_name]
            label = "\n".join(_label_lines(node, g))
            style = (
                ', fillcolor="#fff3c4", penwidth=2'
                if node_name in output_nodes
                else (', style="rounded,filled,dashed"' if node.kind == "share" else "")
            )
            lines.append(f"{indent}{_dot_quote(node_name)} [label={_dot_quote(label)}{style}];")
        for (cluster_id, label), child in level["children"].items():
            lines.append(f"{indent}subgraph {_dot_quote('cluster_' + cluster_id)} {{")
            lines.append(
                f'{indent}  label={_dot_quote(label)}; style="rounded,dashed"; color="#888888";'
            )
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit(_cluster_tree(g), "  ")
    for source, target, ref in _edges(g):
        attrs = []
        shape = _edge_shape(shapes, ref)
        if ref.index is not None:
            attrs.append(f"taillabel={_dot_quote(str(ref.index))}")
        if shape:
            attrs.append(f"label={_dot_quote(shape)}")
        attr = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)}{attr};")
    for i, (label, ref) in enumerate(_outputs(g)):
        out_id = f"__output_{i}"
        lines.append(
            f'  {_dot_quote(out_id)} [label={_dot_quote(label)}, shape=house, fillcolor="#fff3c4"];'
        )
        shape = _edge_shape(shapes, ref)
        lines.append(
            f"  {_dot_quote(ref.node)} -> {_dot_quote(out_id)}"
            + (f" [label={_dot_quote(shape)}]" if shape else "")
            + ";"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid ----------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(g: CheckedGraph, name: str, shapes: dict | None = None) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(list(g.inputs) + list(g.order))}
    lines = [f"%% {name}", "flowchart TD"]
    for input_name in g.inputs:
        label = "<br/>".join(_mermaid_text(t) for t in _label_lines(g.nodes[input_name], g))
        lines.append(f'  {ids[input_name]}[/"{label}"/]')
    output_nodes = {ref.node for _, ref in _outputs(g)}
    counter = iter(range(10**9))

    def emit(level: dict, indent: str) -> None:
        for node_name in level["nodes"]:
            label = "<br/>".join(_mermaid_text(t) for t in _label_lines(g.nodes[node_name], g))
            lines.append(f'{indent}{ids[node_name]}["{label}"]')
        for (_, label), child in level["children"].items():
            lines.append(f'{indent}subgraph c{next(counter)}["{_mermaid_text(label)}"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")

    emit(_cluster_tree(g), "  ")
    for source, target, ref in _edges(g):
        text = " ".join(
            t
            for t in (
                str(ref.index) if ref.index is not None else "",
                _edge_shape(shapes, ref) or "",
            )
            if t
        )
        arrow = f' -- "{_mermaid_text(text)}" --> ' if text else " --> "
        lines.append(f"  {ids[source]}{arrow}{ids[target]}")
    for i, (label, ref) in enumerate(_outputs(g)):
        lines.append(f'  out{i}(["{_mermaid_text(label)}"])')
        lines.append(f"  {ids[ref.node]} --> out{i}")
    lines.append("  classDef input fill:#cfe8fc,stroke:#4a90c2")
    lines.append("  classDef output fill:#fff3c4,stroke:#c29d0b,stroke-width:2px")
    lines.append(f"  class {','.join(ids[n] for n in g.inputs)} input")
    outs = [ids[n] for n in sorted(output_nodes)] + [f"out{i}" for i in range(len(_outputs(g)))]
    lines.append(f"  class {','.join(outs)} output")
    return "\n".join(lines) + "\n"


# -- rendering --------------------------------------------------------------------------------


def render(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG bytes from DOT text, by Graphviz's `dot` program."""
    exe = shutil.which("dot")
    if exe is None:
        raise PlotError(
            "rendering SVG or PNG needs Graphviz's `dot` program, which is not "
            "installed. Install the package 'graphviz' (Debian/Ubuntu: apt-get "
            "install graphviz; macOS: brew install graphviz), or write .dot or .mmd "
            "text instead."
        )
    result = subprocess.run(
        [exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120
    )
    if result.returncode != 0:
        raise PlotError(f"Graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
