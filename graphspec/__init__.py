"""graphspec: declarative model graphs for Keras 3.

    import graphspec
    spec = graphspec.load("model.yaml")   # validates; never imports Keras
    model = spec.build()                  # keras.Sequential or functional keras.Model

Importing graphspec does not import Keras or TensorFlow. It arranges for graphspec's own
Keras layers (op nodes) to be registered with Keras's serialization as soon as Keras is
imported, so saved models reload with plain `keras.models.load_model`.
"""

import gc as _gc

# Importing graphspec (pydantic's models, networkx, the shape rules) makes tens of thousands of
# objects that live as long as the process; the cyclic collector would walk them all again
# while they are being made (0.02 s of the 0.25 s a `graphspec validate` starts in). It is
# paused for the imports and left as it was found.
_collecting = _gc.isenabled()
_gc.disable()
try:
    from .api import Spec, build, from_keras, json_schema, load, saved_metadata, validate
    from .diff import Diff, diff
    from .errors import (
        CODES,
        DataError,
        Diagnostic,
        Error,
        ExportError,
        OutputError,
        PlotError,
        RegistryError,
        SpecError,
    )
    from .limits import Limits
    from .registry import load_plugin, register_layer, register_op
    from .registry import register_keras_objects_on_import as _register_keras_objects_on_import
finally:
    if _collecting:
        _gc.enable()

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "DataError",
    "Diagnostic",
    "Diff",
    "Error",
    "ExportError",
    "Limits",
    "OutputError",
    "PlotError",
    "RegistryError",
    "Spec",
    "SpecError",
    "build",
    "diff",
    "from_keras",
    "json_schema",
    "load",
    "load_plugin",
    "register_layer",
    "register_op",
    "saved_metadata",
    "validate",
]

_register_keras_objects_on_import()
