"""Spec text -> plain data, plus the positions of every key and value.

The only module that parses YAML or JSON. Loading is safe by construction: PyYAML's safe
constructor (the C one when libyaml is present) builds only plain data, so tags such as
`!!python/object` are rejected, never executed.

Positions are computed lazily: the happy path is one fast parse, and the text is composed a
second time, for its marks, only when a diagnostic needs a line and column.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import ERROR, Diagnostic, SpecError, pointer
from .limits import DEFAULT, Limits, expanded_size, limit_diagnostic, nesting_estimate

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"

class Loc(tuple):
    """A key path into a document, e.g. ('layers', 3, 'in', 1), that also knows which source
    it points into (blocks may come from imported files) and, for nodes expanded from a block,
    which instance they belong to: `context` for messages, `clusters` ((id, label) from the
    outermost instance in) for pictures. Extending or slicing it keeps all three."""

    def __new__(cls, parts=(), source: "Source | None" = None, context: str | None = None,
                clusters: tuple = ()):
        loc = super().__new__(cls, parts)
        loc.source, loc.context, loc.clusters = source, context, clusters
        return loc

    def __add__(self, other):
        return Loc(tuple(self) + tuple(other), self.source, self.context, self.clusters)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Loc(item, self.source, self.context, self.clusters) if isinstance(index, slice) else item

    def __repr__(self):
        return f"Loc{tuple(self)!r}"


class _Loader(_BaseLoader):
    """Safe loader that also records keys written twice in one mapping (YAML keeps the last)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicate_keys: list[tuple[Any, Any, Any]] = []  # (key, first mark, second mark)


def _construct_map(loader: _Loader, node: MappingNode) -> Iterator[dict]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            loader.duplicate_keys.append((key_node.value, seen[key], key_node.start_mark))
        else:
            seen[key] = key_node.start_mark
    data: dict = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor(_MAP_TAG, _construct_map)


def _mark(mark) -> tuple[int, int]:
    """PyYAML marks are 0-based; graphspec positions are 1-based."""
    return mark.line + 1, mark.column + 1


class Source:
    """Located data: the parsed document and a way to find where any key path was written."""

    def __init__(self, path: str, data: Any, text: str | None = None, base_dir: Path | None = None):
        self.path = path
        self.data = data
        self.text = text
        self.base_dir = base_dir
        self._values: dict[Loc, tuple[int, int]] | None = None
        self._keys: dict[Loc, tuple[int, int]] = {}

    # -- positions ---------------------------------------------------------------------------
    def locate(self, loc: Sequence[Any], key: bool = False) -> tuple[int | None, int | None]:
        """1-based (line, column) of the value at `loc` (of its key when `key`), or of the
        nearest enclosing value that exists. (None, None) for sources without text."""
        if self.text is None:
            return None, None
        if self._values is None:
            self._index()
        loc = tuple(loc)
        if key and loc in self._keys:
            return self._keys[loc]
        while loc:
            if loc in self._values:
                return self._values[loc]
            loc = loc[:-1]
        return self._values.get((), (1, 1))

    def _index(self) -> None:
        self._values = {}
        self._walked: set[int] = set()
        try:
            root = yaml.compose(_yaml_text(self), Loader=_Loader)
        except yaml.YAMLError:  # data came from json.loads; nothing better to point at
            root = None
        if root is not None:
            self._walk(root, ())

    def _walk(self, node, loc: Loc) -> None:
        self._values[loc] = _mark(node.start_mark)
        if id(node) in self._walked:
            return  # an alias: its contents are located where the anchor was written
        self._walked.add(id(node))
        if isinstance(node, MappingNode):
            SafeConstructor.flatten_mapping(_FLATTENER, node)
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is None:
                    continue
                child = loc + (key,)
                self._keys.setdefault(child, _mark(key_node.start_mark))
                self._walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, loc + (i,))

    # -- diagnostics -------------------------------------------------------------------------
    def diagnostic(self, loc: Sequence[Any], code: str, message: str, hint: str | None = None,
                   *, key: bool = False, severity: str = ERROR, column_offset: int = 0) -> Diagnostic:
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
        text = self.text.splitlines()[line - 1] if self.text else ""
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


MISSING = object()


def child(value: Any, part: Any) -> Any:
    """`value[part]` for a mapping key or list index that exists in plain data, else MISSING."""
    if isinstance(value, dict):
        return value.get(part, MISSING)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return MISSING


_FLATTENER = SafeConstructor()


