"""Synthetic regression data for examples/train_mlp.yaml: y = sin(x . w) + noise.

    python examples/make_train_data.py OUT_DIR [--samples 1000]

Writes OUT_DIR/train.npz and OUT_DIR/val.npz with arrays named after the model's input
(`features`) and output (`target`).
"""

import argparse
from pathlib import Path

import numpy as np


def make(samples: int, seed: int):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(0).normal(size=8)  # the same function for train and validation
    x = rng.normal(size=(samples, 8)).astype("float32")
    y = (np.sin(x @ w) + 0.05 * rng.normal(size=samples)).astype("float32")[:, None]
    return {"features": x, "target": y}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "train.npz", **make(args.samples, 1))
    np.savez(args.out / "val.npz", **make(args.samples // 5, 2))
    print(f"wrote {args.out / 'train.npz'} and {args.out / 'val.npz'}")


if __name__ == "__main__":
    main()
