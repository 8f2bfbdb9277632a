"""Time and memory of `graphspec validate` on hostile inputs, each answered with a diagnostic.

    python benchmarks/hostile_inputs.py [--runs 3] [--cap 10]

Whole process (/usr/bin/time -v), median of --runs, default limits. One row per kind of
hostile input: the ones refused since the first limits (alias bombs, huge and deep files,
expression bombs), and the input classes of issue #10 (quadratic chains, string and list
amplification through `${...}`, loose alias limits, `--set` values, paths that are not files,
imports from elsewhere or too many of them, corner cases of the format). "answer" is what
validate said: the codes of its diagnostics, or `ok`. A run longer than --cap seconds is
stopped and shown as `> cap`. Promise (1) of docs/robustness.md: every row within 2 s and
300 MB; `tests/test_promises.py` and `tests/test_hardening_input.py` pin the answers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _machine import describe
from validate_speed import ROOT, TooSlow, bytecode_env, measure, medians, warm_up

sys.path.insert(0, str(ROOT / "tests"))  # the hostile specs the robustness tests bound
from hostile_specs import HEADER, doubling_blocks, laughs, nested_blocks  # noqa: E402

N = 100_000


def spec(text: str) -> Callable[[Path], list[str]]:
    """A case that is one spec file with this text."""

    def make(tmp: Path) -> list[str]:
        (tmp / "hostile.yaml").write_text(text, encoding="utf-8")
        return ["hostile.yaml"]

    return make


def amplification(item: Callable[[int], str], steps: int = 9, times: int = 10) -> str:
    """p_k written `times` times in p_(k+1): a value that grows tenfold per line."""
    params = ['  p0: "xxxxxxxxxx"'] + [f"  p{k}: {item(k)}" for k in range(1, steps)]
    return (
        HEADER
        + "params:\n"
        + "\n".join(params)
        + "\n"
        + f'description: "${{p{steps - 1}}}"\nlayers: [{{op: relu}}]\n'
    )


def chain(n: int) -> str:
    return HEADER + "layers:\n" + "  - {layer: Dense, args: {units: 4}}\n" * n


def with_set(value: str, text: str | None = None) -> Callable[[Path], list[str]]:
    text = text or HEADER + "params: {p: 1}\ndescription: '${p}'\nlayers: [{op: relu}]\n"

    def make(tmp: Path) -> list[str]:
        (tmp / "hostile.yaml").write_text(text)
        return ["hostile.yaml", "--set", f"p={value}"]

    return make


def symlink_to_dev_zero(tmp: Path) -> list[str]:
    (tmp / "hostile.yaml").symlink_to("/dev/zero")
    return ["hostile.yaml"]


def fifo(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "hostile.yaml")  # nobody ever writes: reading it would wait for ever
    return ["hostile.yaml"]


def import_outside(tmp: Path) -> list[str]:
    secret = tmp.parent / f"{tmp.name}-secret.yaml"
    secret.write_text("token: s3cr3t-never-shown\n")
    (tmp / "hostile.yaml").write_text(
        HEADER + f"imports: [../{secret.name}]\nlayers: [{{op: relu}}]\n"
    )
    return ["hostile.yaml"]


def import_set(count: int, size: int) -> Callable[[Path], list[str]]:
    """`count` library files of about `size` bytes each, all imported by one spec."""

    def make(tmp: Path) -> list[str]:
        (tmp / "lib").mkdir()
        for i in range(count):
            (tmp / "lib" / f"t{i}.yaml").write_text(
                f"graphspec: 1\nname: t{i}\nparams:\n  p{i}: ["
                + ",".join(["1"] * (size // 2))
                + "]\n"
            )
        imports = ", ".join(f"lib/t{i}.yaml" for i in range(count))
        (tmp / "hostile.yaml").write_text(
            HEADER + f"imports: [{imports}]\nlayers: [{{op: relu}}]\n"
        )
        return ["hostile.yaml"]

    return make


def json_bom(tmp: Path) -> list[str]:
    text = json.dumps(
        {
            "graphspec": 1,
            "name": "m",
            "inputs": {"x": {"shape": [4]}},
            "layers": [{"layer": "Dense", "args": {"units": 1}}],
        }
    )
    (tmp / "hostile.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    return ["hostile.json"]


def cases() -> dict[str, Callable[[Path], list[str]]]:
    line = "  - {layer: Dense, args: {units: 1}}\n"
    return {
        # -- refused since the first limits -------------------------------------------------
        "alias bomb (10^9 values)": spec(
            HEADER + "params:\n" + "\n".join(laughs(9, 10)) + "\nlayers: [{op: relu}]\n"
        ),
        "50 MB file": spec(HEADER + "layers:\n" + line * (50 * 2**20 // len(line))),
        "100,000-deep flow nesting": spec(HEADER + "description: " + "[" * N + "]" * N + "\n"),
        "100,000-deep block nesting": spec(HEADER + "description:\n" + "- " * N + "x\n"),
        "1,000,000-node flow list": spec(
            HEADER + "layers: [" + ", ".join(["{op: relu}"] * 10**6) + "]\n"
        ),
        "block repeated to 10^6 nodes": spec(
            HEADER + "blocks:\n  b:\n    inputs: [x]\n    layers:\n"
            "      - {op: relu, in: x, repeat: 1000}\nlayers: [{block: b, repeat: 1000}]\n"
        ),
        "expression 10 ** 100000": spec(
            HEADER + 'layers: [{layer: Dense, args: {units: "${10 ** 100000}"}}]\n'
        ),
        "expression nested 400 deep": spec(
            HEADER
            + 'layers: [{layer: Dense, args: {units: "${'
            + "(" * 400
            + "1"
            + ")" * 400
            + '}"}}]\n'
        ),
        # -- issue #10, class 1: time linear in nodes ---------------------------------------
        "5,000-node chain (the node limit)": spec(chain(5_000)),
        "20,000-node chain": spec(chain(20_000)),
        "116-byte `repeat: 40000`": spec(
            HEADER + "layers: [{name: d, layer: Dense, args: {units: 4}, repeat: 40000}]\n"
        ),
        "blocks nested 1,000 deep": spec(nested_blocks(1000)),
        "blocks doubling to 2^40 nodes": spec(doubling_blocks(40)),
        # -- class 2: values built by substitution ------------------------------------------
        "string interpolation chain": spec(
            amplification(lambda k: '"' + f"${{p{k - 1}}}" * 10 + '"')
        ),
        "list amplification": spec(
            amplification(lambda k: "[" + ", ".join([f'"${{p{k - 1}}}"'] * 10) + "]")
        ),
        # -- class 14: the alias limit ------------------------------------------------------
        "1 KB of aliases, 1.6 M values": spec(
            HEADER + "params:\n" + "\n".join(laughs(36, 4, "1")) + "\nlayers: [{op: relu}]\n"
        ),
        # -- class 13: --set values ---------------------------------------------------------
        "--set alias bomb (10^8 values)": with_set(
            "{"
            + ", ".join(
                ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
                + [
                    f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]"
                    for p, c in zip("abcdefg", "bcdefgh")
                ]
            )
            + "}"
        ),
        "--set p=a/b into a node name": with_set(
            "a/b", HEADER + 'params: {p: x}\nlayers: [{name: "n_${p}", op: relu}]\n'
        ),
        # -- class 7: paths that are not regular files --------------------------------------
        "symlink to /dev/zero": symlink_to_dev_zero,
        "FIFO that nobody writes": fifo,
        # -- class 8: files outside the spec's folder, import sets --------------------------
        "import of ../secret.yaml": import_outside,
        "import set: 2,000 tiny files": import_set(2000, 60),
        "import set: 20 files of 100 KB": import_set(20, 100_000),
        # -- classes 10 and 15: corner cases ------------------------------------------------
        "`outputs: []`": spec(HEADER + "layers: [{op: relu}]\noutputs: []\n"),
        "JSON with a BOM": json_bom,
        "`graphspec: true`": spec(
            HEADER.replace("graphspec: 1", "graphspec: true") + "layers: [{op: relu}]\n"
        ),
        "`${1e400}`": spec(HEADER + 'layers: [{layer: Dense, args: {units: "${1e400}"}}]\n'),
        'unterminated `"${3"`': spec(HEADER + 'layers: [{layer: Dense, args: {units: "${3"}}]\n'),
    }


def answer(cmd: list[str], cwd: Path, cap: float, env: dict) -> str:
    """The distinct codes validate gave (in order), or `ok`."""
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    try:
        done = subprocess.run(
            [*cmd, "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
            timeout=cap,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return "hangs"
    if "Traceback" in done.stderr:
        return "traceback"
    try:
        files = json.loads(done.stdout)["files"]
        codes = [d["code"] for f in files for d in f["diagnostics"]]
    except (ValueError, KeyError):  # an error about the command line is one line of text
        codes = re.findall(r"error\[(GS\d+)\]", done.stderr)
        if not codes:
            return f"exit {done.returncode}"
    codes = list(dict.fromkeys(codes))
    return " ".join(codes[:2]) + (" ..." if len(codes) > 2 else "") if codes else "ok"


def size_of(tmp: Path) -> int:
    total = 0
    for path in tmp.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cap",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="stop a run after this long (default 10)",
    )
    args = parser.parse_args()
    print(describe())
    print(f"median of {args.runs} runs, whole process, default limits, warm bytecode cache\n")
    print(
        f"| {'input':<34} | {'bytes':>10} | {'answer':<13} | {'wall s':>6} | {'CPU s':>5} "
        f"| {'peak MiB':>8} |"
    )
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 15}|{'-' * 8}|{'-' * 7}|{'-' * 10}|")
    cache = tempfile.TemporaryDirectory()
    env = {**bytecode_env(cache.name), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    warm_up(ROOT, env, cache.name)
    for label, make in cases().items():
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name) / "case"
            tmp.mkdir()
            extra = make(tmp)
            cmd = [sys.executable, "-m", "graphspec.cli", "validate", *extra]
            size = size_of(tmp)
            if "--set" in extra:  # what the command line carries counts too
                size += len(extra[-1].encode())
            said = answer(cmd, tmp, args.cap, env)
            try:
                wall, rss, cpu = medians(
                    [
                        measure(cmd, env=env, cwd=str(tmp), ok=(0, 1, 2), cap=args.cap)
                        for _ in range(args.runs)
                    ]
                )
                cells = f"{wall:>6.2f} | {cpu:>5.2f} | {rss:>8.0f}"
            except TooSlow:
                cells = f"{'> ' + format(args.cap, 'g'):>6} | {'':>5} | {'':>8}"
            shown = f"{size:>10,}" if size else f"{'-':>10}"
            print(f"| {label:<34} | {shown} | {said:<13} | {cells} |", flush=True)
    cache.cleanup()


if __name__ == "__main__":
    main()
