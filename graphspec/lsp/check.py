"""Validate an editor's text: `graphspec validate`'s stages (`graphspec.pipeline.run`) over
in-memory text, keeping what each stage made (the features read the document, the
composition, the graph and the static summary).

Two things differ from validating the file: the text comes from the editor's buffer (its
path gives the folder imports are read from), and imported files come from `Imports`: an
open document's buffer when there is one, else the file; each is parsed once per content.
A library file (no inputs, no layers) is not asked for a model.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import analysis, composition, document, graph, pipeline, source
from ..codes import CATALOGUE
from ..errors import Diagnostic, SpecError, sort_diagnostics
from ..limits import DEFAULT, Limits, limit_diagnostic


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
        return isinstance(data, dict) and data.get("inputs") is None and data.get("layers") is None


class Imports:
    """Imported files as the editor sees them. `buffer(path)` gives the text of a document
    open in the editor (None when it is not open); other files are read from disk. Each
    distinct content is parsed once: the cache is keyed by path and content hash."""

    def __init__(self, buffer: Callable[[str], str | None]):
        self.buffer = buffer
        self._cache: dict[tuple[str, bytes], tuple[source.Source, list[Diagnostic]]] = {}
        self.read_paths: dict[str, source.Source] = {}  # what the current validation read

    def read(
        self, shown: str, limits: Limits = DEFAULT, *, spent: source.Spent | None = None
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
            key = (
                shown,
                hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(),
            )
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


def _charge(
    spent: source.Spent, read: source.Source, limits: Limits, shown: str, disk: bool
) -> None:
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
    raise SpecError(
        [
            limit_diagnostic(
                shown,
                f"the spec and its imports come to more than {limits.max_bytes:,} bytes or "
                f"{limits.max_values:,} values, the limits (every file counts at least "
                f"{source.FILE_COST:,} bytes)",
                "max_bytes",
                "--max-bytes",
            )
        ]
    )


read_text = source.read_text


def check(text: str, path: str, options: Options, imports: Imports) -> Result:
    """Validate `text` as the spec file at `path` (absolute): `graphspec validate`'s stages
    (`pipeline.run`) over the editor's text."""
    result = Result(path, text)
    try:
        src, found = read_text(text, path, options.limits)
    except SpecError as exc:
        result.diagnostics = sort_diagnostics(exc.diagnostics)
        return result
    result.source = src
    # A library (a file that only lends blocks and parameters through `imports`) is no
    # model: it is not asked for one, and parameter overrides are for the specs that use it.
    library = result.library
    imports.read_paths = {}
    stages = pipeline.run(
        None,
        pipeline.Options(
            None if library else options.params,
            options.limits,
            options.allow_imports_from,
            read_import=imports.read,
        ),
        read=src,
    )
    result.imported = imports.read_paths
    result.document, result.composition = stages.document, stages.composition
    result.checked, result.summary = stages.checked, stages.summary
    found = found + stages.diagnostics
    if library:
        found = [d for d in found if not (d.code == "GS111" and d.message.startswith(_NO_MODEL))]
    result.diagnostics = pipeline.unique(sort_diagnostics(found))
    return result


def is_spec(text: str) -> bool:
    """Whether a YAML or JSON text is a graphspec spec (has a top-level `graphspec` key):
    editors send every YAML file, and only specs get diagnostics."""
    return _SPEC_KEY.search(text) is not None


_SPEC_KEY = re.compile(
    r"""^(?:graphspec|"graphspec"|'graphspec')\s*:|^\s*\{?\s*"graphspec"\s*:""", re.MULTILINE
)
_NO_MODEL = CATALOGUE["GS111"].templates["model_keys"].split("{")[0]
