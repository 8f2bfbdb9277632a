"""The JSON model of a spec's graph that the page draws.

It is built from the pipeline's stages one by one, not through `graphspec.load`, so that a spec
with errors still gives every node that could be composed: the composition exists as soon as
the document could be read, the checked graph and the static summary (shapes, parameters,
MACs) only when the structure is valid. No Keras here.

The model (all plain JSON):
  name, path, version (set by the server), ok (no errors), stats {nodes, params, macs},
  nodes:    [{id, kind, type, label, cluster, args, inputs, shapes, dtype, params,
              trainable, macs, file, line, owner, body, diag}]  (label: when not the id;
              file: when not the spec's; trainable: when not params)
  clusters: [{id, kind ("block" | "repeat"), label, name, parent, size}]
  edges:    [{source, target, label}]   one per connected pair, outputs included
  diagnostics: [{severity, code, message, hint, file, line, column, pointer, node}]
  arguments: {"layer Dense": [names]}   every argument of each layer class and op used
  files:    {path: text}                the spec and the imported files its nodes come from
  watch:    [path]                      the files whose change redraws the page
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from .. import catalog, composition, document, pipeline, registry, source, walk
from ..composition import SPEC_SUFFIXES
from ..errors import ERROR, Diagnostic, SpecError, pointer
from ..limits import DEFAULT, Limits

_COPY = re.compile(r"^(?P<name>.*)\[(?P<k>\d+)\] \(block (?P<block>.*)\)$")
_LAST_PART = re.compile(r"(\.[^.\[]*|\[\d+\])$")
_QUOTED = re.compile(r"'([A-Za-z0-9_\-]+)'")


def build(
    path: str | os.PathLike,
    *,
    params: dict | None = None,
    limits: Limits | None = None,
    allow_imports_from=(),
) -> dict:
    """The model of the spec at `path`; problems in the spec become its diagnostics, never
    exceptions."""
    limits = limits or DEFAULT
    stages = pipeline.run(path, pipeline.Options(params, limits, allow_imports_from))
    src = stages.source
    if src is None:  # the file itself could not be read
        model = _model(str(path), None, None, None, stages.diagnostics, {})
        model["watch"] = [str(path)]
        return model
    name = (
        stages.document.name
        if stages.document is not None
        else src.data.get("name")
        if isinstance(src.data, dict)
        else None
    )
    comp = stages.composition
    model = _model(
        src.path,
        name if isinstance(name, str) else None,
        comp,
        stages.summary,
        stages.diagnostics,
        _files(src, comp),
        src,
    )
    roots = [(src.base_dir or Path.cwd()).resolve()] + [
        Path(d).resolve() for d in allow_imports_from
    ]
    model["watch"] = _watch(src, limits, roots) if src.text is not None else []
    return model


# -- assembling ------------------------------------------------------------------------------


def _model(
    path: str,
    name: str | None,
    comp,
    summary,
    diagnostics: list[Diagnostic],
    files: dict[str, str],
    comp_source: source.Source | None = None,
) -> dict:
    nodes: list[dict] = []
    edges: list[dict] = []
    clusters: dict[str, dict] = {}
    rows = {n.name: n for n in summary.nodes} if summary is not None else {}
    if comp is not None:
        for input_name, spec in comp.inputs.items():
            nodes.append(_input_node(input_name, spec, comp_source, rows.get(input_name)))
        repeats = _plain_repeats(comp.nodes)
        lines: dict[tuple, int | None] = {}  # the copies of a block share their places
        for composed in comp.nodes:
            node = _node(composed, rows.get(composed.name), lines)
            node["cluster"] = _place(composed, repeats, clusters)
            nodes.append(node)
        known = {n["id"] for n in nodes}
        for node in nodes[len(comp.inputs) :]:
            pairs: dict[str, list[str]] = {}
            for ref in node.pop("refs"):
                if ref.node in known:
                    pairs.setdefault(ref.node, []).append(
                        "" if ref.index is None else str(ref.index)
                    )
            node["inputs"] = list(pairs)
            edges += [
                {"source": s, "target": node["id"], "label": _edge_label(ix)}
                for s, ix in pairs.items()
            ]
        for i, (label, ref) in enumerate(_outputs(comp.outputs)):
            if ref is None or ref.node not in known:
                continue
            out_id = f"output:{i}"
            nodes.append(
                {
                    "id": out_id,
                    "kind": "output",
                    "type": "output",
                    "label": label,
                    "cluster": None,
                    "inputs": [ref.node],
                    "file": path,
                    "line": None,
                    "pointer": "outputs",
                }
            )
            edges.append(
                {
                    "source": ref.node,
                    "target": out_id,
                    "label": _edge_label(["" if ref.index is None else str(ref.index)]),
                }
            )
        for cluster in clusters.values():
            if cluster["kind"] == "repeat":
                cluster["label"] = cluster["label"].replace("{n}", str(cluster.pop("copies")))
    errors = [d for d in diagnostics if d.is_error]
    placed = _diagnostics(diagnostics, nodes, clusters)
    arguments: dict[str, list[str]] = {}
    for node in nodes:
        _compact(node, path, arguments)
    model = {
        "name": name or Path(path).stem,
        "path": path,
        "version": 0,
        "ok": not errors,
        "composed": comp is not None,
        "analyzed": summary is not None,
        "nodes": nodes,
        "clusters": list(clusters.values()),
        "edges": edges,
        "diagnostics": placed,
        "arguments": arguments,
        "files": files,
        "stats": {
            "nodes": len(comp.nodes) if comp is not None else 0,
            "errors": len(errors),
            "warnings": len(diagnostics) - len(errors),
            "params": summary.params if summary is not None else None,
            "macs": summary.macs if summary is not None else None,
        },
    }
    return model


def _input_node(name: str, spec, src: source.Source, row) -> dict:
    args = spec.model_dump(exclude_unset=True) if spec is not None else {}
    node = {
        "id": name,
        "kind": "input",
        "type": "Input",
        "label": name,
        "cluster": None,
        "args": _plain(args),
        "inputs": [],
        "file": src.path,
        "line": src.locate(("inputs", name))[0],
        "pointer": pointer(("inputs", name)),
    }
    _add_summary(node, row)
    return node


def _node(composed, row, lines: dict) -> dict:
    decl = composed.decl
    loc = composed.loc
    where = getattr(loc, "source", None)
    if isinstance(decl, document.LayerNode):
        kind, type_, args = "layer", decl.layer, decl.args
    elif isinstance(decl, document.OpNode):
        kind, type_, args = "op", decl.op, decl.args
    elif isinstance(decl, composition.Submodel):
        kind, type_, args = "submodel", decl.block, {}
    else:
        kind, type_, args = "share", composed.share, {}
    node = {
        "id": composed.name,
        "kind": kind,
        "type": type_,
        "label": composed.name,
        "args": _plain(args),
        "refs": _refs(composed.inputs),
        "file": where.path if where is not None else None,
        "line": _line(where, loc, lines),
        "pointer": pointer(loc),
        "context": getattr(loc, "context", None),
    }
    if kind == "share":
        node["owner"] = composed.share
    if kind == "submodel":
        node["body"] = [n.name for n in decl.body.nodes]
    _add_summary(node, row)
    return node


def _line(where, loc, lines: dict) -> int | None:
    if where is None:
        return None
    key = (where.path, tuple(loc))
    if key not in lines:
        lines[key] = where.locate(loc)[0]
    return lines[key]


def _refs(inputs) -> list:
    if isinstance(inputs, composition.Ref):
        return [inputs]  # the common case, without a walk
    return [leaf for _, leaf in walk.leaves(inputs) if leaf is not None]


def _compact(node: dict, path: str, arguments: dict) -> None:
    """Leave out what the page can tell without it: 10,000 nodes make a large page."""
    for key in ("pointer", "context"):
        node.pop(key, None)
    if node.get("label") == node["id"]:
        del node["label"]
    if node.get("file") == path:
        del node["file"]
    if node.get("trainable") == node.get("params"):
        node.pop("trainable", None)
    if node["kind"] in ("layer", "op") and node["type"] is not None:
        key = f"{node['kind']} {node['type']}"
        if key not in arguments:
            arguments[key] = _arguments(node["kind"], node["type"])


def _arguments(kind: str, type_: str) -> list[str]:
    """Every argument a layer class or op takes (the page greys the ones left at default)."""
    if kind == "layer":
        entry = catalog.layer(type_)
        names = entry["args"] if entry else []
    else:
        sig = registry.OPS.signature(type_)
        names = list(sig.keyword) if sig is not None else []
    return [n for n in names if n not in ("dtype", "autocast", "name")]


def _add_summary(node: dict, row) -> None:
    if row is None:
        return
    node["shapes"] = None if row.shapes is None else [list(s) for s in row.shapes]
    node["dtype"] = row.dtype
    node["params"] = row.params
    node["trainable"] = row.trainable_params
    node["macs"] = row.macs
    if row.note:
        node["note"] = row.note


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> Any:
    """JSON-safe data: `inf` and `nan` (which YAML can write) become text."""
    if isinstance(value, dict) and all(type(v) in _SCALARS for v in value.values()):
        return value  # most arguments: nothing to change, and 10,000 nodes to look at

    def fix(v, _path):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, (dict, list, tuple)):
            return walk.DESCEND
        if v is None or isinstance(v, (str, int, float, bool)):
            return v
        return str(v)

    return walk.transform(value, fix)


def _edge_label(indexes: list[str]) -> str:
    return ",".join(f":{i}" for i in indexes if i)


def _outputs(outputs) -> list[tuple[str, Any]]:
    if outputs is None:
        return []
    if isinstance(outputs, list):
        return [(f"output {i}" if len(outputs) > 1 else "output", r) for i, r in enumerate(outputs)]
    if isinstance(outputs, dict):
        return [(f"output {k}", r) for k, r in outputs.items()]
    return [("output", outputs)]


# -- clusters ---------------------------------------------------------------------------------


def _plain_repeats(nodes) -> dict[tuple, int]:
    """Copies of a repeated plain node share the place they were written: {place: copies}."""
    counts: dict[tuple, int] = {}
    for composed in nodes:
        counts[_written(composed)] = counts.get(_written(composed), 0) + 1
    return {key: n for key, n in counts.items() if n > 1}


def _written(composed) -> tuple:
    loc = composed.loc
    where = getattr(loc, "source", None)
    return (
        where.path if where is not None else None,
        tuple(loc),
        tuple(getattr(loc, "clusters", ())),
    )


def _place(composed, repeats: dict, clusters: dict) -> str | None:
    """The id of the innermost cluster of a node; creates the clusters on its path. A copy of a
    repeated block instance sits in a "repeat" cluster of all the copies."""
    parent = None
    for cluster_id, label in getattr(composed.loc, "clusters", ()):
        copy = _COPY.match(label)
        if copy:
            k = int(copy["k"])
            group = "repeat:" + cluster_id[: -len(f"{k}_")]
            parent = _cluster(
                clusters,
                group,
                "repeat",
                copy["name"],
                parent,
                f"{copy['name']} ×{{n}} (block {copy['block']})",
            )
            clusters[group]["copies"] = max(clusters[group].get("copies", 0), k)
            name = f"{copy['name']}[{k}]"
        else:
            name = label.split(" (block ")[0]
        parent = _cluster(clusters, "block:" + cluster_id, "block", name, parent, label)
    key = _written(composed)
    if key in repeats:
        base = composed.name.rsplit("_", 1)[0]
        group = f"repeat:{parent or ''}/{base}"
        parent = _cluster(clusters, group, "repeat", base, parent, f"{base} ×{{n}}")
        clusters[group]["copies"] = repeats[key]
    for cluster_id in _ancestors(clusters, parent):
        clusters[cluster_id]["size"] += 1
    return parent


def _cluster(
    clusters: dict, cluster_id: str, kind: str, name: str, parent: str | None, label: str
) -> str:
    if cluster_id not in clusters:
        clusters[cluster_id] = {
            "id": cluster_id,
            "kind": kind,
            "label": label,
            "name": name,
            "parent": parent,
            "size": 0,
        }
    return cluster_id


def _ancestors(clusters: dict, cluster_id: str | None):
    while cluster_id is not None:
        yield cluster_id
        cluster_id = clusters[cluster_id]["parent"]


# -- diagnostics ------------------------------------------------------------------------------


def _diagnostics(diagnostics: list[Diagnostic], nodes: list[dict], clusters: dict) -> list[dict]:
    places: dict[tuple, list[dict]] = {}
    for node in nodes:
        if node.get("pointer") is not None:
            places.setdefault((node["file"], node["pointer"]), []).append(node)
    ids = {n["id"] for n in nodes}
    out = []
    for d in diagnostics:
        node = _node_of(d, places, ids, clusters, nodes)
        out.append(
            {
                "severity": d.severity,
                "code": d.code,
                "message": d.message,
                "hint": d.hint,
                "file": d.path,
                "line": d.line,
                "column": d.column,
                "pointer": d.pointer,
                "node": node,
            }
        )
        if node is not None:
            target = next(n for n in nodes if n["id"] == node)
            if target.get("diag") != ERROR:
                target["diag"] = d.severity
    return out


def _node_of(d: Diagnostic, places: dict, ids: set, clusters: dict, nodes: list[dict]):
    """The node a diagnostic is about: the one written at the longest prefix of its pointer
    (the instance its message names, for a node inside a block), else the first node of the
    block instance written there, else a node its message names."""
    at = d.pointer
    while at:
        found = places.get((d.path, at))
        if found:
            for node in found:
                if node.get("context") and f"(in {node['context']})" in d.message:
                    return node["id"]
            return found[0]["id"]
        if at.startswith("outputs"):
            outs = [n for n in nodes if n["kind"] == "output"]
            if outs:
                index = re.match(r"outputs\[(\d+)\]", at)
                return outs[min(int(index[1]), len(outs) - 1)]["id"] if index else outs[0]["id"]
        shorter = _LAST_PART.sub("", at)
        at = shorter if shorter != at else ""
    instance = re.match(r"^(layers\[\d+\])", d.pointer or "")
    if instance:
        for cluster in clusters.values():
            if cluster["parent"] is None and f"'{cluster['name']}'" in d.message:
                return _first_in(cluster["id"], nodes, clusters)
    for name in _QUOTED.findall(d.message):
        if name in ids:
            return name
    return None


def _first_in(cluster_id: str, nodes: list[dict], clusters: dict) -> str | None:
    for node in nodes:
        if cluster_id in _ancestors(clusters, node.get("cluster")):
            return node["id"]
    return None


# -- files ------------------------------------------------------------------------------------


def _files(src: source.Source, comp) -> dict[str, str]:
    """The text of the spec and of the imported files its nodes come from (files that
    composition accepted: inside the allowed folders, and spec files), for the panel."""
    files = {src.path: src.text} if src.text is not None else {}
    for composed in comp.nodes if comp is not None else ():
        where = getattr(composed.loc, "source", None)
        if where is not None and where.text is not None and where.path not in files:
            files[where.path] = where.text
    return files


def _watch(src: source.Source, limits: Limits, roots: list[Path]) -> list[str]:
    """The spec and every file it imports, followed through each file's `imports`, as
    composition resolves them (missing files included, so that creating one redraws)."""
    seen: list[str] = []
    todo: list[tuple[str, Any]] = [(src.path, src.data)]
    while todo:
        path, data = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        imports = data.get("imports") if isinstance(data, dict) else None
        for ref in imports if isinstance(imports, list) else []:
            if not isinstance(ref, str) or Path(ref).suffix.lower() not in SPEC_SUFFIXES:
                continue
            shown = os.path.normpath(os.path.join(os.path.dirname(path), ref))
            if shown in seen or not any(Path(shown).resolve().is_relative_to(r) for r in roots):
                continue
            try:
                imported, _ = source.read(shown, limits)
                todo.append((shown, imported.data))
            except SpecError:
                todo.append((shown, None))
    return seen
