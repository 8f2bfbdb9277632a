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
