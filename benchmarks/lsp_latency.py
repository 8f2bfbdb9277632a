"""Latency of the language server, measured through the real protocol: `graphspec lsp` is
started over stdio and driven by pygls's client, as an editor would.

    python benchmarks/lsp_latency.py [--runs 15]

Rows: the time from sending an edit (`textDocument/didChange`) to receiving the diagnostics
published for that version, on `examples/resnet50.yaml` and on a generated 1,000-node spec
(the `dag` shape of validate_speed.py); an edit that keeps the spec valid and one that makes
it invalid (the diagnostics then carry exact ranges); and the round trip of completion
requests (a layer name, a reference in `in`) and of a hover on a node. The server is warm:
each row is the median of --runs requests after one that is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from validate_speed import generate

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"resnet50": 50, "1000": 150, "completion": 30}


class Client:
    def __init__(self):
        self.lsp = LanguageClient("lsp-latency", "1")
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}

        @self.lsp.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(ls, params: types.PublishDiagnosticsParams):
            future = self.waiting.pop((params.uri, params.version), None)
            if future is not None and not future.done():
                future.set_result(params.diagnostics)

    async def start(self, root: Path):
        await self.lsp.start_io(sys.executable, "-m", "graphspec.cli", "lsp", cwd=str(ROOT))
        await self.lsp.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=root.as_uri())
        )
        self.lsp.initialized(types.InitializedParams())

    def cpu(self) -> float:
        """CPU seconds the server process has used (user + system), read from /proc: on a
        busy machine this shows the server's own cost where wall time shows the wait too."""
        try:
            fields = Path(f"/proc/{self.lsp._server.pid}/stat").read_text().rsplit(")", 1)[1]
            user, system = fields.split()[11:13]
        except (OSError, AttributeError, IndexError):
            return float("nan")
        return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")

    def expect(self, uri: str, version: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = future
        return future

    async def stop(self):
        await self.lsp.shutdown_async(None)
        self.lsp.exit(None)
        await self.lsp.stop()


class Doc:
    def __init__(self, client: Client, path: Path):
        self.client, self.path, self.uri = client, path, path.as_uri()
        self.text, self.version = path.read_text(), 0
        self.cpu = 0.0  # server CPU seconds of the last edit or request

    async def open(self) -> list:
        self.version = 1
        waiting = self.client.expect(self.uri, 1)
        self.client.lsp.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="yaml", version=1, text=self.text
                )
            )
        )
        return await asyncio.wait_for(waiting, 60)

    def position(self, needle: str, offset: int = 0) -> types.Position:
        i = self.text.index(needle) + offset
        return types.Position(
            line=self.text.count("\n", 0, i), character=i - (self.text.rfind("\n", 0, i) + 1)
        )

    async def edit(self, old: str, new: str) -> tuple[float, list]:
        """Seconds from sending the change to receiving its diagnostics, and those; the
        server's CPU seconds meanwhile are added to `self.cpu`."""
        start, end = self.position(old), self.position(old, len(old))
        self.text = self.text.replace(old, new, 1)
        self.version += 1
        waiting = self.client.expect(self.uri, self.version)
        cpu = self.client.cpu()
        began = time.perf_counter()
        self.client.lsp.text_document_did_change(
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
        found = await asyncio.wait_for(waiting, 60)
        seconds = time.perf_counter() - began
        self.cpu = self.client.cpu() - cpu
        return seconds, found

    async def request(self, method, params) -> tuple[float, object]:
        cpu = self.client.cpu()
        began = time.perf_counter()
        answer = await method(params)
        seconds = time.perf_counter() - began
        self.cpu = self.client.cpu() - cpu
        return seconds, answer


async def measure(runs: int) -> list[tuple[str, list[tuple[float, float]], int | None]]:
    """Rows of (what, [(wall seconds, server CPU seconds)] per request, target ms)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "resnet50.yaml").write_text((ROOT / "examples" / "resnet50.yaml").read_text())
        (root / "dag_1000.yaml").write_text(generate(1000))
        client = Client()
        await client.start(root)
        try:
            for name, file, target, valid, invalid, layer, reference in [
                (
                    "resnet50",
                    "resnet50.yaml",
                    TARGETS["resnet50"],
                    ("classes: 1000", "classes: 1001"),
                    (
                        "{name: conv1_relu, layer: Activation,",
                        "{name: conv1_relu, layer: Activatio,",
                    ),
                    ("layer: ZeroPadding2D, args: {padding: 1}", len("layer: Zero")),
                    ("in: x", len("in: ")),
                ),
                (
                    "1,000-node spec",
                    "dag_1000.yaml",
                    TARGETS["1000"],
                    ("name: dag_1000", "name: dag_1001"),
                    ("{name: n6, layer: Dense, in: n5,", "{name: n6, layer: Dense, in: n5x,"),
                    ("{name: n6, layer: Dense", len("{name: n6, layer: De")),
                    ("{name: n20, layer: Add, in: [n2, ", len("{name: n20, layer: Add, in: [n2, ")),
                ),
            ]:
                doc = Doc(client, root / file)
                assert not await doc.open(), f"{name} should validate"
                samples: dict[str, list] = {"valid": [], "error": []}
                for run in range(runs + 1):  # the first round warms up and is not counted
                    seconds, found = await doc.edit(*valid)
                    assert not found
                    if run:
                        samples["valid"].append((seconds, doc.cpu))
                    seconds, found = await doc.edit(*invalid)
                    assert found and found[0].range.end.character > found[0].range.start.character
                    if run:
                        samples["error"].append((seconds, doc.cpu))
                    _, found = await doc.edit(invalid[1], invalid[0])
                    assert not found
                    valid = valid[::-1]
                rows.append(
                    (f"diagnostics after an edit, {name} (still valid)", samples["valid"], target)
                )
                rows.append(
                    (f"diagnostics after an edit, {name} (an error)", samples["error"], target)
                )
                identifier = types.TextDocumentIdentifier(uri=doc.uri)
                requests = [
                    (
                        f"completion of a layer name, {name}",
                        TARGETS["completion"],
                        client.lsp.text_document_completion_async,
                        types.CompletionParams(
                            text_document=identifier, position=doc.position(*layer)
                        ),
                    ),
                    (
                        f"completion of a reference in `in`, {name}",
                        TARGETS["completion"],
                        client.lsp.text_document_completion_async,
                        types.CompletionParams(
                            text_document=identifier, position=doc.position(*reference)
                        ),
                    ),
                    (
                        f"hover on a node, {name}",
                        None,
                        client.lsp.text_document_hover_async,
                        types.HoverParams(
                            text_document=identifier, position=doc.position("{name: ", 8)
                        ),
                    ),
                ]
                for what, target, method, params in requests:
                    times = []
                    for run in range(runs + 1):
                        seconds, answer = await doc.request(method, params)
                        assert answer, what
                        if run:
                            times.append((seconds, doc.cpu))
                    rows.append((what, times, target))
        finally:
            await client.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.runs))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(describe())
    print(
        f"{args.runs} requests each to a warm `graphspec lsp` over stdio; wall time: median "
        f"(min-max); server CPU: mean (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"| {'what':<58} | {'wall ms':>7} | {'min-max ms':>13} | {'server CPU ms':>13} "
        f"| {'target':>10} |"
    )
    print(f"|{'-' * 60}|{'-' * 9}|{'-' * 15}|{'-' * 15}|{'-' * 12}|")
    for what, samples, target in rows:
        wall = [w * 1000 for w, _ in samples]
        cpu = statistics.fmean(c * 1000 for _, c in samples)
        median = statistics.median(wall)
        verdict = "" if target is None else f"< {target} " + ("ok" if median < target else "miss")
        print(
            f"| {what:<58} | {median:7.1f} | {min(wall):6.1f}-{max(wall):6.1f} | {cpu:13.1f} "
            f"| {verdict:>10} |"
        )


if __name__ == "__main__":
    main()
