"""Signatures of Keras's built-in layers and ops, so that validation never imports Keras.

`catalog.json` beside this file is generated from the installed Keras by
`python scripts/update_catalog.py` (with `graphspec.keras.catalog_gen`);
`tests/test_catalog.py` fails when it is stale. This module only reads it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

CATALOG_FILE = "catalog.json"

#: The Keras backends a spec can be checked against (`graphspec validate --backend NAME`).
BACKENDS = ("jax", "tensorflow", "torch")

# Layers that a spec cannot describe: they hold Python callables or foreign objects, or load
# files. Each maps to the reason shown to the user.
UNSUPPORTED_LAYERS = {
    "Lambda": "a Lambda holds Python code; register the function with graphspec.register_op "
    "and use an 'op' node, which also reloads in Keras's safe mode",
    "Layer": "the abstract base class; register a subclass with graphspec.register_layer",
    "InputLayer": "inputs are declared under 'inputs'",
    "Input": "inputs are declared under 'inputs'",
    "InputSpec": "not a layer",
    "Wrapper": "an abstract base class; use Bidirectional or TimeDistributed",
    "TFSMLayer": "it loads a SavedModel from disk at build time",
    "TorchModuleWrapper": "it wraps a Python object",
    "JaxLayer": "it wraps a Python function",
    "FlaxLayer": "it wraps a Python object",
}


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """The shipped catalog (read once per process)."""
    return json.loads(resources.files(__package__).joinpath(CATALOG_FILE).read_text("utf-8"))


def layer(name: str) -> dict | None:
    return load()["layers"].get(name)


def op(name: str) -> dict | None:
    return load()["ops"].get(name)


def unsupported(kind: str, name: str) -> list[dict]:
    """What Keras's backends refuse of a built-in layer (`kind` "layers") or op ("ops"): a
    list of findings, each `{"backends": [...], "reason": ..., "source": ...}` with, for
    refusals that depend on arguments, `"when"` (a condition on the arguments) and perhaps
    `"none_as"` (arguments the backend reads as a value when they are None).
    `graphspec.keras.catalog_gen` documents how they are found; `graphspec.analysis.backends`
    reads them."""
    return load()["unsupported"][kind].get(name, [])
