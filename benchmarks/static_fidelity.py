"""Static analysis against real Keras: shapes, dtypes and parameter counts, node by node.

    python benchmarks/static_fidelity.py [--only ResNet50 mlp ...] [--no-zoo] [--no-examples]

For every architecture of keras.applications (built with weights=None, exported with
`graphspec.from_keras`) and every spec in examples/, the spec is analyzed statically
(`graphspec.analysis.analyze`, no Keras involved) and then built; each node's static output
shapes are compared with the built tensors' shapes, its dtype with theirs, and each layer's
static parameter count (total and trainable) with Keras's `count_params()`.

Columns: nodes (inputs included); known: nodes whose static shape is known; equal: nodes
whose static shapes equal Keras's exactly (None where Keras has None); dtype: nodes whose
static dtype equals Keras's; params: layers whose total and trainable counts both equal
Keras's; total: the model's parameter count, static = Keras; static ms: the analysis alone;
MACs: the static count per sample. Differences are listed on stderr.

The seed plugins' layer and ops have no shape rules of their own yet; this script gives them
the rules they are meant to declare (`register_layer(cls, shape=fn)`, see the report).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import describe

ROOT = Path(__file__).resolve().parents[1]


def seed_plugin_rules() -> None:
    """The pure-Python shape rules of examples/plugins (MyLayer, minus_mean, gather_rows,
    row_norms)."""
    from graphspec.analysis import register_shape

    register_shape(
        "layer",
        "MyLayer",
        lambda shape, args: (*shape[:-1], args["output_dim"]),
        params=lambda shape, args: shape[-1] * args["output_dim"],
        macs=lambda shape, args: shape[-1] * args["output_dim"],
    )

    def minus_mean(shapes, args):
        x, y = shapes
        if x != y:
            raise ValueError(f"x and y must have one shape, got {x} and {y}")
        axis = args.get("axis", 1) % len(x)
        return tuple(d for i, d in enumerate(x) if i != axis)

    zero = lambda shapes, args: 0  # elementwise and gathers: no MACs
    register_shape("op", "minus_mean", minus_mean, macs=zero)
    register_shape("op", "gather_rows", lambda shapes, args: shapes[1], macs=zero)
    register_shape("op", "row_norms", lambda shape, args: shape[:-1], macs=zero)


def keras_shapes(value):
    if isinstance(value, (list, tuple)):
        return [tuple(v.shape) for v in value]
    return [tuple(value.shape)]


def keras_dtypes(value):
    if isinstance(value, (list, tuple)):
        return [str(v.dtype) for v in value]
    return [str(value.dtype)]


def compare(name: str, spec, label: str) -> dict:
    """Analyze `spec` statically, build it, and compare node by node."""
    import keras

    from graphspec.analysis import analyze
    from graphspec.keras.compiler import tensor_shapes

    start = time.perf_counter()
    summary, diagnostics = analyze(spec.source, spec._checked)
    static_ms = (time.perf_counter() - start) * 1000
    errors = [d for d in diagnostics if d.is_error]
    built_shapes = tensor_shapes(spec.source, spec._checked)
    model = spec.build(compile=False)
    problems = [f"false error: {d.format()}" for d in errors]
    known = equal = dtype_equal = dtype_known = 0
    layers = params_equal = 0
    for node in summary.nodes:
        if node.known:
            known += 1
        truth = built_shapes.get(node.name)
        truth = [tuple(truth)] if isinstance(truth, tuple) else [tuple(t) for t in truth]
        if node.shapes == truth:
            equal += 1
        elif node.known:
            problems.append(f"{node.name} ({node.type}): static {node.shapes} != keras {truth}")
        if node.kind == "input" or node.shares:
            continue  # a shared layer's output is one of several calls: compared by shape only
        # Op nodes compile to Keras operations, which are not layers: look in `operations`.
        layer = next(op for op in model.operations if op.name == node.name)
        if node.dtypes is not None:
            dtype_known += 1
            real = keras_dtypes(layer.output)
            if node.dtypes == real:
                dtype_equal += 1
            else:
                problems.append(f"{node.name} ({node.type}): dtype {node.dtypes} != keras {real}")
        layers += 1
        trainable = sum(int(v.numpy().size) for v in getattr(layer, "trainable_weights", ()))
        keras_params = layer.count_params() if hasattr(layer, "count_params") else 0
        if node.params == keras_params and node.trainable_params == trainable:
            params_equal += 1
        else:
            problems.append(
                f"{node.name} ({node.type}): params {node.params}/"
                f"{node.trainable_params} != keras {keras_params}/{trainable}"
            )
    total = summary.params == model.count_params()
    n = len(summary.nodes)
    for p in problems:
        print(f"    {label}: {p}"[:400], file=sys.stderr)
    del model
    keras.backend.clear_session()
    return {
        "name": label,
        "nodes": n,
        "known": known,
        "equal": equal,
        "dtype": dtype_equal,
        "dtype_known": dtype_known,
        "layers": layers,
        "params": params_equal,
        "total": total,
        "ms": static_ms,
        "macs": summary.macs,
        "errors": len(errors),
    }


def _si(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.3f} {unit}"
    return str(value)


def row(r: dict) -> str:
    pct = lambda a, b: f"{100 * a / b:.0f}%" if b else "-"
    macs = "?" if r["macs"] is None else _si(r["macs"])
    return (
        f"| {r['name']:<22} | {r['nodes']:>5} | {pct(r['known'], r['nodes']):>5} "
        f"| {pct(r['equal'], r['nodes']):>5} | {pct(r['dtype'], r['dtype_known']):>5} "
        f"| {r['params']:>4}/{r['layers']:<4} | {'yes' if r['total'] else 'NO':>5} "
        f"| {r['ms']:>7.1f} | {macs:>10} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="architectures or example names to run")
    parser.add_argument("--no-zoo", action="store_true")
    parser.add_argument("--no-examples", action="store_true")
    args = parser.parse_args()
    import keras

    import graphspec

    for plugin in sorted((ROOT / "examples" / "plugins").glob("*.py")):
        graphspec.load_plugin(str(plugin))
    seed_plugin_rules()
    print(describe())
    print(
        f"| {'model':<22} | {'nodes':>5} | {'known':>5} | {'equal':>5} | {'dtype':>5} "
        f"| {'params eq':>9} | {'total':>5} | {'static ms':>7} | {'MACs':>10} |"
    )
    print("|" + "|".join("-" * w for w in (24, 7, 7, 7, 7, 11, 7, 11, 12)) + "|")
    results = []
    wanted = set(args.only or ())
    if not args.no_examples:
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            if wanted and path.stem not in wanted:
                continue
            results.append(compare(path.stem, graphspec.load(path), path.stem))
            print(row(results[-1]), flush=True)
    if not args.no_zoo:
        names = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        for name in names:
            if wanted and name not in wanted:
                continue
            original = getattr(keras.applications, name)(weights=None)
            spec = graphspec.from_keras(original)
            del original
            keras.backend.clear_session()
            results.append(compare(name, spec, name))
            print(row(results[-1]), flush=True)
    nodes = sum(r["nodes"] for r in results)
    full = sum(
        r["known"] == r["nodes"]
        and r["equal"] == r["nodes"]
        and r["total"]
        and r["params"] == r["layers"]
        and r["errors"] == 0
        for r in results
    )
    print(
        f"\n{full} of {len(results)} models: every node known, shapes and parameters equal, "
        f"no false error ({sum(r['equal'] for r in results)} of {nodes} nodes equal; "
        f"{sum(r['dtype'] for r in results)} of {sum(r['dtype_known'] for r in results)} "
        "dtypes equal)"
    )


if __name__ == "__main__":
    main()
