"""Loading a saved `.keras` archive (a model to export, a checkpoint to resume) with one-line
errors that say what the file is and what to do, instead of Keras's tracebacks.

The archive's `config.json` is read first, so that what Keras would refuse deep inside
deserialization is named up front: a file that is empty, a directory or not a zip archive;
a Lambda layer (Python bytecode, never loaded: safe mode stays on); a class that no plugin
registered in this process; for export, a subclassed model, whose `call()` is Python code.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import keras

from .. import output
from ..errors import Error
from . import (
    _private,
    ops,  # noqa: F401 (registers the Op layer that models with custom ops name)
)

_CONFIG = "config.json"
_MAX_CONFIG = 256 * 2**20  # a model's config.json is kilobytes to a few megabytes
_GRAPHS = ("Functional", "Sequential")


def save(model, path: str | Path, metadata: dict) -> None:
    """`output.save_model` (the archive with graphspec's metadata, written atomically),
    without importing TensorFlow on another backend: Keras's saving would (see _private)."""
    with _private.tensorflow_left_unimported():
        output.save_model(model, path, metadata)


def read_config(path: str | Path, error: Callable[[str], Exception], what: str) -> dict:
    """The model config inside a `.keras` archive. `error` makes the exception raised for
    a file that is not one (its message names `what`, e.g. "the checkpoint", and `path`)."""
    shown = f"{what} '{path}'"
    path = Path(path)
    if path.is_dir():
        raise error(f"{shown} is a directory, not a .keras file")
    if not path.exists():
        raise error(f"{shown} does not exist")
    if not path.is_file():
        raise error(f"{shown} is not a regular file")
    try:
        if path.stat().st_size == 0:
            raise error(f"{shown} is empty (0 bytes), not a saved model")
        with zipfile.ZipFile(path) as archive:
            if _CONFIG not in archive.namelist():
                raise error(
                    f"{shown} is a zip archive without {_CONFIG}: not a model saved "
                    "by Keras 3 (model.save('name.keras'))"
                )
            if archive.getinfo(_CONFIG).file_size > _MAX_CONFIG:
                raise error(f"{shown} has a {_CONFIG} larger than {_MAX_CONFIG // 2**20} MB")
            config = json.loads(archive.read(_CONFIG))
    except Error:
        raise
    except zipfile.BadZipFile:
        raise error(
            f"{shown} is not a .keras archive (the zip file model.save writes); it "
            "is damaged or another kind of file"
        ) from None
    except (OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise error(f"cannot read {shown}: {_short(exc)}") from None
    except ValueError as exc:  # config.json is not JSON
        raise error(f"{shown} has a damaged {_CONFIG}: {_short(exc)}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise error(f"{shown} has a {_CONFIG} that describes no model")
    return config


def problem(config: dict, *, graph_only: bool = False) -> str | None:
    """Why a model with this config cannot be loaded (or, with `graph_only`, exported), as
    the end of a sentence about the file; None when nothing is known to be wrong."""
    top = config.get("class_name")
    if graph_only and not (top in _GRAPHS and str(config.get("module", "")).startswith("keras")):
        module, registered = config.get("module"), config.get("registered_name")
        where = f"{module}.{top}" if module else registered or top
        return (
            f"holds a subclassed model ({where}), whose call() is Python code: it "
            "has no graph a spec can describe. Rebuild it with the functional API "
            "(keras.Model(inputs, outputs)) or keras.Sequential, registering its custom "
            "layers with graphspec.register_layer"
        )
    for obj in _objects(config):
        name, registered = obj.get("class_name"), obj.get("registered_name")
        # `builtins` holds serialized functions, which Keras finds by name in its modules.
        builtin = str(obj.get("module") or "").startswith(("keras", "builtins"))
        if name == "Lambda" and builtin and obj.get("module") != "builtins":
            layer = (obj.get("config") or {}).get("name", "?")
            return (
                f"holds a Lambda layer ('{layer}'), whose Python code graphspec never "
                "loads (it could run anything). Replace it with an op node "
                "(graphspec.register_op) and save the model again"
            )
        if registered and not builtin and keras.saving.get_registered_object(registered) is None:
            return (
                f"uses the class '{registered}', which is not registered in this "
                "process. Import the plugin that registers it first (--plugin), or "
                "register it with keras.saving.register_keras_serializable"
            )
    return None


def load(
    path: str | Path, error: Callable[[str], Exception], what: str, *, graph_only: bool = False
):
    """A `.keras` model, loaded by Keras in safe mode, or `error(message)` raised with a
    message that names the file, says what it is and what to do."""
    config = read_config(path, error, what)
    found = problem(config, graph_only=graph_only)
    if found:
        raise error(f"{what} '{path}' {found}")
    try:
        return keras.saving.load_model(path)  # safe mode: no bytecode is ever run
    except Exception as exc:  # Keras's reasons are many (versions, weights, shapes)
        raise error(f"Keras could not load {what} '{path}': {_short(exc)}") from None


def _objects(value: Any):
    """Every serialized Keras object in a config, depth first."""
    if isinstance(value, dict):
        if "class_name" in value:
            yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _short(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:400] + " ..."
