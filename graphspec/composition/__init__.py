"""The composition stage: imports, parameters, blocks and repeat, and all name resolution.

`compose(source, document, overrides)` turns a `Document` into a `Composition`: flat nodes
with parameters substituted and every reference resolved, or diagnosed (GS206, GS212, ...).

Expansion is inline: a block instance `stage1` of a block with nodes `c1, c2` becomes nodes
`stage1_c1, stage1_c2`; with `repeat: 3`, copy k (1-based) of `stage1` is `stage1_k_c1`, ...
A repeated plain node `fc` becomes `fc_1 ... fc_N`. Nested blocks prefix again
(`conv2_rest_2_c1`). The instance's name refers to its output (for a repeat, the last copy's).
Every node keeps the location where it was written (possibly in an imported file) and, inside
a block, the instance it belongs to.

Modules: `library` (imports), `params` (substitution), `scope` (names and resolution),
`expand` (blocks and repeat), `model` (what comes out), `naming` (default names).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from pydantic import ValidationError

from .. import expr
from ..codes import CATALOGUE, report
from ..document import _INPUT_ADAPTER, BUDGET_ADAPTER, COMPILE_ADAPTER, TRAIN_ADAPTER, Document
from ..errors import Diagnostic, did_you_mean, pointer
from ..limits import DEFAULT, Limits, too_many_nodes
from ..source import Loc, Source
from ..source import read as read_source
from .expand import Expander, Frame, TooLarge, _last_present
from .library import SPEC_SUFFIXES, Library
from .model import CallerInput, ComposedNode, Composition, Ref, Submodel
from .naming import default_names, snake_case
from .params import REPEAT_INDEX, Substituter
from .scope import Scope

__all__ = [
    "CallerInput",
    "ComposedNode",
    "Composition",
    "REPEAT_INDEX",
    "Ref",
    "SPEC_SUFFIXES",
    "Submodel",
    "compose",
    "default_names",
    "snake_case",
]


def compose(
    source: Source,
    document: Document,
    overrides: dict | None,
    limits: Limits = DEFAULT,
    allow_imports_from: Sequence[str | os.PathLike] = (),
    read: Callable = read_source,
) -> tuple[Composition | None, list[Diagnostic]]:
    """Expand imports, parameters, blocks and repeats of a model spec and resolve its names.
    `read(path, limits, spent=...)` reads an imported file (`source.read` by default)."""
    diags: list[Diagnostic] = []
    library = Library(source, diags, limits, allow_imports_from, read)
    library.load(source, document)
    subst = Substituter(diags, limits)
    values = _parameters(source, document, library, overrides, subst, diags)
    _check_search(source, document, values, diags)

    # Absent or null; a value of the wrong type was reported by the format check already.
    missing = [
        key
        for key in ("inputs", "layers")
        if getattr(document, key) is None and (source.data or {}).get(key) is None
    ]
    if missing:
        diags.append(
            report(
                source,
                (),
                "GS111",
                "model_keys",
                keys=" and ".join(repr(k) for k in missing),
                hint="only a library file used through 'imports' may leave out inputs and layers",
            )
        )
    if document.inputs is None or document.layers is None:
        return None, diags

    inputs = {
        name: _input(source, name, spec, values, subst, diags)
        for name, spec in document.inputs.items()
    }
    top = Scope("the model")
    expander = Expander(source, library, subst, diags, limits.max_nodes, inputs, top)
    locs = [Loc(("layers", i), source) for i in range(len(document.layers))]
    try:
        entries = expander.expand(
            list(document.layers), locs, document.layer_names, Frame(top, values, "", (), None)
        )
    except TooLarge as exc:
        diags.append(exc.diagnostic or too_many_nodes(source.path, limits))
        return None, diags
    expander.resolve_all()

    outputs = None
    if document.outputs_valid:
        resolver = expander.resolver
        if document.outputs is None:
            last = _last_present(entries)
            if last is not None:
                outputs = resolver.binding(
                    last, None, "", Loc(("layers", len(entries) - 1), source)
                )
        else:
            at = Loc(("outputs",), source)
            outputs = resolver.structure(subst.value(document.outputs, values, at), top, at, None)
    settings = {
        key: _settings(source, getattr(document, key), adapter, values, subst, key, diags)
        for key, adapter in (
            ("compile", COMPILE_ADAPTER),
            ("train", TRAIN_ADAPTER),
            ("budget", BUDGET_ADAPTER),
        )
    }
    complete = (
        expander.is_complete
        and not subst.failed
        and document.outputs_valid
        and None not in inputs.values()
    )
    return Composition(
        document.name,
        document.model,
        inputs,
        expander.nodes,
        outputs,
        values,
        complete,
        settings["compile"],
        settings["train"],
        settings["budget"],
    ), diags


def _parameters(
    source: Source,
    document: Document,
    library: Library,
    overrides: dict | None,
    subst: Substituter,
    diags: list[Diagnostic],
) -> dict:
    """Imported defaults, then this file's (which override them), then the overrides."""
    entries: dict[str, tuple[Any, Loc]] = {n: (d.value, d.loc) for n, d in library.params.items()}
    for name, value in document.params.items():
        entries[name] = (value, Loc(("params", name), source))
    for name, value in (overrides or {}).items():
        if name not in entries:
            code = CATALOGUE["GS120"]
            diags.append(
                Diagnostic(
                    source.path,
                    None,
                    None,
                    code.id,
                    code.severity,
                    code.render("unknown", name=name),
                    did_you_mean(name, list(entries))
                    or (
                        f"declared parameters: {', '.join(entries)}"
                        if entries
                        else "this spec declares no parameters"
                    ),
                )
            )
            continue
        entries[name] = (value, entries[name][1])
    return subst.params([(n, v, loc) for n, (v, loc) in entries.items()])


