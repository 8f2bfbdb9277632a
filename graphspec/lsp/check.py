"""Validate an editor's text: the pipeline's stages over in-memory text, keeping what each
stage made (the features read the document, composition, graph and static summary).

What the editor shows must be what `graphspec validate` would print for the text once saved,
so this runs the same stages, with the same options, in the same order as `api._check`; it
differs in two ways only. The text comes from the editor's buffer (its path gives the folder
imports are read from), and imported files come from `Imports`: an open document's buffer
when there is one, else the file; each is parsed once per content.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import analysis, composition, document, graph, registry, source
from ..pipeline import unique as _unique
from ..codes import CATALOGUE
from ..composition import library
from ..errors import Diagnostic, SpecError, sort_diagnostics
from ..limits import DEFAULT, Limits, limit_diagnostic, too_many_nodes


@dataclass(frozen=True)
class Options:
    """What the command line (`--set`, `--allow-imports-from`, `--max-*`) or the editor's
    settings give every validation."""

    params: dict = field(default_factory=dict)
    limits: Limits = DEFAULT
    allow_imports_from: tuple[str, ...] = ()


@dataclass
class Result:
    """What validating one text gave: every stage's output (None where a stage did not run)
    and every diagnostic, those located in imported files included."""

    path: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: source.Source | None = None
    document: document.Document | None = None
    composition: composition.Composition | None = None
    checked: graph.CheckedGraph | None = None
    summary: analysis.Summary | None = None
    imported: dict[str, source.Source] = field(default_factory=dict)  # path -> its Source

    @property
    def library(self) -> bool:
        """A file that only provides blocks and parameters to others (no inputs, no layers)."""
        data = self.source.data if self.source is not None else None
        return isinstance(data, dict) and data.get("inputs") is None \
            and data.get("layers") is None


class Imports:
    """Imported files as the editor sees them. `buffer(path)` gives the text of a document
    open in the editor (None when it is not open); other files are read from disk. Each
    distinct content is parsed once: the cache is keyed by path and content hash."""

    def __init__(self, buffer: Callable[[str], str | None]):
        self.buffer = buffer
        self._cache: dict[tuple[str, bytes], tuple[source.Source, list[Diagnostic]]] = {}
        self.read_paths: dict[str, source.Source] = {}  # what the current validation read

    def read(self, shown: str, limits: Limits = DEFAULT, *, spent: source.Spent | None = None
             ) -> tuple[source.Source, list[Diagnostic]]:
        """`source.read` of an imported file (the same diagnostics, limits shared through
        `spent` included), from the editor or the cache when the content was seen before."""
        text = self.buffer(os.path.abspath(shown))
        if text is None:
            try:
                data = Path(shown).read_bytes() if Path(shown).is_file() else None
            except OSError:
                data = None
            if data is None:  # source.read says why, located, as the CLI would
                return source.read(shown, limits, spent=spent)
            key = (shown, hashlib.blake2b(data, digest_size=16).digest())
            make = lambda: source.read(shown, limits)  # noqa: E731 (all of read's checks)
        else:
            key = (shown, hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                          digest_size=16).digest())
            make = lambda: read_text(text, shown, limits)  # noqa: E731
        found = self._cache.get(key)
        if found is None:
            try:
                found = make()
            except SpecError:  # not cached; read as a validation does, for its exact error
                if text is None:
                    return source.read(shown, limits, spent=spent)
                raise
            if len(self._cache) > 256:  # old versions of edited files
                self._cache.clear()
            self._cache[key] = found
        if spent is not None:
            _charge(spent, found[0], limits, shown, disk=text is None)
        self.read_paths[shown] = found[0]
        return found[0], list(found[1])


def _charge(spent: source.Spent, read: source.Source, limits: Limits, shown: str,
            disk: bool) -> None:
    """Count a file parsed on its own in the limits its spec and imports share; over them,
    the error `source.read` gives."""
    before = spent.bytes, spent.values
    spent.add(read)
    if spent.bytes <= limits.max_bytes and spent.values <= limits.max_values:
        return
    spent.bytes, spent.values = before
    if disk:  # read it again, counted: this raises the error a validation would give
        source.read(shown, limits, spent=spent)
        return  # (it fits now: the file changed meanwhile)
    spent.bytes, spent.values = limits.max_bytes + 1, limits.max_values + 1  # nothing more fits
    raise SpecError([limit_diagnostic(
        shown, f"the spec and its imports come to more than {limits.max_bytes:,} bytes or "
        f"{limits.max_values:,} values, the limits (every file counts at least "
        f"{source.FILE_COST:,} bytes)", "max_bytes", "--max-bytes")])


def read_text(text: str, path: str, limits: Limits = DEFAULT
              ) -> tuple[source.Source, list[Diagnostic]]:
    """`source.read` for a text that is not (or not yet) the file's content: the text is
    parsed as if it were the file at `path`, with the same limits and diagnostics."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise SpecError([limit_diagnostic(path, f"the file is {size:,} bytes, more than the "
                                          f"limit of {limits.max_bytes:,}", "max_bytes",
                                          "--max-bytes")])
    src = source.Source(path, None, text, Path(path).resolve().parent)
    src.size = size
    room = source._Room(limits.max_bytes, limits.max_values, limits, None)
    return src, source._parse(src, room, json_text=path.lower().endswith(".json"))


