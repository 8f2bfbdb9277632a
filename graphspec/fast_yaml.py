"""The fast path of `source`: YAML text -> plain data with rapidyaml, typed exactly as PyYAML's
`safe_load` types it, or UNSURE.

rapidyaml parses a 10,000-node spec in about 20 ms where PyYAML's loader, even with libyaml
underneath, builds a Python node object per scalar and takes ten times as long. rapidyaml
types nothing and follows YAML 1.2, so this module gives each plain scalar the type PyYAML
gives it, with PyYAML's own YAML 1.1 resolvers and constructors (`yes` is true, `1e3` is a
string, `0x1F` is 31, `~` is null), and quoted scalars stay strings.

It is only a fast path: where it is not sure that PyYAML reads the text the same way, it
answers UNSURE, and `source` parses the text again with PyYAML, which then reports any error
in its own words and at its own position. The guards, each for a difference found between
the two parsers (`tests/test_fast_yaml.py` keeps an example of each):
- in the text: a tab, a line break other than \n, a BOM or a character PyYAML refuses; an
  anchor, alias, tag, directive or explicit key (`?`) where a token may start; a colon
  before a flow indicator; a `---` or `...` line; ` - ` after a closing quote or bracket; a
  `:` 1,024 characters or more into a line (libyaml's limit on a key); a backslash ending a
  line that is not a comment;
- in the tree: what rapidyaml flags as an anchor, alias or tag; block scalars; several
  documents; a key written twice, null, holding a space or a line break, or `<<`; a plain
  scalar starting with an indicator, holding ` #` or `: `, or ending in a space or a line
  break; a scalar PyYAML's constructors refuse; rapidyaml's own errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
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
# the list and `[a:?]` as a scalar; libyaml refuses both.
_FLOW_COLON = re.compile(r":[,?\[\]{}]")
# `- 'a' - b`: rapidyaml reads a second item, libyaml refuses it.
_AFTER_CLOSE = re.compile(r"""['"\]}] +-(?=[ \n]|$)""")
# Anchors, aliases, tags, directives and explicit keys where a token may start (after a
# space, a flow indicator or at the start): rapidyaml flags the well-formed ones (refused in
# the tree) but passes over a bare `&`, and reads `?x` as the key `x`. A `*` counts unless a
# space follows, so that `${a * b}` stays on the fast path.
_TOKEN_CHAR = re.compile(r"[&!%?*]")
_TOKEN_BEFORE = frozenset(" \n,[]{}")
# Document markers first on a line, indented or not: rapidyaml skips a `...` before the
# content and ends the document at an indented one; libyaml refuses the first and reads the
# second as text.
_MARKER = re.compile(r"(?:---|\.\.\.)(?=[ \n]|$)")
# libyaml refuses a key that starts 1,024 characters or more before its `:` (a key is on one
# line): a value indicator that far into a line. (A long flow list of references, a model's
# `outputs`, has none.)
_FAR_COLON = re.compile(r"^[^\n]{1024,}:(?=[ \n]|$)")
# An escaped line break in a double-quoted scalar: rapidyaml takes one in a key, which leaves
# no trace in it. (Not in comments: examples end lines with `\`.)
_ESCAPED_BREAK = re.compile(r"\\\n")


def _unsure_text(text: str) -> bool:
    """Whether the text holds something the two parsers may read differently. Each check
    starts from a literal or a character class, which `re` finds quickly, and looks at the
    context of the rare matches in Python: a 1 MiB spec takes a few milliseconds."""
    if _UNSURE_TEXT.search(text) or _FLOW_COLON.search(text) or _AFTER_CLOSE.search(text):
        return True
    for match in _TOKEN_CHAR.finditer(text):
        at = match.start()
        if (at == 0 or text[at - 1] in _TOKEN_BEFORE) and text[at : at + 2] != "* ":
            return True
    if "---" in text or "..." in text:
        for match in _MARKER.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
            if not line.strip(" "):  # first on its line (rapidyaml ends a document at an
                return True  # indented `...` too)
    for match in _ESCAPED_BREAK.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
        if not line.lstrip(" ").startswith("#"):
            return True
    return len(text) > 1024 and any(
        _FAR_COLON.match(line) for line in text.split("\n") if len(line) > 1024
    )


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
        if " #" in text or ": " in text or text[-1] in " \n":
            # Never one plain scalar for PyYAML: a comment, a mapping, or (rapidyaml keeps
            # the blank line before a flow collection's end) a trailing line break.
            raise _Unsure
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
_TYPERS: dict[type, _Typer] = {}  # one per loader class (source's)


def load(text: str, loader_class: type, max_values: float) -> tuple[Any, int] | object:
    """`(data, values)`: the plain data of `text` and how many values it holds (lists,
    mappings and scalars, keys not counted: `limits.expanded_size`), or UNSURE.
    `max_values`: the most scalars, lists and mappings (keys included) PyYAML's loader may
    compose; a text that might exceed it is UNSURE, so the loader reports the limit."""
    if ryml is None or not text or _unsure_text(text):
        return UNSURE
    typer = _TYPERS.get(loader_class) or _TYPERS.setdefault(loader_class, _Typer(loader_class))
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
        return _convert(tree, root, kind, typer), tree.size()
    except (_Unsure, UnicodeDecodeError):  # a lone surrogate escape, `"\ud800"`
        return UNSURE


def _convert(tree, root: int, root_kind: int, typer: _Typer) -> Any:
    """The tree as plain data, walking each container's children in order. Written for
    speed (one loop for lists and mappings, scalars typed inline): a 10,000-node spec has
    some 60,000 tree nodes, each a few calls into rapidyaml."""
    node_type, first_child, next_sibling = tree.type, tree.first_child, tree.next_sibling
    key_of, val_of, cache, plain = tree.key, tree.val, typer.cache, typer.plain

    def container(node: int, kind: int) -> Any:
        mapping = not kind & _SEQ
        out: Any = {} if mapping else []
        child = first_child(node)
        while child != _NONE:
            child_kind = node_type(child)
            if child_kind & _REFUSED:
                raise _Unsure
            if child_kind & (_MAP | _SEQ):
                value = container(child, child_kind)
            else:
                raw = val_of(child)
                value = "" if raw is None else str(raw, "utf-8")
                if not child_kind & _VAL_NOT_PLAIN:
                    typed = cache.get(value, _MISS)
                    value = plain(value) if typed is _MISS else typed
            if not mapping:
                out.append(value)
                child = next_sibling(child)
                continue
            raw = key_of(child)
            if child_kind & _KEYNIL or raw is None:
                raise _Unsure  # also an empty key, `{?}`
            key = str(raw, "utf-8")
            if " " in key or "\n" in key:
                raise _Unsure  # rapidyaml joins a key written over two lines, libyaml refuses it
            if not child_kind & _KEY_NOT_PLAIN:
                if key == "<<":
                    raise _Unsure  # the merge key (PyYAML's resolver: exactly `<<`)
                typed = cache.get(key, _MISS)
                key = plain(key) if typed is _MISS else typed
            if key in out or key != key:
                raise _Unsure  # written twice (PyYAML's loader warns, GS103), or `.nan`
            out[key] = value
            child = next_sibling(child)
        return out

    return container(root, root_kind)


_STDERR = threading.Lock()  # two threads swapping file descriptor 2 would lose stderr for good


@contextlib.contextmanager
def _stderr_silenced():
    """rapidyaml's C++ error handler writes its own report to file descriptor 2 before it
    raises; graphspec reports PyYAML's instead, so that report is sent to /dev/null. (What
    another thread writes to stderr during a parse, a few milliseconds, is lost with it.)"""
    with _STDERR:
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
