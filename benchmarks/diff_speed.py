"""Whole-process time and peak memory of `graphspec diff` on ResNet-50.

    python benchmarks/diff_speed.py [--runs 5]

Rows: two ResNet-50 specs (examples/resnet50.yaml and a copy with a 10-class head; compared
by the static summary, no Keras), the example against the spec `graphspec export` writes of
keras.applications.ResNet50 (153 renames to find), and two saved `.keras` files
(keras.applications.ResNet50 with 1000 and with 10 classes, exported on the fly, which
imports Keras). `python -c "import keras"` is the reference row. Targets (issue 14): under
1 s for two specs, under 15 s for two .keras files.

Every run is `python -m graphspec.cli diff A B` with PYTHONPATH naming this checkout, from a
scratch folder, timed with /usr/bin/time; each row is the median of --runs runs. The inputs
are made once, before timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import describe

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], cwd: Path, expect: set[int]) -> tuple[float, float]:
    """Wall seconds and peak MiB of one process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *argv], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode not in expect:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    wall, kib = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def make_inputs(folder: Path) -> dict[str, Path]:
    example = ROOT / "examples" / "resnet50.yaml"
    head10 = folder / "resnet50_head10.yaml"
    text = example.read_text()
    head10.write_text(text.replace('units: "${classes}"', "units: 10"))
    exported = folder / "keras_resnet50.yaml"
    models = {"resnet50_1000.keras": 1000, "resnet50_10.keras": 10}
    code = (
        "import sys, keras\n"
        "from graphspec.cli import main\n"
        f"for name, classes in {models!r}.items():\n"
        "    keras.backend.clear_session()\n"
        "    keras.applications.ResNet50(weights=None, classes=classes).save(name)\n"
        f"sys.exit(main(['export', 'resnet50_1000.keras', '-o', {str(exported)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, check=True, capture_output=True
    )
    return {
        "example": example,
        "head10": head10,
        "exported": exported,
        **{name: folder / name for name in models},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = make_inputs(folder)
        diff = [sys.executable, "-m", "graphspec.cli", "diff"]
        rows = [
            ('python -c "import keras"', [sys.executable, "-c", "import keras"], None, {0}),
            (
                "2 ResNet-50 specs (head 1000 -> 10)",
                diff + [str(files["example"]), str(files["head10"])],
                1.0,
                {1},
            ),
            (
                "example vs exported ResNet-50 (153 renames)",
                diff + [str(files["example"]), str(files["exported"])],
                1.0,
                {1},
            ),
            (
                "2 ResNet-50 .keras files (head 1000 -> 10)",
                diff + [str(files["resnet50_1000.keras"]), str(files["resnet50_10.keras"])],
                15.0,
                {1},
            ),
        ]
        print(f"\nmedian of {args.runs} runs, whole process\n")
        print("| what | wall s | peak MiB | target |")
        print("|---|---:|---:|---|")
        for label, argv, target, expect in rows:
            runs = [timed(argv, folder, expect) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            peak = statistics.median(r[1] for r in runs)
            verdict = (
                "" if target is None else f"< {target:g} s: {'met' if wall < target else 'MISSED'}"
            )
            print(f"| {label} | {wall:.2f} | {peak:.0f} | {verdict} |")


if __name__ == "__main__":
    main()
