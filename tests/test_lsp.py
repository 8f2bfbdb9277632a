"""The language server end to end, as an editor drives it: `graphspec lsp` started over
stdio by a real LSP client (pytest-lsp), one server for the whole module."""

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

import graphspec

lsp = pytest.mark.asyncio(loop_scope="module")  # one server for the module

MAIN = textwrap.dedent("""\
    graphspec: 1
    name: demo
    imports: [lib.yaml]
    params:
      width: 8
    inputs:
      features: {shape: [4]}
    layers:
      - {name: hidden1, layer: Dense, args: {units: "${width}", activation: relu}}
      - {name: hidden2, layer: Dens, in: hiden1, args: {units: 4}}
      - {name: head, block: head}
    outputs: head
    """)

LIB = textwrap.dedent("""\
    graphspec: 1
    name: lib
    blocks:
      head:
        inputs: [x]
        layers:
          - {name: out, layer: Dense, in: x, args: {units: 1}}
      broken:
        inputs: [x]
        layers:
          - {name: out, layer: Dense, in: y, args: {units: 1}}
    """)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("lsp")
    (root / "main.yaml").write_text(MAIN)
    (root / "lib.yaml").write_text(LIB)
    # Plugins without Keras: registering an op needs none.
    (root / "twice.py").write_text(
        "import graphspec\n\n"
        "@graphspec.register_op('twice', shape=lambda s, a: s[0])\n"
        "def twice(inputs, factor=2):\n    return inputs * factor\n"
    )
    (root / "halve.py").write_text(
        "import graphspec\n\n"
        "@graphspec.register_op('halve', shape=lambda s, a: s[0])\n"
        "def halve(inputs):\n    return inputs / 2\n"
    )
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(workspace):
    # Started as an editor would start it, with the command line's options.
    config = ClientServerConfig(
        server_command=[
            sys.executable,
            "-m",
            "graphspec.cli",
            "lsp",
            "--set",
            "width=6",
            "--plugin",
            str(workspace / "twice.py"),
        ]
    )
    client = await config.start()
    await client.initialize_session(
        types.InitializeParams(
            capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="lsp")],
        )
    )
    yield client
    await client.shutdown_session()
    await client.stop()


# -- helpers --------------------------------------------------------------------------------


class Doc:
    def __init__(self, client: LanguageClient, path: Path, text: str):
        self.client, self.uri, self.text, self.version = client, path.as_uri(), text, 1

    def open(self):
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="yaml", version=self.version, text=self.text
                )
            )
        )

    def edit(self, old: str, new: str):
        """Replace the first `old` with `new`, sent as an incremental change."""
        start = self.pos(old)
        end = self.pos(old, len(old))
        self.text = self.text.replace(old, new, 1)
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=start, end=end), text=new
                    )
                ],
            )
        )

    def pos(self, needle: str, offset: int = 0) -> types.Position:
        i = self.text.index(needle) + offset
        line = self.text.count("\n", 0, i)
        return types.Position(line=line, character=i - (self.text.rfind("\n", 0, i) + 1))

    def text_at(self, r: types.Range) -> str:
        lines = self.text.split("\n")
        assert r.start.line == r.end.line
        return lines[r.start.line][r.start.character : r.end.character]

    def ident(self):
        return types.TextDocumentIdentifier(uri=self.uri)


async def diagnostics(
    client: LanguageClient, uri: str, check=lambda found: True, timeout: float = 10.0
):
    """The diagnostics of `uri`, once a published set satisfies `check`."""

    async def wait():
        while True:
            found = client.diagnostics.get(uri)
            if found is not None and check(found):
                return list(found)
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    return await asyncio.wait_for(wait(), timeout)


def codes(found):
    return sorted(d.code for d in found)


async def completions(client, doc: Doc, needle: str, offset: int | None = None) -> list:
    position = doc.pos(needle, len(needle) if offset is None else offset)
    answer = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc.ident(), position=position)
    )
    return answer.items


async def complete(client, doc: Doc, needle: str, offset: int | None = None) -> list[str]:
    return [item.label for item in await completions(client, doc, needle, offset)]


async def hover(client, doc: Doc, needle: str, offset: int = 1) -> str:
    answer = await client.text_document_hover_async(
        types.HoverParams(text_document=doc.ident(), position=doc.pos(needle, offset))
    )
    return answer.contents.value if answer is not None else ""


# -- tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def main(client, workspace):
    return Doc(client, workspace / "main.yaml", MAIN)


