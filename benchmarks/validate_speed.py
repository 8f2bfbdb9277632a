"""Whole-process time and peak memory of `graphspec validate` on generated specs.

    python benchmarks/validate_speed.py [--sizes 10 1000 10000] [--shapes dag chain repeat]
                                        [--runs 5] [--before DIR] [--cap 30] [--no-bytecode]

Three graph shapes, because each stresses a different part: `dag` is a random DAG (seeded) of
Dense nodes with merges (Add) and shared layers; `chain` is what most specs are, one node after
another with `in` omitted (a quadratic walk along chains once hid here); `repeat` is one block
of three nodes repeated to the size, the shape of deep networks. Specs are YAML with one node
per line. Every row is the median of --runs runs of a fresh process measured with
/usr/bin/time -v; `python -c "import keras"` is the reference row. Each shape gets its fitted
line (of CPU seconds): start-up plus a cost per node.

Every run is `python -m graphspec.cli validate SPEC` with PYTHONPATH naming the code, from a
scratch folder (so that the working directory puts no other copy first on the path).
`--before DIR` also times the code of a checkout in DIR (e.g. `git worktree add
/tmp/gs-before 5dfc09b`), alternating its runs with the current code's so that machine load
hits both alike; the table then has both rows and their ratio. Sizes above the default node
limit get `--max-nodes` (both versions). A run longer than `--cap` seconds is stopped: its row
shows `> cap` and the larger sizes of that shape are skipped for that version.

Python's bytecode cache is kept warm in a scratch folder (PYTHONPYCACHEPREFIX), as an
installed package has it: without it (PYTHONDONTWRITEBYTECODE=1 on a source checkout) every
process compiles every module it imports, which costs more the more code there is and is not
what users pay. `--no-bytecode` measures that case.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAX_NODES = 5_000  # graphspec.Limits().max_nodes; --max-nodes is passed above it


def generate(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = [
        "graphspec: 1",
        f"name: dag_{n}",
        "inputs:",
        "  x: {shape: [16]}",
        "  y: {shape: [16]}",
        "layers:",
    ]
    names, dense, used = ["x", "y"], [], set()
    for i in range(n):
        name = f"n{i}"
        if i >= 2 and i % 10 == 0:
            a, b = rng.sample(names, 2)
            lines.append(f"  - {{name: {name}, layer: Add, in: [{a}, {b}]}}")
            used |= {a, b}
        elif dense and i % 15 == 0:
            src = rng.choice(names)
            lines.append(f"  - {{name: {name}, share: {rng.choice(dense)}, in: {src}}}")
            used.add(src)
        else:
            src = "x" if i == 0 else "y" if i == 1 else rng.choice(names)
            lines.append(f"  - {{name: {name}, layer: Dense, in: {src}, args: {{units: 16}}}}")
            dense.append(name)
            used.add(src)
        names.append(name)
    sinks = [n for n in names[2:] if n not in used]
    lines.append("outputs: [" + ", ".join(sinks) + "]")
    return "\n".join(lines) + "\n"


def generate_chain(n: int) -> str:
    lines = ["graphspec: 1", f"name: chain_{n}", "inputs:", "  x: {shape: [16]}", "layers:"]
    lines += ["  - {layer: Dense, args: {units: 16}}"] * n
    return "\n".join(lines) + "\n"


def generate_repeat(n: int) -> str:
    return (
        "\n".join(
            [
                "graphspec: 1",
                f"name: repeat_{n}",
                "inputs:",
                "  x: {shape: [16]}",
                "blocks:",
                "  unit:",
                "    inputs: [h]",
                "    layers:",
                "      - {name: a, layer: Dense, args: {units: 16}}",
                "      - {name: b, layer: Dense, args: {units: 16}}",
                "      - {name: s, layer: Add, in: [a, b]}",
                "layers:",
                f"  - {{name: body, block: unit, repeat: {max(n // 3, 1)}}}",
            ]
        )
        + "\n"
    )


SHAPES = {"dag": generate, "chain": generate_chain, "repeat": generate_repeat}


class TooSlow(Exception):
    """A run stopped at the time cap."""


def measure(
    cmd: list[str],
    *,
    env: dict | None = None,
    cwd: str | None = None,
    ok: tuple[int, ...] = (0, 1),
    cap: float | None = None,
) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one run, from /usr/bin/time -v. CPU time
    (user + system) is what the run itself cost; wall time also counts waiting for the CPU on
    a loaded machine. A run whose exit code
    is not in `ok` raises RuntimeError; one longer than `cap` seconds is killed (with its
    whole process group) and raises TooSlow."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    env = {k: v for k, v in env.items() if v is not None}  # None: leave the variable out
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TooSlow from None
    # /usr/bin/time exits with the command's code; its own report is the tail of stderr.
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", stderr)
    hours, minutes, seconds = wall.groups()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    cpu = sum(
        float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", stderr).group(1))
        for kind in ("User", "System")
    )
    return (
        int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds),
        int(rss.group(1)) / 1024,
        cpu,
    )


def medians(samples: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(statistics.median(column) for column in zip(*samples))


def median_of(cmd: list[str], runs: int, **options) -> tuple[float, float, float]:
    """(wall s, peak MiB, CPU s), each the median of `runs` runs."""
    return medians([measure(cmd, **options) for _ in range(runs)])


def bytecode_env(folder: str | None) -> dict:
    """Environment variables for Python's bytecode cache: compiled modules kept in `folder`
    (outside the source trees), as an installed package has them; None for no cache at all,
    every module compiled in every process (what PYTHONDONTWRITEBYTECODE=1 with a source
    checkout gives)."""
    if folder is None:
        return {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": None}
    return {"PYTHONDONTWRITEBYTECODE": None, "PYTHONPYCACHEPREFIX": folder}


def warm_up(code: Path, env: dict, cwd: str) -> None:
    """One validate run that imports every module validate uses, so that the bytecode cache
    holds them before anything is timed."""
    spec = Path(cwd) / "warm_up.yaml"
    spec.write_text(generate(20))
    measure(
        [sys.executable, "-m", "graphspec.cli", "validate", str(spec)],
        env={**env, "PYTHONPATH": str(code)},
        cwd=cwd,
        ok=(0,),
    )


def validate_cmd(path: Path, n: int, size: int) -> list[str]:
    cmd = [sys.executable, "-m", "graphspec.cli", "validate", str(path)]
    if n > DEFAULT_MAX_NODES:
        cmd += ["--max-nodes", "100000"]
    if size > 2**20:  # today's default --max-bytes (1 MiB); the old default was 8 MiB
        cmd += ["--max-bytes", str(8 * 2**20)]
    return cmd


def fit(rows: list[tuple[int, float]]) -> str | None:
    """The least-squares line through (nodes, seconds): the slope is the cost per node, the
    intercept the start-up; a straight line fitting all sizes means linear cost. Fitted to
    CPU seconds, which a loaded machine disturbs far less than wall time."""
    if len(rows) < 2:
        return None
    xs, ys = [r[0] for r in rows], [r[1] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    intercept = my - slope * mx
    worst = max(abs(y - (intercept + slope * x)) / y for x, y in zip(xs, ys))
    return (
        f"{intercept:.2f} s + {slope * 1e6:.1f} µs per node (largest deviation from the "
        f"line: {worst:.0%} of a measurement)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="a checkout of older code to time next to the current code",
    )
    parser.add_argument(
        "--cap",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="stop a run after this long (default 30)",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="compile every module in every run, as a source checkout does "
        "with PYTHONDONTWRITEBYTECODE=1 (default: a warm bytecode cache, as an "
        "installed package has)",
    )
    args = parser.parse_args()
    versions = {"now": ROOT}
    if args.before:
        if not (args.before / "graphspec" / "cli.py").exists():
            sys.exit(f"{args.before} is not a graphspec checkout")
        versions = {"before": args.before.resolve(), "now": ROOT}
    print(describe())
    print(
        f"median of {args.runs} runs, whole process"
        + (", before and now alternating" if args.before else "")
        + (", no bytecode cache" if args.no_bytecode else ", warm bytecode cache")
        + "\n"
    )
    cols = f"| {'what':<30} | {'nodes':>7} | {'wall s':>7} | {'CPU s':>6} | {'peak MiB':>8} |"
    rule = f"|{'-' * 32}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 10}|"
    if args.before:
        cols += f" {'now/before wall':>15} | {'CPU':>5} |"
        rule += f"{'-' * 17}|{'-' * 7}|"
    print(cols)
    print(rule)
    no_ratio = f" {'':>15} | {'':>5} |" if args.before else ""
    wall, rss, cpu = median_of([sys.executable, "-c", "import keras"], args.runs)
    label = 'python -c "import keras"'
    print(f"| {label:<30} | {'':>7} | {wall:7.2f} | {cpu:6.2f} | {rss:8.0f} |{no_ratio}")
    fits: list[tuple[str, str, list]] = []
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        python = bytecode_env(None if args.no_bytecode else str(Path(tmp) / "pycache"))
        for version in versions.values():
            warm_up(version, python, tmp)
        for shape in args.shapes:
            rows = {v: [] for v in versions}
            stopped_at: dict[str, int] = {}  # version -> the size whose run hit the cap
            for n in args.sizes:
                path = Path(tmp) / f"{shape}_{n}.yaml"
                text = SHAPES[shape](n)
                path.write_text(text)
                cmd = validate_cmd(path, n, len(text.encode()))
                samples = {v: [] for v in versions if v not in stopped_at}
                for _ in range(args.runs):
                    for version in list(samples):
                        try:
                            samples[version].append(
                                measure(
                                    cmd,
                                    env={**python, "PYTHONPATH": str(versions[version])},
                                    cwd=tmp,
                                    ok=(0,),
                                    cap=args.cap,
                                )
                            )
                        except TooSlow:
                            stopped_at[version] = n
                            del samples[version]
                            notes.append(
                                f"{version}: validate {shape} of {n:,} nodes stopped "
                                f"after {args.cap:g} s; larger sizes skipped"
                            )
                found = {v: medians(runs) for v, runs in samples.items()}
                for version in versions:
                    label = f"validate {shape}" + (f" ({version})" if args.before else "")
                    if version in found:
                        wall, rss, cpu = found[version]
                        rows[version].append((n, cpu))
                        cells = f"{wall:7.2f} | {cpu:6.2f} | {rss:8.0f} |"
                    elif stopped_at.get(version) == n:
                        cells = f"{'> ' + format(args.cap, 'g'):>7} | {'':>6} | {'':>8} |"
                    else:
                        cells = f"{'skipped':>7} | {'':>6} | {'':>8} |"
                    ratio = no_ratio
                    if args.before and version == "now" and len(found) == 2:
                        now, before = found["now"], found["before"]
                        ratio = f" {now[0] / before[0]:>15.2f} | {now[2] / before[2]:>5.2f} |"
                    print(f"| {label:<30} | {n:>7,} | {cells}{ratio}", flush=True)
            for version in versions:
                fits.append((shape, version, rows[version]))
    print()
    for shape, version, rows in fits:
        line = fit(rows)
        if line:
            name = f"{shape}, {version}" if args.before else shape
            print(f"fitted line, CPU ({name}): {line}")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
