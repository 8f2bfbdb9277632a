"""Time to build the same model with graphspec and with hand-written Keras calls.

    python benchmarks/build_overhead.py [--runs 5]

In one process, alternating graphspec and hand-written builds (so that warm-up and machine
load hit both alike), `--runs` of each, timed around the build alone with time.perf_counter
(wall) and time.process_time (CPU of the process, all its threads: far less disturbed by
other work on a shared machine); the table shows the medians and their ratios. graphspec's time includes loading and
validating the spec from its file. Cases: a 500-layer Dense chain (Sequential), a 500-node
random DAG with merges (functional), and ResNet-50 (`examples/resnet50.yaml` against
`keras.applications.ResNet50(weights=None)`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def chain_spec(n: int) -> str:
    lines = ["graphspec: 1", "name: chain", "inputs: {x: {shape: [32]}}", "layers:"]
    lines += ["  - {layer: Dense, args: {units: 32}}" for _ in range(n)]
    return "\n".join(lines) + "\n"


def dag(n: int, seed: int = 0):
    """(spec text, wiring) of a random DAG of Dense and Add nodes over one input."""
    rng = random.Random(seed)
    names, wiring, used = ["x"], [], set()
    for i in range(n):
        if i >= 2 and i % 5 == 0:
            a, b = rng.sample(names[1:] if len(names) > 2 else names, 2)
            wiring.append(("add", f"n{i}", [a, b]))
            used |= {a, b}
        else:
            src = rng.choice(names)
            wiring.append(("dense", f"n{i}", [src]))
            used.add(src)
        names.append(f"n{i}")
    outputs = [n for n in names[1:] if n not in used]
    lines = ["graphspec: 1", "name: dag", "inputs: {x: {shape: [16]}}", "layers:"]
    for kind, name, ins in wiring:
        if kind == "add":
            lines.append(f"  - {{name: {name}, layer: Add, in: [{', '.join(ins)}]}}")
        else:
            lines.append(f"  - {{name: {name}, layer: Dense, in: {ins[0]}, args: {{units: 16}}}}")
    lines.append(f"outputs: [{', '.join(outputs)}]")
    return "\n".join(lines) + "\n", wiring, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import keras

    import graphspec

    def hand_chain():
        return keras.Sequential(
            [keras.Input(shape=(32,))] + [keras.layers.Dense(32) for _ in range(500)], name="chain"
        )

    dag_text, wiring, outputs = dag(500)

    def hand_dag():
        tensors = {"x": keras.Input(shape=(16,), name="x")}
        for kind, name, ins in wiring:
            if kind == "add":
                tensors[name] = keras.layers.Add(name=name)([tensors[i] for i in ins])
            else:
                tensors[name] = keras.layers.Dense(16, name=name)(tensors[ins[0]])
        return keras.Model(tensors["x"], [tensors[o] for o in outputs], name="dag")

    tmp = Path(tempfile.mkdtemp())
    (tmp / "chain.yaml").write_text(chain_spec(500))
    (tmp / "dag.yaml").write_text(dag_text)
    cases = [
        ("500-layer chain", tmp / "chain.yaml", hand_chain),
        ("500-node DAG", tmp / "dag.yaml", hand_dag),
        (
            "ResNet-50",
            ROOT / "examples" / "resnet50.yaml",
            lambda: keras.applications.ResNet50(weights=None),
        ),
    ]
    print(describe())
    print(f"median of {args.runs} alternating runs, in one process\n")
    print(
        f"| {'model':<16} | {'graphspec s':>11} | {'hand-written s':>14} | {'ratio':>5} "
        f"| {'graphspec CPU s':>15} | {'hand-written CPU s':>18} | {'CPU ratio':>9} |"
    )
    print(f"|{'-' * 18}|{'-' * 13}|{'-' * 16}|{'-' * 7}|{'-' * 17}|{'-' * 20}|{'-' * 11}|")
    for label, path, hand in cases:
        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        graphspec.build(path).count_params()  # warm-up: imports, first-call tracing
        hand().count_params()
        for _ in range(args.runs):
            keras.backend.clear_session()
            start, cpu = time.perf_counter(), time.process_time()
            a = graphspec.build(path)
            ours.append(time.perf_counter() - start)
            ours_cpu.append(time.process_time() - cpu)
            keras.backend.clear_session()
            start, cpu = time.perf_counter(), time.process_time()
            b = hand()
            theirs.append(time.perf_counter() - start)
            theirs_cpu.append(time.process_time() - cpu)
            assert a.count_params() == b.count_params(), label
        o, t = statistics.median(ours), statistics.median(theirs)
        oc, tc = statistics.median(ours_cpu), statistics.median(theirs_cpu)
        print(
            f"| {label:<16} | {o:>11.3f} | {t:>14.3f} | {o / t:>5.2f} | {oc:>15.3f} "
            f"| {tc:>18.3f} | {oc / tc:>9.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
