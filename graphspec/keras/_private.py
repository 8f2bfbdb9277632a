"""Every use graphspec makes of something Keras does not export, each with the reason no
public route exists. `tests/test_keras_boundary.py` checks each one, so a Keras upgrade that
changes them fails loudly there rather than somewhere downstream.

Nothing else in graphspec reads a private attribute or imports from `keras.src`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil
import sys

import keras


def merge_layer_base() -> type:
    """The base class of Keras's merge layers (Add, Concatenate, Dot, ...), which take their
    inputs as one list. Keras exports the layers, not their base class, and nothing public
    tells a merge layer from a single-input one."""
    from keras.src.layers.merging.base_merge import Merge

    return Merge


def application_layers() -> dict[str, type]:
    """Layer classes that keras.applications models use but keras.layers does not export
    (ConvNeXt's LayerScale, ...), by name. `keras.applications` exports only the model
    builders; the classes live in the builders' modules under `keras.src.applications`."""
    import keras.src.applications as apps

    found = {}
    for info in sorted(pkgutil.iter_modules(apps.__path__), key=lambda i: i.name):
        if info.name.endswith("_test"):
            continue
        module = importlib.import_module(f"{apps.__name__}.{info.name}")
        for name, obj in sorted(vars(module).items()):
            if (
                inspect.isclass(obj)
                and issubclass(obj, keras.layers.Layer)
                and obj.__module__ == module.__name__
                and not hasattr(keras.layers, name)
            ):
                found[name] = obj
    return found


def application_layer(module: str, name: str) -> type:
    """One of `application_layers()`, by the module the catalog recorded for it."""
    return getattr(importlib.import_module(module), name)


def weighted_loss_function(fn) -> keras.losses.Loss:
    """A loss function as the `keras.losses.Loss` that averages over the sample weights.

    When `compile()` is given a loss function, Keras wraps it in its `LossFunctionWrapper`
    (squeezing or expanding labels to the predictions' rank, then reducing). The class is
    not exported, but its saved form is part of every .keras file compiled with a loss name,
    so it is built from that form through the public `keras.losses.deserialize`; no
    `keras.src` import."""
    return keras.losses.deserialize(
        {
            "class_name": "LossFunctionWrapper",
            "config": {
                "fn": keras.losses.serialize(fn),
                "reduction": "mean_with_sample_weight",
                "name": getattr(fn, "__name__", None),
            },
        }
    )


def compile_names() -> dict[str, list[str]]:
    """The names Keras's `optimizers.get`, `losses.get` and `metrics.get` look strings up in
    ({"optimizers": [...], "losses": [...], "metrics": [...]}): candidates only, to be
    checked by calling `get`. Keras exports the getters, not the tables behind them, and the
    tables hold aliases (`mse`, `bce`, `kld`) that no public name lists. Optimizer names are
    looked up case-insensitively: both the class name and the lowercase key are given."""
    from keras.src import losses, metrics, optimizers

    return {
        "optimizers": sorted(
            {n for k, cls in optimizers.ALL_OBJECTS_DICT.items() for n in (k, cls.__name__)}
        ),
        "losses": sorted(losses.ALL_OBJECTS_DICT),
        "metrics": sorted(metrics.ALL_OBJECTS_DICT),
    }


def operation_of(tensor):
    """The operation that produced a symbolic tensor (its node in a functional graph).

    `keras.ops.mean(x, axis=1)` on a KerasTensor records a `Mean` operation with a name Keras
    makes up (`mean_3`); the public functions take no `name`. The op classes do, but their
    constructor and call arguments split differently for every op. So an op node calls the
    public function and then names the operation it recorded: Keras saves `operation.name`
    as the node's name and reloads the op in safe mode with no custom object. KerasTensor
    exports no accessor for its producer; `_keras_history` is what the functional model
    itself walks."""
    return tensor._keras_history.operation


@contextlib.contextmanager
def tensorflow_left_unimported():
    """Keras code that is not TensorFlow's imports TensorFlow whenever it is installed:
    `keras.utils.set_random_seed` seeds TensorFlow's generator too (for tf.data pipelines),
    and saving asks whether config values are `tf.TensorShape` or `tf.DType`. On another
    backend, while TensorFlow has not been imported, neither can matter (no TensorFlow
    object exists, graphspec feeds no tf.data pipeline), yet the import costs seconds and
    hundreds of megabytes. So, for the block, Keras's lazy handle on TensorFlow reports it
    unavailable. There is no public switch: the handle caches the answer of its `available`
    property in `_available`, and None (not asked yet) is restored afterwards. Keras
    layers that need TensorFlow on every backend (StringLookup, TextVectorization, ...)
    import it when they are made, so a model that holds one finds TensorFlow imported here
    and the block changes nothing."""
    from keras.src.utils.module_utils import tensorflow as handle

    if (
        keras.backend.backend() == "tensorflow"
        or "tensorflow" in sys.modules
        or handle._available is not None
    ):
        yield
        return
    handle._available = False
    try:
        yield
    finally:
        handle._available = None  # asked again next time: TensorFlow may be imported by then
