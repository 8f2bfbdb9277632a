"""What graphspec needs to know about a registered layer class."""

from __future__ import annotations

import inspect
from typing import Any

import keras

from ..errors import RegistryError
from .catalog_gen import layer_entry


def describe_layer(cls: Any) -> dict:
    """The signature entry of a `keras.layers.Layer` subclass given to `register_layer`. The
    class is also registered with Keras's serialization (package `graphspec`) unless it
    already is, so saved models find it again on load."""
    if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
        raise RegistryError(
            f"register_layer expects a keras.layers.Layer subclass. Received: {cls!r}"
        )
    entry = layer_entry(cls)
    if entry["input_form"] == "single":  # a custom layer may take one tensor or a list
        entry["inputs"], entry["input_form"], entry["outputs"] = [1, None], "auto", None
    if keras.saving.get_registered_name(cls) == cls.__name__:
        keras.saving.register_keras_serializable(package="graphspec")(cls)
    return entry
