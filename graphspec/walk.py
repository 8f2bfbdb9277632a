"""One walker over plain data (dicts, lists, tuples and leaves), aware of the path to each
value. Every stage that looks into or rebuilds nested values uses it, so none writes its own
recursion: substitution, reference resolution, nested-layer checks, materializing layers,
export's conversions.

A path is a tuple of keys and indexes from the root, e.g. `('args', 'layer', 0)`; callers
prepend their own location (a `Loc`) with `loc + path`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

Path = tuple

#: Returned by a `transform` callback: rebuild this container from its transformed children.
DESCEND = object()


def _children(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        return iter(value.items())
    return enumerate(value)


def is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def transform(value: Any, fn: Callable[[Any, Path], Any], path: Path = ()) -> Any:
    """Rebuild `value` top-down: `fn(v, path)` gives the replacement of each value it is
    called on, or `DESCEND` to keep a container and transform its children instead."""
    result = fn(value, path)
    if result is not DESCEND:
        return result
    if isinstance(value, dict):
        return {k: transform(v, fn, path + (k,)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(transform(v, fn, path + (i,)) for i, v in enumerate(value))
    return value


def map_leaves(value: Any, fn: Callable[[Any, Path], Any], path: Path = ()) -> Any:
    """A copy of `value` with every leaf (anything but a dict, list or tuple) replaced by
    `fn(leaf, path)`."""
    return transform(value, lambda v, p: DESCEND if is_container(v) else fn(v, p), path)


def leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """`(path, leaf)` for every leaf, in document order."""
    if not is_container(value):
        yield path, value
        return
    for key, child in _children(value):
        yield from leaves(child, path + (key,))


def find(value: Any, match: Callable[[Any], bool], path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """`(path, v)` for every value `match` accepts, outermost first; a match is not looked
    into (its owner decides what its insides mean)."""
    if match(value):
        yield path, value
        return
    if is_container(value):
        for key, child in _children(value):
            yield from find(child, match, path + (key,))
