"""Where every key and value of a YAML text starts and ends, and which one a cursor is on.

`graphspec.source` locates where things start; an editor also needs where they end (to
underline the whole key or value) and the reverse question (what is under the cursor). One
pass over PyYAML's event stream answers both; it is built per text version on demand.
Positions are 0-based (line, column) in code points, as PyYAML counts them. A text that stops
parsing keeps what was indexed before the error.
"""

from __future__ import annotations

import bisect
import gc
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

COMPLEX = object()  # a path part below a list or mapping written as a key

Position = tuple[int, int]


@dataclass(eq=False, slots=True)
class Item:
    """One written key, scalar or collection. `path` is the key path of the value (for a key,
    of the value it introduces)."""

    path: tuple
    start: Position
    end: Position
    kind: str  # "scalar" | "map" | "seq" | "alias"
    is_key: bool = False
    value: str | None = None  # a scalar's text
    style: str | None = None  # a scalar's quote ("'", '"', "|", ">") or None
    flow: bool = False  # a collection written as {...} or [...]

    def contains(self, position: Position) -> bool:
        return self.start <= position <= self.end


@dataclass
class Index:
    items: list[Item] = field(default_factory=list)
    values: dict[tuple, Item] = field(default_factory=dict)  # path -> value (first written)
    keys: dict[tuple, Item] = field(default_factory=dict)  # path -> its key
    by_start: dict[Position, Item] = field(default_factory=dict)
    complete: bool = True  # False when the text stopped parsing
    _scalars: list[Item] = field(default_factory=list)
    _starts: list[Position] = field(default_factory=list)

    def scalar_at(self, position: Position) -> Item | None:
        """The key or scalar value whose text holds `position` (its end included, so a
        cursor right after a word is on it)."""
        i = bisect.bisect_right(self._starts, position) - 1
        if i >= 0 and self._scalars[i].contains(position):
            return self._scalars[i]
        return None

    def value(self, path: tuple) -> Item | None:
        return self.values.get(tuple(path))

    def under(self, prefix: tuple) -> list[Item]:
        """Every item whose path starts with `prefix`, in text order."""
        n = len(prefix)
        return [item for item in self.items if item.path[:n] == prefix]


def build(text: str) -> Index:
    index = Index()
    # Each open collection: [item, is_map, pending key or None, next list index]
    stack: list[list] = []

    def place(as_key: Any) -> tuple[tuple, bool]:
        """The path of the next key, scalar or collection, and whether it is a key; a key
        (`as_key`: its text, or COMPLEX) is held for the value that follows it."""
        if not stack:
            return (), False
        frame = stack[-1]
        item, is_map = frame[0], frame[1]
        if not is_map:
            frame[3] += 1
            return item.path + (frame[3] - 1,), False
        if frame[2] is None:
            frame[2] = as_key
            return item.path + (as_key,), True
        key = frame[2]
        frame[2] = None
        return item.path + (key,), False

    def add(item: Item) -> None:
        index.items.append(item)
        index.by_start.setdefault(item.start, item)
        if item.is_key:
            index.keys.setdefault(item.path, item)
        else:
            index.values.setdefault(item.path, item)

    loader = _Loader(text)
    collecting = gc.isenabled()
    gc.disable()  # thousands of new objects, none of them garbage: see source._collector_paused
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.AliasEvent:
                scalar = kind is yaml.ScalarEvent
                path, is_key = place(event.value if scalar else COMPLEX)
                start, end = _pos(event.start_mark), _pos(event.end_mark)
                if scalar:
                    item = Item(path, start, end, "scalar", is_key, event.value, event.style)
                else:
                    item = Item(path, start, end, "alias", is_key)
                add(item)
                index._scalars.append(item)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                # A collection used as a key is refused by graphspec; it is indexed on.
                path, is_key = place(COMPLEX)
                is_map = kind is yaml.MappingStartEvent
                start = _pos(event.start_mark)  # the end comes with the collection's end event
                flow = bool(event.flow_style)
                item = Item(path, start, start, "map" if is_map else "seq", is_key, flow=flow)
                add(item)
                stack.append([item, is_map, None, 0])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()[0].end = _pos(event.end_mark)
    except yaml.YAMLError:
        index.complete = False
    finally:
        loader.dispose()
        if collecting:
            gc.enable()
    for frame in stack:  # collections the error left open end where parsing stopped
        frame[0].end = max(frame[0].start, index.items[-1].end)
    index._scalars.sort(key=lambda item: item.start)
    index._starts = [item.start for item in index._scalars]
    return index


def _pos(mark: Any) -> Position:
    return mark.line, mark.column


