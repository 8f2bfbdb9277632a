"""Imports: the blocks and parameter defaults of a spec and of every file it imports.

Imports are confined to the folder of the main spec (and its subfolders) unless the caller
allows more folders, so a spec cannot make graphspec read, and echo in its diagnostics, a file
elsewhere on the machine. A file without a top-level `graphspec:` key is not read further, and
nothing of its content is shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..codes import report
from ..document import Document, validate_document
from ..errors import Diagnostic, SpecError
from ..limits import Limits
from ..source import Loc, Source, Spent, read

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Definition:
    """A block or parameter default, with the file and place it was defined in."""

    value: Any
    source: Source
    loc: Loc


class Library:
    """Blocks and parameter defaults of a spec and of everything it imports."""

    def __init__(
        self,
        main: Source,
        diagnostics: list[Diagnostic],
        limits: Limits,
        allowed: Sequence[str | os.PathLike] = (),
        read: Callable = read,
    ):
        self.read = read  # an editor reads imports from its open buffers
        self.limits = limits
        self.diags = diagnostics
        self.blocks: dict[str, Definition] = {}
        self.params: dict[str, Definition] = {}  # from imported files only
        root = main.base_dir or Path.cwd()
        self.roots = [root.resolve()] + [Path(d).resolve() for d in allowed]
        self.main_path = Path(main.path).resolve() if main.text is not None else Path("<dict>")
        self.loaded: set[Path] = {self.main_path}
        self.spent = Spent()  # the main file and its imports share one set of limits
        self.spent.add(main)

    def load(self, source: Source, document: Document) -> None:
        self._visit(source, document, (self.main_path,), main=True)

    def _visit(
        self, source: Source, document: Document, chain: tuple[Path, ...], main: bool
    ) -> None:
        for i, ref in enumerate(document.imports):
            loc = Loc(("imports", i), source)
            target = self._resolve(source, ref, loc, chain)
            if target is None:
                continue
            path, shown = target
            if path in self.loaded:
                continue  # a file imported twice (a diamond) is read once
            self.loaded.add(path)
            try:
                imported, diags = self.read(shown, self.limits, spent=self.spent)
            except SpecError as exc:
                self.diags.extend(exc.diagnostics)
                continue
            if not (isinstance(imported.data, dict) and "graphspec" in imported.data):
                self.diags.append(report(source, loc, "GS150", "not_spec", ref=ref))
                continue
            self.diags.extend(diags)
            parsed, doc_diags = validate_document(imported)
            self.diags.extend(doc_diags)
            if parsed is not None:
                self._visit(imported, parsed, chain + (path,), main=False)
        for name, block in document.blocks.items():
            self._define(self.blocks, "block", name, block, source, Loc(("blocks", name), source))
        if not main:
            for name, value in document.params.items():
                self._define(
                    self.params, "parameter", name, value, source, Loc(("params", name), source)
                )

    def _resolve(self, source: Source, ref: str, loc: Loc, chain: tuple[Path, ...]):
        if Path(ref).suffix.lower() not in SPEC_SUFFIXES:
            self.diags.append(report(source, loc, "GS150", "suffix", ref=ref))
            return None
        base = source.base_dir or Path.cwd()
        path = (base / ref).resolve()
        shown = (
            os.path.normpath(os.path.join(os.path.dirname(source.path), ref))
            if source.text is not None
            else str(path)
        )
        if not any(path.is_relative_to(root) for root in self.roots):
            self.diags.append(
                report(
                    source,
                    loc,
                    "GS150",
                    "outside",
                    ref=ref,
                    root=self.roots[0],
                    shown=path,
                    hint="keep imported files in the spec's folder tree, or allow a shared folder "
                    "with --allow-imports-from DIR (allow_imports_from=[...] in Python)",
                )
            )
            return None
        if path in chain:
            names = " -> ".join(p.name for p in chain[chain.index(path) :] + (path,))
            self.diags.append(
                report(
                    source,
                    loc,
                    "GS151",
                    "cycle",
                    chain=names,
                    hint="a file cannot import itself, directly or not",
                )
            )
            return None
        if not path.is_file():
            self.diags.append(report(source, loc, "GS150", "missing", ref=ref, shown=shown))
            return None
        return path, shown

    def _define(self, table: dict, what: str, name: str, value: Any, source: Source, loc: Loc):
        first = table.get(name)
        if first is not None and first.source is not source:
            self.diags.append(
                report(
                    source,
                    loc,
                    "GS152",
                    "twice",
                    at_key=True,
                    what=what,
                    name=name,
                    first=first.source.path,
                    second=source.path,
                    hint=f"rename one of them; a {what} name must be defined once",
                )
            )
            return
        table[name] = Definition(value, source, loc)
