"""Whole-process time and peak memory of `graphspec validate` on generated specs.

    python benchmarks/validate_speed.py [--sizes 10 1000 10000] [--shapes dag chain repeat]
                                        [--runs 5]

Three graph shapes, because each stresses a different part: `dag` is a random DAG (seeded) of
Dense nodes with merges (Add) and shared layers; `chain` is what most specs are, one node after
another with `in` omitted (a quadratic walk along chains once hid here); `repeat` is one block
of three nodes repeated to the size, the shape of deep networks. Specs are YAML with one node
per line. Every row is the median of --runs runs of a fresh process measured with
/usr/bin/time -v; `python -c "import keras"` is the reference row. Each shape gets its fitted
line: start-up plus a cost per node.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import describe


def generate(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = ["graphspec: 1", f"name: dag_{n}", "inputs:", "  x: {shape: [16]}", "  y: {shape: [16]}",
             "layers:"]
    names, dense, used = ["x", "y"], [], set()
    for i in range(n):
        name = f"n{i}"
        if i >= 2 and i % 10 == 0:
            a, b = rng.sample(names, 2)
            lines.append(f"  - {{name: {name}, layer: Add, in: [{a}, {b}]}}")
            used |= {a, b}
        elif dense and i % 15 == 0:
            src = rng.choice(names)
            lines.append(f"  - {{name: {name}, share: {rng.choice(dense)}, in: {src}}}")
            used.add(src)
        else:
            src = "x" if i == 0 else "y" if i == 1 else rng.choice(names)
            lines.append(f"  - {{name: {name}, layer: Dense, in: {src}, args: {{units: 16}}}}")
            dense.append(name)
            used.add(src)
        names.append(name)
    sinks = [n for n in names[2:] if n not in used]
    lines.append("outputs: [" + ", ".join(sinks) + "]")
    return "\n".join(lines) + "\n"


def generate_chain(n: int) -> str:
    lines = ["graphspec: 1", f"name: chain_{n}", "inputs:", "  x: {shape: [16]}", "layers:"]
    lines += ["  - {layer: Dense, args: {units: 16}}"] * n
    return "\n".join(lines) + "\n"


def generate_repeat(n: int) -> str:
    return "\n".join([
        "graphspec: 1", f"name: repeat_{n}", "inputs:", "  x: {shape: [16]}",
        "blocks:", "  unit:", "    inputs: [h]", "    layers:",
        "      - {name: a, layer: Dense, args: {units: 16}}",
        "      - {name: b, layer: Dense, args: {units: 16}}",
        "      - {name: s, layer: Add, in: [a, b]}",
        "layers:", f"  - {{name: body, block: unit, repeat: {max(n // 3, 1)}}}"]) + "\n"


SHAPES = {"dag": generate, "chain": generate_chain, "repeat": generate_repeat}


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run, from /usr/bin/time -v."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr[-2000:])
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, seconds = wall.groups()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), int(rss.group(1)) / 1024


def median_of(cmd: list[str], runs: int) -> tuple[float, float]:
    samples = [measure(cmd) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("graphspec") or sys.exit("install graphspec first: pip install -e .")
    print(describe())
    print(f"median of {args.runs} runs, whole process\n")
    print(f"| {'what':<34} | {'nodes':>7} | {'wall s':>7} | {'peak MiB':>8} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 10}|")
    wall, rss = median_of([sys.executable, "-c", "import keras"], args.runs)
    label = 'python -c "import keras"'
    print(f"| {label:<34} | {'':>7} | {wall:7.2f} | {rss:8.0f} |")
    fits = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            rows = []
            for n in args.sizes:
                path = Path(tmp) / f"{shape}_{n}.yaml"
                path.write_text(SHAPES[shape](n))
                wall, rss = median_of([exe, "validate", str(path)], args.runs)
                rows.append((n, wall))
                label = f"graphspec validate ({shape})"
                print(f"| {label:<34} | {n:>7,} | {wall:7.2f} | {rss:8.0f} |")
            fits.append((shape, rows))
    print()
    for shape, rows in fits:
        if len(rows) < 2:
            continue
        # Least-squares line through (nodes, seconds): the slope is the cost per node, the
        # intercept the start-up; a straight line fitting all sizes means linear cost.
        xs, ys = [r[0] for r in rows], [r[1] for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        intercept = my - slope * mx
        worst = max(abs(y - (intercept + slope * x)) / y for x, y in zip(xs, ys))
        print(f"fitted line ({shape}): {intercept:.2f} s + {slope * 1e6:.1f} µs per node "
              f"(largest deviation from the line: {worst:.0%} of a measurement)")

if __name__ == "__main__":
    main()
