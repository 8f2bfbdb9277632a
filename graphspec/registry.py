"""The registries of custom layers and ops, declared together, and plugin loading.

Built-in names (every public `keras.layers` class, every `keras.ops` function) are not stored
here: they come from the catalog, so that looking them up never imports Keras. A registered
name that collides with a built-in or an earlier registration is an error unless
`override=True`, and the error says where the first one came from.

Plugins are Python modules that register things. They reach graphspec only through the
Python API, the CLI's `--plugin`, or the `graphspec.plugins` entry-point group: a spec's
text never names code to import.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from . import signatures
from .errors import RegistryError
from .signatures import LayerSignature, OpSignature

ENTRY_POINT_GROUP = "graphspec.plugins"


def _origin(obj: Any) -> str:
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", repr(obj))
    try:
        where = f" ({inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]})"
    except (TypeError, OSError):
        where = ""
    return f"{module}.{qualname}{where}"


class Registry:
    """Name -> registered object, with where each came from.

    `register` works as a decorator with or without arguments, and as a plain call."""

    def __init__(
        self,
        kind: str,
        builtin: Callable[[str], Any],
        builtin_origin: str,
        describe: Callable[[Any], Any],
    ):
        self.kind = kind
        self._builtin = builtin
        self._builtin_origin = builtin_origin
        self._describe = describe
        self._entries: dict[str, tuple[Any, Any, str]] = {}  # name -> (object, signature, origin)

    def register(
        self,
        obj: Any = None,
        *,
        name: str | None = None,
        override: bool = False,
        shape: Callable | None = None,
    ):
        if isinstance(obj, str):  # @register_op("name")
            obj, name = None, obj
        if obj is None:
            return lambda target: self.register(target, name=name, override=override, shape=shape)
        key = name or obj.__name__
        if not override:
            if key in self._entries:
                raise RegistryError(
                    f"{self.kind} '{key}' is already registered by {self._entries[key][2]}. "
                    f"Received a second registration from {_origin(obj)}. Pass override=True to "
                    "replace it, or register under another name."
                )
            if self._builtin(key) is not None:
                raise RegistryError(
                    f"{self.kind} '{key}' is already defined by Keras "
                    f"({self._builtin_origin}.{key}). Received a registration from "
                    f"{_origin(obj)}. Pass override=True to shadow it, or pick another name."
                )
        self._entries[key] = (obj, self._describe(obj), _origin(obj))
        from .analysis import rules  # not at import: the analysis reads these registries

        if shape is not None:
            rules.register_shape(self.kind, key, shape)
        else:  # a re-registration without a rule must not keep an old one
            rules.unregister_shape(self.kind, key)
        return obj

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        from .analysis import rules

        rules.unregister_shape(self.kind, name)

    def get(self, name: str) -> Any | None:
        entry = self._entries.get(name)
        return entry[0] if entry else None

    def signature(self, name: str):
        """What validation needs to know: registered entries first, then Keras's built-ins."""
        entry = self._entries.get(name)
        return entry[1] if entry else self._builtin(name)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def _describe_layer(cls: Any) -> LayerSignature:
    from .keras.describe import describe_layer  # a Layer class can only be read with Keras

    return LayerSignature.from_entry(describe_layer(cls))


def _describe_op(fn: Any) -> OpSignature:
    if not callable(fn):
        raise RegistryError(f"register_op expects a function fn(inputs, **args). Received: {fn!r}")
    return signatures.describe_op(fn)


# The registries of graphspec, one line each.
LAYERS = Registry(
    "layer", signatures.builtin_layer, "keras.layers", _describe_layer
)  # custom Layer classes
OPS = Registry(
    "op", signatures.builtin_op, "keras.ops", _describe_op
)  # functions fn(inputs, **args)


def register_layer(
    cls: Any = None,
    *,
    name: str | None = None,
    override: bool = False,
    shape: Callable | None = None,
):
    """Register a `keras.layers.Layer` subclass as a node type (`layer: Name`).

    Use as `@register_layer`, `@register_layer(name="Alias")` or `register_layer(MyLayer)`.
    The class is also registered with Keras's serialization (package `graphspec`) unless it
    already is, so saved models reload with `keras.models.load_model`. `shape=fn` gives
    static analysis a pure-Python rule, `fn(input_shapes, args) -> output shape(s)` (batch
    axis first, None for unknown sizes); without it the layer's output shape is unknown until
    the model is built."""
    return LAYERS.register(cls, name=name, override=override, shape=shape)


def register_op(name: Any = None, *, override: bool = False, shape: Callable | None = None):
    """Register `fn(inputs, **args)` as an op node (`op: name`).

    `inputs` is one tensor, a list (several `in` references) or a dict (a mapping `in`).
    Use as `@register_op("name")`, `@register_op` or `register_op("name")(fn)`. `shape=fn` is
    a static shape rule, as for `register_layer`."""
    return OPS.register(name, override=override, shape=shape)


# -- plugins --------------------------------------------------------------------------------

_entry_points_loaded = False


def load_plugin(ref: str) -> Any:
    """Import a plugin: a path to a .py file, or a dotted module name. Errors name the plugin."""
    try:
        if ref.endswith(".py") or Path(ref).is_file():
            path = Path(ref).resolve()
            if not path.is_file():
                raise RegistryError(f"plugin file not found: '{ref}'")
            module_name = f"graphspec_plugin_{path.stem}"
            if module_name in sys.modules and getattr(
                sys.modules[module_name], "__file__", None
            ) == str(path):
                return sys.modules[module_name]
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            return module
        return importlib.import_module(ref)
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(f"cannot load plugin '{ref}': {type(exc).__name__}: {exc}") from exc


def load_entry_points() -> None:
    """Import the plugins installed under the `graphspec.plugins` entry-point group, once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            raise RegistryError(
                f"cannot load plugin entry point '{ep.name} = {ep.value}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc


# -- Keras serialization of graphspec's own layers ---------------------------------------------


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a callback right after a module is first imported.

    `import graphspec` must not import Keras (validation stays light), yet a saved model with
    op nodes must reload with plain `keras.models.load_model` after `import graphspec`. So
    graphspec's Keras classes are registered the moment anyone imports Keras."""

    def __init__(self, module: str, callback: Callable[[], None]):
        self.module, self.callback = module, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, callback = spec.loader.exec_module, self.callback

        def exec_then_call(module):
            exec_module(module)
            try:
                callback()
            except Exception as exc:  # never break the user's `import keras`
                warnings.warn(f"graphspec could not register its Keras layers: {exc}", stacklevel=2)

        spec.loader.exec_module = exec_then_call
        return spec


def _register_keras_objects() -> None:
    importlib.import_module(f"{__package__}.keras.ops")


def register_keras_objects_on_import() -> None:
    if "keras" in sys.modules:
        _register_keras_objects()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("keras", _register_keras_objects))
