"""Budgets: limits on a model's parameters, MACs and activation memory, written with SI
suffixes (`params: 30M`, `macs: 4.5G`, `activation_bytes: 200Mi`), checked against a
`Summary`."""

from __future__ import annotations

from ..codes import report
from ..document import parse_quantity as quantity
from .summary import Summary

KEYS = {
    "params": "parameters",
    "macs": "multiply-accumulates per sample",
    "activation_bytes": "bytes of activations per sample",
}


def check(source, loc: tuple, summary: Summary, budget: dict) -> list:
    """A GS410 error at `loc + (key,)` for each limit in `budget` that the summary exceeds.
    A total that is unknown (a node without a rule) cannot be checked and is skipped."""
    out = []
    for key, what in KEYS.items():
        if budget.get(key) is None:
            continue
        limit = quantity(budget[key])
        value = getattr(summary, key)
        if value is not None and value > limit:
            out.append(
                report(
                    source,
                    loc + (key,),
                    "GS410",
                    "budget",
                    value=f"{value:,}",
                    what=what,
                    limit=f"{budget[key]} ({limit:,})",
                    hint="shrink the model, or raise the budget",
                )
            )
    return out
