"""The names a spec defines and where each is used: nodes and inputs (per scope: the model,
or one block), blocks, and parameters. Go to definition, find references, rename and hover
all read this table, built from the position index of the text as written.

A reference `enc:1` uses the name `enc` (only that part is renamed). A `${...}` inside a
block uses the block's parameter when the block declares it, else the model's. The keys of
a block instance's `args` use the block's parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from ..composition import default_names
from ..document import split_ref
from .index import Index, Item, Position

NODE, BLOCK, PARAM = "node", "block", "param"
MODEL = ""  # the scope of the model's own names; a block's scope is its name


@dataclass(frozen=True)
class Occurrence:
    kind: str  # NODE (inputs included) | BLOCK | PARAM
    name: str
    scope: str  # MODEL or a block's name; blocks are global (MODEL)
    start: Position
    end: Position
    definition: bool = False
    implicit: bool = False  # a default node name: defined by the node, written nowhere
    item: Item | None = None  # the node's mapping for an implicit definition

    @property
    def symbol(self) -> tuple[str, str, str]:
        return self.kind, self.name, self.scope

    def contains(self, position: Position) -> bool:
        return self.start <= position <= self.end


def occurrences(index: Index, lines: list[str], document: Any = None) -> list[Occurrence]:
    """Every definition and use of a name in a text. `document` (a `graphspec.document
    .Document`, when the text validated that far) gives the default names of unnamed nodes."""
    out: list[Occurrence] = []
    block_params: dict[str, set] = {}
    for path in index.keys:
        if len(path) == 4 and path[0] == "blocks" and path[2] == "params":
            block_params.setdefault(path[1], set()).add(path[3])
    for item in index.items:
        path = item.path
        if not path or item.kind != "scalar":
            continue
        scope, rest = scope_of(path)
        if item.is_key:
            if rest == ("inputs", rest[-1]) and len(rest) == 2 and scope == MODEL:
                out.append(_whole(item, NODE, MODEL, definition=True))
            elif len(path) == 2 and path[0] == "blocks":
                out.append(_whole(item, BLOCK, MODEL, definition=True))
            elif len(rest) == 2 and rest[0] == "params":
                out.append(_whole(item, PARAM, scope, definition=True))
            elif len(rest) == 4 and rest[0] == "layers" and rest[2] == "args":
                block = index.value(path[:-2] + ("block",))
                if block is not None and block.value is not None:
                    out.append(_whole(item, PARAM, block.value))
            continue
        value = item.value
        if value is None:
            continue
        if len(rest) == 3 and rest[0] == "layers" and rest[2] == "name":
            out.append(_whole(item, NODE, scope, definition=True))
        elif scope != MODEL and len(rest) == 2 and rest[0] == "inputs":
            out.append(_whole(item, NODE, scope, definition=True))
        elif (
            (len(rest) >= 3 and rest[0] == "layers" and rest[2] == "in")
            or (len(rest) == 3 and rest[0] == "layers" and rest[2] == "share")
            or (rest and rest[0] == "outputs")
        ):
            name, _ = split_ref(value)
            found = _part(item, lines, name, 0)
            if found is not None:
                out.append(Occurrence(NODE, name, scope, *found))
        elif len(rest) == 3 and rest[0] == "layers" and rest[2] == "block":
            out.append(_whole(item, BLOCK, MODEL))
        if "${" in value:
            declared = block_params.get(scope, set())
            for name, offset in _expression_names(value):
                found = _part(item, lines, name, offset)
                if found is not None:
                    out.append(
                        Occurrence(PARAM, name, scope if name in declared else MODEL, *found)
                    )
    if document is not None:
        out += _implicit(index, document)
    return out


def at(occurrences: list[Occurrence], position: Position) -> Occurrence | None:
    for occurrence in occurrences:
        if occurrence.contains(position) and not occurrence.implicit:
            return occurrence
    return None


def same(occurrences: list[Occurrence], symbol: tuple) -> list[Occurrence]:
    return [o for o in occurrences if o.symbol == symbol]


def definition(occurrences: list[Occurrence], symbol: tuple) -> Occurrence | None:
    return next((o for o in occurrences if o.symbol == symbol and o.definition), None)


def scope_of(path: tuple) -> tuple[str, tuple]:
    """(scope, the path inside it): inside `blocks.b`, the block b and the rest."""
    if len(path) >= 3 and path[0] == "blocks" and isinstance(path[1], str):
        return path[1], path[2:]
    return MODEL, path


def _whole(item: Item, kind: str, scope: str, definition: bool = False) -> Occurrence:
    start, end = item.start, item.end
    if item.style in ("'", '"') and start[0] == end[0]:  # the name, inside its quotes
        start, end = (start[0], start[1] + 1), (end[0], end[1] - 1)
    return Occurrence(kind, item.value, scope, start, end, definition)


def _part(item: Item, lines: list[str], name: str, offset: int) -> tuple[Position, Position] | None:
    """Where `name`, at `offset` in a one-line scalar's value, stands in the text (None when
    the scalar is not written as it reads: escapes, folded lines)."""
    line, column = item.start
    if item.end[0] != line or line >= len(lines):
        return None
    column += offset + (1 if item.style in ("'", '"') else 0)
    if lines[line][column : column + len(name)] != name:
        return None
    return (line, column), (line, column + len(name))


_EXPRESSION = re.compile(r"(?<!\$)\$\{([^{}]*)\}")
_TOKEN = re.compile(
    r"\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<call>\s*\()?"
)


def _expression_names(value: str) -> Iterator[tuple[str, int]]:
    """(parameter name, offset in the value) of each name used in the `${...}` of a value."""
    for expression in _EXPRESSION.finditer(value):
        for token in _TOKEN.finditer(expression.group(1)):
            if token["name"] and not token["call"]:
                yield token["name"], expression.start(1) + token.start()


def expression_at(value: str, offset: int) -> tuple[str, int] | None:
    """(the expression's text, its offset) of the `${...}` of a value that holds `offset`."""
    for expression in _EXPRESSION.finditer(value):
        if expression.start() <= offset <= expression.end():
            return expression.group(1), expression.start(1)
    return None


def _implicit(index: Index, document: Any) -> list[Occurrence]:
    """Definitions of the nodes that have no `name`: their default names, at the node."""
    out = []
    lists = [(MODEL, ("layers",), document.layers or [])]
    lists += [
        (name, ("blocks", name, "layers"), block.layers)
        for name, block in (document.blocks or {}).items()
        if block is not None
    ]
    for scope, prefix, decls in lists:
        for i, (decl, name) in enumerate(zip(decls, default_names(list(decls)))):
            if decl is None or decl.name or name is None:
                continue
            item = index.value(prefix + (i,))
            if item is not None:
                out.append(Occurrence(NODE, name, scope, item.start, item.start, True, True, item))
    return out
