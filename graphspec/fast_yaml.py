"""The fast path of `source`: YAML text -> plain data with rapidyaml, typed exactly as PyYAML's
`safe_load` types it, or UNSURE.

rapidyaml parses a 10,000-node spec in about 20 ms where PyYAML's loader, even with libyaml
underneath, builds a Python node object per scalar and takes ten times as long. rapidyaml
types nothing and follows YAML 1.2, so this module gives each plain scalar the type PyYAML
gives it, with PyYAML's own YAML 1.1 resolvers and constructors (`yes` is true, `1e3` is a
string, `0x1F` is 31, `~` is null), and quoted scalars stay strings.

It is only a fast path: whatever it is not sure PyYAML would read the same way gives UNSURE,
and `source` parses the text again with PyYAML, which then reports any error with its own
words and position. UNSURE covers errors (rapidyaml's, or a scalar PyYAML's constructors
refuse), anything rapidyaml is more lenient about or treats differently (tags, anchors and
aliases, merge keys, block scalars, several documents or directives, a key written twice, complex or null
keys, a plain scalar starting with an indicator, a colon before a flow indicator), and text with a tab, a carriage return or a character PyYAML does
not accept. `tests/test_fast_yaml.py` checks the parity on
every example, fixture and documented spec and on generated documents.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any

from yaml.nodes import ScalarNode

try:
    import ryml
except ImportError:  # an install without the wheel: PyYAML reads everything
    ryml = None

UNSURE = object()
"""The answer when PyYAML should read the text instead."""

# Characters that make the text PyYAML's business: tabs (indentation rules differ), the line
# breaks other than \n (\r, \x85, \u2028, \u2029: PyYAML counts them, rapidyaml does not), a
# BOM, and every character PyYAML's Reader refuses (the complement of its NON_PRINTABLE; a
# class of these few ranges compiles in microseconds, the allowed ones in milliseconds).
_UNSURE_TEXT = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)
# A colon right before a flow indicator or `?`: rapidyaml reads `[0:, x]` as a mapping inside
# the list and `[a:?]` as a scalar; libyaml refuses both ("found unexpected ':'").
_FLOW_COLON = re.compile(r":[,?\[\]{}]")
# Anchors, aliases, tags and directives where a token may start: rapidyaml flags the
# well-formed ones (refused below) but passes over a bare `&`, which libyaml refuses. A `*`
# counts unless a space follows, so that `${a * b}` stays on the fast path. (A plain scalar
# starting with `@` or a backquote is caught by its first character; comments may hold both.)
_TOKEN_START = re.compile(r"(?:^|[\s,\[\]{}])(?:[&!%]|\*(?! ))", re.M)
# Characters that cannot start a plain scalar in PyYAML (rapidyaml takes `@x` or `` `x ``),
# and `?` and `:`, which can in block collections but not in flow ones; `-` can when a
# non-space follows (`-1`).
_INDICATORS = frozenset(",[]{}#&*!|>'\"%@`?:")

if ryml is not None:
    _MAP, _SEQ, _NONE = ryml.MAP, ryml.SEQ, ryml.NONE
    _DOC = ryml.DOC | (ryml.STREAM & ~ryml.SEQ)  # STREAM is a SEQ of documents
    # Anchors, aliases and tags; and block scalars (`|`, `>`), whose headers rapidyaml
    # checks less strictly than libyaml (it takes `>1:`).
    _REFUSED = (
        ryml.KEYANCH | ryml.VALANCH | ryml.KEYREF | ryml.VALREF | ryml.KEYTAG | ryml.VALTAG
    ) | (ryml.KEY_LITERAL | ryml.KEY_FOLDED | ryml.VAL_LITERAL | ryml.VAL_FOLDED)
    _KEY_NOT_PLAIN = ryml.KEY_SQUO | ryml.KEY_DQUO
    _VAL_NOT_PLAIN = ryml.VAL_SQUO | ryml.VAL_DQUO
    _KEYNIL = ryml.KEYNIL


class _Unsure(Exception):
    pass


_MISS = object()


class _Typer:
    """PyYAML's typing of plain scalars, with `loader`'s resolvers and constructors (the
    source module's safe loader, which already refuses every tag but plain data's)."""

    def __init__(self, loader_class: type) -> None:
        self.loader = loader_class("")
        # Specs repeat the same few words and numbers; only texts that passed the checks
        # below are kept, so a hit needs no checking.
        self.cache: dict[str, Any] = {}

    def plain(self, text: str) -> Any:
        if not text:
            return None  # `a:` and `- ` (PyYAML resolves the empty plain scalar to null)
        first = text[0]
        if first in _INDICATORS or (first == "-" and (len(text) == 1 or text[1] == " ")):
            raise _Unsure
        if " #" in text or ": " in text or text[-1] == " ":
            raise _Unsure  # never one plain scalar for PyYAML (a comment, a mapping)
        tag = self.loader.resolve(ScalarNode, text, (True, False))
        if tag == _STR or tag == _MERGE:
            value = text
        else:
            try:
                value = self.loader.yaml_constructors[tag](self.loader, ScalarNode(tag, text))
            except Exception:  # a located error is PyYAML's to report
                raise _Unsure from None
        if len(self.cache) < 4096 and len(text) < 64:
            self.cache[text] = value
        return value


_STR, _MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_typer: _Typer | None = None


def load(text: str, loader_class: type, max_values: float) -> tuple[Any, int] | object:
    """`(data, values)`: the plain data of `text` and how many values it holds (lists,
    mappings and scalars, keys not counted: `limits.expanded_size`), or UNSURE.
    `max_values`: the most scalars, lists and mappings (keys included) PyYAML's loader may
    compose; a text that might exceed it is UNSURE, so the loader reports the limit."""
    global _typer
    if (
        ryml is None
        or not text
        or _UNSURE_TEXT.search(text)
        or _FLOW_COLON.search(text)
        or _TOKEN_START.search(text)
    ):
        return UNSURE
    if _typer is None:
        _typer = _Typer(loader_class)
    with _stderr_silenced():
        try:
            tree = ryml.parse_in_arena(text.encode("utf-8"))
        except Exception:  # rapidyaml's parse errors; PyYAML reports them its own way
            return UNSURE
    if 2 * tree.size() > max_values:
        return UNSURE
    root = tree.root_id()
    kind = tree.type(root)
    if kind & _DOC or not kind & (_MAP | _SEQ):
        return UNSURE  # documents, directives, a lone scalar, an empty text: PyYAML's
    try:
        # Every node of the tree is one value (a key and its value share a node).
        return _convert(tree, root, kind, _typer), tree.size()
    except (_Unsure, UnicodeDecodeError):  # a lone surrogate escape, `"\ud800"`
        return UNSURE


def _convert(tree, root: int, root_kind: int, typer: _Typer) -> Any:
    """The tree as plain data, walking each container's children in order. Written for
    speed: a 10,000-node spec has some 60,000 tree nodes, each a few calls into rapidyaml."""
    node_type, first_child, next_sibling = tree.type, tree.first_child, tree.next_sibling
    key_of, val_of, cache, plain = tree.key, tree.val, typer.cache, typer.plain

    def value(node: int, kind: int) -> Any:
        if kind & (_MAP | _SEQ):
            return container(node, kind)
        raw = val_of(node)
        text = "" if raw is None else str(raw, "utf-8")
        if kind & _VAL_NOT_PLAIN:
            return text
        typed = cache.get(text, _MISS)
        return plain(text) if typed is _MISS else typed

    def container(node: int, kind: int) -> Any:
        child = first_child(node)
        if kind & _SEQ:
            items = []
            while child != _NONE:
                child_kind = node_type(child)
                if child_kind & _REFUSED:
                    raise _Unsure
                items.append(value(child, child_kind))
                child = next_sibling(child)
            return items
        mapping: dict = {}
        while child != _NONE:
            child_kind = node_type(child)
            raw = key_of(child)
            if child_kind & (_REFUSED | _KEYNIL) or raw is None:
                raise _Unsure  # also an empty key, `{?}`
            key = str(raw, "utf-8")
            if not child_kind & _KEY_NOT_PLAIN:
                if key == "<<":
                    raise _Unsure  # the merge key (PyYAML's resolver: exactly `<<`)
                typed = cache.get(key, _MISS)
                key = plain(key) if typed is _MISS else typed
            if key in mapping:
                raise _Unsure  # written twice: PyYAML's loader warns (GS103)
            mapping[key] = value(child, child_kind)
            child = next_sibling(child)
        return mapping

    return container(root, root_kind)


@contextlib.contextmanager
def _stderr_silenced():
    """rapidyaml's C++ error handler writes its own report to file descriptor 2 before it
    raises; graphspec reports PyYAML's instead, so that report is sent to /dev/null."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to protect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
