"""A checked graph -> `keras.Sequential` or functional `keras.Model`.

The only place where layers are created. Keras's own errors (shapes, dtypes, bad argument
values) are caught per node and re-reported at the node's line, with the node's name; nodes
that do not depend on a failed node are still built, so one build reports every such error.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from ..codes import CATALOGUE, report
from ..errors import ERROR, Diagnostic, SpecError, pointer
from ..graph import CallerInput, CheckedGraph, GraphNode, Ref
from ..registry import LAYERS, OPS
from ..settings import _per_output as _output_entries
from ..settings import _weights_count
from ..signatures import builtin_layer
from ..source import Loc, Source
from . import _private
from .ops import KerasOp, Op
from .topology import output_names

_MAX_MESSAGE = 800


class _BuildError(Exception):
    def __init__(self, node: GraphNode, exc: Exception, during: str, shapes: str = ""):
        self.node, self.exc, self.during, self.shapes = node, exc, during, shapes


def _keras_message(exc: Exception) -> str:
    """Keras's message without its terminal colours, call-site preamble and argument dump."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    text = re.sub(r"^\s*Exception encountered when calling [\w.]+\(\)\.?", "", text)
    text = " ".join(text.split("Arguments received by")[0].split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " ..."


def _layer_class(name: str):
    registered = LAYERS.get(name)
    if registered is not None:
        return registered
    module = getattr(builtin_layer(name), "module", None)
    if module:  # a layer of keras.applications; the module comes from the catalog, not a spec
        return _private.application_layer(module, name)
    return getattr(keras.layers, name)


def _materialize(value: Any) -> Any:
    """Nested `{layer: X, args: {...}}` mappings inside args become layer objects."""
    if isinstance(value, dict):
        if isinstance(value.get("layer"), str):
            return _layer_class(value["layer"])(**_materialize(value.get("args", {})))
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize(v) for v in value]
    return value


def make_layer(node: GraphNode, sequential: bool = False):
    """A fresh layer object for a `layer` or `op` node; for an op node of a `keras.ops`
    function in a functional model, a `KerasOp` (Keras's own operation, once applied). A
    `keras.Sequential` holds only layers, so there every op node is an `Op` layer."""
    if node.kind == "op":
        if not sequential and OPS.get(node.type) is None:
            return KerasOp(op=node.type, args=node.decl.args, form=node.form)
        return Op(op=node.type, args=node.decl.args, form=node.form, name=node.name)
    return _layer_class(node.type)(name=node.name, **_materialize(node.decl.args))


def _input_tensor(name: str, spec, caller: dict[str, Any]):
    if isinstance(spec, CallerInput):  # a nested sub-model takes the shape of what it is applied to
        given = caller[name]
        return keras.Input(shape=tuple(given.shape[1:]), dtype=given.dtype, name=name)
    return keras.Input(
        shape=tuple(spec.shape),
        dtype=spec.dtype,
        sparse=spec.sparse,
        batch_size=spec.batch_size,
        name=name,
    )


def _pick(value: Any, ref: Ref, node_name: str) -> Any:
    if ref.index is None:
        return value
    if not isinstance(value, (list, tuple)):
        if ref.index == 0:
            return value
        raise IndexError(
            f"'{ref.node}:{ref.index}' asks for output {ref.index}, but '{ref.node}' has one output"
        )
    if ref.index >= len(value):
        raise IndexError(
            f"'{ref.node}:{ref.index}' asks for output {ref.index}, but "
            f"'{ref.node}' has {len(value)} outputs (indexes 0 to {len(value) - 1})"
        )
    return value[ref.index]