@contextlib.contextmanager
def _reading(imports: Imports):
    # `composition.compose` reads imports with `library.read` and takes no reader, so the
    # server, which is single-threaded, swaps it in while it composes.
    previous = library.read
    library.read = imports.read
    try:
        yield
    finally:
        library.read = previous


def check(text: str, path: str, options: Options, imports: Imports) -> Result:
    """Validate `text` as the spec file at `path` (absolute)."""
    result = Result(path, text)
    diagnostics = result.diagnostics
    registry.load_entry_points()
    limits = options.limits
    try:
        src, found = read_text(text, path, limits)
    except SpecError as exc:
        diagnostics += exc.diagnostics
        return result
    result.source = src
    diagnostics += found
    layers = src.data.get("layers") if isinstance(src.data, dict) else None
    if isinstance(layers, list) and len(layers) > limits.max_nodes:
        diagnostics.append(too_many_nodes(src.path, limits))
        return result
    parsed, found = document.validate_document(src)
    diagnostics += found
    result.document = parsed
    if parsed is None:
        return result
    imports.read_paths = {}
    # A library (a file that only lends blocks and parameters through `imports`) is no
    # model: it is not asked for one, and parameter overrides are for the specs that use it.
    library = result.library
    with _reading(imports):
        composed, found = composition.compose(src, parsed, None if library else options.params,
                                              limits, options.allow_imports_from)
    result.imported = imports.read_paths
    if library:
        found = [d for d in found if not (d.code == "GS111" and d.message.startswith(_NO_MODEL))]
    diagnostics += found
    result.composition = composed
    if composed is None:
        return _finish(result)
    checked, found = graph.check(src, composed)
    diagnostics += found
    result.checked = checked
    if checked is not None:
        summary, found = analysis.analyze(src, checked, name=parsed.name)
        diagnostics += found
        result.summary = summary
        if checked.budget is not None:
            diagnostics += analysis.budget.check(src, source.Loc(("budget",), src), summary,
                                                 checked.budget.model_dump())
    return _finish(result)


def _finish(result: Result) -> Result:
    result.diagnostics = _unique(sort_diagnostics(result.diagnostics))
    return result


def is_spec(text: str) -> bool:
    """Whether a YAML or JSON text is a graphspec spec (has a top-level `graphspec` key):
    editors send every YAML file, and only specs get diagnostics."""
    return _SPEC_KEY.search(text) is not None


_SPEC_KEY = re.compile(r"""^(?:graphspec|"graphspec"|'graphspec')\s*:|^\s*\{?\s*"graphspec"\s*:""",
                       re.MULTILINE)
_NO_MODEL = CATALOGUE["GS111"].templates["model_keys"].split("{")[0]
