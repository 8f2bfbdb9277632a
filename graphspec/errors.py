"""The errors graphspec raises (one base, `Error`), `Diagnostic`, and did-you-mean hints.
The codes and their messages are catalogued in `codes.py`.

Positions are 1-based lines and columns everywhere; `source.py` is the only place that
converts the parser's 0-based marks.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from .codes import CODES, ERROR, WARNING  # noqa: F401 (re-exported)


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


class Error(Exception):
    """The base of every error graphspec raises for something a user gave it: a spec, a model,
    data, a path. Catch this one to handle them all."""


class SpecError(Error, ValueError):
    """Raised for anything caused by the spec a user wrote. `.diagnostics` holds every problem."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        shown = errors or self.diagnostics
        head = f"{len(errors)} error(s) in spec" if errors else "spec problems"
        super().__init__(head + ":\n" + "\n".join(d.format() for d in shown))


class ExportError(Error, ValueError):
    """A Keras model that a spec cannot describe; the message names the layer and why."""


class DataError(Error, ValueError):
    """Training data (or a checkpoint) that cannot be used; the message names the file."""


class PlotError(Error, RuntimeError):
    """A picture cannot be made (an unknown format, Graphviz missing or failing)."""


class OutputError(Error, ValueError):
    """A file graphspec writes (or reads back, a saved .keras archive) cannot be used; the
    message names it and says why, in one line. `usage` is True when the problem was found
    before any work started (the command line named a bad target: exit 2), False when it
    happened while writing or reading (exit 1)."""

    def __init__(self, message: str, path: str | os.PathLike = "", *, usage: bool = False):
        super().__init__(message)
        self.path, self.usage = str(path), usage


class RegistryError(Error, ValueError):
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
