import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

import graphspec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLUGINS = EXAMPLES / "plugins"
INVALID = Path(__file__).resolve().parent / "invalid"


def pytest_report_header(config):
    # Keras picks its backend from KERAS_BACKEND; CI's second pass runs the tests marked
    # `backends` with KERAS_BACKEND=jax.
    backend = os.environ.get("KERAS_BACKEND", "not set: ~/.keras/keras.json, else tensorflow")
    return f"KERAS_BACKEND: {backend}"


@pytest.fixture(scope="session")
def seed_plugins():
    """The example plugins, imported once per test process (registration is global)."""
    ops = graphspec.load_plugin(str(PLUGINS / "seed_ops.py"))
    layers = graphspec.load_plugin(str(PLUGINS / "seed_layers.py"))
    return ops, layers


def make_train_data(out: Path, *options: str) -> Path:
    """Arrays for examples/train_mlp.yaml in `out`, made by the example's own script."""
    subprocess.run(
        [sys.executable, str(EXAMPLES / "make_train_data.py"), str(out), *options],
        check=True,
        capture_output=True,
    )
    return out


def codes(diagnostics):
    return [(d.code, d.line, d.column) for d in diagnostics]


# Hypothesis profiles: a short one by default (CI), a long one on request:
#   pytest tests/test_properties.py --hypothesis-profile=long
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")


@st.composite
def random_dags(draw, merges=("add",)):
    """Random valid graphs of Dense, relu and merges over width-4 tensors. A `concat` merge is
    followed by a Dense back to width 4, so any later Add fits."""
    n = draw(st.integers(1, 10))
    nodes, names = [], ["x"]
    for i in range(n):
        kind = draw(
            st.sampled_from(["dense", "relu", *merges] if len(names) > 1 else ["dense", "relu"])
        )
        name = f"n{i}"
        if kind in ("add", "concat"):
            a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
            nodes.append(
                {"name": name, "layer": "Add" if kind == "add" else "Concatenate", "in": [a, b]}
            )
            if kind == "concat":
                nodes.append(
                    {"name": name + "p", "layer": "Dense", "in": name, "args": {"units": 4}}
                )
                name += "p"
        elif kind == "dense":
            nodes.append(
                {
                    "name": name,
                    "layer": "Dense",
                    "in": draw(st.sampled_from(names)),
                    "args": {"units": 4},
                }
            )
        else:
            nodes.append({"name": name, "op": "relu", "in": draw(st.sampled_from(names))})
        names.append(name)
    used = {
        r for node in nodes for r in ([node["in"]] if isinstance(node["in"], str) else node["in"])
    }
    return {
        "graphspec": 1,
        "name": "random",
        "inputs": {"x": {"shape": [4]}},
        "layers": nodes,
        "outputs": [n for n in names[1:] if n not in used],
    }
