"""Spec text -> plain data, plus the positions of every key and value.

The only module that parses YAML or JSON. Loading is safe by construction: PyYAML's safe
constructor (the C one when libyaml is present) builds only plain data, so tags such as
`!!python/object` are rejected, never executed. "Plain data" is exactly what JSON holds:
strings, numbers, booleans, null, lists and mappings with scalar keys. YAML 1.1's extras that
build other Python types (`!!set`, `!!binary`, `!!omap`, `!!pairs`, `!!timestamp`) are
refused like any other tag, and a date-like scalar such as `2024-01-31` stays a string.

Every path is read the same way, imports included: only a regular file (after following
symlinks), and never more than `max_bytes + 1` bytes of it, so neither a device, a FIFO nor a
file that grows while it is read can make graphspec wait or fill memory.

Positions are computed lazily: the happy path is one fast parse, and the text is read a
second time, as a stream of events, into a compact index of positions only when a diagnostic
needs a line and column; a key path is then looked up by walking down that index, so each
diagnostic costs the length of its path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .codes import CATALOGUE
from .errors import ERROR, Diagnostic, SpecError, pointer
from .limits import DEFAULT, Limits, expanded_size, limit_report, nesting_estimate

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_STR_TAG, _SEQ_TAG, _MAP_TAG, _MERGE_TAG = (_TAG + t for t in ("str", "seq", "map", "merge"))
_PLAIN_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "merge")}
_NOT_PLAIN = {
    "binary": "bytes",
    "set": "a set",
    "omap": "a list of pairs",
    "pairs": "a list of pairs",
    "timestamp": "a date",
}
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks, as its marks count


class Loc(tuple):
    """A key path into a document, e.g. ('layers', 3, 'in', 1), that also knows which source
    it points into (blocks may come from imported files) and, for nodes expanded from a block,
    which instance they belong to: `context` for messages, `clusters` ((id, label) from the
    outermost instance in) for pictures. Extending or slicing it keeps all three."""

    def __new__(
        cls,
        parts=(),
        source: "Source | None" = None,
        context: str | None = None,
        clusters: tuple = (),
    ):
        loc = super().__new__(cls, parts)
        loc.source, loc.context, loc.clusters = source, context, clusters
        return loc

    def __add__(self, other):
        return Loc(tuple(self) + tuple(other), self.source, self.context, self.clusters)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return (
            Loc(item, self.source, self.context, self.clusters)
            if isinstance(index, slice)
            else item
        )

    def __repr__(self):
        return f"Loc{tuple(self)!r}"


# -- the loader ------------------------------------------------------------------------------


class _TooLarge(Exception):
    """More values written than the limit allows; raised while composing, before any of them
    is constructed."""


class _Refused(yaml.MarkedYAMLError):
    """What the loader itself refuses, as a code and a template of the catalogue: a tag that
    would build something other than plain data (GS102), or well-formed YAML that is not a
    valid spec document, such as a list or mapping used as a key or a value that does not fit
    its explicit tag (GS101)."""

    def __init__(self, code: str, template: str, mark, hint: str | None = None, **fields):
        super().__init__(problem=CATALOGUE[code].render(template, **fields), problem_mark=mark)
        self.code, self.template, self.fields, self.hint = code, template, fields, hint


_PLAIN_ONLY = "specs hold plain data only; remove the tag"


_RESOLVED: dict[str, str] = {}  # plain scalar -> tag; specs repeat the same few words


class _Loader(_BaseLoader):
    """Safe loader that records keys written twice in one mapping (YAML keeps the last),
    refuses every tag but plain data's, and counts the values it composes."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in _PLAIN_TAGS]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream, max_values: float = math.inf):
        super().__init__(stream)
        self.duplicate_keys: list[tuple[Any, Any, Any]] = []  # (key, first mark, second mark)
        self.max_values, self.composed = max_values, 0

    def resolve(self, kind, value, implicit):
        # Called once per written scalar, list and mapping (not per alias), so it also
        # counts them: a file of a million tiny values stops here, before construction.
        self.composed += 1
        if self.composed > self.max_values:
            raise _TooLarge
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR_TAG
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < 4096 and len(value) < 64:
                    _RESOLVED[value] = tag
            return tag
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG

    def construct_undefined(self, node):
        raise _Refused("GS102", "unknown", node.start_mark, _PLAIN_ONLY, tag=node.tag)