@lsp
async def test_diagnostics_underline_the_whole_value_with_the_hint(client, main):
    main.open()
    found = await diagnostics(client, main.uri, lambda f: len(f) == 2)
    assert codes(found) == ["GS201", "GS206"]
    by_code = {d.code: d for d in found}
    assert main.text_at(by_code["GS206"].range) == "hiden1"
    assert main.text_at(by_code["GS201"].range) == "Dens"
    assert by_code["GS201"].severity == types.DiagnosticSeverity.Error
    assert by_code["GS206"].source == "graphspec"
    (info,) = by_code["GS206"].related_information
    assert info.message == "hint: did you mean 'hidden1'?"


@lsp
async def test_quick_fix_applies_did_you_mean(client, main):
    found = client.diagnostics[main.uri]
    gs201 = next(d for d in found if d.code == "GS201")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=main.ident(),
            range=gs201.range,
            context=types.CodeActionContext(diagnostics=[gs201]),
        )
    )
    (action,) = actions
    assert action.title == "Change to 'Dense'"
    (edit,) = action.edit.changes[main.uri]
    assert (main.text_at(edit.range), edit.new_text) == ("Dens", "Dense")


@lsp
async def test_edits_update_diagnostics(client, main):
    main.edit("layer: Dens,", "layer: Dense,")
    found = await diagnostics(client, main.uri, lambda f: len(f) == 1)
    assert codes(found) == ["GS206"]
    main.edit("in: hiden1", "in: hidden1")
    assert await diagnostics(client, main.uri, lambda f: not f) == []


@lsp
async def test_completion(client, main):
    assert "Dense" in await complete(client, main, "layer: Dense,", len("layer: De"))
    assert "Conv2D" not in await complete(client, main, "layer: Dense,", len("layer: De"))
    args = await complete(client, main, "args: {units: 4", len("args: {"))
    assert args[0] == "units" and "activation" in args and "name" not in args
    assert set(await complete(client, main, "in: hidden1", len("in: "))) >= {
        "features",
        "hidden1",
        "head",
    }
    assert "head" in await complete(client, main, "block: head", len("block: "))
    assert await complete(client, main, "${width}", len("${w")) == ["width"]
    top = await complete(client, main, "outputs: head", 0)
    assert "outputs" in top and "budget" in top and "layers" not in top
    items = await completions(client, main, "outputs: head", 0)
    budget = next(item for item in items if item.label == "budget")
    assert "parameters, MACs" in budget.documentation.value  # the field's docstring


@lsp
async def test_hover(client, main):
    # --set width=6 on the command line overrides the file's 8
    node = await hover(client, main, "hidden1")
    assert "`Dense` layer" in node and "(None, 6)" in node and "params: 30" in node
    assert "= `6`" in await hover(client, main, "${width}", 3)
    layer = await hover(client, main, "Dense")
    assert "keras.layers.Dense" in layer and "required: `units`" in layer
    block = await hover(client, main, "{name: head", len("{name: h"))
    assert "block `head`" in block and "(None, 1)" in block


@lsp
async def test_definition_across_imports(client, main, workspace):
    (local,) = await client.text_document_definition_async(
        types.DefinitionParams(text_document=main.ident(), position=main.pos("in: hidden1", 5))
    )
    assert local.uri == main.uri and local.range.start == main.pos("hidden1")
    (imported,) = await client.text_document_definition_async(
        types.DefinitionParams(text_document=main.ident(), position=main.pos("block: head", 8))
    )
    assert imported.uri == (workspace / "lib.yaml").as_uri()
    assert imported.range.start == types.Position(line=3, character=2)


@lsp
async def test_references_and_rename(client, main):
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=main.ident(),
            position=main.pos("hidden1"),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert len(refs) == 2
    edit = await client.text_document_rename_async(
        types.RenameParams(
            text_document=main.ident(), position=main.pos("in: hidden1", 6), new_name="encoder"
        )
    )
    edits = edit.changes[main.uri]
    assert sorted(main.text_at(e.range) for e in edits) == ["hidden1", "hidden1"]
    assert {e.new_text for e in edits} == {"encoder"}
    edit = await client.text_document_rename_async(
        types.RenameParams(
            text_document=main.ident(), position=main.pos("width: 8"), new_name="size"
        )
    )
    assert sorted((e.range.start.line, main.text_at(e.range)) for e in edit.changes[main.uri]) == [
        (4, "width"),
        (8, "width"),
    ]