class Compiler:
    def __init__(
        self, source: Source, checked: CheckedGraph, name: str, caller: dict[str, Any] | None = None
    ):
        self.source = source
        self.g = checked
        self.name = name
        self.caller = caller or {}  # input name -> tensor, for a nested sub-model

    # -- public ----------------------------------------------------------------------------
    def build(self):
        if self.g.kind == "sequential":
            return self._sequential()
        return self._functional()

    # -- functional ------------------------------------------------------------------------
    def _functional(self):
        tensors, _, failures = self._apply_all()
        if failures:
            raise SpecError(self._diagnostics(failures))
        inputs = [tensors[name] for name in self.g.inputs]
        outputs = self._select_outputs(tensors)
        return keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs, name=self.name
        )

    def _apply_all(self):
        tensors: dict[str, Any] = {
            n: _input_tensor(n, self.g.nodes[n].decl, self.caller) for n in self.g.inputs
        }
        layers: dict[str, Any] = {}
        failures: list = []  # _BuildError, or the Diagnostics of a nested sub-model
        broken: set[str] = set()
        for name in self.g.order:
            node = self.g.nodes[name]
            if any(ref.node in broken for ref in node.refs()) or node.owner in broken:
                broken.add(name)  # its cause is reported already
                continue
            owner = self.g.nodes[node.owner] if node.owner else node
            try:
                if owner.name not in layers and owner.kind == "submodel":
                    given = [_pick(tensors[r.node], r, name) for r in node.refs()]
                    layers[owner.name] = Compiler(
                        self.source, owner.sub, owner.name, dict(zip(owner.sub.inputs, given))
                    ).build()
                elif owner.name not in layers:
                    layers[owner.name] = make_layer(owner, self.g.kind == "sequential")
            except SpecError as exc:  # inside a nested sub-model, already located
                failures.extend(exc.diagnostics)
                broken.update((owner.name, name))
                continue
            except Exception as exc:  # Keras validating the constructor arguments
                failures.append(_BuildError(owner, exc, "create"))
                broken.add(owner.name)
                broken.add(name)
                continue
            try:
                tensors[name] = self._call(layers[owner.name], owner, node, tensors)
            except Exception as exc:
                failures.append(_BuildError(node, exc, "call", _shapes(node, tensors)))
                broken.add(name)
        return tensors, layers, failures

    def _call(self, layer, owner: GraphNode, node: GraphNode, tensors: dict[str, Any]):
        def get(ref: Ref):
            return _pick(tensors[ref.node], ref, node.name)

        if isinstance(layer, KerasOp):  # each call records an operation named after its node
            inputs = node.inputs
            if node.form == "single":
                return layer(get(inputs), node.name)
            if node.form == "list":
                return layer([get(r) for r in inputs], node.name)
            return layer(
                {
                    k: [get(r) for r in v] if isinstance(v, list) else get(v)
                    for k, v in inputs.items()
                },
                node.name,
            )
        if node.form == "single":
            return layer(get(node.inputs))
        if node.form == "list":
            args = [get(r) for r in node.inputs]
            if owner.kind == "layer" and LAYERS.signature(owner.type).input_form == "positional":
                return layer(*args)
            return layer(args)
        mapping = {
            k: [get(r) for r in v] if isinstance(v, list) else get(v)
            for k, v in node.inputs.items()
        }
        if owner.kind == "op":
            return layer(mapping)
        first = LAYERS.signature(owner.type).call[0]
        if first in mapping:
            return layer(mapping.pop(first), **mapping)
        return layer(**mapping)

    def _select_outputs(self, tensors: dict[str, Any]):
        def get(ref: Ref):
            return _pick(tensors[ref.node], ref, "outputs")

        outputs = self.g.outputs
        if isinstance(outputs, Ref):
            return get(outputs)
        if isinstance(outputs, list):
            return [get(r) for r in outputs]
        return {k: get(r) for k, r in outputs.items()}

    # -- sequential ------------------------------------------------------------------------
    def _sequential(self):
        (input_name,) = self.g.inputs
        first = _input_tensor(input_name, self.g.nodes[input_name].decl, self.caller)
        if any(self.g.nodes[n].kind == "submodel" for n in self.g.order):
            # A nested sub-model needs its input shape to exist: apply the chain once.
            _, layers, failures = self._apply_all()
            if failures:
                raise SpecError(self._diagnostics(failures))
            return keras.Sequential([first, *(layers[n] for n in self.g.order)], name=self.name)
        try:
            layers = [make_layer(self.g.nodes[name], True) for name in self.g.order]
            return keras.Sequential([first, *layers], name=self.name)
        except Exception as exc:
            # Keras does not say which layer failed: apply fresh layers one by one to find it.
            _, _, failures = self._apply_all()
            if not failures:
                failures = [_BuildError(self.g.nodes[self.g.order[0]], exc, "call")]
            raise SpecError(self._diagnostics(failures)) from None

    # -- errors ----------------------------------------------------------------------------
    def _diagnostics(self, failures: list) -> list[Diagnostic]:
        return [f if isinstance(f, Diagnostic) else self._diagnostic(f) for f in failures]

    def _diagnostic(self, failure: _BuildError) -> Diagnostic:
        node, exc = failure.node, failure.exc
        what = {
            "layer": f"{node.type}",
            "op": f"op {node.type}",
            "submodel": f"sub-model of block {node.type}",
        }.get(node.kind, f"shared {self.g.nodes[node.owner].type if node.owner else ''}")
        if failure.during == "create":
            message = f"Keras could not create the layer of node '{node.name}' ({what}): "
            loc = node.loc + ("args",) if getattr(node.decl, "args", None) else node.loc
        else:
            message = f"Keras could not apply node '{node.name}' ({what}) to its inputs: "
            loc = node.loc
        hint = f"input shapes (batch axis first): {failure.shapes}" if failure.shapes else None
        return self.source.diagnostic(loc, "GS301", message + _keras_message(exc), hint)