def _construct_map(loader: _Loader, node: MappingNode) -> Iterator[dict]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode):
            kind = "list" if isinstance(key_node, SequenceNode) else "mapping"
            raise _Refused("GS101", "key", key_node.start_mark, kind=kind)
        if key_node.tag == _MERGE_TAG:
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            loader.duplicate_keys.append((key_node.value, seen[key], key_node.start_mark))
        else:
            seen[key] = key_node.start_mark
    data: dict = {}
    yield data
    data.update(loader.construct_mapping(node))


def _checked(construct):
    """A scalar constructor whose failures (`!!int abc`, a 5,000-digit integer) are located
    errors rather than Python exceptions."""

    def checked(loader, node):
        try:
            return construct(loader, node)
        except (ValueError, KeyError, OverflowError) as exc:
            value = node.value
            if len(value) > 40:
                value = value[:18] + "..." + value[-18:]
            tag = _short_tag(node.tag)
            if not isinstance(exc, ValueError):
                raise _Refused("GS101", "tagged", node.start_mark, value=value, tag=tag) from None
            # Python's own advice (sys.set_int_max_str_digits) is not for spec authors.
            raise _Refused(
                "GS101",
                "tagged_why",
                node.start_mark,
                value=value,
                tag=tag,
                why=str(exc).split(";")[0],
            ) from None

    return checked


def _refuse(kind: str):
    def refuse(loader, node):
        raise _Refused(
            "GS102", "not_plain", node.start_mark, _PLAIN_ONLY, tag=_short_tag(node.tag), kind=kind
        )

    return refuse


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


_Loader.add_constructor(_MAP_TAG, _construct_map)
_Loader.add_constructor(None, _Loader.construct_undefined)
# `<<` means "merge" only as a key (handled there); written as a value it is the text `<<`.
_Loader.add_constructor(_MERGE_TAG, SafeConstructor.construct_yaml_str)
for _name in ("int", "float", "bool"):
    _Loader.add_constructor(_TAG + _name, _checked(SafeConstructor.yaml_constructors[_TAG + _name]))
for _name, _kind in _NOT_PLAIN.items():
    _Loader.add_constructor(_TAG + _name, _refuse(_kind))


