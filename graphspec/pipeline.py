"""The pipeline, run once for everyone: spec file -> `Source` -> `Document` -> `Composition`
-> `CheckedGraph` -> static `Summary`, each stage as far as the spec allows.

The API (`load`, `validate`), the language server and the viewer all call `run`; what differs
is what they do with a spec that has errors (raise, publish, draw as much as was composed).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import analysis, composition, document, graph, registry, source
from .analysis import backends
from .errors import Diagnostic, SpecError, sort_diagnostics
from .limits import DEFAULT, Limits, too_many_nodes


@dataclass(frozen=True)
class Options:
    params: dict | None = None  # parameter overrides (`--set`)
    limits: Limits = DEFAULT
    allow_imports_from: Sequence[str | os.PathLike] = ()
    strict_shapes: bool = False  # warn (GS409) about every node static analysis cannot tell
    read_import: Callable = source.read  # how imported files are read (an editor's buffers)
    backend: str | None = None  # report (GS216) what this Keras backend does not run


@dataclass
class Stages:
    """What each stage made of a spec (None where a stage could not run), and every
    diagnostic, sorted by position, one per place and code."""

    source: source.Source | None = None
    document: document.Document | None = None
    composition: composition.Composition | None = None
    checked: graph.CheckedGraph | None = None
    summary: analysis.Summary | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.summary is not None and not any(d.is_error for d in self.diagnostics)


def run(spec: Any, options: Options = Options(), *, read: source.Source | None = None) -> Stages:
    """Run every stage on `spec` (a path or a dict), or on `read`, a Source already read (an
    editor's unsaved text). Never raises for a problem in the spec."""
    # The stages make many small objects and no garbage cycles worth collecting meanwhile:
    # the cyclic collector would walk every live object again and again (a third of the time
    # of a 10,000-node spec). Memory is bounded by the limits either way.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _run(spec, options, read)
    finally:
        if paused:
            gc.enable()


def _run(spec: Any, options: Options, read: source.Source | None) -> Stages:
    registry.load_entry_points()
    limits = options.limits
    stages = Stages()
    found = stages.diagnostics
    if read is None:
        try:
            read, more = source.read(spec, limits)
        except SpecError as exc:
            found += exc.diagnostics
            return _finish(stages)
        found += more
    stages.source = read
    layers = read.data.get("layers") if isinstance(read.data, dict) else None
    if isinstance(layers, list) and len(layers) > limits.max_nodes:
        found.append(too_many_nodes(read.path, limits))  # before validating each node
        return _finish(stages)
    stages.document, more = document.validate_document(read)
    found += more
    if stages.document is None:
        return _finish(stages)
    stages.composition, more = composition.compose(
        read,
        stages.document,
        options.params,
        limits,
        options.allow_imports_from,
        options.read_import,
    )
    found += more
    if stages.composition is None:
        return _finish(stages)
    stages.checked, more = graph.check(read, stages.composition)
    found += more
    if stages.checked is not None and options.backend is not None:
        found += backends.check(read, stages.checked, options.backend)
    if stages.checked is not None:
        stages.summary, more = analysis.analyze(
            read, stages.checked, strict=options.strict_shapes, name=stages.document.name
        )
        found += more
        if stages.checked.budget is not None:
            found += analysis.budget.check(
                read,
                source.Loc(("budget",), read),
                stages.summary,
                stages.checked.budget.model_dump(),
            )
    return _finish(stages)


def _finish(stages: Stages) -> Stages:
    stages.diagnostics = unique(sort_diagnostics(stages.diagnostics))
    return stages


def unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per place and code: a mistake inside a block is reported once, not once
    per instance or copy (the first instance is named)."""
    seen, out = set(), []
    for d in diagnostics:
        key = (d.path, d.line, d.column, d.code) if d.line is not None else d
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
