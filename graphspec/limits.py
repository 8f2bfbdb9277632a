"""Resource limits, so that no input can make graphspec take long or use much memory: a
billion-laughs alias bomb, a huge file, deep nesting, a spec that expands to millions of nodes
or a parameter chain that doubles a string at every step each gets a clear error (GS160)
instead. Every limit can be raised: `Limits(...)` in the API, `--max-bytes`, `--max-nodes`,
`--max-depth`, `--max-value-size` on the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from .codes import CATALOGUE
from .errors import Diagnostic


@dataclass(frozen=True)
class Limits:
    """Bounds on what a spec may ask of graphspec.

    The defaults keep a promise: with them, no spec file, `--set` value or set of imports
    makes `graphspec validate` run longer than 2 seconds or use more than 300 MB, whatever
    its shape (`tests/test_promises.py` checks generated worst cases at and over each limit).
    They were chosen by measuring whole `graphspec validate` processes on a 2-core machine,
    the worst shape of each kind at the limit (0.3 s of every figure below is start-up), and
    leave room for real models: the largest Keras application, NASNetLarge, has 1,041
    nodes."""

    max_bytes: int = 2**20
    """Largest spec read, in bytes: a file, a `--set` value, or a spec and all its imports
    together (every file counting at least 4 KiB). 1 MiB holds a 5,000-node spec written
    out at 200 bytes a node. Measured at this size: a file of tiny values (`[{}, {}, ...]`,
    `[[[1]]], ...`) is stopped by `max_values` while it is parsed, 0.8 s and 160 MB in all; a
    mapping of 87,000 keys, 1.1 s; one long string, 0.3 s."""
    max_nodes: int = 5_000
    """Most nodes a spec may have after blocks and repeats are expanded. Measured at this
    size: a chain 0.8 s, a random DAG 0.9 s, blocks doubling to 4,096 nodes 1.0 s, an error
    in every one of 5,000 nodes 1.0 s. At 10,000 nodes the same shapes take up to 1.8 s of
    CPU, too close to the promise."""
    max_depth: int = 200
    """Deepest nesting of mappings and lists in a file (checked before parsing, because the
    YAML parser itself is not safe from very deep nesting)."""
    max_value_size: int = 100_000
    """Largest value one `${...}` substitution may produce: characters of a string built by
    interpolation, or values (counted through every level) of a list or mapping that a
    placeholder stands for. Checked before the value is built: a chain of parameters that
    each repeat the one before ten times stops at its fifth step (0.4 s, 50 MB). All the
    substitutions of a spec together are bounded by `max_values` (`graphspec.expr.Budget`)."""

    @property
    def max_values(self) -> int:
        """Most values (scalars, lists, mappings) a document may hold, counting every value
        that YAML aliases repeat; also what the substitutions and repeats of one spec may
        produce together. 30 per node allowed (150,000 by default): real nodes hold 10 to 20.
        Measured: a value costs about 2 us from parsing to the end of validation; 130,000
        values that substitution walks take 0.55 s in all."""
        return 30 * self.max_nodes


DEFAULT = Limits()


def raise_hint(argument: str, flag: str, meant: str = "be this large") -> str:
    """The hint of a GS160: which option raises the limit, on the command line and in Python."""
    return (
        f"if the spec is meant to {meant}, raise the limit: {flag} "
        f"(graphspec.Limits({argument}=...) in Python)"
    )


def limit_report(path: str, template: str, argument: str, flag: str, **fields: Any):
    """A GS160 for the whole of `path` (no position): the catalogue's `template` filled from
    `fields`, with a hint naming the option that raises the limit (`argument` of Limits, `flag`
    on the command line)."""
    code = CATALOGUE["GS160"]
    return Diagnostic(
        path,
        None,
        None,
        code.id,
        code.severity,
        code.render(template, **fields),
        raise_hint(argument, flag),
    )


def limit_diagnostic(path: str, what: str, argument: str, flag: str):
    """A GS160 whose first words, `what` was exceeded, the caller has already written; prefer
    `limit_report` with a template of the catalogue."""
    return limit_report(path, "limit", argument, flag, what=what)


def too_many_nodes(path: str, limits: Limits):
    return limit_report(path, "nodes", "max_nodes", "--max-nodes", limit=limits.max_nodes)


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