@contextlib.contextmanager
def _collector_paused():
    """Parsing creates one container per YAML node and none of them can be garbage; CPython's
    cycle collector would re-scan them again and again while they are being created, which
    makes a large parse several times slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _mark(mark) -> tuple[int, int]:
    """PyYAML marks are 0-based; graphspec positions are 1-based."""
    return mark.line + 1, mark.column + 1


# -- located data ----------------------------------------------------------------------------


class Source:
    """Located data: the parsed document and a way to find where any key path was written."""

    def __init__(self, path: str, data: Any, text: str | None = None, base_dir: Path | None = None):
        self.path = path
        self.data = data
        self.text = text
        self.base_dir = base_dir
        self._root: Any = None  # see _positions; built when a position is first asked for
        self._indexed = False
        self._line_starts: list[int] | None = None
        self.size = 0
        """Bytes read from the file, as stored (0 for a source that is not a file)."""
        self.values = 0
        """How many values the data holds, counting what aliases repeat (set when read)."""

    # -- positions ---------------------------------------------------------------------------
    def locate(self, loc: Sequence[Any], key: bool = False) -> tuple[int | None, int | None]:
        """1-based (line, column) of the value at `loc` (of its key when `key`), or of the
        nearest enclosing value that exists. (None, None) for sources without text. Through
        an alias, the path continues where the anchored value was written."""
        if self.text is None:
            return None, None
        if not self._indexed:
            self._indexed = True
            self._root = _positions(_yaml_text(self))
        node = self._root
        if node is None:  # data came from json.loads and YAML cannot read it; nothing better
            return 1, 1
        parts = tuple(loc)
        for i, part in enumerate(parts):
            found = _child(node, part)
            if found is None:
                break
            key_position, node = found
            if key and i == len(parts) - 1 and key_position is not None:
                return _unpack(key_position)
        return _unpack(node if isinstance(node, int) else node[0])

    def line_text(self, line: int) -> str:
        """The text of 1-based `line`, without its line break ("" past the end)."""
        if not self.text:
            return ""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(self.text)]
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n\x85\u2028\u2029")

    # -- diagnostics -------------------------------------------------------------------------
    def diagnostic(
        self,
        loc: Sequence[Any],
        code: str,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        severity: str = ERROR,
        column_offset: int = 0,
    ) -> Diagnostic:
        """A diagnostic at `loc`; a Loc from another source (an import) is located there, and
        one expanded from a block names the instance."""
        source = getattr(loc, "source", None) or self
        context = getattr(loc, "context", None)
        if context:
            message += f" (in {context})"
        line, column = source.locate(loc, key=key)
        if column is not None and column_offset:
            column = source.column_in_value(line, column, column_offset)
        return Diagnostic(source.path, line, column, code, severity, message, hint, pointer(loc))

    def column_in_value(self, line: int, column: int, offset: int) -> int:
        """The column of character `offset` of a scalar that starts at (line, column),
        stepping over its opening quote; a multi-line scalar keeps its start column."""
        text = self.line_text(line)
        quoted = column - 1 < len(text) and text[column - 1] in "'\""
        target = column + offset + (1 if quoted else 0)
        return target if target <= len(text) + 1 else column

    def value_at(self, loc: Sequence[Any], default: Any = None) -> Any:
        """The raw value at `loc`, or `default` when the path does not exist."""
        source = getattr(loc, "source", None) or self
        value = source.data
        for part in loc:
            value = child(value, part)
            if value is MISSING:
                return default
        return value


# A position is one int, (line << 32) | column, and the index mirrors the document: a scalar is
# its position, a list (position, [items]), a mapping (position, {key text: (key position,
# value)}). Built from the event stream in one pass, it holds a few small objects per value
# rather than PyYAML's node tree (a node, two marks and their dicts per value), which the
# cycle collector would otherwise walk again and again for the rest of the run.


def _pack(mark) -> int:
    return (mark.line + 1) << 32 | (mark.column + 1)


def _unpack(position: int) -> tuple[int, int]:
    return position >> 32, position & 0xFFFFFFFF


def _child(node: Any, part: Any) -> tuple[int | None, Any] | None:
    """(key position or None, value) of `part` under an index node, or None."""
    if isinstance(node, int):
        return None
    children = node[1]
    if isinstance(children, list):
        if isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(children):
            return None, children[part]
        return None
    found = children.get(part) if isinstance(part, str) else None
    if found is None and not isinstance(part, str):  # keys are indexed as written
        found = children.get(str(part).lower() if isinstance(part, bool) else str(part))
    return found


_NOT_A_KEY = object()  # a list or mapping written as a key (refused when the data was read)
_MERGE = object()  # the key `<<`


def _positions(text: str) -> Any:
    """The position index of a YAML (or JSON) text; None when YAML cannot read it."""
    anchors: dict[str, Any] = {}
    # One frame per open container: [position, children, anchor, key, key position, merges];
    # `key` is None while a mapping waits for its next key.
    stack: list[list] = []
    root = None

    def add(node: Any, key_text: Any = _NOT_A_KEY) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        frame = stack[-1]
        children = frame[1]
        if isinstance(children, list):
            children.append(node)
        elif frame[3] is None:  # the node is a key
            frame[3] = key_text
            frame[4] = node if isinstance(node, int) else node[0]
        else:
            key = frame[3]
            if key is _MERGE:
                frame[5].append(node)
            elif key is not _NOT_A_KEY:
                # Point at the first key written; keep the last value, as YAML does.
                children[key] = (children.get(key, (frame[4],))[0], node)
            frame[3] = None

    loader = _Loader(text)
    try:
        with _collector_paused():
            while loader.check_event():
                event = loader.get_event()
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    position = _pack(event.start_mark)
                    if event.anchor:
                        anchors[event.anchor] = position
                    merge = (
                        event.value == "<<"
                        and event.implicit[0]
                        and event.tag in (None, _MERGE_TAG)
                    )
                    add(position, _MERGE if merge else event.value)
                elif kind is yaml.AliasEvent:
                    anchored = anchors.get(event.anchor, 0)
                    position = _pack(event.start_mark)
                    add(position if isinstance(anchored, int) else (position, anchored[1]))
                elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                    stack.append(
                        [
                            _pack(event.start_mark),
                            [] if kind is yaml.SequenceStartEvent else {},
                            event.anchor,
                            None,
                            None,
                            [],
                        ]
                    )
                elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                    position, children, anchor, _, _, merges = stack.pop()
                    for merged in merges:  # explicit keys win, then earlier merges
                        for source in (
                            merged[1]
                            if isinstance(merged, tuple) and isinstance(merged[1], list)
                            else [merged]
                        ):
                            if isinstance(source, tuple) and isinstance(source[1], dict):
                                for key, value in source[1].items():
                                    children.setdefault(key, value)
                    node = (position, children)
                    if anchor:
                        anchors[anchor] = node
                    add(node)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return root


MISSING = object()


def child(value: Any, part: Any) -> Any:
    """`value[part]` for a mapping key or list index that exists in plain data, else MISSING."""
    if isinstance(value, dict):
        return value.get(part, MISSING)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return MISSING


def _yaml_text(source: Source) -> str:
    # JSON allows tabs as white space, YAML does not; a tab and a space are one column each.
    return source.text.replace("\t", " ") if source.path.endswith(".json") else source.text


# -- reading ---------------------------------------------------------------------------------

FAST_FROM = 16 * 1024
"""Texts of this many characters and more are parsed with rapidyaml (`fast_yaml`) when it can
vouch for reading them as PyYAML does; shorter ones parse faster with PyYAML than rapidyaml
is imported."""

FILE_COST = 4096
"""Bytes that every file of a spec counts for at least, so that thousands of tiny imports
cannot add up to more work than one file at the byte limit."""


class Spent:
    """What the files of one spec (its main file and its imports) have used of the limits so
    far. Create one per spec, `add` the main file's Source, and pass it to `read` for every
    import: together they may hold at most `max_bytes` bytes (every file counting at least
    FILE_COST) and `max_values` values, so that no set of imports adds up to more than one file
    may hold. A file counts as soon as it is read, even when it then fails to parse."""

    def __init__(self) -> None:
        self.bytes = self.values = 0

    def add(self, source: "Source") -> None:
        self.bytes += max(source.size, FILE_COST) if source.text is not None else 0
        self.values += source.values


class _Room(NamedTuple):
    """What is left of the limits for the file being read, and the Spent of its spec (None
    for a file read on its own)."""

    bytes: int
    values: int
    limits: Limits
    spent: Spent | None


def read(
    spec: Any, limits: Limits = DEFAULT, *, spent: Spent | None = None
) -> tuple[Source, list[Diagnostic]]:
    """Parse a path (.yaml/.yml/.json) or a mapping. Fatal problems (unreadable file, syntax,
    unsafe tags, a limit exceeded) raise SpecError; keys written twice come back as
    diagnostics. With `spent` (see Spent), the file shares the limits with the other files
    of the same spec, and is counted in it."""
    if spent is None:
        return _read(spec, _Room(limits.max_bytes, limits.max_values, limits, None))
    room = _Room(limits.max_bytes - spent.bytes, limits.max_values - spent.values, limits, spent)
    try:
        source, diagnostics = _read(spec, room)
    except SpecError as exc:
        if any(d.code == "GS160" for d in exc.diagnostics):  # nothing more fits
            spent.bytes, spent.values = limits.max_bytes + 1, limits.max_values + 1
        raise
    spent.values += source.values  # its bytes were counted when it was read
    return source, diagnostics


def _read(spec: Any, room: _Room) -> tuple[Source, list[Diagnostic]]:
    if isinstance(spec, dict):
        source = Source("<dict>", spec)
        _check_size(source, room)
        return source, []
    if not isinstance(spec, (str, os.PathLike)):
        raise SpecError([_error("<spec>", _NOWHERE, "GS002", "type", received=type(spec).__name__)])
    path = Path(spec)
    shown = str(spec)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise SpecError(
            [_error(shown, _NOWHERE, "GS002", "suffix", path=shown, suffix=path.suffix)]
        )
    data = _read_bytes(path, shown, room)
    try:
        # A byte order mark is allowed (Windows editors write one); it is not part of the text.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [_error(shown, _NOWHERE, "GS001", "unreadable", path=shown, error=exc)]
        ) from None
    source = Source(shown, None, text, path.resolve().parent)
    source.size = len(data)
    diagnostics = _parse(source, room, json_text=suffix == ".json")
    return source, diagnostics


def _too_big(where: str, template: str, size: int, limit: int) -> SpecError:
    """GS160: the text read as `where` is over --max-bytes."""
    return SpecError(
        [limit_report(where, template, "max_bytes", "--max-bytes", size=size, limit=limit)]
    )


def read_text(
    text: str, path: str | os.PathLike, limits: Limits = DEFAULT
) -> tuple[Source, list[Diagnostic]]:
    """`read` for a text that is not (or not yet) the file's content, e.g. an editor's unsaved
    buffer: it is parsed as if it were the file at `path`, with the same limits and
    diagnostics."""
    shown = str(path)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise _too_big(shown, "file_bytes", size, limits.max_bytes)
    src = Source(shown, None, text, Path(path).resolve().parent)
    src.size = size
    return src, _parse(
        src,
        _Room(limits.max_bytes, limits.max_values, limits, None),
        json_text=shown.lower().endswith(".json"),
    )


def read_value(text: str, limits: Limits = DEFAULT, *, where: str = "--set") -> Any:
    """One value written on the command line (`--set NAME=VALUE`), read as YAML with the same
    safety and limits as a file: size, nesting (checked before parsing), values after alias
    expansion, plain data only. An empty text is the empty string. Raises SpecError (GS101,
    GS102, GS103, GS160) located in the value, under the name `where`."""
    if not text.strip():
        return ""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise _too_big(where, "value_bytes", size, limits.max_bytes)
    source = Source(where, None, text)
    diagnostics = _parse(
        source, _Room(limits.max_bytes, limits.max_values, limits, None), json_text=False
    )
    if diagnostics:  # a key written twice: on the command line there is no file to fix later
        raise SpecError(diagnostics)
    return source.data


def _read_bytes(path: Path, shown: str, room: _Room) -> bytes:
    def unreadable(template: str, **fields) -> SpecError:
        return SpecError([_error(shown, _NOWHERE, "GS001", template, path=shown, **fields)])

    allowed = max(room.bytes, 0)
    limit = room.limits.max_bytes
    too_much = limit_report(
        shown,
        "spec_bytes",
        "max_bytes",
        "--max-bytes",
        limit=limit,
        values=room.limits.max_values,
        file_cost=FILE_COST,
    )
    if room.spent is not None and (allowed < FILE_COST or room.values <= 0):
        raise SpecError([too_much])
    try:
        mode, size, data = _read_regular(path, allowed)
    except FileNotFoundError:
        raise unreadable("missing") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise unreadable("unreadable", error=exc) from None
    if data is None:
        raise unreadable("not_regular", kind=_file_kind(mode))
    if room.spent is not None:
        room.spent.bytes += max(size, len(data), FILE_COST)
    if room.spent is None and (size > allowed or len(data) > allowed):
        # The file may have grown after its size was read: then only a lower bound is known.
        raise _too_big(
            shown, "file_bytes" if size > allowed else "file_grew", max(size, allowed), limit
        )
    if room.spent is not None and max(size, len(data), FILE_COST) > allowed:
        raise SpecError([too_much])
    return data


def _read_regular(path: Path, max_bytes: int) -> tuple[int, int, bytes | None]:
    """(mode, size, at most `max_bytes + 1` bytes) of the file at `path`; the bytes are None
    when it is not a regular file (after following symlinks), which is never opened for
    reading, and empty when it is larger than `max_bytes`."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        return info.st_mode, info.st_size, None
    if info.st_size > max_bytes:
        return info.st_mode, info.st_size, b""
    # Non-blocking, so that a path swapped for a FIFO after the check cannot hang us; what was
    # opened is checked again.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return info.st_mode, info.st_size, None
        return info.st_mode, info.st_size, file.read(max_bytes + 1)  # it may grow meanwhile


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file")