@lsp
async def test_quick_fix_adds_a_missing_argument(client, main):
    main.edit("args: {units: 4}", "args: {}")
    found = await diagnostics(client, main.uri, lambda f: codes(f) == ["GS204"])
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=main.ident(),
            range=found[0].range,
            context=types.CodeActionContext(diagnostics=found),
        )
    )
    (action,) = actions
    (edit,) = action.edit.changes[main.uri]
    assert action.title == "Add required argument 'units'" and edit.new_text == "units: null"
    assert edit.range.start == main.pos("args: {}", len("args: {"))


@lsp
async def test_diagnostics_in_an_imported_file(client, main, workspace):
    main.edit("block: head}", "block: broken}")
    lib = (workspace / "lib.yaml").as_uri()
    found = await diagnostics(client, lib, lambda f: len(f) == 1)
    assert codes(found) == ["GS206"] and found[0].range.start.line == 10
    assert "in head (block broken)" in found[0].message
    main.edit("block: broken}", "block: head}")
    assert await diagnostics(client, lib, lambda f: not f) == []


@lsp
async def test_an_open_import_is_read_from_the_editor(client, main, workspace):
    lib = Doc(client, workspace / "lib.yaml", LIB)
    lib.open()  # a library: no inputs, no layers, and nothing to say about that
    assert await diagnostics(client, lib.uri, lambda f: True) == []
    lib.edit("in: x, args: {units: 1}", "in: z, args: {units: 1}")  # not saved
    found = await diagnostics(client, lib.uri, lambda f: len(f) == 1)
    assert codes(found) == ["GS206"] and "in head (block head)" in found[0].message
    lib.edit("in: z, args: {units: 1}", "in: x, args: {units: 1}")
    assert await diagnostics(client, lib.uri, lambda f: not f) == []


@lsp
async def test_settings_plugins_and_params(client, workspace):
    text = (
        MAIN.replace(
            "  - {name: head, block: head}\n",
            "  - {name: head, block: head}\n  - {op: twice}\n  - {op: halve}\n",
        )
        .replace("in: hiden1", "in: hidden1")
        .replace("Dens,", "Dense,")
    )
    doc = Doc(client, workspace / "ops.yaml", text.replace("outputs: head\n", ""))
    doc.open()
    # `twice` comes from --plugin on the command line; `halve` is not known yet
    found = await diagnostics(client, doc.uri, lambda f: len(f) == 1)
    assert codes(found) == ["GS202"] and doc.text_at(found[0].range) == "halve"
    # The editor's settings: pulled (workspace/configuration) when told they changed...
    client.set_configuration({"plugins": [str(workspace / "halve.py")]}, section="graphspec")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    assert await diagnostics(client, doc.uri, lambda f: not f) == []
    assert "(None, 6)" in await hover(client, doc, "hidden1")  # --set width=6
    # ... or pushed with the notification; they add to the command line's
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"graphspec": {"params": {"width": 16}}})
    )
    assert "(None, 16)" in await hover(client, doc, "hidden1")


def test_the_editor_shows_what_validate_prints():
    """The server validates the editor's text through the same stages as `graphspec
    validate`: every example and invalid fixture gives the same diagnostics."""
    from graphspec.lsp.check import Imports, Options, check

    root = Path(__file__).resolve().parents[1]
    invalid = root / "tests" / "invalid"
    files = sorted(
        [*invalid.glob("*.y*ml"), *invalid.glob("*.json"), *(root / "examples").glob("*.yaml")]
    )
    differ = []
    for path in files:
        try:
            text = path.read_text("utf-8-sig")
        except UnicodeDecodeError:  # an editor would not open it as text either
            continue
        found = check(text, str(path), Options(), Imports(lambda p: None)).diagnostics
        if found != graphspec.validate(path):
            differ.append(path.name)
    assert len(files) > 50 and differ == []


def test_the_server_never_imports_keras():
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from graphspec.lsp import check, features, server\n"
        "path = str(Path('examples/resnet50.yaml').resolve())\n"
        "result = check.check(Path(path).read_text(), path, check.Options(), "
        "check.Imports(lambda p: None))\n"
        "view = features.View('file://' + path, path, result.text, result)\n"
        "assert result.summary is not None and not result.diagnostics\n"
        "assert features.hover(view, (56, 12)) is not None\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    assert out.stdout.strip() == "[]"
