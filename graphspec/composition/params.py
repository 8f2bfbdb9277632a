"""Parameters: `${...}` substitution into plain data, and the values in force in each block
copy."""

from __future__ import annotations

from typing import Any

from .. import expr, walk
from ..document import Block
from ..errors import Diagnostic
from ..limits import DEFAULT, Limits
from ..source import Loc, Source

REPEAT_INDEX = "repeat_index"


class Substituter:
    """Replaces `${...}` in plain data; each failure is reported at its place, once."""

    def __init__(self, diagnostics: list[Diagnostic], limits: Limits = DEFAULT):
        self.diags = diagnostics
        self.failed = False
        self.limits = limits
        self.budget = expr.Budget(limits)  # what all substitutions of the spec may produce
        self.raw_params: dict[str, Any] = {}  # as written, to name a chain of parameters

    def value(self, value: Any, scope: dict, loc: Loc) -> Any:
        """`value` with every `${...}` replaced; a failing string is left as it is."""
        return walk.map_leaves(value, lambda leaf, path: self._string(leaf, scope, loc + path))

    def _string(self, value: Any, scope: dict, loc: Loc) -> Any:
        if not isinstance(value, str) or "${" not in value:
            return value
        try:
            return expr.substitute(value, scope, self.limits, budget=self.budget)
        except expr.ExprError as exc:
            self.failed = True
            source = loc.source
            line, column = source.locate(loc)
            message = str(exc)
            if exc.code == "GS160" and len(loc) == 2 and loc[0] == "params":
                built = expr.chain(loc[1], self.raw_params)
                if len(built) > 1:
                    message += f" (built from {' <- '.join(built)})"
            self.diags.append(
                source.diagnostic(
                    loc,
                    exc.code,
                    message,
                    exc.hint,
                    column_offset=exc.offset
                    if line is not None
                    and "\n" not in value
                    and _written(source, line, column, value)
                    else 0,
                )
            )
            return value

    def params(self, entries: list[tuple[str, Any, Loc]], scope: dict | None = None) -> dict:
        """Evaluate parameters in order; each may use the ones before it."""
        scope = dict(scope or {})
        self.raw_params.update({name: value for name, value, _ in entries})
        for name, value, loc in entries:
            scope[name] = self.value(value, scope, loc)
        return scope

    def block_values(
        self,
        block: Block,
        args: dict,
        values: dict,
        source: Source,
        context: str | None,
        block_name: str,
    ) -> dict:
        """The parameter values inside one copy of a block: the instance's `args` (already
        substituted in the caller's scope), then the block's defaults for the rest, which may
        use the caller's values and the block's earlier parameters."""
        inner = self.params(
            [
                (p, v, Loc(("blocks", block_name, "params", p), source, context))
                for p, v in block.params.items()
                if p not in args
            ],
            values,
        )
        inner.update({p: v for p, v in args.items() if p in block.params})
        return inner


def _written(source: Source, line: int, column: int, value: str) -> bool:
    """Whether the scalar is written on its line as it reads (no escapes, no folding), so that
    an offset into it is an offset into the line."""
    return value in source.line_text(line)[column - 1 :]