def _parse(source: Source, room: _Room, json_text: bool) -> list[Diagnostic]:
    limits = room.limits
    depth = nesting_estimate(source.text)
    if depth > limits.max_depth:
        # libyaml's composer recurses in C and crashes the process on very deep nesting.
        raise SpecError(
            [
                limit_report(
                    source.path,
                    "nesting",
                    "max_depth",
                    "--max-depth",
                    what=_what(source),
                    depth=depth,
                    limit=limits.max_depth,
                )
            ]
        )
    counted = None
    with _collector_paused():
        if json_text:
            diagnostics = _parse_json(source, room)
        else:
            diagnostics, counted = _parse_yaml(source, source.text, room)
    _check_size(source, room, counted)
    return diagnostics


def _what(source: Source, file: str = "file") -> str:
    """How messages name what was read: a file (or document), or a `--set` value."""
    return "value" if source.text is not None and source.base_dir is None else file


def _too_large(source: Source, room: _Room) -> SpecError:
    template = "spec_values" if room.spent is not None else "document_values"
    return SpecError(
        [
            limit_report(
                source.path,
                template,
                "max_nodes",
                "--max-nodes",
                what=_what(source, "document"),
                limit=room.limits.max_values,
            )
        ]
    )


def _check_size(source: Source, room: _Room, counted: int | None = None) -> None:
    """`counted`: the values the fast parse counted (it leaves aliases to PyYAML)."""
    limit = max(room.values, 0)
    size = counted if counted is not None else expanded_size(source.data, limit)
    if size is None or size > limit:
        raise _too_large(source, room)
    source.values = size


