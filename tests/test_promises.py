"""Promise (1) of the robustness notes: with the default limits, no spec file, `--set` value
or set of imports makes `graphspec validate` run longer than 2 s or use more than 300 MB,
whatever its shape.

Each case generates a pathological shape sized against `Limits()` (at the limit, or far over
it), runs `python -m graphspec.cli validate` in a fresh process, and checks its wall time,
its peak memory (the child's `ru_maxrss`, read by a wrapper process of its own) and that it
answered cleanly. The bounds are generous (6 s, not 2 s) because these guard against blow-ups,
not benchmark a loaded CI machine; `benchmarks/hostile_inputs.py` reports the real figures.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from graphspec import Limits

from hostile_specs import HEADER, amplification, doubling_blocks, laughs, nested_blocks

LIMITS = Limits()
N = LIMITS.max_nodes
MAX_SECONDS = 6.0  # the promise is 2 s; the margin absorbs a loaded machine
MAX_MIB = 300
ROOT = Path(__file__).resolve().parents[1]

# Runs the command given as arguments and reports its wall time, peak memory and output. It
# stops a child that runs far past the bound itself (killing the wrapper would orphan it), and
# caps its address space so that a blow-up fails the test instead of swapping the machine.
_WRAPPER = """
import json, resource, subprocess, sys, time
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
start = time.perf_counter()
try:
    done = subprocess.run(sys.argv[2:], capture_output=True, text=True, preexec_fn=cap,
                          timeout=float(sys.argv[1]))
    code, out, err = done.returncode, done.stdout, done.stderr
except subprocess.TimeoutExpired as exc:
    code, out, err = None, "", f"stopped after {exc.timeout} s"
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({"wall": wall, "mib": peak, "code": code, "out": out[-4000:],
                  "err": err[-4000:]}))