# -- the range of one diagnostic ----------------------------------------------------------------
# Publishing diagnostics must not index the whole text each time: a diagnostic's item is found
# by parsing only the block entry around its line (a `- ` item or a top-level section), which
# YAML reads the same on its own, dedented.

Range = tuple[Position, Position]


def span(lines: list[str], line: int, column: int, last: Any = None) -> Range:
    """The range to underline for something reported at 0-based (line, column): the whole
    key or value that starts there (a block collection: the rest of its first line), else
    the name inside a value that the position points into. `last` is the last part of the
    diagnostic's key path, which tells a key from the mapping that starts at the same place."""
    if line >= len(lines) or (line >= 0 and not lines[line].strip()):
        # Nothing written there (YAML's "end of stream"): the last thing written before it.
        line = next((i for i in range(min(line, len(lines) - 1), -1, -1) if lines[i].strip()), -1)
        column = len(lines[line].rstrip()) if line >= 0 else 0
    if line < 0:
        return (0, 0), (0, 0)
    first, stop, dedent = _window(lines, line)
    window = build(
        "\n".join(text[dedent:] if _indent(text) >= dedent else "" for text in lines[first:stop])
    )
    if not window.complete:  # not an entry YAML reads on its own (JSON's braces): read all
        first, dedent, window = 0, 0, build("\n".join(lines))
    found = _item(window, (line - first, column - dedent), last)
    if found is not None:
        start, end, block = found
        start, end = (start[0] + first, start[1] + dedent), (end[0] + first, end[1] + dedent)
        return (start, _line_end(lines, start[0])) if block else (start, end)
    text = lines[line]
    if column >= len(text.rstrip()) and text.strip():  # at the end (YAML's "end of stream"):
        column = len(text.rstrip()) - 1  # the last character written
    return (line, column), (line, _word_end(text, column))


def item_range(item: Item, lines: list[str]) -> Range:
    """What to underline for an item of a full index."""
    if item.kind in ("map", "seq") and not item.flow:
        return item.start, _line_end(lines, item.start[0])
    return item.start, item.end


def _item(index: Index, position: Position, last: Any) -> tuple[Position, Position, bool] | None:
    collection = index.by_start.get(position)
    if collection is not None and collection.kind not in ("map", "seq"):
        collection = None
    scalar = index.scalar_at(position)
    if scalar is not None and scalar.start == position:
        if collection is None or (scalar.is_key and scalar.value == str(last)):
            return scalar.start, scalar.end, False
    if collection is not None:
        return collection.start, collection.end, not collection.flow
    if scalar is not None and position == scalar.end:  # where the text stopped parsing
        return scalar.start, scalar.end, False
    if scalar is not None:  # a place inside a value: the name there, e.g. in `${...}`
        line = position[0]
        return position, (line, _word_end_in(scalar, position)), False
    return None


def _word_end_in(scalar: Item, position: Position) -> int:
    return position[1] + max(len(_WORD.match(_rest(scalar, position)).group()), 1)


def _rest(scalar: Item, position: Position) -> str:
    # The scalar's value from `position` on, when it is written on one line as it reads.
    if scalar.start[0] != scalar.end[0] or scalar.value is None:
        return ""
    offset = position[1] - scalar.start[1] - (1 if scalar.style in ("'", '"') else 0)
    return scalar.value[offset:] if offset >= 0 else ""


def _window(lines: list[str], line: int) -> tuple[int, int, int]:
    """(first line, line after the last, indentation) of the block entry around `line`."""
    indent = _indent(lines[line]) if _content(lines[line]) else 0
    first = line
    while first > 0 and not (
        _content(lines[first])
        and (
            _indent(lines[first]) == 0
            or (_is_item(lines[first]) and _indent(lines[first]) <= indent)
        )
    ):
        first -= 1
        if _content(lines[first]):
            indent = min(indent, _indent(lines[first]))
    base = _indent(lines[first])
    stop = first + 1
    while stop < len(lines) and not (_content(lines[stop]) and _indent(lines[stop]) <= base):
        stop += 1
    return first, stop, base


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _is_item(text: str) -> bool:
    stripped = text.lstrip(" ")
    return stripped.startswith("- ") or stripped == "-"


def _line_end(lines: list[str], line: int) -> Position:
    text = lines[line]
    cut = _COMMENT.search(text)
    return line, len((text[: cut.start()] if cut else text).rstrip())


def _word_end(text: str, column: int) -> int:
    match = _WORD.match(text, column)
    return column + max(len(match.group()), 1) if column < len(text) else column


_WORD = re.compile(r"[\w.\-]*")
_COMMENT = re.compile(r"(?:^|\s)#")