def _parse_yaml(source: Source, text: str, room: _Room) -> tuple[list[Diagnostic], int | None]:
    """Diagnostics (keys written twice), and how many values the fast parse counted (None
    when PyYAML read the text)."""
    # Keys are composed too, at most one per value: twice the limit stops only what is over it.
    max_values = 2 * max(room.values, 0)
    if len(text) >= FAST_FROM:
        from . import fast_yaml  # rapidyaml costs an import that pays off only past FAST_FROM

        loaded = fast_yaml.load(text, _Loader, max_values)
        if loaded is not fast_yaml.UNSURE:
            source.data, counted = loaded
            return [], counted
    loader = _Loader(text, max_values)
    try:
        source.data = loader.get_single_data()
    except _TooLarge:
        raise _too_large(source, room) from None
    except _Refused as exc:
        raise SpecError(
            [
                _error(
                    source.path,
                    _mark(exc.problem_mark),
                    exc.code,
                    exc.template,
                    exc.hint,
                    **exc.fields,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_error(source, exc)]) from None
    except RecursionError:  # the nesting estimate lets nothing this deep through
        raise SpecError(
            [limit_report(source.path, "too_deep", "max_depth", "--max-depth", what=_what(source))]
        ) from None
    finally:
        loader.dispose()
    duplicates = [
        _error(
            source.path,
            _mark(second),
            "GS103",
            "twice",
            "remove or rename one of them",
            key=key,
            first=first.line + 1,
        )
        for key, first, second in loader.duplicate_keys
    ]
    return duplicates, None


def _yaml_error(source: Source, exc: yaml.YAMLError) -> Diagnostic:
    """GS101 in PyYAML's own words, at its mark."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    at = _mark(mark) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if not context:
        return _error(source.path, at, "GS101", "yaml", problem=problem)
    if context_mark is not None and mark is not context_mark:
        line, column = _mark(context_mark)
        return _error(
            source.path,
            at,
            "GS101",
            "yaml_started",
            context=context,
            line=line,
            column=column,
            problem=problem,
        )
    return _error(source.path, at, "GS101", "yaml_context", context=context, problem=problem)


_NOWHERE = (None, None)  # a diagnostic about the whole file


def _error(
    path: str,
    at: tuple[int | None, int | None],
    code: str,
    template: str,
    hint: str | None = None,
    /,
    **fields: Any,
) -> Diagnostic:
    """A diagnostic of the catalogue located by (line, column) rather than by a key path: at
    a parser's mark, or `_NOWHERE`."""
    entry = CATALOGUE[code]
    return Diagnostic(path, *at, entry.id, entry.severity, entry.render(template, **fields), hint)


def _parse_json(source: Source, room: _Room) -> list[Diagnostic]:
    duplicated = []

    def pairs(items):
        if len(items) > 1 and len({k for k, _ in items}) != len(items):
            duplicated.append(True)
        return dict(items)

    try:
        source.data = json.loads(source.text, object_pairs_hook=pairs)
    except RecursionError:  # the nesting estimate lets nothing this deep through; belt and braces
        raise SpecError(
            [limit_report(source.path, "too_deep", "max_depth", "--max-depth", what="file")]
        ) from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            [_error(source.path, (exc.lineno, exc.colno), "GS101", "json", error=exc.msg)]
        ) from None
    except ValueError as exc:  # a number Python will not convert (more than 4,300 digits)
        _parse_yaml(source, _yaml_text(source), room)  # raises, located, when YAML sees it too
        raise SpecError([_error(source.path, _NOWHERE, "GS101", "json", error=exc)]) from None
    if not duplicated:
        return []
    # Rare path: re-read with the YAML loader, which knows where each duplicate stands.
    data = source.data
    diagnostics, _ = _parse_yaml(source, _yaml_text(source), room)
    source.data = data
    return diagnostics


