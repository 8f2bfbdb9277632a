"""Steps per second of `loop: batch` against `loop: fit`, same model, data and settings.

    python benchmarks/train_loops.py [--runs 3] [--epochs 3]

In one process, alternating the two loops, each run trains `examples/train_mlp.yaml` for
--epochs epochs on 20,000 synthetic samples (batch 64), without progress output and without
TensorBoard; time.perf_counter around `graphspec.keras.train.train` alone; the median run of each.
Target: the batch loop takes at most 1.3 times as long as fit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import yaml  # noqa: E402
from _machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from make_train_data import make

    import graphspec
    from graphspec.keras import train

    data = make(20_000, 1)
    doc = yaml.safe_load((ROOT / "examples" / "train_mlp.yaml").read_text())
    steps = None
    times: dict[str, list[float]] = {"batch": [], "fit": []}
    for run in range(args.runs + 1):  # the first round warms up both and is not counted
        for loop in ("batch", "fit"):
            doc["train"] = {
                "batch_size": 64,
                "epochs": args.epochs,
                "remainder": "pad",
                "seed": 0,
                "loop": loop,
            }
            spec = graphspec.load(doc)
            start = time.perf_counter()
            result = train.train(spec, data, progress=False)
            elapsed = time.perf_counter() - start
            steps = args.epochs * -(-20_000 // 64)
            if run:
                times[loop].append(elapsed)
            assert result.epochs == args.epochs
    print(describe())
    print(f"median of {args.runs} runs, {steps} training steps each\n")
    print(f"| {'loop':<6} | {'seconds':>7} | {'steps/s':>8} |")
    print(f"|{'-' * 8}|{'-' * 9}|{'-' * 10}|")
    medians = {loop: statistics.median(t) for loop, t in times.items()}
    for loop, seconds in medians.items():
        print(f"| {loop:<6} | {seconds:>7.2f} | {steps / seconds:>8.0f} |")
    print(f"\nbatch / fit time: {medians['batch'] / medians['fit']:.2f} (target: at most 1.30)")


if __name__ == "__main__":
    main()
