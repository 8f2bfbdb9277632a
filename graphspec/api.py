"""The pipeline behind the public API: spec file -> `Source` -> `Document` -> `Composition`
-> `CheckedGraph` (+ the static `Summary`) -> Keras model. Each stage lives in its own module;
this one only runs them in order and gathers their diagnostics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import networkx as nx

from . import analysis as _analysis
from . import document as _document
from . import graph as _graph
from . import output, pipeline
from . import source as _source
from .analysis import backends as _backends
from .errors import Diagnostic, OutputError, PlotError, SpecError, sort_diagnostics
from .limits import DEFAULT as DEFAULT_LIMITS
from .limits import Limits


class Spec:
    """A validated spec. `build()` makes a fresh Keras model each time it is called."""

    def __init__(
        self,
        source: _source.Source,
        parsed: _document.Document,
        checked: _graph.CheckedGraph,
        summary: "_analysis.Summary",
        diagnostics: list[Diagnostic],
    ):
        self.source = source
        self._parsed = parsed
        self._checked = checked
        self._summary = summary
        self.diagnostics = diagnostics
        """Warnings found while validating (errors raise instead)."""

    @property
    def name(self) -> str:
        return self._parsed.name

    @property
    def params(self) -> dict:
        """The value each parameter finally had (declared, imported or overridden)."""
        return dict(self._checked.params)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def kind(self) -> str:
        """`"sequential"` or `"functional"`: what `build()` returns."""
        return self._checked.kind

    @property
    def graph(self) -> nx.DiGraph:
        """The data-flow graph: one vertex per input and node (attributes `kind`, `type`,
        `index`, `node`), an edge per reference (attribute `outputs`: the `k` of each `node:k`,
        None for a plain reference). Shared layers are the `node.owner` attribute."""
        return self._checked.graph

    @property
    def search_space(self) -> dict:
        """The `search` section: parameter name -> its space (`ChoiceSpace`, `IntSpace`,
        `FloatSpace`, `BoolSpace`); empty without one. Only `graphspec tune` samples it."""
        return dict(self._parsed.search or {})

    @property
    def build_order(self) -> list[str]:
        return list(self._checked.order)

    def summary(self) -> "_analysis.Summary":
        """Output shapes, dtype, parameters, MACs and activation memory of every node, worked
        out statically (no Keras): `.nodes` in graph order and totals. Unknown values are
        None, never 0."""
        return self._summary

    def build(
        self,
        *,
        seed: int | None = None,
        compile: bool = True,
        weights_from: str | os.PathLike | None = None,
        strict: bool = False,
        reinit: Sequence[str] = (),
    ):
        """Create the Keras model (imports Keras), compiled when the spec has a `compile`
        section (unless `compile=False`). Raises SpecError for errors Keras reports while
        building, located at the node that caused them. With `seed`, Keras's random seed is
        set first (`keras.utils.set_random_seed`), so the initial weights are the same on
        every build.

        `weights_from` (a saved .keras model) copies the weights of every layer whose name
        and weight shapes are the same in that model; the others keep their new weights
        (optimizer state is not carried). `strict=True` raises DataError, before copying
        anything, when a layer not named in `reinit` would keep new weights. For the report
        of what was copied, call `graphspec.keras.transplant.transplant` yourself."""
        from .keras import compiler

        if weights_from is None and (strict or reinit):
            raise ValueError("strict and reinit apply to weights_from, which is not given")
        model = compiler.build(self.source, self._checked, self.name, seed=seed, compile=compile)
        if weights_from is not None:
            from .keras.transplant import transplant

            transplant(model, weights_from, strict=strict, reinit=reinit)
        return model

    @property
    def compile_settings(self):
        """The `compile` section (parameters substituted), or None."""
        return self._checked.compile

    @property
    def train_settings(self):
        """The `train` section (parameters substituted), or None."""
        return self._checked.train

    def save(self, model, path, *, extra: dict | None = None) -> None:
        """Save a model built from this spec to a `.keras` file, atomically, with the spec's
        name, source and final parameter values inside the archive (`saved_metadata`), and
        anything in `extra` (training checkpoints record their epoch)."""
        from . import __version__

        if Path(path).suffix != ".keras":
            raise OutputError(
                f"a model is saved to a .keras file. Received: '{path}'", path, usage=True
            )
        from .keras import saving  # saves without importing TensorFlow on another backend

        saving.save(
            model,
            path,
            {
                "graphspec_version": __version__,
                "format": 1,
                "spec": self.name,
                "source": self.path,
                "params": self.params,
                **(extra or {}),
            },
        )

    def plot(self, path, *, shapes: bool = False) -> None:
        """Draw the graph to `path`: .dot/.gv (Graphviz text), .mmd (Mermaid), or .svg/.png
        (rendered by Graphviz's `dot`). `shapes=True` labels each edge with its tensor shape:
        from the static summary when every shape is known, else by building the model
        (imports Keras). Written atomically."""
        from . import plot

        suffix = Path(path).suffix.lower()
        if suffix not in plot.TEXT and suffix not in plot.RENDERED:
            raise PlotError(
                f"cannot tell the picture format of '{path}'. Expected a .svg, "
                f".png, .dot, .gv or .mmd file. Received suffix: '{suffix}'"
            )
        tensor_shapes = self._tensor_shapes() if shapes else None
        if suffix == ".mmd":
            output.write_text(path, plot.to_mermaid(self._checked, self.name, tensor_shapes))
            return
        dot = plot.to_dot(self._checked, self.name, tensor_shapes)
        if suffix in plot.TEXT:
            output.write_text(path, dot)
        else:
            data = plot.render(dot, plot.RENDERED[suffix])
            with output.atomic_path(path) as tmp:
                tmp.write_bytes(data)

    def to_dot(self, *, shapes: bool = False) -> str:
        """The graph as Graphviz DOT text (what `plot` writes to a .dot file)."""
        from . import plot

        return plot.to_dot(self._checked, self.name, self._tensor_shapes() if shapes else None)

    def to_mermaid(self, *, shapes: bool = False) -> str:
        """The graph as Mermaid text (what `plot` writes to a .mmd file)."""
        from . import plot

        return plot.to_mermaid(self._checked, self.name, self._tensor_shapes() if shapes else None)

    def _tensor_shapes(self) -> dict:
        shapes = _analysis.tensor_shapes(self.source, self._checked)
        if shapes is None:  # some shape is unknown statically: ask Keras
            from .keras import compiler

            shapes = compiler.tensor_shapes(self.source, self._checked)
        return shapes

    def to_yaml(self) -> str:
        """The spec as YAML text (for a spec made from a dict, e.g. by `from_keras`)."""
        return _source.dumps(self.source.data) if self.source.text is None else self.source.text

    def __repr__(self) -> str:
        return (
            f"<graphspec.Spec {self.name!r} ({self.kind}, {len(self._checked.order)} nodes) "
            f"from {self.path}>"
        )


def _check(source: Any, options: pipeline.Options) -> tuple[Spec | None, list[Diagnostic]]:
    stages = pipeline.run(source, options)
    if not stages.ok:
        return None, stages.diagnostics
    return Spec(
        stages.source, stages.document, stages.checked, stages.summary, stages.diagnostics
    ), stages.diagnostics


def load(
    source: Any,
    *,
    params: dict | None = None,
    limits: Limits | None = None,
    allow_imports_from: Sequence[str | os.PathLike] = (),
    strict_shapes: bool = False,
    backend: str | None = None,
) -> Spec:
    """Read and validate a spec (a path to .yaml/.yml/.json, or a dict) without importing Keras:
    the format, composition, the graph, and every shape (static analysis).

    `params` overrides parameters; `limits` raises or lowers the resource limits
    (`graphspec.Limits`). Imports are confined to the spec's folder tree; `allow_imports_from`
    names more folders they may come from. `strict_shapes` warns (GS409) about each node whose
    shape cannot be told. `backend` ("jax", "tensorflow" or "torch") also reports (GS216)
    each layer and op that this Keras backend does not run with the spec's arguments, from
    the catalog (no backend is imported); an unknown name raises ValueError. Raises
    SpecError listing every problem, each with its file, line and column."""
    spec, diagnostics = _check(
        source,
        pipeline.Options(
            params,
            limits or DEFAULT_LIMITS,
            allow_imports_from,
            strict_shapes,
            backend=_backend(backend),
        ),
    )
    if spec is None:
        raise SpecError(diagnostics)
    return spec


def validate(
    source: Any,
    *,
    params: dict | None = None,
    build: bool = False,
    limits: Limits | None = None,
    allow_imports_from: Sequence[str | os.PathLike] = (),
    strict_shapes: bool = False,
    backend: str | None = None,
) -> list[Diagnostic]:
    """Every problem in a spec, errors and warnings, sorted by position; never raises for a
    problem in the spec. `build=True` also builds the model, for what only Keras can tell.
    `backend` checks the spec against a Keras backend, as `load` does."""
    options = pipeline.Options(
        params,
        limits or DEFAULT_LIMITS,
        allow_imports_from,
        strict_shapes,
        backend=_backend(backend),
    )
    try:
        spec, diagnostics = _check(source, options)
    except SpecError as exc:
        return exc.diagnostics
    if spec is not None and build:
        try:
            spec.build()
        except SpecError as exc:
            diagnostics = sort_diagnostics(diagnostics + exc.diagnostics)
    return diagnostics


def _backend(name: str | None) -> str | None:
    """A backend name for `Options`; ValueError (not a spec problem) for an unknown one."""
    return None if name is None else _backends.backend_name(name)


def build(
    source: Any,
    *,
    params: dict | None = None,
    limits: Limits | None = None,
    seed: int | None = None,
):
    """`load(source).build(seed=seed)`: the Keras model for a spec."""
    return load(source, params=params, limits=limits).build(seed=seed)


def from_keras(model) -> Spec:
    """The spec of a Keras model (Sequential or functional), validated. Raises
    `graphspec.ExportError` naming any layer a spec cannot express. Imports Keras."""
    from .keras import export

    return load(export.to_data(model))


def saved_metadata(path) -> dict | None:
    """What `Spec.save` recorded in a .keras archive (spec name, source, parameters), or None
    for an archive that graphspec did not write."""
    return output.read_metadata(path)


def json_schema() -> dict:
    """The JSON Schema of the format (what `graphspec schema` prints)."""
    return _document.json_schema()