# -- writing ---------------------------------------------------------------------------------

_TOP_ORDER = (
    "graphspec",
    "name",
    "description",
    "model",
    "imports",
    "params",
    "blocks",
    "inputs",
    "layers",
    "outputs",
)
_BLOCK_ORDER = ("description", "nested", "model", "params", "inputs", "layers", "outputs")


def dumps(data: dict) -> str:
    """A spec as YAML for people: sections in block style, one node or input per line in flow
    style, keys in the order of the format's reference."""

    def flow(value) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False)
        return text.removesuffix("\n...\n").strip()  # a lone scalar gets an end marker

    def ordered(mapping: dict, order: tuple) -> list:
        return [k for k in order if k in mapping] + [k for k in mapping if k not in order]

    def nodes(items: list, indent: str) -> list[str]:
        return [f"{indent}- {flow(node)}" for node in items]

    lines = ["# yaml-language-server: $schema=https://graphspec.dev/schemas/graphspec.schema.json"]
    for key in ordered(data, _TOP_ORDER):
        value = data[key]
        if key == "layers" and isinstance(value, list):
            lines += ["layers:"] + nodes(value, "  ")
        elif key in ("inputs", "params") and isinstance(value, dict) and value:
            lines += [f"{key}:"] + [f"  {flow(k)}: {flow(v)}" for k, v in value.items()]
        elif key == "blocks" and isinstance(value, dict) and value:
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {flow(name)}:")
                for bkey in ordered(block, _BLOCK_ORDER):
                    if bkey == "layers" and isinstance(block[bkey], list):
                        lines += ["    layers:"] + nodes(block[bkey], "      ")
                    else:
                        lines.append(f"    {bkey}: {flow(block[bkey])}")
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines) + "\n"
