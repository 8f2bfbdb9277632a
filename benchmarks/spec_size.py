"""Spec size against Keras's own JSON, for the examples of this repository.

    python benchmarks/spec_size.py

Per example: lines and bytes of the spec, against lines (pretty-printed with indent 2) and
bytes of `model.to_json()` for the model it builds. The zoo of keras.applications is in
`benchmarks/export_zoo.py`.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import describe  # noqa: E402

import graphspec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    print(describe())
    graphspec.load_plugin(str(ROOT / "examples" / "plugins" / "seed_ops.py"))
    graphspec.load_plugin(str(ROOT / "examples" / "plugins" / "seed_layers.py"))
    print(
        f"| {'example':<26} | {'spec lines':>10} | {'spec bytes':>10} | {'to_json lines':>13} "
        f"| {'to_json bytes':>13} |"
    )
    print("|" + "|".join("-" * w for w in (28, 12, 12, 15, 15)) + "|")
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        model = graphspec.build(path)
        text = path.read_text()
        raw = model.to_json()
        pretty = json.dumps(json.loads(raw), indent=2)
        print(
            f"| {path.name:<26} | {len(text.splitlines()):>10} | {len(text.encode()):>10,} | "
            f"{len(pretty.splitlines()):>13,} | {len(raw):>13,} |"
        )


if __name__ == "__main__":
    main()
