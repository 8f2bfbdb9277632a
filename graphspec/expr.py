"""`${...}` expressions: parameter references and arithmetic, by a parser of our own.

Grammar (Python's precedence; `**` is right-associative and binds tighter than unary minus):

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/' | '//' | '%') unary)*
    unary := ('-' | '+') unary | power
    power := atom ('**' unary)?
    atom  := INT | FLOAT | NAME | ('min' | 'max') '(' expr (',' expr)* ')' | '(' expr ')'

Nothing is ever passed to Python's `eval`. Sizes are bounded so that no expression can take
noticeable time or memory: the text, the nesting depth, and the size of integer results.
Every number that enters or leaves an expression is finite (GS132): a literal such as
`1e400`, a parameter whose value is YAML's `.inf` or `.nan`, and an overflowing result alike.
(A non-finite value written directly as a value, outside `${...}`, is left to the format.)

Substitution bounds what it builds, before building it (GS160): one value is at most
`Limits.max_value_size` characters or values, and all the substitutions of one spec together
at most `Limits.max_values` values (see `Budget`), so that a chain of parameters that each
repeat the previous one ten times cannot grow without bound.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from . import walk
from .codes import CATALOGUE
from .limits import DEFAULT, Limits, expanded_size, raise_hint

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_INT_BITS = 4096

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|//|[-+*/%(),]))"
)
FUNCTIONS = {"min": min, "max": max}


class ExprError(ValueError):
    """A problem in an expression. `offset` is the 0-based character offset in the expression;
    `code` is GS130 (syntax), GS131 (unknown name), GS132 (evaluation) or GS160 (a value
    larger than the limits allow). The message is the code's `template` in the catalogue,
    filled from `fields` (kept, so that a caller can report it with its own location)."""

    def __init__(
        self, code: str, template: str, /, offset: int = 0, hint: str | None = None, **fields: Any
    ):
        super().__init__(CATALOGUE[code].render(template, **fields))
        self.code, self.template, self.fields = code, template, fields
        self.offset, self.hint = offset, hint


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            start = len(text) - len(text[pos:].lstrip())
            raise ExprError("GS130", "character", offset=start, char=text[start], text=text)
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, scope: Mapping[str, Any]):
        self.text, self.scope = text, scope
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.i]

    def take(self, value: str | None = None):
        token = self.tokens[self.i]
        if value is not None and token[1] != value:
            got = "the end" if token[0] == "end" else repr(token[1])
            raise ExprError(
                "GS130", "expected", offset=token[2], expected=value, text=self.text, received=got
            )
        self.i += 1
        return token

    def parse(self):
        value = self.expr()
        kind, text, offset = self.peek()
        if kind != "end":
            raise ExprError("GS130", "unexpected", offset=offset, token=text, text=self.text)
        return value

    def _nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("GS130", "depth", offset=self.peek()[2], depth=MAX_DEPTH)

    def expr(self):
        self._nest()
        value = self.term()
        while self.peek()[1] in ("+", "-"):
            _, op, offset = self.take()
            value = _apply(op, value, self.term(), offset)
        self.depth -= 1
        return value

    def term(self):
        value = self.unary()
        while self.peek()[1] in ("*", "/", "//", "%"):
            _, op, offset = self.take()
            value = _apply(op, value, self.unary(), offset)
        return value

    def unary(self):
        if self.peek()[1] in ("-", "+"):
            self._nest()
            _, op, offset = self.take()
            value = self.unary()
            self.depth -= 1
            _number(value, op, offset)
            return -value if op == "-" else value
        return self.power()

    def power(self):
        value = self.atom()
        if self.peek()[1] == "**":
            _, op, offset = self.take()
            self._nest()
            value = _apply(op, value, self.unary(), offset)
            self.depth -= 1
        return value

    def atom(self):
        kind, text, offset = self.take()
        if kind == "num":
            value = float(text) if any(c in text for c in ".eE") else int(text)
            if not math.isfinite(value):
                raise ExprError("GS132", "number", offset=offset, number=text)
            return value
        if kind == "name":
            if self.peek()[1] == "(":
                if text not in FUNCTIONS:
                    raise ExprError("GS130", "function", offset=offset, name=text, text=self.text)
                self.take("(")
                self._nest()
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expr())
                self.take(")")
                self.depth -= 1
                for arg in args:
                    _number(arg, text, offset)
                return FUNCTIONS[text](args)
            if text not in self.scope:
                from .errors import did_you_mean

                hint = did_you_mean(text, list(self.scope)) or (
                    "parameters: " + ", ".join(self.scope)
                    if self.scope
                    else "declare it under 'params'"
                )
                raise ExprError(
                    "GS131", "unknown", offset=offset, hint=hint, name=text, text=self.text
                )
            value = self.scope[text]
            if isinstance(value, float) and not math.isfinite(value):
                raise ExprError("GS132", "parameter", offset=offset, name=text, value=_short(value))
            return value
        if text == "(":
            self._nest()
            value = self.expr()
            self.take(")")
            self.depth -= 1
            return value
        got = "the end of the expression" if kind == "end" else repr(text)
        raise ExprError("GS130", "operand", offset=offset, text=self.text, received=got)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:18] + "..." + text[-18:]


def _number(value: Any, op: str, offset: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(
            "GS132",
            "operand",
            offset=offset,
            op=op,
            received=_short(value),
            type=type(value).__name__,
        )


def _apply(op: str, a: Any, b: Any, offset: int):
    _number(a, op, offset)
    _number(b, op, offset)
    try:
        if op == "**":
            if (
                isinstance(a, int)
                and isinstance(b, int)
                and b > 0
                and max(abs(a).bit_length() - 1, 0) * b > MAX_INT_BITS
            ):
                raise ExprError(
                    "GS132", "power", offset=offset, a=_short(a), b=_short(b), bits=MAX_INT_BITS
                )
            result = a**b
        elif op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            result = a / b
        elif op == "//":
            result = a // b
        else:
            result = a % b
    except ZeroDivisionError:
        raise ExprError(
            "GS132", "division", offset=offset, a=_short(a), op=op, b=_short(b)
        ) from None
    except OverflowError:
        raise ExprError(
            "GS132", "overflow", offset=offset, a=_short(a), op=op, b=_short(b)
        ) from None
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ExprError("GS132", "result", offset=offset, op=op, bits=MAX_INT_BITS)
    if isinstance(result, complex) or (isinstance(result, float) and not math.isfinite(result)):
        raise ExprError("GS132", "not_finite", offset=offset, a=_short(a), op=op, b=_short(b))
    return result


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """The value of one expression (the text between `${` and `}`)."""
    if len(text) > MAX_LENGTH:
        raise ExprError("GS130", "length", length=MAX_LENGTH)
    if not text.strip():
        raise ExprError("GS130", "empty")
    return _Parser(text, scope).parse()


def has_placeholder(value: Any) -> bool:
    """Whether a plain-data value holds a `${...}` anywhere (cheap pre-check)."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    return False