"""


def run_validate(tmp_path: Path, *args: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WRAPPER,
            str(MAX_SECONDS + 2),
            sys.executable,
            "-m",
            "graphspec.cli",
            "validate",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    return json.loads(done.stdout)


def check(result: dict, name: str, code: str | None = None) -> None:
    output = result["out"] + result["err"]
    assert result["wall"] < MAX_SECONDS, f"{name}: {result['wall']:.1f} s. {output[-500:]}"
    assert result["mib"] < MAX_MIB, f"{name}: {result['mib']:.0f} MiB. {output[-500:]}"
    assert "Traceback" not in output and "internal error" not in output, output
    assert result["code"] in (0, 1, 2), output
    if code is not None:
        assert code in output, output


# -- shapes ----------------------------------------------------------------------------------


def chain(n: int) -> str:
    return (
        HEADER
        + "layers:\n"
        + "".join(f"  - {{name: n{i}, layer: Dense, args: {{units: 4}}}}\n" for i in range(n))
    )


def random_dag(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    names, lines = ["x"], []
    for i in range(n):
        if i >= 2 and i % 10 == 0:
            a, b = rng.sample(names, 2)
            lines.append(f"  - {{name: n{i}, layer: Add, in: [{a}, {b}]}}")
        else:
            lines.append(
                f"  - {{name: n{i}, layer: Dense, in: {rng.choice(names)}, args: {{units: 4}}}}"
            )
        names.append(f"n{i}")
    return HEADER + "layers:\n" + "\n".join(lines) + "\n" + f"outputs: [{', '.join(names[1:])}]\n"


def fan_out(n: int) -> str:
    return (
        HEADER
        + "layers:\n"
        + "".join(f"  - {{name: n{i}, op: relu, in: x}}\n" for i in range(n - 1))
        + "  - {layer: Concatenate, in: ["
        + ", ".join(f"n{i}" for i in range(n - 1))
        + "]}\n"
    )


def repeat(count: int) -> str:
    return HEADER + f"layers: [{{name: d, layer: Dense, args: {{units: 4}}, repeat: {count}}}]\n"


def string_spread(nodes: int) -> str:
    """A string just under the size of one value, interpolated into every node."""
    size = LIMITS.max_value_size // 2
    return (
        HEADER
        + 'params:\n  p0: "'
        + "x" * 100
        + '"\n'
        + '  p1: "'
        + "${p0}" * (size // 100)
        + '"\n'
        + f'layers: [{{layer: Dense, args: {{units: 4, label: "a${{p1}}"}}, repeat: {nodes}}}]\n'
    )


def list_amplification(steps: int = 9, times: int = 10) -> str:
    params = ["  p0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"] + [
        f"  p{k}: [" + ", ".join([f'"${{p{k - 1}}}"'] * times) + "]" for k in range(1, steps)
    ]
    return (
        HEADER
        + "params:\n"
        + "\n".join(params)
        + "\n"
        + f'layers: [{{layer: Dense, args: {{units: 4, extra: "${{p{steps - 1}}}"}}}}]\n'
    )


def list_spread(nodes: int) -> str:
    """A list parameter of 1,000 values that every copy of a repeated node stands for."""
    return (
        HEADER
        + "params:\n  p: ["
        + ", ".join(["1"] * 1000)
        + "]\n"
        + f'layers: [{{layer: Dense, args: {{units: 4, extra: "${{p}}"}}, repeat: {nodes}}}]\n'
    )


def alias_tree(total: int, where: str) -> str:
    """Aliases that expand to about `total` values in one place: a 4-level tree of lists."""
    width = int(total**0.25)
    anchors = [f"  a0: &a0 [{', '.join(['1'] * width)}]"] + [
        f"  a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * width)}]" for k in range(1, 3)
    ]
    top = "[" + ", ".join(["*a2"] * width) + "]"
    body = {
        "args": f"layers: [{{layer: Dense, args: {{units: 4, extra: {top}}}}}]\n",
        "outputs": f"layers: [{{name: d, layer: Dense, args: {{units: 4}}}}]\noutputs: {top}\n",
        "repeat": f"layers: [{{layer: Dense, args: {{units: 4, extra: {top}}}, repeat: {N}}}]\n",
    }
    return HEADER + "params:\n" + "\n".join(anchors) + "\n" + body[where]


def long_names(length: int, count: int) -> str:
    return (
        HEADER
        + "layers:\n"
        + "".join(f"  - {{name: {'n' * length}{i}, op: relu}}\n" for i in range(count))
    )


def flat(item: str, sep: str = ",") -> str:
    """`description` holding `item` repeated up to the byte limit."""
    room = LIMITS.max_bytes - len(HEADER) - 64
    items = sep.join([item] * (room // (len(item) + len(sep))))
    return HEADER + "layers: [{op: relu}]\ndescription: [" + items + "]\n"


def many_keys() -> str:
    room = LIMITS.max_bytes - len(HEADER) - 64
    return (
        HEADER
        + "layers: [{op: relu}]\ndescription: {"
        + ", ".join(f"k{i}: 1" for i in range(room // 12))
        + "}\n"
    )


def typos(n: int) -> str:
    return (
        HEADER
        + "layers:\n"
        + "".join(f"  - {{name: n{i}, layer: Dens, args: {{unit: 4}}}}\n" for i in range(n))
    )


def deep(depth: int) -> str:
    return HEADER + "layers: [{op: relu}]\ndescription: " + "[" * depth + "]" * depth + "\n"


SPECS = {
    # name: (spec text, code expected in the output or None)
    "chain at the node limit": (lambda: chain(N), None),
    "chain over the node limit": (lambda: chain(N + 1), "GS160"),
    "random DAG at the node limit": (lambda: random_dag(N - 1), None),
    "fan-out at the node limit": (lambda: fan_out(N), None),
    "repeat at the node limit": (lambda: repeat(N), None),
    "repeat: 10**9": (lambda: repeat(10**9), "GS160"),
    "blocks doubling to the node limit": (lambda: doubling_blocks(N.bit_length() - 1), None),
    "blocks doubling far over it": (lambda: doubling_blocks(40), "GS160"),
    "blocks nested 200 deep (the limit)": (lambda: nested_blocks(200), None),
    "blocks nested 1,000 deep": (lambda: nested_blocks(1000), "GS160"),
    "string amplification (the issue's 600 bytes)": (amplification, "GS160"),
    "string amplification, 100 x 5 steps": (lambda: amplification(6, 100), "GS160"),
    "a long string in every copy": (lambda: string_spread(N), "GS160"),
    "list amplification": (list_amplification, "GS160"),
    "a long list in every copy": (lambda: list_spread(N), "GS160"),
    "YAML alias bomb": (
        lambda: HEADER + "params:\n" + "\n".join(laughs(9, 10)) + "\nlayers: [{op: relu}]\n",
        "GS160",
    ),
    "aliases just under the value limit, in args": (
        lambda: alias_tree(LIMITS.max_values * 9 // 10, "args"),
        None,
    ),
    "aliases just under the value limit, in outputs": (
        lambda: alias_tree(LIMITS.max_values * 9 // 10, "outputs"),
        None,
    ),
    "aliases under the limit, in a repeated node": (lambda: alias_tree(10_000, "repeat"), None),
    "100,000-character node names": (lambda: long_names(100_000, 5), None),
    "1,000-character names at the byte limit": (
        lambda: long_names(1000, LIMITS.max_bytes // 1030),
        None,
    ),
    "tiny values up to the byte limit": (lambda: flat("1"), "GS160"),
    "empty mappings up to the byte limit": (lambda: flat("{}"), "GS160"),
    "nested lists up to the byte limit": (lambda: flat("[[[1]]]"), "GS160"),
    "tagged values up to the byte limit": (lambda: flat("!!str a"), None),
    "distinct keys up to the byte limit": (many_keys, None),
    "one string at the byte limit": (
        lambda: (
            HEADER + "layers: [{op: relu}]\ndescription: " + "x" * (LIMITS.max_bytes - 100) + "\n"
        ),
        None,
    ),
    "an error in every node": (lambda: typos(N), None),
    "nesting at the depth limit": (lambda: deep(LIMITS.max_depth // 2 - 4), None),
}


@pytest.mark.parametrize("name", SPECS)
def test_validate_stays_within_time_and_memory(tmp_path, name):
    make, code = SPECS[name]
    path = tmp_path / "spec.yaml"
    path.write_text(make())
    check(run_validate(tmp_path, str(path)), name, code)


def _set_alias_bomb() -> str:
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]" for p, c in zip("abcdefg", "bcdefgh")
    ]
    return "{" + ", ".join(levels) + "}"


SETS = {  # one command-line argument holds at most 128 KiB on Linux
    "--set alias bomb (10**8 values)": (_set_alias_bomb, "GS160"),
    "--set flow list of 60,000 values": (lambda: "[" + ",".join(["1"] * 60_000) + "]", None),
    "--set nested 10,000 deep": (lambda: "[" * 10_000 + "]" * 10_000, "GS160"),
}


@pytest.mark.parametrize("name", SETS)
def test_set_values_stay_within_time_and_memory(tmp_path, name):
    path = tmp_path / "spec.yaml"
    path.write_text(
        HEADER + "params: {p: 1}\nlayers: [{layer: Dense, args: {units: 4, extra: '${p}'}}]\n"
    )
    make, code = SETS[name]
    check(run_validate(tmp_path, str(path), "--set", f"p={make()}"), name, code)


def _big_imports(lib: Path) -> list[str]:
    """Each import well under every limit, together far over the byte limit."""
    for i in range(20):
        (lib / f"part{i}.yaml").write_text(
            f"graphspec: 1\nparams:\n  p{i}: [" + ",".join(["1"] * (LIMITS.max_bytes // 20)) + "]\n"
        )
    return [f"lib/part{i}.yaml" for i in range(20)]


def _tiny_imports(lib: Path) -> list[str]:
    """Thousands of tiny files: what each costs to open and read adds up too."""
    for i in range(2000):
        (lib / f"t{i}.yaml").write_text(
            f"graphspec: 1\nblocks:\n  b{i}:\n    inputs: [i]\n    layers: [{{op: relu, in: i}}]\n"
        )
    return [f"lib/t{i}.yaml" for i in range(2000)]


@pytest.mark.parametrize("name", ["imports", "tiny imports"])
def test_an_import_set_stays_within_time_and_memory(tmp_path, name):
    lib = tmp_path / "lib"
    lib.mkdir()
    imports = (_big_imports if name == "imports" else _tiny_imports)(lib)
    path = tmp_path / "spec.yaml"
    path.write_text(HEADER + f"imports: [{', '.join(imports)}]\nlayers: [{{op: relu}}]\n")
    check(run_validate(tmp_path, str(path)), name, "GS160")
