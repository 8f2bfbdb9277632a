"""Resource limits, so that no file can make graphspec take long or use much memory: a
billion-laughs alias bomb, a huge file, deep nesting, or a spec that expands to millions of
nodes each gets a clear error (GS160) instead. Every limit can be raised: `Limits(...)` in
the API, `--max-bytes`, `--max-nodes`, `--max-depth` on the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Bounds on what a spec may ask of graphspec. The defaults leave ample room for real
    models (a 100,000-node spec is about 5 MB)."""

    max_bytes: int = 8 * 2**20
    """Largest spec file read, in bytes (each import counts on its own)."""
    max_nodes: int = 200_000
    """Most nodes a spec may have after blocks and repeats are expanded."""
    max_depth: int = 200
    """Deepest nesting of mappings and lists in a file (checked before parsing, because the
    YAML parser itself is not safe from very deep nesting)."""

    @property
    def max_values(self) -> int:
        """Most values (scalars, lists, mappings) a document may expand to through aliases."""
        return max(1_000_000, 20 * self.max_nodes)


DEFAULT = Limits()


def limit_diagnostic(path: str, what: str, argument: str, flag: str):
    from .errors import ERROR, Diagnostic

    return Diagnostic(path, None, None, "GS160", ERROR, f"{what}; graphspec refuses it rather "
                      "than spend unbounded time or memory",
                      f"if the spec is meant to be this large, raise the limit: {flag} "
                      f"(graphspec.Limits({argument}=...) in Python)")


def too_many_nodes(path: str, limits: Limits):
    return limit_diagnostic(path, f"the spec has more than {limits.max_nodes:,} nodes (after "
                            "blocks and repeats are expanded)", "max_nodes", "--max-nodes")

_BRACKETS = re.compile(r"[^\[\]{}]+")
_INDENT = re.compile(r"^[ \t]*", re.M)
_COMPACT = re.compile(r"^[ \t]*(?:-[ \t]+){2,}", re.M)
_COMPACT_HINT = re.compile(r"-[ \t]+-[ \t]")


def nesting_estimate(text: str) -> int:
    """An upper bound on how deeply a YAML or JSON text nests, cheap to compute: the largest
    rise of open brackets (quoted brackets count too, which can only raise it), plus, for
    block style, twice the deepest indentation and the most compact `- - -` items of a line."""
    flow = 0
    if len(text) > 2**20:  # large: let NumPy walk it (UTF-8 continuation bytes are >= 0x80)
        import numpy as np

        codes = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        opening = (codes == ord("[")) | (codes == ord("{"))
        closing = (codes == ord("]")) | (codes == ord("}"))
        steps = opening.astype(np.int64) - closing.astype(np.int64)
        steps = steps[opening | closing]
        if steps.size:
            running = np.cumsum(steps)
            lowest = np.minimum(np.minimum.accumulate(running), 0)
            flow = int((running - lowest).max())
    else:
        brackets = _BRACKETS.sub("", text)
        if brackets:
            running = list(accumulate(1 if c in "[{" else -1 for c in brackets))
            lowest = accumulate(running, min, initial=0)
            flow = max(r - min(low, 0) for r, low in zip(running, lowest))
    indent = max(map(len, _INDENT.findall(text)), default=0)
    compact = 0
    if _COMPACT_HINT.search(text):
        compact = max((m.count("-") for m in _COMPACT.findall(text)), default=0)
    return flow + 2 * (indent + 1) + compact


def expanded_size(data: Any, limit: int) -> int | None:
    """How many values `data` holds once aliases are expanded, or None when over `limit`
    (also for a structure that contains itself). Shared objects are counted once per use
    without walking them again, so an alias bomb costs little to measure."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(value) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise OverflowError  # a recursive alias: infinitely large
        busy.add(key)
        children = value.values() if isinstance(value, dict) else value
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise OverflowError
        busy.discard(key)
        sizes[key] = total
        return total

    try:
        return size(data)
    except (OverflowError, RecursionError):
        return None
