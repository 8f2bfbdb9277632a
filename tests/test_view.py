"""`graphspec view`: the model the page draws, the page, the server, and the page itself in a
real headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium).

One browser serves every browser test (module-scoped). Screenshots of the states a person
would look at are saved under the test's output folder; with GRAPHSPEC_VIEW_DOCS=DIR the two
the docs show are also written to DIR: `GRAPHSPEC_VIEW_DOCS=docs pytest tests/test_view.py`
makes docs/viewer-ticket_router.png and docs/viewer-resnet50.png.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import graphspec
from graphspec import cli, view
from graphspec.errors import OutputError, SpecError
from graphspec.view import server

from conftest import EXAMPLES, ROOT

HOSTILE = "<img src=x onerror=alert(1)>"
EVIL_SPEC = """\
graphspec: 1
name: "<img src=x onerror=alert(1)>"
inputs:
  x: {shape: [4]}
layers:
  - {name: d, layer: "<img src=x onerror=alert(2)>", args: {units: "<script>alert(3)</script>"}}
  - {name: e, layer: Dense, args: {units: 2, activation: "<img src=x onerror=alert(4)>"}}
  - {name: "<img src=x onerror=alert(5)>", layer: Dense, in: e, args: {units: 2}}
"""


# -- the command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """`graphspec view`'s parser, with the spec options of cli.py's parser (the options that
    its `summary` and `build` commands share)."""
    commands = next(
        a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    shared = {a.dest for a in commands["build"]._actions} - {"help"}
    spec_options = argparse.ArgumentParser(add_help=False)
    for action in commands["summary"]._actions:
        if action.option_strings and action.dest in shared:
            spec_options._add_action(action)
    parser = argparse.ArgumentParser(prog="graphspec")
    view.add_parser(parser.add_subparsers(dest="command", required=True), spec_options)
    return parser


def _main(argv: list[str]) -> int:
    """`graphspec view ...`: through cli.main once the command is hooked in there."""
    if "view" in getattr(cli, "COMMANDS", {}):
        return cli.main(["view", *argv])
    return int(view.run(_parser().parse_args(["view", *argv])))


def _run(*argv) -> int:
    return int(view.run(_parser().parse_args(["view", *map(str, argv)])))


def test_output_file_is_written_and_self_contained(tmp_path, capsys):
    out = tmp_path / "router.html"
    assert _run(EXAMPLES / "ticket_router.yaml", "-o", out, "--no-browser") == 0
    assert f"drew ticket_router: 7 nodes -> {out}" in capsys.readouterr().out
    html = out.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", html)
    assert "default-src 'none'" in html and "connect-src" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]*", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # SVG's namespace: a name, never fetched


def test_output_of_a_spec_with_errors_is_written_and_exits_1(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        (EXAMPLES / "ticket_router.yaml").read_text().replace("in: merged,", "in: mergd,")
    )
    out = tmp_path / "broken.html"
    assert _run(spec, "-o", out) == 1
    assert "GS206" in capsys.readouterr().err
    assert out.is_file()


def test_command_line_problems(tmp_path):
    with pytest.raises(SpecError) as err:
        _run(tmp_path / "missing.yaml", "-o", tmp_path / "x.html")
    assert err.value.diagnostics[0].code == "GS001"
    with pytest.raises(OutputError):
        _run(EXAMPLES / "mlp.yaml", "-o", tmp_path / "x.txt")
    with pytest.raises(cli.UsageError, match="--port"):
        _run(EXAMPLES / "mlp.yaml", "--port", "70000", "--no-browser")


def test_serve_prints_its_address_and_stops_cleanly_on_ctrl_c(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_view; "
        "sys.exit(test_view._main(sys.argv[2:]))"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            str(Path(__file__).parent),
            str(EXAMPLES / "mlp.yaml"),
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", line)
        assert url, line
        conn = http.client.HTTPConnection("127.0.0.1", int(url[2]), timeout=60)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "stopped" in err and "Traceback" not in err


# -- the model ------------------------------------------------------------------------------------


def _tops(spec):
    """The outermost block instance (else the node itself) of every input and node."""
    return {
        name: (
            data["node"].loc.clusters[0][0] if getattr(data["node"].loc, "clusters", ()) else name
        )
        for name, data in spec.graph.nodes(data=True)
    }


def test_model_of_ticket_router_matches_the_spec():
    spec = graphspec.load(EXAMPLES / "ticket_router.yaml")
    model = view.build_model(EXAMPLES / "ticket_router.yaml")
    kinds = {n["id"]: n["kind"] for n in model["nodes"]}
    assert len(model["nodes"]) == spec.graph.number_of_nodes() + 2
    assert len(model["edges"]) == spec.graph.number_of_edges() + 2
    assert kinds["title"] == "input" and kinds["body_emb"] == "share"
    assert [n["id"] for n in model["nodes"] if n["kind"] == "output"] == ["output:0", "output:1"]
    row = spec.summary().node("title_vec")
    node = next(n for n in model["nodes"] if n["id"] == "title_vec")
    assert node["shapes"] == [list(s) for s in row.shapes] and node["params"] == row.params
    assert node["line"] == row.line == 13
    assert model["ok"] and model["stats"]["params"] == spec.summary().params
    assert model["watch"] == [str(EXAMPLES / "ticket_router.yaml")]
    assert "units" in model["arguments"]["layer Dense"]


def test_model_of_resnet_has_block_and_repeat_clusters():
    model = view.build_model(EXAMPLES / "resnet50.yaml")
    clusters = {c["id"]: c for c in model["clusters"]}
    assert clusters["block:conv2_"]["parent"] is None
    assert clusters["block:conv2_"]["label"] == "conv2 (block stage)"
    assert clusters["repeat:conv3_block_"]["label"] == "block ×3 (block identity_block)"
    assert clusters["block:conv3_block_2_"]["parent"] == "repeat:conv3_block_"
    assert clusters["block:conv2_"]["size"] == 32


def test_a_spec_with_errors_draws_what_was_composed(tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        (EXAMPLES / "ticket_router.yaml")
        .read_text()
        .replace("in: merged,", "in: mergd,")
        .replace("units: 128", "units: -1")
    )
    model = view.build_model(spec)
    assert not model["ok"] and model["composed"] and not model["analyzed"]
    assert len([n for n in model["nodes"] if n["kind"] != "output"]) == 10
    placed = {d["code"]: d["node"] for d in model["diagnostics"]}
    assert placed["GS206"] == "department"
    assert next(n for n in model["nodes"] if n["id"] == "department")["diag"] == "error"


def test_a_block_mistake_is_placed_on_the_instance_it_names(tmp_path):
    text = (
        (EXAMPLES / "resnet50.yaml")
        .read_text()
        .replace(
            "{name: add, layer: Add, in: [x, body]}", "{name: add, layer: Add, in: [x, bodyy]}"
        )
    )
    (tmp_path / "r.yaml").write_text(text)
    model = view.build_model(tmp_path / "r.yaml")
    d = next(d for d in model["diagnostics"] if d["code"] == "GS206")
    assert d["node"] == "conv2_block_1_add" and "conv2" in d["message"]


def test_imports_are_watched_and_shown(tmp_path):
    (tmp_path / "lib.yaml").write_text(
        "graphspec: 1\nblocks:\n  two:\n    inputs: [x]\n"
        "    layers:\n      - {layer: Dense, in: x, args: {units: 2}}\n"
    )
    (tmp_path / "m.yaml").write_text(
        "graphspec: 1\nimports: [lib.yaml, gone.yaml]\n"
        "inputs:\n  x: {shape: [3]}\nlayers:\n  - {block: two}\n"
    )
    model = view.build_model(tmp_path / "m.yaml")
    assert set(model["watch"]) == {str(tmp_path / p) for p in ("m.yaml", "lib.yaml", "gone.yaml")}
    assert str(tmp_path / "lib.yaml") in model["files"]


def test_an_unreadable_spec_still_gives_a_model(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("graphspec: 1\nlayers: [\n")
    model = view.build_model(spec)
    assert model["nodes"] == [] and model["diagnostics"][0]["line"] is not None
    assert model["watch"] == [str(spec)]


def test_render_html_escapes_data_and_colours_states():
    model = _tiny_model("</script><script>alert(7)</script>")
    html = view.render_html(model, states={"</script><script>alert(7)</script>": "added"})
    assert html.count("</script>") == 3  # dagre, view.js, the JSON data: nothing more
    assert '"states":{' in html
    with pytest.raises(ValueError, match="added, changed, removed"):
        view.render_html(model, states={"a": "moved"})


def _tiny_model(node_id: str) -> dict:
    return {
        "name": node_id,
        "path": "x.yaml",
        "version": 1,
        "ok": True,
        "composed": True,
        "analyzed": False,
        "arguments": {},
        "files": {},
        "clusters": [],
        "edges": [],
        "diagnostics": [],
        "stats": {"nodes": 1, "errors": 0, "warnings": 0, "params": None, "macs": None},
        "nodes": [
            {
                "id": node_id,
                "kind": "layer",
                "type": node_id,
                "cluster": None,
                "args": {"a": node_id},
                "inputs": [],
            }
        ],
    }


def test_view_never_imports_keras(tmp_path):
    code = (
        "import sys, graphspec.view as v; v.render_html(v.build_model(sys.argv[1])); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / "resnet50.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"


# -- the server -----------------------------------------------------------------------------------


@pytest.fixture()
def served(tmp_path):
    spec = tmp_path / "ticket_router.yaml"
    shutil.copy(EXAMPLES / "ticket_router.yaml", spec)
    srv = server.ViewServer(lambda: view.build_model(spec))
    srv.start()
    yield spec, srv
    srv.stop()


def _get(srv, path, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{srv.port}")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body, response


def test_server_serves_only_its_page_static_files_and_model(served):
    spec, srv = served
    assert srv.server_address[0] == "127.0.0.1"
    status, body, response = _get(srv, "/")
    assert status == 200 and b'id="graphspec-data"' in body
    assert "default-src 'none'" in response.getheader("Content-Security-Policy")
    assert _get(srv, "/static/view.js")[0] == 200
    status, body, _ = _get(srv, "/graph.json")
    assert status == 200 and json.loads(body)["name"] == "ticket_router"
    for path in (
        "/../../../etc/passwd",
        "/static/../../pyproject.toml",
        "/static/../view/page.py",
        "//etc/passwd",
        "/etc/passwd",
        str(spec),
        "/static/%2e%2e/%2e%2e/cli.py",
        "/static/..%2f..%2fcli.py",
        "/ticket_router.yaml",
        "/static/dagre.LICENSE/",
        "/static/",
        "/graph.json/../../x",
    ):
        assert _get(srv, path)[0] == 404, path
    assert _get(srv, "/", host="attacker.example")[0] == 421  # a rebound DNS name


def test_server_answers_a_waiting_page_when_the_spec_is_saved(served):
    spec, srv = served
    version = json.loads(_get(srv, "/graph.json")[1])["version"]
    spec.write_text(spec.read_text().replace("units: 4,", "units: 5,"))
    start = time.monotonic()
    status, body, _ = _get(srv, f"/graph.json?after={version}")
    assert status == 200 and json.loads(body)["version"] == version + 1
    assert time.monotonic() - start < 2


# -- in the browser -------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Chromium and its driver: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="needs selenium (pip install 'graphspec[test]')"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("view-screenshots")


def _shot(browser, shots, name, docs=None):
    browser.save_screenshot(str(shots / name))
    if docs and os.environ.get("GRAPHSPEC_VIEW_DOCS"):
        browser.save_screenshot(str(Path(os.environ["GRAPHSPEC_VIEW_DOCS"]) / docs))


def _js(browser, script, *args):
    return browser.execute_script(script, *args)


def _wait(browser, condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the page")


def _wait_version(browser, version):
    _wait(browser, lambda: _js(browser, "return document.body.dataset.version") == str(version))


def _node(browser, node_id):
    return browser.find_element("css selector", f'.node[data-id="{node_id}"]')


def _count(browser, selector):
    return _js(browser, "return document.querySelectorAll(arguments[0]).length", selector)


def _text(browser, selector):
    return _js(browser, "return document.querySelector(arguments[0]).textContent", selector)


def test_ticket_router_page_draws_the_spec_and_its_panel(browser, shots, monkeypatch):
    monkeypatch.chdir(ROOT)  # the page shows the path as given: examples/...
    spec = "examples/ticket_router.yaml"
    srv = server.ViewServer(lambda: view.build_model(spec))
    srv.start()
    try:
        browser.get(srv.url)
        _wait_version(browser, 1)
        _check_ticket_router(browser, shots, graphspec.load(spec))
    finally:
        srv.stop()


def _check_ticket_router(browser, shots, loaded):
    assert _count(browser, ".node") == loaded.graph.number_of_nodes() + 2
    assert _count(browser, ".edge") == loaded.graph.number_of_edges() + 2
    kinds = {k: _count(browser, f".node.kind-{k}") for k in ("input", "layer", "share", "output")}
    assert kinds == {"input": 3, "layer": 6, "share": 1, "output": 2}

    _node(browser, "title_vec").click()
    row = loaded.summary().node("title_vec")
    facts = _text(browser, "#facts")
    assert "output shape(None, 128)" in facts and f"params{row.params:,}" in facts
    assert f"ticket_router.yaml:{row.line}" in facts
    assert _text(browser, "pre.source span.here").strip().startswith(f"{row.line}")
    assert "units" in _text(browser, "#args") and "128" in _text(browser, "#args")
    _shot(browser, shots, "ticket_router_panel.png", docs="viewer-ticket_router.png")

    browser.find_element("css selector", '#inputs a[data-ref="title_emb"]').click()
    assert "selected" in _node(browser, "title_emb").get_attribute("class")
    assert "Embedding" in _text(browser, "#facts")

    search = browser.find_element("css selector", "#search")
    search.send_keys("depart")
    assert _text(browser, "#matches li").startswith("department")
    search.send_keys("\n")
    assert "selected" in _node(browser, "department").get_attribute("class")


def test_resnet_blocks_expand_and_collapse(browser, shots, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "resnet50.html"
    assert _run("examples/resnet50.yaml", "-o", out) == 0
    browser.get(out.as_uri())
    _wait(browser, lambda: _count(browser, ".node") > 0)
    spec = graphspec.load(EXAMPLES / "resnet50.yaml")
    top = _tops(spec)
    pairs = {(top[a], top[b]) for a, b in spec.graph.edges if top[a] != top[b]}
    assert _count(browser, ".node") == len(set(top.values())) + 1  # + the output
    assert _count(browser, ".edge") == len(pairs) + 1
    assert _count(browser, ".node.kind-cluster") == 5

    _node(browser, "block:conv2_").click()
    assert _count(browser, '.cluster[data-cluster="block:conv2_"]') == 1
    assert _count(browser, '.node[data-id="block:conv2_block1_"]') == 1
    assert _count(browser, '.node[data-id="repeat:conv2_block_"]') == 1
    _node(browser, "block:conv2_block1_").click()
    _node(browser, "conv2_block1_add").click()
    assert "output shape(None, 56, 56, 256)" in _text(browser, "#facts")
    browser.find_element("css selector", "#search").send_keys("conv2_block1_add\n")  # zooms in
    assert "conv2 (block stage) › block1 (block projection_block)" in _text(browser, "#facts")
    _shot(browser, shots, "resnet50_stage.png", docs="viewer-resnet50.png")

    browser.find_element("css selector", '.cluster[data-cluster="block:conv2_"] text').click()
    assert _count(browser, ".cluster") == 0
    assert _count(browser, ".node") == len(set(top.values())) + 1

    browser.find_element("css selector", "#expand-all").click()
    assert _count(browser, ".node") == len(spec.build_order) + 1 + 1
    assert _count(browser, ".node.kind-cluster") == 0
    browser.find_element("css selector", "#collapse-all").click()
    search = browser.find_element("css selector", "#search")
    search.send_keys("conv4_block_3_out\n")
    assert "selected" in _node(browser, "conv4_block_3_out").get_attribute("class")


def test_live_redraw_keeps_view_and_selection_and_shows_mistakes(browser, served, shots):
    spec, srv = served
    original = spec.read_text()
    browser.get(srv.url)
    _wait_version(browser, 1)
    _node(browser, "department").click()
    _js(
        browser,
        "document.getElementById('graph').dispatchEvent(new WheelEvent('wheel', "
        "{deltaY: -200, clientX: 300, clientY: 300, bubbles: true, cancelable: true}))",
    )
    box = browser.find_element("css selector", "#graph").get_attribute("viewBox")

    spec.write_text(original.replace("units: 4,", "units: 5,"))
    saved = time.time()
    _wait_version(browser, 2)
    assert _js(browser, "return graphspecView.draws.at(-1).wall") / 1000 - saved < 3
    assert "output shape(None, 5)" in _text(browser, "#facts")
    assert "selected" in _node(browser, "department").get_attribute("class")
    assert browser.find_element("css selector", "#graph").get_attribute("viewBox") == box

    spec.write_text(original.replace("in: merged,", "in: mergd,"))
    _wait_version(browser, 3)
    assert "diag-error" in _node(browser, "department").get_attribute("class")
    assert _count(browser, ".node") == 12  # drawn as far as it could be composed
    item = browser.find_element("css selector", '#diagnostics li[data-node="department"]')
    assert "GS206" in item.text and "mergd" in item.text
    _node(browser, "tags").click()
    item.click()
    assert "selected" in _node(browser, "department").get_attribute("class")
    _shot(browser, shots, "ticket_router_error.png")

    spec.write_text("graphspec: 1\nname: [\n")  # nothing can be read
    _wait_version(browser, 4)
    assert "stale" in browser.find_element("css selector", "#graph").get_attribute("class")
    assert _count(browser, ".node") == 12 and _count(browser, "#diagnostics li") == 1
    _shot(browser, shots, "ticket_router_unreadable.png")

    spec.write_text(original)
    _wait_version(browser, 5)
    assert "stale" not in browser.find_element("css selector", "#graph").get_attribute("class")
    assert _count(browser, "#diagnostics li") == 0 and _count(browser, ".diag-error") == 0


def test_output_file_opens_offline_and_requests_nothing(browser, tmp_path):
    out = tmp_path / "router.html"
    assert _run(EXAMPLES / "ticket_router.yaml", "-o", out) == 0
    browser.get("about:blank")  # the page before may still be waiting for its server
    browser.get_log("performance")
    browser.get_log("browser")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    try:
        browser.get(out.as_uri())
        _wait(browser, lambda: _count(browser, ".node") == 12)
        assert _count(browser, ".edge") == 11
        assert _js(browser, "return performance.getEntriesByType('resource').length") == 0
        requested = set()
        for entry in browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requested.add(message["params"]["request"]["url"])
        assert requested <= {out.as_uri()}
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        browser.execute_cdp_cmd("Network.disable", {})


def test_hostile_names_and_arguments_are_shown_as_text(browser, tmp_path):
    spec = tmp_path / "evil.yaml"
    spec.write_text(EVIL_SPEC)
    out = tmp_path / "evil.html"
    assert _run(spec, "-o", out) == 1  # an unknown layer
    browser.get(out.as_uri())
    _wait(browser, lambda: _count(browser, ".node") > 0)
    assert _count(browser, "img") == 0 and _count(browser, "script") == 3
    assert _text(browser, "#title") == HOSTILE
    assert browser.title == HOSTILE + " - graphspec view"
    node = _node(browser, "<img src=x onerror=alert(5)>")
    assert node.text.startswith(HOSTILE.replace("1", "5"))
    _node(browser, "d").click()
    assert "<script>alert(3)</script>" in _text(browser, "#args")
    assert "<img src=x onerror=alert(2)>" in _text(browser, "#facts")
    assert "unknown layer '<img src=x onerror=alert(2)>'" in _text(browser, "#diagnostics")
    _node(browser, "e").click()
    assert "<img src=x onerror=alert(4)>" in _text(browser, "#args")

    crafted = tmp_path / "crafted.html"
    crafted.write_text(view.render_html(_tiny_model(HOSTILE), states={HOSTILE: "changed"}))
    browser.get(crafted.as_uri())
    _wait(browser, lambda: _count(browser, ".node") == 1)
    assert _count(browser, "img") == 0
    assert "state-changed" in _node(browser, HOSTILE).get_attribute("class")
    _node(browser, HOSTILE).click()
    assert _text(browser, "#args") == "a" + HOSTILE
    assert _js(browser, "return document.querySelectorAll('[onerror]').length") == 0
