"""Synthetic regression data for examples/tune_mlp.yaml: a smooth nonlinear function of 16
features, so that depth and width matter, plus a little noise.

    python examples/make_tune_data.py OUT_DIR [--samples 2000]

Writes OUT_DIR/tune_train.npz and OUT_DIR/tune_val.npz with arrays named after the model's
input (`features`) and output (`target`).
"""

import argparse
from pathlib import Path

import numpy as np


def make(samples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(0).normal(size=(16, 4))  # the same function for every split
    x = rng.normal(size=(samples, 16)).astype("float32")
    h = np.tanh(x @ w)
    y = (
        np.sin(2 * h[:, 0])
        + h[:, 1] * h[:, 2]
        - 0.5 * h[:, 3] ** 2
        + 0.05 * rng.normal(size=samples)
    ).astype("float32")[:, None]
    return {"features": x, "target": y}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "tune_train.npz", **make(args.samples, 1))
    np.savez(args.out / "tune_val.npz", **make(args.samples // 4, 2))
    print(f"wrote {args.out / 'tune_train.npz'} and {args.out / 'tune_val.npz'}")


if __name__ == "__main__":
    main()