class Budget:
    """What all the substitutions of one spec may still produce together, so that many
    modest values cannot add up to a huge one: `limits.max_values` values, where a list or
    mapping a whole `${...}` stands for counts once per value it holds (through every level)
    and text, built or referenced, one per 64 characters (about what a value costs to hold).
    Create one per spec (composition) and pass it to every `substitute` whose result is kept."""

    CHARS_PER_VALUE = 64

    def __init__(self, limits: Limits = DEFAULT):
        self.limits = limits
        self.left = limits.max_values
        self._sizes: dict[int, tuple[Any, int | None]] = {}  # id -> (value kept alive, size)
        self._charged: dict[int, tuple[Any, int | None]] = {}  # the same, for `charge`

    def size(self, value: Any) -> int | None:
        """What a value a whole `${...}` stands for costs: 1 for a number, 1 per 64
        characters of a string (text is copied into messages and checked), the number of
        values of a list or mapping (`expanded_size`, remembered: parameters are referenced
        many times). None when larger than `max_value_size`."""
        limit = self.limits.max_value_size
        if isinstance(value, str):
            return None if len(value) > limit else 1 + len(value) // self.CHARS_PER_VALUE
        if not isinstance(value, (dict, list)):
            return 1
        known = self._sizes.get(id(value))
        if known is None:
            known = self._sizes[id(value)] = (value, expanded_size(value, limit))
        return known[1]

    def charge(self, value: Any, offset: int = 0) -> None:
        """Count a value that is copied rather than substituted (the arguments of every copy
        of a repeated node, say) against what is left; GS160 when it does not fit."""
        # Remembered per value (the declarations' own `args`, never changed once validated):
        # what is left only shrinks, so a size measured against an earlier, larger remainder
        # still decides the same way.
        known = self._charged.get(id(value))
        if known is None:
            known = self._charged[id(value)] = (value, expanded_size(value, max(self.left, 0)))
        size = known[1]
        self.spend(self.left + 1 if size is None else size, offset)

    def spend(self, amount: int, offset: int = 0) -> None:
        self.left -= amount
        if self.left < 0:
            raise ExprError(
                "GS160",
                "values",
                offset=offset,
                hint=raise_hint("max_nodes", "--max-nodes", _BUILD),
                limit=self.limits.max_values,
                chars=self.CHARS_PER_VALUE,
            )


