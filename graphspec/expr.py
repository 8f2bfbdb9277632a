"""`${...}` expressions: parameter references and arithmetic, by a parser of our own.

Grammar (Python's precedence; `**` is right-associative and binds tighter than unary minus):

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/' | '//' | '%') unary)*
    unary := ('-' | '+') unary | power
    power := atom ('**' unary)?
    atom  := INT | FLOAT | NAME | ('min' | 'max') '(' expr (',' expr)* ')' | '(' expr ')'

Nothing is ever passed to Python's `eval`. Sizes are bounded so that no expression can take
noticeable time or memory: the text, the nesting depth, and the size of integer results.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_INT_BITS = 4096

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|//|[-+*/%(),]))")
_PLACEHOLDER = re.compile(r"\$(\$)?\{([^{}]*)\}")
FUNCTIONS = {"min": min, "max": max}


class ExprError(ValueError):
    """A problem in an expression. `offset` is the 0-based character offset in the expression;
    `code` is GS130 (syntax), GS131 (unknown name) or GS132 (evaluation)."""

    def __init__(self, code: str, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(message)
        self.code, self.offset, self.hint = code, offset, hint


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            start = len(text) - len(text[pos:].lstrip())
            raise ExprError("GS130", f"unexpected character {text[start]!r} in expression "
                            f"'{text}'. Expected numbers, parameter names, + - * / // % ** "
                            "( ) and min(...)/max(...)", start)
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
            raise ExprError("GS130", f"expected {value!r} in expression '{self.text}'. "
                            f"Received: {got}", token[2])
        self.i += 1
        return token

    def parse(self):
        value = self.expr()
        kind, text, offset = self.peek()
        if kind != "end":
            raise ExprError("GS130", f"unexpected {text!r} in expression '{self.text}'", offset)
        return value

    def _nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("GS130", f"expression nested deeper than {MAX_DEPTH} levels",
                            self.peek()[2])

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
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name":
            if self.peek()[1] == "(":
                if text not in FUNCTIONS:
                    raise ExprError("GS130", f"unknown function '{text}' in expression "
                                    f"'{self.text}'. Expected: min, max", offset)
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

                raise ExprError("GS131", f"unknown parameter '{text}' in expression "
                                f"'{self.text}'", offset,
                                did_you_mean(text, list(self.scope)) or
                                (f"parameters: {', '.join(self.scope)}" if self.scope
                                 else "declare it under 'params'"))
            return self.scope[text]
        if text == "(":
            self._nest()
            value = self.expr()
            self.take(")")
            self.depth -= 1
            return value
        got = "the end of the expression" if kind == "end" else repr(text)
        raise ExprError("GS130", f"expected a number, a parameter or '(' in expression "
                        f"'{self.text}'. Received: {got}", offset)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:18] + "..." + text[-18:]


def _number(value: Any, op: str, offset: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError("GS132", f"'{op}' needs numbers. Received: {_short(value)} "
                        f"({type(value).__name__})", offset)


def _apply(op: str, a: Any, b: Any, offset: int):
    _number(a, op, offset)
    _number(b, op, offset)
    try:
        if op == "**":
            if isinstance(a, int) and isinstance(b, int) and b > 0 and \
                    max(abs(a).bit_length() - 1, 0) * b > MAX_INT_BITS:
                raise ExprError("GS132", f"{_short(a)} ** {_short(b)} is too large (more than {MAX_INT_BITS} "
                                "bits)", offset)
            result = a ** b
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
        raise ExprError("GS132", f"division by zero in '{_short(a)} {op} {_short(b)}'",
                        offset) from None
    except OverflowError:
        raise ExprError("GS132", f"'{_short(a)} {op} {_short(b)}' overflows", offset) from None
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ExprError("GS132", f"result of '{op}' is too large (more than {MAX_INT_BITS} bits)",
                        offset)
    if isinstance(result, complex) or (isinstance(result, float) and not math.isfinite(result)):
        raise ExprError("GS132", f"'{_short(a)} {op} {_short(b)}' is not a finite real number",
                        offset)
    return result


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """The value of one expression (the text between `${` and `}`)."""
    if len(text) > MAX_LENGTH:
        raise ExprError("GS130", f"expression longer than {MAX_LENGTH} characters", 0)
    if not text.strip():
        raise ExprError("GS130", "empty expression '${}'", 0)
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


def substitute(text: str, scope: Mapping[str, Any]) -> Any:
    """Replace every `${...}` in a string. A string that is exactly one `${...}` becomes the
    value itself, keeping its type; otherwise values are interpolated as text. `$${` writes a
    literal `${`. Raises ExprError with `offset` into `text`."""
    match = _PLACEHOLDER.fullmatch(text.strip())
    if match and not match.group(1):
        start = text.index("${") + 2
        try:
            return evaluate(match.group(2), scope)
        except ExprError as exc:
            exc.offset += start
            raise

    def replace(m: re.Match) -> str:
        if m.group(1):  # `$${...}`: an escaped, literal placeholder
            return "${" + m.group(2) + "}"
        try:
            value = evaluate(m.group(2), scope)
        except ExprError as exc:
            exc.offset += m.start(2)
            raise
        return _text(value)

    return _PLACEHOLDER.sub(replace, text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e16 else str(value)
    return str(value)
