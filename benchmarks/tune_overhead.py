"""Time per trial spent in graphspec (sampling, validation, build) against time in training,
for `graphspec tune` on `examples/tune_mlp.yaml`.

    python benchmarks/tune_overhead.py [--trials 8] [--tuner random]

Makes the example's data (examples/make_tune_data.py, 2,000 samples), runs the search in a
temporary folder in this process, and reads each trial's record (`trial_ID/graphspec.json`,
time.perf_counter around each part):

- sample: KerasTuner's oracle choosing the values (and saving its state);
- validate: loading and validating the candidate with its values (format, composition,
  shapes, budget), and writing the trial's spec file, or its diagnostics;
- build: `Spec.build` (graphspec's compiler calling Keras's layers; compiling the model);
- train: `model.fit` on BatchSequences, with KerasTuner's checkpoint callback;
- other: the rest of the trial: KerasTuner's `clear_session`, garbage collection, saving
  its state and the trial's record.

graphspec's share is (sample + validate + build) / total. Target: under 10%. Also checks the
issue's proof: the best trial beats the median one, and every trial's spec file validates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
PARTS = ("sample", "validate", "build", "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--tuner", default="random", choices=["random", "bayesian", "hyperband"])
    args = parser.parse_args()
    from make_tune_data import make

    import graphspec
    from graphspec.keras import tune

    spec = graphspec.load(ROOT / "examples" / "tune_mlp.yaml")
    with tempfile.TemporaryDirectory() as folder:
        started, cpu = time.perf_counter(), time.process_time()
        result = tune.tune(
            spec,
            make(2000, 1),
            make(500, 2),
            trials=args.trials,
            tuner=args.tuner,
            directory=folder,
            log=lambda line: None,
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        copies = list(Path(folder).glob("*/trial_*/spec.yaml"))
        invalid = [c for c in copies if any(d.is_error for d in graphspec.validate(c))]

    print(describe() + f", keras-tuner {_version('keras-tuner')}")
    print(
        f"{args.tuner} search of examples/tune_mlp.yaml until {args.trials} trials complete: "
        f"{len(result.trials)} trials, {wall:.1f} s wall, {cpu:.1f} s CPU in this process\n"
    )
    head = ["trial", "status", *PARTS, "other", "total", "graphspec"]
    print("| " + " | ".join(f"{h:>9}" for h in head) + " |")
    print("|" + "|".join("-" * 11 for _ in head) + "|")
    totals = dict.fromkeys((*PARTS, "other", "total"), 0.0)
    for t in sorted(result.trials, key=lambda t: int(t.trial)):
        seconds = dict(t.seconds)
        seconds["other"] = seconds["total"] - sum(seconds[p] for p in PARTS)
        for key in totals:
            totals[key] += seconds[key]
        share = t.graphspec_seconds / seconds["total"] if seconds["total"] else 0.0
        cells = [
            t.trial,
            t.status,
            *[f"{seconds[k]:.3f}" for k in (*PARTS, "other", "total")],
            f"{share:.1%}",
        ]
        print("| " + " | ".join(f"{c:>9}" for c in cells) + " |")
    ours = sum(totals[p] for p in ("sample", "validate", "build"))
    cells = [
        "all",
        "",
        *[f"{totals[k]:.3f}" for k in (*PARTS, "other", "total")],
        f"{ours / totals['total']:.1%}",
    ]
    print("| " + " | ".join(f"{c:>9}" for c in cells) + " |")
    print(
        f"\ngraphspec's share of the trials' time: {ours / totals['total']:.1%} "
        f"(target: under 10%); training: {totals['train'] / totals['total']:.1%}"
    )
    scores = [t.objective for t in result.completed]
    print(
        f"best {result.objective[0]} {result.best.objective:.4f}, median "
        f"{statistics.median(scores):.4f}: the best "
        f"{'beats' if result.best.objective < statistics.median(scores) else 'does NOT beat'}"
        f" the median; {len(copies)} trial spec files, {len(invalid)} invalid"
    )


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