def _check_search(
    source: Source, document: Document, values: dict, diags: list[Diagnostic]
) -> None:
    """The `search` section names declared parameters and ranges that can be sampled."""
    for name, space in (document.search or {}).items():
        loc = Loc(("search", name), source)
        if name not in values:
            diags.append(
                report(
                    source,
                    loc,
                    "GS170",
                    "unknown",
                    name=name,
                    at_key=True,
                    hint=did_you_mean(name, list(values))
                    or "declare the parameter under 'params' first",
                )
            )
            continue
        low_high = getattr(space, "int", None) or getattr(space, "float", None)
        if low_high is not None and low_high[0] > low_high[1]:
            diags.append(
                report(
                    source,
                    loc,
                    "GS170",
                    "range",
                    name=name,
                    low=low_high[0],
                    high=low_high[1],
                    hint=f"write it as [{low_high[1]}, {low_high[0]}]",
                )
            )
        elif getattr(space, "log", False) and low_high[0] <= 0:
            diags.append(
                report(
                    source,
                    loc,
                    "GS170",
                    "log",
                    name=name,
                    low=low_high[0],
                    hint="start the range above 0, or drop 'log: true'",
                )
            )


def _input(
    source: Source, name: str, spec: Any, values: dict, subst: Substituter, diags: list[Diagnostic]
):
    """An input with parameters substituted; None when invalid (reported)."""
    if spec is None or not expr.has_placeholder(spec.model_dump()):
        return spec
    loc = Loc(("inputs", name), source)
    data = subst.value(spec.model_dump(exclude_unset=True), values, loc)
    try:
        spec = _INPUT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        _after_substitution(source, loc, exc, diags)
        return None
    return None if expr.has_placeholder(spec.model_dump()) else spec  # else: reported


def _settings(
    source: Source,
    raw: Any,
    adapter,
    values: dict,
    subst: Substituter,
    key: str,
    diags: list[Diagnostic],
):
    """The `compile` or `train` section with parameters substituted, checked again."""
    if raw is None:
        return None
    loc = Loc((key,), source)
    data = subst.value(raw, values, loc)
    try:
        section = adapter.validate_python(data)
    except ValidationError as exc:
        _after_substitution(source, loc, exc, diags)
        return None
    if expr.has_placeholder(section.model_dump()):
        return None  # an expression failed, and was reported
    return section


def _after_substitution(
    source: Source, loc: Loc, exc: ValidationError, diags: list[Diagnostic]
) -> None:
    for err in exc.errors():
        at = loc + tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        diags.append(
            report(
                source,
                at,
                "GS110",
                "after_substitution",
                at=pointer(at),
                detail=err["msg"],
                received=err.get("input"),
            )
        )
