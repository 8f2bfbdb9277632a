"""Hostile specs: the generators shared by the robustness tests (`test_promises.py`,
`test_hardening_input.py`) and `benchmarks/hostile_inputs.py`, so that the cases the tests
bound and the ones the benchmark times are the same texts."""

from __future__ import annotations

HEADER = "graphspec: 1\nname: m\ninputs: {x: {shape: [4]}}\n"


def laughs(width: int, levels: int, leaf: str = '"lol"') -> list[str]:
    """Anchors a_k holding `width` aliases of a_(k-1): width**levels values in few bytes (the
    lines of a `params:` mapping)."""
    lines = [f"  a0: &a0 [{', '.join([leaf] * width)}]"]
    lines += [
        f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)
    ]
    return lines


def amplification(steps: int = 9, times: int = 10, use: str = "name_scope") -> str:
    """p_k is p_(k-1) written `times` times, used in the argument `use`: the issue's case,
    600 bytes that asked for 1 GB."""
    params = ['  p0: "xxxxxxxxxx"'] + [
        f'  p{k}: "' + f"${{p{k - 1}}}" * times + '"' for k in range(1, steps)
    ]
    return (
        HEADER
        + "params:\n"
        + "\n".join(params)
        + "\n"
        + f'layers: [{{layer: Dense, args: {{units: 4, {use}: "${{p{steps - 1}}}"}}}}]\n'
    )


def doubling_blocks(levels: int) -> str:
    """Block b_k repeats b_(k-1) twice: 2**levels nodes from a few hundred bytes."""
    lines = ["blocks:", "  b0:", "    inputs: [i]", "    layers: [{op: relu, in: i}]"]
    for k in range(1, levels + 1):
        lines += [
            f"  b{k}:",
            "    inputs: [i]",
            f"    layers: [{{block: b{k - 1}, in: i, repeat: 2}}]",
        ]
    return HEADER + "\n".join(lines) + f"\nlayers: [{{block: b{levels}}}]\n"


def nested_blocks(depth: int) -> str:
    """Block b_k uses b_(k-1) once: blocks nested `depth` deep."""
    lines = ["blocks:", "  b0:", "    inputs: [i]", "    layers: [{op: relu, in: i}]"]
    for k in range(1, depth):
        lines += [f"  b{k}:", "    inputs: [i]", f"    layers: [{{block: b{k - 1}, in: i}}]"]
    return HEADER + "\n".join(lines) + f"\nlayers: [{{block: b{depth - 1}}}]\n"
