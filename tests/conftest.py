import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

import graphspec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLUGINS = EXAMPLES / "plugins"
INVALID = Path(__file__).resolve().parent / "invalid"


@pytest.fixture(scope="session")
def seed_plugins():
    """The example plugins, imported once per test process (registration is global)."""
    ops = graphspec.load_plugin(str(PLUGINS / "seed_ops.py"))
    layers = graphspec.load_plugin(str(PLUGINS / "seed_layers.py"))
    return ops, layers


def codes(diagnostics):
    return [(d.code, d.line, d.column) for d in diagnostics]


# Hypothesis profiles: a short one by default (CI), a long one on request:
#   pytest tests/test_properties.py --hypothesis-profile=long
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")
