"""The `compile` and `train` sections checked without Keras: optimizer, loss and metric names
against the catalog, and the output names that loss, metric and weight mappings use against
the model's outputs. Keras checks them again when the model is compiled (GS302)."""

from __future__ import annotations

from typing import Any

from . import catalog
from .codes import report
from .errors import Diagnostic, did_you_mean
from .source import Loc, Source


def output_names(outputs: Any, nodes: dict) -> list[str]:
    """The names Keras gives a model's outputs: the keys of a mapping, else the output nodes'
    names (Keras names an output after its layer)."""
    if isinstance(outputs, dict):
        return list(outputs)
    refs = outputs if isinstance(outputs, list) else [outputs]
    return [ref.node for ref in refs if ref is not None]


def check(
    source: Source, compile_settings: Any, train_settings: Any, outputs: list[str]
) -> list[Diagnostic]:
    """Every problem in the `compile` and `train` sections, located."""
    diags: list[Diagnostic] = []
    if compile_settings is not None:
        _check_compile(source, compile_settings, outputs, diags)
    if train_settings is not None:
        _check_train(source, train_settings, diags)
    return diags


def _known(kind: str) -> list[str]:
    return catalog.load().get(kind, [])


# Keras resolves these names in any case (`ADAM`, `Accuracy`); the rest must match exactly.
_ANY_CASE = {"optimizers": None, "metrics": {"accuracy", "acc", "crossentropy", "ce"}}


def _name(
    source: Source, loc: Loc, kind: str, what: str, value: Any, diags: list[Diagnostic]
) -> None:
    known = _known(kind)
    if not isinstance(value, str) or not known or value in known:
        return
    folded = _ANY_CASE.get(kind, set())
    if folded is None:
        folded = {k.lower() for k in known}
    if value.lower() not in folded:
        diags.append(
            report(
                source,
                loc,
                "GS302",
                "unknown_name",
                what=what,
                received=value,
                hint=did_you_mean(value, known) or f"see keras.{kind} for the names",
            )
        )


def _per_output(
    source: Source, loc: Loc, value: Any, outputs: list[str], key: str, diags: list[Diagnostic]
) -> list[tuple[Loc, Any]]:
    """The entries of a per-output mapping, each checked to name an output."""
    if not isinstance(value, dict) or "class_name" in value:
        return [(loc, value)]
    entries = []
    for out, item in value.items():
        if out not in outputs:
            diags.append(
                report(
                    source,
                    loc + (out,),
                    "GS302",
                    "unknown_output",
                    at_key=True,
                    key=key,
                    received=out,
                    outputs=", ".join(outputs),
                    hint=did_you_mean(out, outputs),
                )
            )
        entries.append((loc + (out,), item))
    return entries


def _weights_count(source: Source, loc: Loc, weights: Any, outputs: list[str]) -> list[Diagnostic]:
    """GS302 for a list of loss weights that is not one per output."""
    if isinstance(weights, list) and len(weights) != len(outputs):
        return [
            report(source, loc, "GS302", "weights_count", count=len(outputs), received=len(weights))
        ]
    return []


def _check_compile(
    source: Source, settings: Any, outputs: list[str], diags: list[Diagnostic]
) -> None:
    loc = Loc(("compile",), source)
    optimizer = settings.optimizer
    if isinstance(optimizer, dict):
        optimizer = optimizer.get("class_name")
        _name(
            source, loc + ("optimizer", "class_name"), "optimizers", "optimizer", optimizer, diags
        )
    else:
        _name(source, loc + ("optimizer",), "optimizers", "optimizer", optimizer, diags)
    if settings.loss is not None:
        for at, value in _per_output(
            source, loc + ("loss",), settings.loss, outputs, "loss", diags
        ):
            if isinstance(value, dict):
                value = value.get("class_name")
            _name(source, at, "losses", "loss", value, diags)
    if settings.metrics is not None:
        for at, value in _per_output(
            source, loc + ("metrics",), settings.metrics, outputs, "metrics", diags
        ):
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                _name(
                    source,
                    at + (i,) if isinstance(value, list) else at,
                    "metrics",
                    "metric",
                    item,
                    diags,
                )
    weights = settings.loss_weights
    if isinstance(weights, dict):
        _per_output(source, loc + ("loss_weights",), weights, outputs, "loss_weights", diags)
    else:
        diags += _weights_count(source, loc + ("loss_weights",), weights, outputs)


# Bounds of values Keras or NumPy reject only once training starts.
_SEED_MAX = 2**32 - 1  # NumPy's seeds
_BATCH_MAX = 2**31 - 1  # array indexes and padding buffers
_CHECKPOINT_SUFFIX = ".keras"


def _check_train(source: Source, settings: Any, diags: list[Diagnostic]) -> None:
    loc = Loc(("train",), source)
    seed = settings.seed
    if isinstance(seed, int) and not 0 <= seed <= _SEED_MAX:
        diags.append(
            report(
                source,
                loc + ("seed",),
                "GS110",
                "range",
                at="train.seed",
                low=0,
                high=f"{_SEED_MAX:,}",
                received=seed,
            )
        )
    for key in ("batch_size", "steps_per_epoch", "validation_steps", "epochs"):
        value = getattr(settings, key)
        if isinstance(value, int) and value > _BATCH_MAX:
            diags.append(
                report(
                    source,
                    loc + (key,),
                    "GS110",
                    "range",
                    at=f"train.{key}",
                    low=1,
                    high=f"{_BATCH_MAX:,}",
                    received=value,
                )
            )
    checkpoint = settings.checkpoint
    if isinstance(checkpoint, str) and not checkpoint.endswith(_CHECKPOINT_SUFFIX):
        diags.append(
            report(
                source,
                loc + ("checkpoint",),
                "GS110",
                "suffix",
                at="train.checkpoint",
                expected=_CHECKPOINT_SUFFIX,
                received=checkpoint,
            )
        )
