"""The graphspec language server (pygls, Language Server Protocol over stdio).

Every open spec is validated as it is typed (no debounce: edits that queue up while one
validation runs are folded into the next), and its diagnostics are published with those
located in the files it imports. Imported files are read from the editor when open, else
from disk, and parsed once per content. Settings: the command line's `--plugin`, `--set`,
`--allow-imports-from` and `--max-*`, then the `graphspec` section of the editor's settings
(`plugins`, `params`, `allowImportsFrom`), which adds to them.

Nothing here imports Keras: validation, composition and static analysis are pure Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .. import __version__, registry
from ..errors import Error
from . import features
from .check import Imports, Options, Result, check, is_spec
from .features import View

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """What every validation uses: from the command line, then the editor's settings."""

    options: Options = field(default_factory=Options)
    plugins: tuple[str, ...] = ()  # loaded already (the CLI loads --plugin before starting)


@dataclass
class Doc:
    uri: str
    path: str
    version: int | None
    view: View  # the current text, once validated
    good: View  # the last version whose text parsed: names for completion
    imports: set[str] = field(default_factory=set)  # files its last validation read


class GraphspecServer(LanguageServer):
    def __init__(self, settings: Settings):
        super().__init__(
            "graphspec", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental
        )
        self.base = settings
        self.settings = settings
        self.docs: dict[str, Doc] = {}
        self.imports = Imports(self._buffer)
        self.pending: set[str] = set()  # documents waiting to be validated
        self.published: dict[str, dict[str, list]] = {}  # target uri -> origin uri -> diags
        self._views: dict[str, View] = {}  # path of an imported file -> its view (by text)
        self.initial: dict = {}  # the `graphspec` settings given as initializationOptions
        self.tasks: set[asyncio.Task] = set()

    # -- documents -------------------------------------------------------------------------
    def _buffer(self, path: str) -> str | None:
        doc = self.docs.get(self.uri_of(path))
        return doc.view.text.text if doc is not None else None

    def uri_of(self, path: str) -> str:
        """The URI of a file: the editor's own for an open document (editors spell URIs
        differently), else the file's."""
        return next((uri for uri, doc in self.docs.items() if doc.path == path), None) or _uri(path)

    def encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def open(self, uri: str, text: str, version: int | None) -> None:
        view = View(uri, _path(uri), text, None, self.encoding())
        self.docs[uri] = Doc(uri, view.path, version, view, view)
        self.schedule(uri)

    def change(self, uri: str, version: int | None) -> None:
        doc = self.docs.get(uri)
        if doc is None:
            return
        text = self.workspace.get_text_document(uri).source
        doc.version = version
        doc.view = View(uri, doc.path, text, doc.view.result, self.encoding())
        self.schedule(uri)
        self._revalidate_importers(doc.path)

    def close(self, uri: str) -> None:
        doc = self.docs.pop(uri, None)
        self.pending.discard(uri)
        if doc is not None:
            self.publish_for(uri, [])
            self._revalidate_importers(doc.path)

    def schedule(self, uri: str) -> None:
        """Validate soon: changes that arrive meanwhile are folded into one validation."""
        if uri in self.pending:
            return
        self.pending.add(uri)
        asyncio.get_running_loop().call_soon(self._validate_pending, uri)

    def _validate_pending(self, uri: str) -> None:
        if uri not in self.pending:
            return
        self.pending.discard(uri)
        self.validate(uri)

    def validate(self, uri: str) -> None:
        doc = self.docs.get(uri)
        if doc is None:
            return
        text = doc.view.text.text
        if not is_spec(text):
            doc.view = View(uri, doc.path, text, None, self.encoding())
            self.publish_for(uri, [])
            return
        with _collector_paused():
            result = self._check(doc, text)
            previous = doc.view, doc.good  # freed once the diagnostics are out, not before
            doc.view = View(uri, doc.path, text, result, self.encoding())
            if result.source is not None:
                doc.good = doc.view
            doc.imports = set(result.imported)
            self.publish_for(uri, result.diagnostics)
        del previous

    def _check(self, doc: Doc, text: str) -> Result:
        try:
            return check(text, doc.path, self.settings.options, self.imports)
        except Exception as exc:  # a bug in graphspec: say so in the editor, keep serving
            log.error("validating %s failed:\n%s", doc.path, traceback.format_exc())
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error,
                    message=f"graphspec: internal error while validating {doc.path}: "
                    f"{type(exc).__name__}: {exc} (this is a bug in graphspec)",
                )
            )
            return Result(doc.path, text)

    def _revalidate_importers(self, path: str) -> None:
        """The specs that import a file whose text changed (only a change of text: two specs
        that import each other must not validate each other forever)."""
        for other in self.docs.values():
            if path in other.imports and other.path != path:
                self.schedule(other.uri)

    # -- publishing ------------------------------------------------------------------------
    def publish_for(self, origin: str, found: list) -> None:
        """Publish what validating `origin` found, to each file it is located in; a file
        also shows what other open documents found in it (the blocks it lends them)."""
        by_target: dict[str, list] = {}
        for d in found:
            target = self.uri_of(d.path) if os.path.isabs(d.path) else origin
            if target != origin and d.line is None and not Path(d.path).is_file():
                target = origin  # e.g. a limit of the spec and its imports together
            by_target.setdefault(target, []).append(d)
        touched = {t for t, by in self.published.items() if origin in by} | set(by_target)
        touched.add(origin)
        for target in touched:
            self.published.setdefault(target, {})[origin] = by_target.get(target, [])
        for target in touched:
            self._send(target)

    def _send(self, target: str) -> None:
        entries = self.published.get(target, {})
        seen, merged = set(), []
        for d in (d for found in entries.values() for d in found):
            key = (d.line, d.column, d.code, d.message)
            if key not in seen:
                seen.add(key)
                merged.append(d)
        if not merged:
            self.published.pop(target, None)
        view = self._view_of(target)
        doc = self.docs.get(target)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=target,
                version=doc.version if doc is not None else None,
                diagnostics=features.diagnostics(merged, view.text, self._related(), target),
            )
        )

    def _related(self) -> bool:
        """Whether the client shows a diagnostic's related information (else the hint goes
        into the message)."""
        caps = self.client_capabilities.text_document
        publish = caps.publish_diagnostics if caps is not None else None
        return bool(publish and publish.related_information)

    def _view_of(self, uri: str) -> View:
        doc = self.docs.get(uri)
        if doc is not None:
            return doc.view
        path = _path(uri)
        try:
            text = Path(path).read_text("utf-8-sig")
        except (OSError, UnicodeDecodeError, ValueError):
            text = ""
        return View(uri, path, text, None, self.encoding())

    def imported_view(self, path: str) -> View | None:
        """A view of an imported file, for definitions in it (an open document's own)."""
        doc = self.docs.get(self.uri_of(path))
        if doc is not None:
            return doc.view
        try:
            text = Path(path).read_text("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return None
        view = self._views.get(path)
        if view is None or view.text.text != text:
            view = self._views[path] = View(_uri(path), path, text, None, self.encoding())
        return view

    # -- settings --------------------------------------------------------------------------
    def configure(self, section: Any) -> None:
        """Apply the editor's `graphspec` settings over the command line's, and validate
        every open document again."""
        section = {**self.initial, **(section if isinstance(section, dict) else {})}
        base = self.base.options
        messages, loaded = [], list(self.settings.plugins)
        for ref in _strings(section.get("plugins")):
            if ref in loaded:
                continue  # a module is imported once; a plugin cannot be unloaded
            try:
                registry.load_plugin(self._resolve(ref, file=ref.endswith(".py")))
                loaded.append(ref)
            except Error as exc:  # shown, and tried again when the settings change
                messages.append(str(exc))
        params = section.get("params")
        folders = tuple(self._resolve(p) for p in _strings(section.get("allowImportsFrom")))
        options = replace(
            base,
            params={**base.params, **(params if isinstance(params, dict) else {})},
            allow_imports_from=base.allow_imports_from + folders,
        )
        self.settings = Settings(options, tuple(loaded))
        for message in messages:
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error, message=f"graphspec: {message}"
                )
            )
        for uri in list(self.docs):
            self.schedule(uri)

    def _resolve(self, ref: str, file: bool = True) -> str:
        """A relative path (a plugin file, a folder) is relative to the workspace's root; a
        plugin's module name is left as it is."""
        root = self.workspace.root_path if self.workspace is not None else None
        if root and file and not os.path.isabs(ref):
            return os.path.join(root, ref)
        return ref


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@contextlib.contextmanager
def _collector_paused():
    """A validation makes many objects and little garbage: the cycle collector, which would
    scan them again and again meanwhile, costs a third of the time on a large spec. It runs
    again once the diagnostics are out."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if os.name == "nt" and path.startswith("/") and path[2:3] == ":":
            path = path[1:]
        return os.path.abspath(path)
    # An unsaved buffer: named after its URI, its imports read from the working folder.
    name = Path(unquote(parsed.path or uri)).name or "untitled"
    return os.path.abspath(name if Path(name).suffix else name + ".yaml")


def _uri(path: str) -> str:
    return Path(path).absolute().as_uri()


def create(settings: Settings) -> GraphspecServer:
    server = GraphspecServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: GraphspecServer, params: types.InitializeParams) -> None:
        # Editors without workspace/configuration (or set up that way) pass the settings
        # here, as {"graphspec": {...}} or as the section itself.
        given = params.initialization_options
        if isinstance(given, dict):
            given = given.get("graphspec", given)
            ls.initial = given if isinstance(given, dict) else {}

    @server.feature(types.INITIALIZED)
    async def initialized(ls: GraphspecServer, params: types.InitializedParams) -> None:
        # What start-up made lives as long as the server: out of the cycle collector's way,
        # its full collections (one every few validations of a large spec) cost a tenth.
        gc.collect()
        gc.freeze()
        caps = ls.client_capabilities
        if caps.workspace is not None and caps.workspace.configuration:
            await _pull_configuration(ls)
        elif ls.initial:
            ls.configure({})

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: GraphspecServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and "graphspec" in settings:
            ls.configure(settings["graphspec"])  # before any request that follows
        else:  # the client says "something changed": ask it
            task = asyncio.ensure_future(_pull_configuration(ls))
            ls.tasks.add(task)  # a task nothing refers to may be collected before it ends
            task.add_done_callback(ls.tasks.discard)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GraphspecServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.open(params.text_document.uri, params.text_document.text, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GraphspecServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.change(params.text_document.uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GraphspecServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.close(params.text_document.uri)

    def view(ls: GraphspecServer, uri: str) -> View | None:
        doc = ls.docs.get(uri)
        if doc is None:
            return None
        if uri in ls.pending:  # a request that needs this text's result validates it now
            ls.pending.discard(uri)
            ls.validate(uri)
        return doc.view

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[":", " ", "{", "[", ",", "$"]),
    )
    def completion(ls: GraphspecServer, params: types.CompletionParams):
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        current = doc.view  # no validation needed: names come from the last good version
        return features.completion(current, doc.good, current.text.at(params.position))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: GraphspecServer, params: types.HoverParams):
        current = view(ls, params.text_document.uri)
        return features.hover(current, current.text.at(params.position)) if current else None

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: GraphspecServer, params: types.DefinitionParams):
        current = view(ls, params.text_document.uri)
        if current is None:
            return None
        return features.definition(current, current.text.at(params.position), ls.imported_view)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls: GraphspecServer, params: types.ReferenceParams):
        current = view(ls, params.text_document.uri)
        if current is None:
            return None
        return features.references(
            current, current.text.at(params.position), params.context.include_declaration
        )

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(ls: GraphspecServer, params: types.PrepareRenameParams):
        current = view(ls, params.text_document.uri)
        return (
            features.prepare_rename(current, current.text.at(params.position)) if current else None
        )

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def rename(ls: GraphspecServer, params: types.RenameParams):
        current = view(ls, params.text_document.uri)
        if current is None:
            return None
        try:
            return features.rename(current, current.text.at(params.position), params.new_name)
        except features.RenameError as exc:
            from pygls.exceptions import JsonRpcInvalidParams

            raise JsonRpcInvalidParams(str(exc)) from None

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: GraphspecServer, params: types.CodeActionParams):
        current = view(ls, params.text_document.uri)
        if current is None:
            return None
        return features.code_actions(current, list(params.context.diagnostics))

    return server


async def _pull_configuration(ls: GraphspecServer) -> None:
    try:
        answer = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="graphspec")])
        )
    except Exception as exc:  # a client that says it can but cannot: keep the defaults
        log.warning("workspace/configuration failed: %s", exc)
        return
    ls.configure(answer[0] if answer else None)


def serve(settings: Settings) -> None:
    """Serve over stdin/stdout until the client says exit."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="graphspec lsp: %(levelname)s: %(message)s"
    )
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a plugin's print() must not corrupt the protocol stream
    create(settings).start_io(sys.stdin.buffer, protocol_out)
