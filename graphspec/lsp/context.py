"""Where the cursor is, for completion, read from text that is usually not valid YAML yet
(`- {name: a, layer: De`): which key path it is under, whether a key or a value is being
written (and under which key), what is typed so far, and the keys already written beside it.

Block structure is read from indentation, flow structure (`{...}`, `[...]`) by scanning
the entry the cursor is in; a line starts inside a flow collection when the brackets before
it are not balanced. List items are `ITEM` in the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ITEM = "[]"

_KEY_LINE = re.compile(
    r"""^(?P<key>"[^"]*"|'[^']*'|[^\s#:{}\[\],'"][^#:{}\[\],]*?)\s*:"""
    r"""(?:\s+(?P<value>.*?))?\s*$"""
)
_ITEM_MARK = re.compile(r"-(?:\s+|$)")
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?""")
_COMMENT = re.compile(r"(?:^|\s)#.*")
_WORD = re.compile(r"[\w.\-]*$")
_HERE = object()  # the key of a list item's frame whose content is a flow collection


@dataclass
class Context:
    path: tuple  # the keys from the root to the mapping or list the cursor writes into
    role: str  # "key" | "value"
    key: str | None  # for a value: the key it belongs to (None for a list item)
    prefix: str  # what is typed of the current word
    start: int  # the column where the current word starts
    quoted: bool = False  # inside a quoted scalar
    expression: bool = False  # inside `${...}`
    siblings: dict = field(default_factory=dict)  # path -> {key: value}, or (line, indent)
    lines: list = field(default_factory=list, repr=False)  # the text, for `written`

    def written(self, path: tuple | None = None) -> dict:
        """The keys (and scalar values) written in the mapping at `path` (default: the one
        the cursor is in)."""
        path = self.path if path is None else tuple(path)
        found = self.siblings.get(path, {})
        if isinstance(found, tuple):  # a block mapping, read on first use (it may be long)
            found = self.siblings[path] = _block_siblings(self.lines, *found)
        return found


def at(lines: list[str], line: int, column: int) -> Context:
    text = lines[line] if line < len(lines) else ""
    before = text[:column]
    depths = _depths(lines, line)
    first = line
    while first > 0 and depths[first] > 0:
        first -= 1
    while first > 0 and first != line and not _content(lines[first]):
        first -= 1
    level = _indent(lines[first]) if first < line or before.strip() else len(before)
    path, mappings = _block_path(lines, depths, first, level)
    segment = (
        "\n".join([lines[first]] + lines[first + 1 : line] + [before]) if line > first else before
    )
    indent = min(_indent(segment), len(segment))
    context = _scan(segment[indent:], path, lines, first, indent)
    context.lines = lines
    for size, j, keys_at in mappings:
        context.siblings.setdefault(tuple(path[:size]), (j, keys_at))
    opened = before.rfind("${")
    if opened >= 0 and "}" not in before[opened:]:
        context.expression = True
        context.prefix = re.search(r"[A-Za-z_0-9]*$", before).group()
    elif not context.quoted or "\n" in context.prefix:
        context.prefix = _WORD.search(before).group()
    context.start = column - len(context.prefix)
    return context


def _depths(lines: list[str], last: int) -> list[int]:
    """How many flow collections are open at the start of each line up to `last`."""
    depths, depth = [], 0
    for text in lines[: last + 1]:
        depths.append(depth)
        if "{" in text or "[" in text or "]" in text or "}" in text:
            bare = _COMMENT.sub("", _QUOTED.sub('""', text))
            depth = max(
                0, depth + bare.count("{") + bare.count("[") - bare.count("}") - bare.count("]")
            )
    return depths


def _content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _block_path(
    lines: list[str], depths: list[int], first: int, level: int
) -> tuple[list, list[tuple[int, int, int]]]:
    """The block keys and items above line `first`, whose entry stands at column `level`,
    and for each block mapping on the way, (its depth in the path, a line of it, the column
    of its keys)."""
    item = lines[first].lstrip(" ").startswith("-")
    path: list = []
    mappings: list[tuple[int, int, int]] = []  # (keys of the path after it, line, indent)
    for j in range(first - 1, -1, -1):
        text = lines[j]
        if depths[j] > 0 or not _content(text):
            continue
        indent = _indent(text)
        body = text[indent:]
        if body.startswith("-") and _ITEM_MARK.match(body):
            inner = indent + _ITEM_MARK.match(body).end()
            if indent < level:
                rest = _KEY_LINE.match(body[_ITEM_MARK.match(body).end() :])
                if rest and level > inner and not rest["value"]:
                    path[:0] = [ITEM, _unquote(rest["key"])]
                    mappings.append((len(path) - 1, j, inner))
                else:
                    path.insert(0, ITEM)
                level, item = indent, True
        else:
            match = _KEY_LINE.match(body)
            if match and (indent < level or (indent == level and item)):
                path.insert(0, _unquote(match["key"]))
                mappings.append((len(path), j, indent))
                level, item = indent, False
        if level == 0 and not item:
            break
    # depths were counted from the end of the path: make them prefixes' lengths
    return path, [(len(path) - after, j, indent) for after, j, indent in mappings]


def _block_siblings(lines: list[str], first: int, indent: int, skip: int = -1) -> dict:
    """`key: value` pairs of the block mapping whose keys stand at `indent` around `first`
    (line `skip` left out)."""
    found: dict = {}
    for step in (-1, 1):
        j = first
        while 0 <= j < len(lines):
            text = lines[j]
            if _content(text):
                here = _indent(text)
                body = text[here:]
                mark = _ITEM_MARK.match(body) if body.startswith("-") else None
                if mark:
                    here += mark.end()
                    body = body[mark.end() :]
                if here < indent or (mark and here == indent and j != first and step == 1):
                    break
                if here == indent and j != skip:
                    match = _KEY_LINE.match(body)
                    if match:
                        found.setdefault(_unquote(match["key"]), _scalar(match["value"]))
                    if mark:  # the item line opens the mapping: nothing above belongs to it
                        if step == -1:
                            break
            j += step
    return found


def _scalar(text: str | None) -> str | None:
    if not text:
        return None
    text = _COMMENT.sub("", text).strip()
    return _unquote(text) if text and text[0] not in "{[" else None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


class _Frame:
    __slots__ = ("path", "mapping", "key", "written")

    def __init__(self, path: tuple, mapping: bool):
        self.path, self.mapping, self.key, self.written = path, mapping, None, {}


def _scan(segment: str, block: list, lines: list[str], first: int, indent: int) -> Context:
    """Read the entry from the start of its first line to the cursor."""
    path = list(block)
    while True:  # `- ` and `- - `: list items opened on this line
        mark = _ITEM_MARK.match(segment)
        if not segment.startswith("-") or not mark:
            break
        path.append(ITEM)
        indent += mark.end()
        segment = segment[mark.end() :]
    frames = [_Frame(tuple(path), True)]
    siblings = {}
    if segment[:1] in ("{", "["):
        frames[0].key = _HERE
    else:
        frames[0].written = siblings[frames[0].path] = _block_siblings(
            lines, first, indent, skip=first
        )
    token, quoted = "", False
    i = 0
    while i < len(segment):
        c = segment[i]
        frame = frames[-1]
        if c in "'\"" and not token.strip():
            close = _QUOTED.match(segment, i)
            end = close.end()
            if end == len(segment) and not (end - i >= 2 and segment[end - 1] == c):
                token, quoted = segment[i + 1 :], True  # the scalar the cursor is in
                break
            token = segment[i + 1 : end - 1]
            i = end
            continue
        if c == "#" and (i == 0 or segment[i - 1] in " \t\n"):
            newline = segment.find("\n", i)
            i = len(segment) if newline < 0 else newline
            continue
        if c in "{[":
            frames.append(_Frame(_child(frame), c == "{"))
            siblings[frames[-1].path] = frames[-1].written
            token = ""
        elif c in "}]":
            _end_value(frame, token)
            if len(frames) > 1:
                frames.pop()
            token = ""
        elif c == ",":
            _end_value(frame, token)
            if frame.mapping:
                frame.key = None
            token = ""
        elif (
            c == ":"
            and (i + 1 == len(segment) or segment[i + 1] in " \n\t,]}")
            and frame.mapping
            and frame.key is None
        ):
            frame.key = token.strip()
            frame.written.setdefault(frame.key, None)
            token = ""
        elif c == "\n":
            token += " "
        else:
            token += c
        i += 1
    frame = frames[-1]
    prefix = token.lstrip() if not quoted else token
    if frame.mapping and frame.key is None:
        return Context(frame.path, "key", None, prefix, 0, quoted, siblings=siblings)
    if frame.mapping:
        return Context(
            frame.path + (frame.key,), "value", frame.key, prefix, 0, quoted, siblings=siblings
        )
    return Context(frame.path + (ITEM,), "value", None, prefix, 0, quoted, siblings=siblings)


def _child(frame: _Frame) -> tuple:
    if frame.key is _HERE:
        return frame.path
    if not frame.mapping:
        return frame.path + (ITEM,)
    return frame.path + (frame.key,) if frame.key is not None else frame.path + ("?",)


def _end_value(frame: _Frame, token: str) -> None:
    if frame.mapping and frame.key is not None and token.strip():
        frame.written[frame.key] = token.strip()