_BUILD = "build values this large"  # what a spec over a substitution limit is meant to do


def _too_large(what: str, unit: str, limits: Limits, offset: int) -> ExprError:
    return ExprError(
        "GS160",
        "value_size",
        offset=offset,
        hint=raise_hint("max_value_size", "--max-value-size", _BUILD),
        what=what,
        limit=limits.max_value_size,
        unit=unit,
    )


_OPEN = re.compile(r"\$?\$\{")


def _segments(text: str) -> list[str | tuple[str, int]]:
    """`text` split into literal text and expressions `(source, offset of the source)`; `$${`
    is a literal `${`. An unterminated `${` (or one with a brace inside) is GS130 at the `${`."""
    parts: list[str | tuple[str, int]] = []
    literal: list[str] = []
    pos = 0
    for match in _OPEN.finditer(text):
        if match.start() < pos:
            continue  # inside an expression already taken
        literal.append(text[pos : match.start()])
        pos = match.end()
        if match.group() == "$${":
            literal.append("${")
            continue
        close = text.find("}", pos)
        brace = text.find("{", pos, len(text) if close < 0 else close)
        if close < 0 or brace >= 0:
            raise ExprError(
                "GS130",
                "unclosed_brace" if brace >= 0 else "unclosed",
                offset=match.start(),
                hint="write '$${' for a literal '${'",
                position=match.start() + 1,
                text=_short(text)[1:-1],
            )
        if any(literal):
            parts.append("".join(literal))
        literal = []
        parts.append((text[pos:close], pos))
        pos = close + 1
    literal.append(text[pos:])
    if any(literal):
        parts.append("".join(literal))
    return parts


def names(value: Any) -> list[str]:
    """The parameter names that the `${...}` in a value (a string, or any plain data) refer
    to, in order of first use; a placeholder that is not well formed contributes the names it
    has before its error."""
    found: dict[str, None] = {}
    for _, item in walk.find(value, lambda v: isinstance(v, str) and "${" in v):
        try:
            parts = _segments(item)
        except ExprError:
            parts = [(m.group(1), 0) for m in re.finditer(r"(?<!\$)\$\{([^{}]*)", item)]
        for part in parts:
            if isinstance(part, tuple):
                try:
                    tokens = _tokenize(part[0])
                except ExprError:
                    continue
                for (kind, word, _), after in zip(tokens, tokens[1:]):
                    if kind == "name" and after[1] != "(":
                        found.setdefault(word, None)
    return list(found)


