"""How fast `graphspec view` draws, measured in headless Chromium with the page's own clock.

    python benchmarks/view_speed.py [--runs 5]

The page records every draw (`window.graphspecView.draws`: start and end on the Performance
API's clock, whose zero is the start of the navigation, and the wall-clock time it ended).
Rows, each the median of --runs:
- ResNet-50 (examples/resnet50.yaml) drawn after load: when the first draw ended, counted from
  the start of the navigation (the page from the live server, blocks collapsed). Target < 1 s.
- ResNet-50 "expand all": the layout and drawing of all 176 nodes and 93 blocks (no target).
- A generated 10,000-node spec (10 stage blocks of 100 repeated 10-node cells) drawn collapsed
  after load, with the time the server took to build its model. Target < 2 s.
- A redraw after a one-line edit of ResNet-50 (the `classes` parameter): from the moment the
  file is saved to the end of the page's redraw, across the server's watcher, the rebuild of
  the model and the page's wait for it. Target < 1 s.
Needs Debian's chromium and chromium-driver and `pip install selenium`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphspec.limits import Limits  # noqa: E402
from graphspec.view import ViewServer, build_model  # noqa: E402


def generate(stages: int = 10, copies: int = 100) -> str:
    """stages x copies x 10 nodes, plus the input and a head."""
    lines = [
        "graphspec: 1",
        f"name: big_{stages * copies * 10}",
        "blocks:",
        "  cell:",
        "    inputs: [x]",
        "    layers:",
        "      - {name: a, layer: Dense, in: x, args: {units: 32}}",
        "      - {name: b, layer: Activation, args: {activation: relu}}",
        "      - {name: c, layer: Dense, args: {units: 32}}",
        "      - {name: d, layer: LayerNormalization}",
        "      - {name: e, layer: Add, in: [x, d]}",
        "      - {name: f, layer: Dense, args: {units: 64}}",
        "      - {name: g, layer: Activation, args: {activation: gelu}}",
        "      - {name: h, layer: Dense, args: {units: 32}}",
        "      - {name: i, layer: Add, in: [e, h]}",
        "      - {name: j, layer: LayerNormalization}",
        "  stage:",
        "    inputs: [x]",
        "    layers:",
        f"      - {{name: cell, block: cell, in: x, repeat: {copies}}}",
        "inputs:",
        "  x: {shape: [32]}",
        "layers:",
    ]
    lines += [f"  - {{name: s{k}, block: stage}}" for k in range(stages)]
    lines += ["  - {name: head, layer: Dense, args: {units: 1}}"]
    return "\n".join(lines) + "\n"


def browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
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
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def wait(condition, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError


def first_draw(driver, url: str) -> float:
    """Milliseconds from the start of the navigation to the end of the first draw."""
    driver.get(url)
    return wait(
        lambda: driver.execute_script(
            "return window.graphspecView && graphspecView.draws.length && graphspecView.draws[0].end"
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="view-speed-"))
    resnet = work / "resnet50.yaml"
    shutil.copy(ROOT / "examples" / "resnet50.yaml", resnet)
    big = work / "big.yaml"
    big.write_text(generate())
    limits = Limits(max_nodes=20_000)
    driver = browser(str(work / "profile"))
    rows = []
    try:
        srv = ViewServer(lambda: build_model(resnet))
        srv.start()
        loads, expands = [], []
        for _ in range(args.runs):
            loads.append(first_draw(driver, srv.url))
            driver.find_element("css selector", "#expand-all").click()
            expands.append(driver.execute_script("return graphspecView.draws.at(-1).ms"))
        rows.append(("ResNet-50 drawn after load (collapsed)", statistics.median(loads), 1000))
        rows.append(
            ("ResNet-50 expand all (178 nodes, 93 blocks)", statistics.median(expands), None)
        )

        first_draw(driver, srv.url)
        text = resnet.read_text()
        latencies, parts = [], []
        for i in range(args.runs):
            version = driver.execute_script("return graphspecView.version")
            resnet.write_text(text.replace("classes: 1000", f"classes: {1001 + i}"))
            saved = time.time()
            wait(lambda v=version: driver.execute_script("return graphspecView.version") > v)
            draw = driver.execute_script("return graphspecView.draws.at(-1)")
            latencies.append((draw["wall"] / 1000 - saved) * 1000)
            parts.append((srv.live.rebuilt_at - saved) * 1000)
        resnet.write_text(text)
        rows.append(
            (
                "ResNet-50 redraw after a one-line edit, from the save",
                statistics.median(latencies),
                1000,
            )
        )
        rows.append(
            ("  of which: until the server's model is rebuilt", statistics.median(parts), None)
        )
        srv.stop()

        started = time.perf_counter()
        model = build_model(big, limits=limits)
        built = (time.perf_counter() - started) * 1000
        srv = ViewServer(lambda: build_model(big, limits=limits))
        srv.start()
        bigs = [first_draw(driver, srv.url) for _ in range(args.runs)]
        srv.stop()
        nodes = model["stats"]["nodes"]
        rows.append(
            (f"{nodes:,}-node spec drawn after load (collapsed)", statistics.median(bigs), 2000)
        )
        rows.append(("  the server's model of it (built once, before the page)", built, None))
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)

    print(describe())
    print(f"Chromium (headless), median of {args.runs} runs\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'ms':>8}  {'target':>8}")
    for what, ms, target in rows:
        verdict = "" if target is None else ("  ok" if ms < target else "  MISSED")
        print(f"{what:<{width}}  {ms:>8.0f}  {'' if target is None else f'< {target}':>8}{verdict}")


if __name__ == "__main__":
    main()
