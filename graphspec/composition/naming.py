"""Default node names: the kind in snake case, numbered when taken."""

from __future__ import annotations

import re
from typing import Any

from ..document import BlockNode, LayerNode, OpNode

_NAME = re.compile(r"^[^/:]+$")  # the format's rule for names (document.Name)


def snake_case(name: str) -> str:
    """`GlobalAveragePooling2D` -> `global_average_pooling2d`; `image.resize` -> `image_resize`."""
    return (
        re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
        .lower()
        .replace(".", "_")
    )


def valid_name(name: Any) -> bool:
    """Whether `name` follows the format's rule: a non-empty string without '/' or ':'."""
    return isinstance(name, str) and _NAME.match(name) is not None


def default_names(decls: list[Any]) -> list[str | None]:
    """Names for nodes without one: the kind in snake case, numbered when taken
    (`dense`, `dense_1`, ...). Explicit names are kept and never reused."""
    taken = {d.name for d in decls if d is not None and d.name}
    counters: dict[str, int] = {}
    out = []
    for decl in decls:
        if decl is None or decl.name:
            out.append(decl.name if decl is not None else None)
            continue
        base = snake_case(
            decl.layer
            if isinstance(decl, LayerNode)
            else decl.op
            if isinstance(decl, OpNode)
            else decl.block
            if isinstance(decl, BlockNode)
            else f"{decl.share}_shared"
        )
        while True:
            n = counters.get(base, 0)
            counters[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in taken:
                taken.add(name)
                out.append(name)
                break
    return out
