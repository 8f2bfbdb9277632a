"""Weights carried from a saved model into a newly built one: the second half of "model
surgery" (`graphspec export OLD.keras`, an edit, `graphspec build NEW.yaml --weights-from
OLD.keras`).

A layer's weights are copied when a layer of the same name (a nested sub-model's layers by
`submodel/layer`) exists in the old model and every weight has exactly the same shape, in
the same order. Everything else keeps the initial weights of the new build: a new layer, a
layer whose shapes changed, a layer named in `reinit`. Weights of old layers that no longer
exist are dropped. Layers without weights (activations, pooling, merges) are not reported.
Optimizer state is never carried: the new model starts training afresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import keras

from ..errors import DataError, did_you_mean
from . import saving

Shapes = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Reinitialised:
    """A layer of the new model that keeps its fresh weights, and why: `"new"` (not in the
    old model), `"shapes"` (its weight shapes changed) or `"asked"` (named in `reinit`)."""

    name: str
    reason: str
    old: Shapes | None  # the old layer's weight shapes; None for a new layer
    new: Shapes

    def text(self) -> str:
        if self.reason == "new":
            return f"{self.name}: new layer {_shapes(self.new)}"
        changed = f"shapes changed {_shapes(self.old)} -> {_shapes(self.new)}"
        if self.reason == "asked":
            return f"{self.name}: asked to (--reinit), " + (
                f"new layer {_shapes(self.new)}"
                if self.old is None
                else f"same shapes {_shapes(self.new)}"
                if self.old == self.new
                else changed
            )
        return f"{self.name}: {changed}"


@dataclass
class TransplantReport:
    """What `transplant` did, layer by layer (layers with weights only)."""

    source: str
    copied: list[tuple[str, Shapes]] = field(default_factory=list)
    reinitialised: list[Reinitialised] = field(default_factory=list)
    dropped: list[tuple[str, Shapes]] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"weights from {self.source}: {len(self.copied)} layer(s) copied, "
            f"{len(self.reinitialised)} re-initialised, {len(self.dropped)} dropped"
        ]
        lines += [f"  re-initialised {r.text()}" for r in self.reinitialised]
        lines += [
            f"  dropped {name}: only in the old model {_shapes(shapes)}"
            for name, shapes in self.dropped
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def plain(shapes):
            return None if shapes is None else [list(s) for s in shapes]

        return {
            "source": self.source,
            "copied": [{"name": n, "shapes": plain(s)} for n, s in self.copied],
            "reinitialised": [
                {"name": r.name, "reason": r.reason, "old": plain(r.old), "new": plain(r.new)}
                for r in self.reinitialised
            ],
            "dropped": [{"name": n, "shapes": plain(s)} for n, s in self.dropped],
        }


def transplant(
    new_model, old_path, *, strict: bool = False, reinit: Iterable[str] = ()
) -> TransplantReport:
    """Copy into `new_model` the weights of every layer of the old model (a `.keras` path,
    or a keras.Model) that has the same name and the same weight shapes.

    `reinit` names layers that keep their fresh weights even when they could be copied.
    With `strict`, any other layer that would keep fresh weights (a new layer, changed
    shapes) raises DataError before a single weight is copied. A name in `reinit` that the
    new model does not have raises DataError too (a typo would otherwise go unnoticed)."""
    if isinstance(old_path, keras.Model):
        old_model, source = old_path, f"model '{old_path.name}'"
    else:
        source = os.fspath(old_path)
        old_model = saving.load(source, DataError, "the model to take weights from")
    new_layers = dict(_layers(new_model))
    old_layers = dict(_layers(old_model))
    asked = list(dict.fromkeys([reinit] if isinstance(reinit, str) else reinit))
    unknown = [name for name in asked if name not in new_layers]
    if unknown:
        hint = did_you_mean(unknown[0], new_layers)
        raise DataError(
            f"--reinit names no layer of the new model: {', '.join(unknown)}"
            + (f"; {hint}" if hint else "")
        )

    report = TransplantReport(source)
    plan = []
    for name, layer in new_layers.items():
        new_shapes = _weight_shapes(layer)
        old = old_layers.get(name)
        old_shapes = _weight_shapes(old) if old is not None else None
        if not new_shapes:
            if old_shapes:  # the layer kept its name but no longer has weights
                report.dropped.append((name, old_shapes))
            continue
        if name in asked:
            report.reinitialised.append(Reinitialised(name, "asked", old_shapes, new_shapes))
        elif old is None:
            report.reinitialised.append(Reinitialised(name, "new", None, new_shapes))
        elif old_shapes != new_shapes:
            report.reinitialised.append(Reinitialised(name, "shapes", old_shapes, new_shapes))
        else:
            plan.append((layer, old))
            report.copied.append((name, new_shapes))
    report.dropped += [
        (name, shapes)
        for name, layer in old_layers.items()
        if name not in new_layers and (shapes := _weight_shapes(layer))
    ]

    unexpected = [r for r in report.reinitialised if r.reason != "asked"]
    if strict and unexpected:
        raise DataError(
            f"--strict: {len(unexpected)} layer(s) would not get weights from {source}: "
            + "; ".join(r.text() for r in unexpected)
            + ". Name each layer meant to start afresh with --reinit NAME (reinit=[...]), "
            "or leave out --strict"
        )
    for layer, old in plan:
        layer.set_weights(old.get_weights())
    return report


def _layers(model, prefix: str = "") -> Iterator[tuple[str, keras.layers.Layer]]:
    """(name, layer) for each layer, a nested sub-model's layers as `submodel/layer`."""
    for layer in model.layers:
        name = prefix + layer.name
        if isinstance(layer, keras.Model):
            yield from _layers(layer, name + "/")
        else:
            yield name, layer


def _weight_shapes(layer) -> Shapes:
    return tuple(tuple(int(d) for d in w.shape) for w in layer.weights)


def _shapes(shapes: Shapes | None) -> str:
    if not shapes:
        return "(no weights)"
    return (
        "["
        + ", ".join(
            "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" for s in shapes
        )
        + "]"
    )
