"""`${...}` expressions: precedence, types, interpolation, and bounded errors."""

import pytest

from graphspec.expr import ExprError, evaluate, substitute

SCOPE = {"width": 64, "depth": 3, "act": "relu", "flag": True, "dims": [1, 2], "rate": 0.5}


@pytest.mark.parametrize(
    "text, value",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("2 ** -1", 0.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("7 / 2", 3.5),
        ("width * 4", 256),
        ("max(width, depth * 30) - min(1, 2)", 89),
        ("--3", 3),
        ("1.5e2", 150.0),
        (".5 + rate", 1.0),
        ("width // 2 ** depth", 8),
    ],
)
def test_arithmetic_follows_python_precedence(text, value):
    result = evaluate(text, SCOPE)
    assert result == value and type(result) is type(value)


def test_a_whole_placeholder_keeps_its_type():
    assert substitute("${width}", SCOPE) == 64
    assert substitute(" ${ act } ", SCOPE) == "relu"
    assert substitute("${flag}", SCOPE) is True
    assert substitute("${dims}", SCOPE) == [1, 2]


def test_placeholders_inside_text_are_interpolated():
    assert substitute("stage_${depth}_${width * 2}", SCOPE) == "stage_3_128"
    assert substitute("${flag}-${rate * 2}", SCOPE) == "true-1"
    assert substitute("cost $${width}", SCOPE) == "cost ${width}"


@pytest.mark.parametrize(
    "text, code, offset",
    [
        ("${widht}", "GS131", 2),
        ("${width +}", "GS130", 9),
        ("${width // 0}", "GS132", 8),
        ("${act * 2}", "GS132", 6),
        ("${sqrt(4)}", "GS130", 2),
        ("${1 ; 2}", "GS130", 4),
        ("${}", "GS130", 2),
        ("n${(1}", "GS130", 5),
        ("${__import__}", "GS131", 2),
    ],
)
def test_errors_carry_a_code_and_the_offset_of_the_problem(text, code, offset):
    with pytest.raises(ExprError) as info:
        substitute(text, SCOPE)
    assert (info.value.code, info.value.offset) == (code, offset)


def test_unknown_names_get_a_hint():
    with pytest.raises(ExprError) as info:
        evaluate("widht", SCOPE)
    assert info.value.hint == "did you mean 'width'?"


@pytest.mark.parametrize(
    "text",
    [
        "2 ** 100000",
        "10 ** 10 ** 10",
        "(" * 200 + "1" + ")" * 200,
        "1 + " * 600 + "1",
        "2.0 ** 5000",
    ],
)
def test_hostile_expressions_fail_fast(text):
    with pytest.raises(ExprError):
        evaluate(text, SCOPE)
