"""Export and rebuild every architecture of keras.applications; print a table.

    python benchmarks/export_zoo.py [--only ResNet50 MobileNetV2 ...]

Per model: layers, parameters, operations (`model.operations`: layers and the raw Keras
operations such as MobileNetV3's `x + 3.0`, raw ones in brackets) and whether the rebuilt
model has the same operations (classes and names, in order), whether the round trip is exact
(same kind, layers with the same class and config, same wiring, same operations, same
parameter count, and the same outputs on a random batch after
`set_weights(original.get_weights())`, atol 1e-5), the spec's size in lines, and
the size of Keras's own `model.to_json()` in lines (pretty-printed) and bytes. Models are
built with weights=None: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import numpy as np  # noqa: E402
from _machine import describe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="architectures to run (default: all)")
    args = parser.parse_args()
    import keras

    import graphspec
    from graphspec.keras.export import differences, operation_list

    names = args.only or sorted(n for n in dir(keras.applications) if n[:1].isupper())
    print(describe())
    print(
        f"| {'model':<20} | {'layers':>6} | {'parameters':>12} | {'operations (raw)':>16} "
        f"| {'same ops':>8} | {'exact':>5} | {'spec lines':>10} "
        f"| {'to_json lines':>13} | {'to_json bytes':>13} | {'s':>5} |"
    )
    print("|" + "|".join("-" * w for w in (22, 8, 14, 18, 10, 7, 12, 15, 15, 7)) + "|")
    exact_count = 0
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            start = time.perf_counter()
            original = getattr(keras.applications, name)(weights=None)
            try:
                spec = graphspec.from_keras(original)
                path = os.path.join(tmp, f"{name}.yaml")
                with open(path, "w") as f:
                    f.write(spec.to_yaml())
                rebuilt = graphspec.load(path).build()
                same_ops = operation_list(original) == operation_list(rebuilt)
                problems = differences(original, rebuilt)
                if not problems:
                    rebuilt.set_weights(original.get_weights())
                    shape = [224 if d is None else d for d in original.inputs[0].shape[1:]]
                    x = rng.normal(size=(1, *shape)).astype("float32")
                    if not np.allclose(np.asarray(original(x)), np.asarray(rebuilt(x)), atol=1e-5):
                        problems.append("outputs")
                lines = len(spec.to_yaml().splitlines())
            except Exception as exc:  # report, keep going: this is a survey
                problems, lines, same_ops = [f"{type(exc).__name__}: {exc}"], 0, False
            exact = not problems
            exact_count += exact
            config = json.loads(original.to_json())
            pretty = json.dumps(config, indent=2)
            raw = sum(not isinstance(op, keras.layers.Layer) for op in original.operations)
            ops = f"{len(original.operations)} ({raw})"
            print(
                f"| {name:<20} | {len(original.layers):>6} | {original.count_params():>12,} | "
                f"{ops:>16} | {'yes' if same_ops else 'no':>8} | "
                f"{'yes' if exact else 'no':>5} | {lines:>10} | {len(pretty.splitlines()):>13,} | "
                f"{len(original.to_json()):>13,} | {time.perf_counter() - start:>5.1f} |"
            )
            if problems:
                print(f"    {name}: {'; '.join(problems)[:300]}", file=sys.stderr)
            keras.backend.clear_session()
    print(f"\nexact round trips: {exact_count} of {len(names)}")


if __name__ == "__main__":
    main()