def chain(name: str, raw: Mapping[str, Any]) -> list[str]:
    """The parameters a too-large value of `name` is built from, `name` first: at each step
    the parameter its raw (unsubstituted) value refers to most often. For messages:
    `p8 <- p7 <- ... <- p0`."""
    path = [name]
    while len(path) <= len(raw):
        text = raw.get(path[-1])
        refs = [n for n in names(text) if n in raw and n not in path]
        if not refs:
            break
        counts = {n: _count_refs(text, n) for n in refs}
        path.append(max(refs, key=lambda n: counts[n]))
    return path


def _count_refs(value: Any, name: str) -> int:
    if isinstance(value, str):
        return len(re.findall(rf"(?<![\w.]){re.escape(name)}(?!\w)", value))
    if isinstance(value, dict):
        value = list(value.values())
    return sum(_count_refs(child, name) for child in value) if isinstance(value, list) else 0


def substitute(
    text: str, scope: Mapping[str, Any], limits: Limits = DEFAULT, budget: Budget | None = None
) -> Any:
    """Replace every `${...}` in a string. A string that is exactly one `${...}` becomes the
    value itself, keeping its type; otherwise values are interpolated as text. `$${` writes a
    literal `${`. Raises ExprError with `offset` into `text`.

    Nothing larger than `limits.max_value_size` is ever built (GS160): the size of a result
    is computed from its parts first. With a `budget`, what is produced is also charged to it
    (and the budget's limits are the ones that apply)."""
    budget = budget or Budget(limits)
    limits = budget.limits
    parts = _segments(text)
    expressions = [part for part in parts if isinstance(part, tuple)]
    if len(expressions) == 1 and all(isinstance(p, tuple) or not p.strip() for p in parts):
        source, offset = expressions[0]
        value = _evaluate_at(source, scope, offset)
        size = budget.size(value)
        if size is None:
            kind = {str: "a string", list: "a list", dict: "a mapping"}.get(type(value), "a value")
            raise _too_large(
                kind, "characters" if isinstance(value, str) else "values", limits, offset - 2
            )
        budget.spend(size, offset - 2)
        return value

    pieces, length = [], 0
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            length += len(part)
            continue
        source, offset = part
        value = _evaluate_at(source, scope, offset)
        size = _text_length(value, limits.max_value_size - length)
        if size is None:
            raise _too_large("a string", "characters", limits, offset - 2)
        pieces.append(_text(value))  # small enough to build now
        length += size
    budget.spend(1 + length // Budget.CHARS_PER_VALUE, 0)
    return "".join(pieces)


def _evaluate_at(source: str, scope: Mapping[str, Any], offset: int) -> Any:
    try:
        return evaluate(source, scope)
    except ExprError as exc:
        exc.offset += offset
        raise


def _text_length(value: Any, limit: int) -> int | None:
    """len(_text(value)), computed without building the text; None when over `limit`."""
    if not isinstance(value, (dict, list)):
        size = len(value) if isinstance(value, str) else len(_text(value))
        return size if size <= limit else None
    memo: dict[int, int] = {}

    def length(item: Any) -> int:  # len(repr(item)), which is what str() of a list uses
        if not isinstance(item, (dict, list)):
            if isinstance(item, str) and len(item) > limit:
                raise OverflowError
            return len(repr(item))
        if id(item) in memo:
            return memo[id(item)]
        total = 2 + 2 * max(len(item) - 1, 0)  # brackets and ", " separators
        if isinstance(item, dict):
            total += 2 * len(item)  # ": " between each key and value
            children = [part for pair in item.items() for part in pair]
        else:
            children = item
        for child in children:
            total += length(child)
            if total > limit:
                raise OverflowError
        memo[id(item)] = total
        return total

    try:
        return length(value)
    except (OverflowError, RecursionError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e16 else str(value)
    return str(value)