def _shapes(node: GraphNode, tensors: dict[str, Any]) -> str:
    parts = []
    for ref in node.refs():
        try:
            shape = tuple(_pick(tensors[ref.node], ref, node.name).shape)
        except Exception:  # the reference itself is what failed
            continue
        label = ref.node if ref.index is None else f"{ref.node}:{ref.index}"
        parts.append(f"{label} {shape}")
    return ", ".join(parts)


def tensor_shapes(source: Source, checked: CheckedGraph) -> dict[str, Any]:
    """The symbolic output shape of every input and node (a list for several outputs)."""
    compiler = Compiler(source, checked, "shapes")
    tensors, _, failures = compiler._apply_all()
    if failures:
        raise SpecError(compiler._diagnostics(failures))

    def shape(value):
        if isinstance(value, (list, tuple)):
            return [shape(v) for v in value]
        return tuple(value.shape)

    return {name: shape(value) for name, value in tensors.items()}


SEED_MAX = 2**32 - 1  # NumPy's legacy generator, which keras.utils.set_random_seed seeds


def set_seed(seed: Any, source: Source, loc: Loc | None = None) -> None:
    """`keras.utils.set_random_seed` (Python, NumPy and backend generators) for a whole
    number from 0 to 2**32 - 1; anything else is a SpecError (GS110), located at `loc` in
    the spec when the seed comes from it, else naming the `seed` argument."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        fields = dict(low=0, high=f"{SEED_MAX:,}", received=seed)
        if loc is not None:
            raise SpecError([report(source, loc, "GS110", "range", at="train.seed", **fields)])
        raise SpecError(
            [
                Diagnostic(
                    source.path,
                    None,
                    None,
                    "GS110",
                    ERROR,
                    CATALOGUE["GS110"].render("range", at="seed", **fields),
                )
            ]
        )
    with _private.tensorflow_left_unimported():  # TensorFlow's seed only matters on it
        keras.utils.set_random_seed(seed)


def build(
    source: Source, checked: CheckedGraph, name: str, seed: int | None = None, compile: bool = True
):
    if seed is not None:
        set_seed(seed, source)
    model = Compiler(source, checked, name).build()
    if compile and checked.compile is not None:
        remainder = checked.train.remainder if checked.train is not None else "keep"
        compile_model(source, model, checked.compile, remainder)
    return model


# Metric strings that `model.compile` resolves itself, in any case, from the shapes.
_COMPILE_METRICS = ("accuracy", "acc", "crossentropy", "ce")


# Losses, metrics and optimizers need no TensorFlow on another backend, but serializing them
# (a loss wrapped for padding, `model.compile`) would import it: see _private.
@_private.tensorflow_left_unimported()
def compile_model(
    source: Source, model, settings, remainder: str = "keep", *, optimizer=None
) -> None:
    """`model.compile` from a spec's `compile` section. With remainder `pad`, losses average
    over the sample weights and metrics are weighted, so padding changes neither.

    Everything Keras would only reject once training starts is checked here, as GS302: the
    output names of loss, metric and weight mappings, the number of listed weights, and each
    metric name. `optimizer` (a Keras optimizer) replaces the section's, keeping its state."""
    weighted = remainder == "pad"
    loc = Loc(("compile",), source)
    outputs = output_names(model)
    diagnostics = _output_keys(source, loc, settings, outputs)
    if diagnostics:
        raise SpecError(diagnostics)

    def attempt(at: tuple, make):
        try:
            return make()
        except Exception as exc:
            key = pointer(at)
            raise SpecError(
                [report(source, loc + at, "GS302", "keras", key=key, message=_keras_message(exc))]
            ) from None

    def one_loss(value):
        fn = keras.losses.get(value)
        if not weighted:
            return fn
        if isinstance(fn, keras.losses.Loss):
            return fn.__class__.from_config(
                {**fn.get_config(), "reduction": "mean_with_sample_weight"}
            )
        return _private.weighted_loss_function(fn)  # wrapped as compile() wraps a loss name

    def losses():
        value = settings.loss
        if _per_output(value):
            return {
                out: attempt(("loss", out), lambda v=v: one_loss(v)) for out, v in value.items()
            }
        return attempt(("loss",), lambda: one_loss(value)) if value is not None else None

    def check_metric(at: tuple, name) -> None:
        if not (isinstance(name, str) and name.lower() in _COMPILE_METRICS):
            attempt(at, lambda: keras.metrics.get(name))  # compile() would defer this to fit

    metrics = settings.metrics
    if _per_output(metrics):
        for out, value in metrics.items():
            for i, name in enumerate(value if isinstance(value, list) else [value]):
                check_metric(
                    ("metrics", out, i) if isinstance(value, list) else ("metrics", out), name
                )
    elif metrics is not None:
        for i, name in enumerate(metrics):
            check_metric(("metrics", i), name)
    if optimizer is None:
        optimizer = attempt(("optimizer",), lambda: keras.optimizers.get(settings.optimizer))
    loss = losses()
    given = (
        {("weighted_metrics" if weighted else "metrics"): metrics} if metrics is not None else {}
    )
    attempt(
        ("metrics",),
        lambda: model.compile(
            optimizer=optimizer, loss=loss, loss_weights=settings.loss_weights, **given
        ),
    )


def _per_output(value) -> bool:
    """A mapping by output name (a serialized Keras object has a class_name instead)."""
    return isinstance(value, dict) and "class_name" not in value


def _output_keys(source: Source, loc: Loc, settings, outputs: list[str]) -> list[Diagnostic]:
    """GS302 for each output a loss, metric or weight mapping names that the model lacks,
    and for a list of weights that is not one per output."""
    found = []
    for key in ("loss", "metrics", "loss_weights"):
        _output_entries(source, loc + (key,), getattr(settings, key), outputs, key, found)
    return found + _weights_count(source, loc + ("loss_weights",), settings.loss_weights, outputs)
