"""Time and memory of `graphspec validate` on hostile files, each refused with an error.

    python benchmarks/hostile_inputs.py [--runs 3]

Whole process (/usr/bin/time -v), median of --runs. Target: each case answered with a clear
error within 2 seconds and bounded memory. `tests/test_limits.py` pins the errors.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import describe
from validate_speed import median_of

HEADER = "graphspec: 1\nname: m\ninputs: {x: {shape: [4]}}\n"
N = 100_000


def cases() -> dict[str, str]:
    laughs = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    laughs += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    line = "  - {layer: Dense, args: {units: 1}}\n"
    return {
        "alias bomb (10^9 values)": HEADER + "\n".join(laughs) + "\nlayers: [{op: relu}]\n",
        "50 MB file": HEADER + "layers:\n" + line * (50 * 2**20 // len(line)),
        "100,000-deep flow nesting": HEADER + "description: " + "[" * N + "]" * N + "\n",
        "100,000-deep block nesting": HEADER + "description:\n" + "- " * N + "x\n",
        "1,000,000-node flow list": HEADER + "layers: [" + ", ".join(["{op: relu}"] * 10**6) + "]\n",
        "block repeated to 10^6 nodes": HEADER + "blocks:\n  b:\n    inputs: [x]\n    layers:\n"
        "      - {op: relu, in: x, repeat: 1000}\nlayers: [{block: b, repeat: 1000}]\n",
        "expression 10 ** 100000": HEADER + 'layers: [{layer: Dense, args: {units: "${10 ** 100000}"}}]\n',
        "expression nested 400 deep": HEADER + 'layers: [{layer: Dense, args: {units: "${'
        + "(" * 400 + "1" + ")" * 400 + '}"}}]\n',
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = shutil.which("graphspec") or sys.exit("install graphspec first: pip install -e .")
    print(describe())
    print(f"median of {args.runs} runs, whole process\n")
    print(f"| {'input':<30} | {'size':>10} | {'error':>6} | {'wall s':>6} | {'peak MiB':>8} |")
    print(f"|{'-' * 32}|{'-' * 12}|{'-' * 8}|{'-' * 8}|{'-' * 10}|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in cases().items():
            path = Path(tmp) / "hostile.yaml"
            path.write_text(text)
            codes = subprocess.run([exe, "validate", "--format", "json", str(path)],
                                   capture_output=True, text=True).stdout
            code = next((c for c in ("GS160", "GS130", "GS131", "GS132") if c in codes), "none")
            wall, rss = median_of([exe, "validate", str(path)], args.runs)
            print(f"| {label:<30} | {len(text.encode()):>10,} | {code:>6} | {wall:>6.2f} | {rss:>8.0f} |")


if __name__ == "__main__":
    main()
