"""The result of static analysis: per node and in total, and its two renderings (a table like
Keras's `model.summary()`, and JSON-ready data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .core import fmt_shape


@dataclass
class NodeSummary:
    """One input or node. Unknown values are None (never 0)."""

    name: str
    type: str  # layer class, op name, "Input", block name, or for a share node the node shared
    kind: str  # "input" | "layer" | "op" | "share" | "submodel"
    shapes: list[tuple] | None  # one per output, batch axis first; None: unknown
    dtypes: list[str | None] | None
    params: int | None
    trainable_params: int | None
    macs: int | None  # multiply-accumulates per sample
    activation_bytes: int | None  # bytes of the outputs per sample
    shares: str | None = None  # for a share node: the node that owns the layer
    sub: Summary | None = None  # for a nested sub-model: its own summary
    note: str | None = None  # why the output is unknown
    _where: Any = field(default=None, repr=False, compare=False)  # (source, loc)
    _line: Any = field(default=False, repr=False, compare=False)

    @property
    def dtype(self) -> str | None:
        return self.dtypes[0] if self.dtypes else None

    @property
    def line(self) -> int | None:
        """1-based line where the node is written (in its own file, for imported blocks);
        looked up on first use, so analysis itself never reads positions."""
        if self._line is False:
            source, loc = self._where if self._where else (None, None)
            self._line = source.locate(loc)[0] if source is not None else None
        return self._line

    @property
    def known(self) -> bool:
        return self.shapes is not None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "shapes": None if self.shapes is None else [list(s) for s in self.shapes],
            "dtype": self.dtype,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "line": self.line,
        }


class _Total:
    """A `Summary` attribute: the sum of the nodes' field of the same name, None when one of
    them is unknown."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = name

    def __get__(self, summary: Summary | None, owner: type | None = None) -> int | None:
        if summary is None:
            return self
        values = [getattr(n, self.field) for n in summary.nodes]
        return None if any(v is None for v in values) else sum(values)


@dataclass
class Summary:
    """Every node's shapes, dtype, parameters and cost, in graph order (inputs first), and
    the totals. A total is None when a node it adds up is unknown."""

    name: str
    nodes: list[NodeSummary]

    params = _Total()
    trainable_params = _Total()
    macs = _Total()  # multiply-accumulates per sample
    activation_bytes = _Total()

    @property
    def non_trainable_params(self) -> int | None:
        p, t = self.params, self.trainable_params
        return None if p is None or t is None else p - t

    @property
    def unknown(self) -> list[NodeSummary]:
        """The nodes whose output shape is unknown."""
        return [n for n in self.nodes if not n.known]

    def node(self, name: str) -> NodeSummary:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "total": {
                "params": self.params,
                "trainable_params": self.trainable_params,
                "macs": self.macs,
                "activation_bytes": self.activation_bytes,
            },
        }

    def table(self) -> str:
        """A table like Keras's `model.summary()`, with MACs and the line of each node."""
        header = ("Node", "Type", "Output shape", "Params", "MACs", "Line")
        rows = [header]
        for n in self.nodes:
            if n.shapes is None:
                shape = "?"
            else:
                shape = ", ".join(fmt_shape(s) for s in n.shapes)
            kind = f"shares {n.shares}" if n.shares else n.type
            rows.append(
                (
                    n.name,
                    kind,
                    shape,
                    _num(n.params),
                    _num(n.macs),
                    "" if n.line is None else str(n.line),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        right = {3, 4, 5}

        def line(r):
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
            ).rstrip()

        rule = "-" * len(line(header))
        out = [f'Model: "{self.name}"', rule, line(header), rule]
        out += [line(r) for r in rows[1:]]
        out.append(rule)
        p, t, nt = self.params, self.trainable_params, self.non_trainable_params
        out.append(f"Total params: {_num(p)}" + ("" if p is None else f" ({_si(p)})"))
        out.append(f"Trainable params: {_num(t)}")
        out.append(f"Non-trainable params: {_num(nt)}")
        m = self.macs
        out.append(f"MACs per sample: {_num(m)}" + ("" if m is None else f" ({_si(m)})"))
        a = self.activation_bytes
        out.append(
            f"Activations per sample: {_num(a)} bytes"
            + ("" if a is None else f" ({_si(a, 'B', 1024)})")
        )
        unknown = len(self.unknown)
        out.append(
            f"Unknown: {unknown} of {len(self.nodes)} nodes"
            + (" (totals that need them are shown as ?)" if unknown else "")
        )
        return "\n".join(out)


def _num(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _si(value: float, unit: str = "", base: int = 1000) -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(value) < base or prefix == "T":
            break
        value /= base
    text = f"{value:.0f}" if prefix == "" else f"{value:.2f}"
    if base == 1024 and prefix:
        prefix += "i"
    return f"{text} {prefix}{unit}".rstrip()
