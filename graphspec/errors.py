"""Diagnostics, the one error type users see, the table of codes, and did-you-mean hints.

Positions are 1-based lines and columns everywhere; `source.py` is the only place that
converts the parser's 0-based marks.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

#: Every diagnostic code graphspec emits, with a one-line meaning. The README's table is this.
CODES: dict[str, str] = {
    "GS001": "the spec file cannot be read",
    "GS002": "the spec source is not a .yaml, .yml or .json path or a mapping",
    "GS101": "YAML or JSON syntax error",
    "GS102": "a YAML tag that could construct objects (e.g. !!python/object) is not allowed",
    "GS103": "the same key appears twice in one mapping",
    "GS110": "a value has the wrong type",
    "GS111": "a required key is missing",
    "GS112": "a key that the format does not define",
    "GS113": "unsupported `graphspec` format version",
    "GS114": "a value is not one of the allowed choices",
    "GS115": "a node needs exactly one of `layer`, `op`, `share`",
    "GS116": "`args` is not allowed on a `share` node",
    "GS120": "a parameter override names no declared parameter",
    "GS130": "a `${...}` expression is not well formed",
    "GS131": "a `${...}` expression names an unknown parameter",
    "GS132": "a `${...}` expression cannot be evaluated (types, division by zero, size)",
    "GS140": "unknown block",
    "GS141": "blocks use each other in a circle",
    "GS142": "invalid `repeat` (not a whole number >= 1, or copies cannot be chained)",
    "GS150": "an import is not a spec file or does not exist",
    "GS151": "import cycle",
    "GS152": "a block or parameter is defined in two files",
    "GS160": "a resource limit was exceeded (file size, nesting, expanded size, node count)",
    "GS201": "unknown layer",
    "GS202": "unknown op",
    "GS203": "unknown argument",
    "GS204": "missing required argument",
    "GS205": "duplicate node name",
    "GS206": "unknown reference",
    "GS207": "cycle in the graph",
    "GS208": "an input reaches no output",
    "GS209": "a node reaches no output (warning)",
    "GS210": "wrong number of inputs for the node",
    "GS211": "output index `node:k` out of range",
    "GS212": "`in` omitted where the input is ambiguous",
    "GS213": "`model: sequential` forced on a graph that is not a single chain",
    "GS214": "invalid `share` target",
    "GS215": "this layer cannot be described by a spec",
    "GS301": "Keras rejected the node while building (shapes, dtypes, arguments)",
    "GS302": "Keras rejected the compile settings (unknown optimizer, loss or metric)",
}

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec.

    `path` is the file (or `<dict>` for in-memory specs); `line` and `column` are 1-based and
    `None` only when the source has no text (a dict). `pointer` is the key path inside the
    document, e.g. `layers[3].in[1]`.
    """

    path: str
    line: int | None
    column: int | None
    code: str
    severity: str
    message: str
    hint: str | None = None
    pointer: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self):
        # Sources without text (dicts) have no lines: their document order is the pointer's.
        natural = tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", self.pointer))
        return (self.path, self.line or 0, self.column or 0, natural, self.code)

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """`model.yaml:12:9: error[GS201]: message` and an indented hint line."""
        where = self.path
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        elif self.pointer:
            where += f" ({self.pointer})"
        text = f"{where}: {self.severity}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SpecError(ValueError):
    """Raised for anything caused by the spec a user wrote. `.diagnostics` holds every problem."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        shown = errors or self.diagnostics
        head = f"{len(errors)} error(s) in spec" if errors else "spec problems"
        super().__init__(head + ":\n" + "\n".join(d.format() for d in shown))


class ExportError(ValueError):
    """A Keras model that a spec cannot describe; the message names the layer and why."""


class RegistryError(ValueError):
    """Raised by the Python API when a name is registered twice or a plugin cannot be loaded."""


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=Diagnostic.sort_key)


def did_you_mean(name: object, known: Iterable[str]) -> str | None:
    """`did you mean 'Dense'?` from the names that exist, or None when nothing is close."""
    if not isinstance(name, str):
        return None
    known = list(known)
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    if not matches:
        # Case slips (`dense` for `Dense`) and swapped letters (`mpl` for `mlp`) are common
        # typos that score low on difflib's ratio.
        folded = {k.lower(): k for k in known}
        if name.lower() in folded:
            matches = [folded[name.lower()]]
        else:
            letters = sorted(name.lower())
            matches = [k for k in known if sorted(k.lower()) == letters][:1]
    return f"did you mean '{matches[0]}'?" if matches else None


def pointer(loc: Sequence[object]) -> str:
    """`('layers', 3, 'in', 1)` -> `layers[3].in[1]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