def _yaml_text(source: Source) -> str:
    # JSON allows tabs as white space, YAML does not; a tab and a space are one column each.
    return source.text.replace("\t", " ") if source.path.endswith(".json") else source.text


def read(spec: Any, limits: Limits = DEFAULT) -> tuple[Source, list[Diagnostic]]:
    """Parse a path (.yaml/.yml/.json) or a mapping. Fatal problems (unreadable file, syntax,
    unsafe tags, a limit exceeded) raise SpecError; keys written twice come back as
    diagnostics."""
    if isinstance(spec, dict):
        source = Source("<dict>", spec)
        _check_size(source, limits)
        return source, []
    if not isinstance(spec, (str, os.PathLike)):
        raise SpecError([Diagnostic("<spec>", None, None, "GS002", ERROR,
                                    "a spec source must be a path to a .yaml, .yml or .json file "
                                    f"or a dict. Received: {type(spec).__name__}")])
    path = Path(spec)
    shown = str(spec)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise SpecError([Diagnostic(shown, None, None, "GS002", ERROR,
                                    f"cannot tell the format of '{shown}': expected a .yaml, .yml "
                                    f"or .json file. Received suffix: '{path.suffix}'")])
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise SpecError([limit_diagnostic(shown, f"the file is {size:,} bytes, more than the limit of "
                                    f"{limits.max_bytes:,}", "max_bytes", "--max-bytes")])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Diagnostic(shown, None, None, "GS001", ERROR, f"no such file: '{shown}'")])
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Diagnostic(shown, None, None, "GS001", ERROR,
                                    f"cannot read '{shown}': {exc}")])
    depth = nesting_estimate(text)
    if depth > limits.max_depth:
        # libyaml's composer recurses in C and crashes the process on very deep nesting.
        raise SpecError([limit_diagnostic(shown, f"the file nests about {depth} levels deep, more than the "
                                f"limit of {limits.max_depth}", "max_depth", "--max-depth")])
    source = Source(shown, None, text, path.resolve().parent)
    diagnostics = _parse_json(source) if suffix == ".json" else _parse_yaml(source, text)
    _check_size(source, limits)
    return source, diagnostics


def _check_size(source: Source, limits: Limits) -> None:
    if expanded_size(source.data, limits.max_values) is None:
        raise SpecError([limit_diagnostic(source.path, f"the document expands to more than "
                                f"{limits.max_values:,} values (through YAML aliases, or a "
                                "structure that contains itself)", "max_nodes", "--max-nodes")])


def _parse_yaml(source: Source, text: str) -> list[Diagnostic]:
    loader = _Loader(text)
    try:
        source.data = loader.get_single_data()
    except ConstructorError as exc:
        raise SpecError([_yaml_error(source, exc, "GS102")])
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_error(source, exc, "GS101")])
    finally:
        loader.dispose()
    return [
        Diagnostic(source.path, *_mark(second), "GS103", ERROR,
                   f"key '{key}' is written twice in the same mapping (first at line "
                   f"{first.line + 1}); YAML would silently keep only the last one",
                   "remove or rename one of them")
        for key, first, second in loader.duplicate_keys
    ]


def _yaml_error(source: Source, exc: yaml.YAMLError, code: str) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = _mark(mark) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not context_mark:
        context += " started at line {}, column {}".format(*_mark(context_mark))
    message = f"{context}: {problem}" if context else problem
    hint = None
    if code == "GS102":
        message = f"unsafe or unknown YAML tag: {problem}"
        hint = "specs hold plain data only; remove the tag"
    return Diagnostic(source.path, line, column, code, ERROR, message, hint)


def _parse_json(source: Source) -> list[Diagnostic]:
    duplicated = []

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            duplicated.append(True)
        return dict(items)

    try:
        source.data = json.loads(source.text, object_pairs_hook=pairs)
    except RecursionError:  # the nesting estimate lets nothing this deep through; belt and braces
        raise SpecError([limit_diagnostic(source.path, "the file nests too deeply", "max_depth",
                                "--max-depth")])
    except json.JSONDecodeError as exc:
        raise SpecError([Diagnostic(source.path, exc.lineno, exc.colno, "GS101", ERROR,
                                    f"invalid JSON: {exc.msg}")])
    if not duplicated:
        return []
    # Rare path: re-read with the YAML loader, which knows where each duplicate stands.
    data = source.data
    diagnostics = _parse_yaml(source, _yaml_text(source))
    source.data = data
    return diagnostics


_TOP_ORDER = ("graphspec", "name", "description", "model", "imports", "params", "blocks",
              "inputs", "layers", "outputs")
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
