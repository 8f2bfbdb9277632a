"""The rapidyaml fast path reads every text exactly as PyYAML's safe loader does, or leaves it to
PyYAML (UNSURE): on every example, fixture and documented spec, on YAML 1.1's scalar typing
corner cases, and on generated documents, valid and not."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphspec
from graphspec import fast_yaml, source
from graphspec.limits import expanded_size

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(fast_yaml.ryml is None, reason="rapidyaml is not installed")


def pyyaml(text: str):
    """What the loader graphspec used before the fast path gives: data, or the exception."""
    loader = source._Loader(text)
    try:
        return loader.get_single_data(), loader.duplicate_keys
    except Exception as exc:  # YAML errors and the source module's refusals
        return exc, []
    finally:
        loader.dispose()


def identical(a, b) -> bool:
    """Equal with the same types all the way down (1 and True and 1.0 differ), keys in the
    same order, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return [(type(k), k) for k in a] == [(type(k), k) for k in b] and all(
            identical(a[k], b[k]) for k in a
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def check(text: str) -> bool:
    """Assert parity; True when the fast path answered (not UNSURE)."""
    loaded = fast_yaml.load(text, source._Loader, math.inf)
    if loaded is fast_yaml.UNSURE:
        return False
    fast, values = loaded
    expected, duplicates = pyyaml(text)
    assert not isinstance(expected, Exception), (text, expected, fast)
    assert not duplicates, text
    assert identical(fast, expected), (text, fast, expected)
    assert values == expanded_size(expected, 10**9), text
    return True


def _fenced(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_every_example_fixture_and_documented_spec():
    texts = {
        str(p): p.read_text(encoding="utf-8", errors="replace")
        for pattern in ("examples/**/*.yaml", "tests/**/*.yaml", "schemas/*.yaml")
        for p in ROOT.glob(pattern)
    }
    texts |= {
        f"{p}#{i}": block for p in ROOT.glob("docs/*.md") for i, block in enumerate(_fenced(p))
    }
    answered = {name for name, text in texts.items() if check(text)}
    # The fast path must carry the specs people write, not only stay out of the way.
    examples = {name for name in texts if "/examples/" in name}
    assert examples and examples <= answered, sorted(examples - answered)
    assert len(answered) > 0.8 * len(texts)


SCALARS = [
    *"yes Yes YES no No NO on On ON off Off OFF y Y n N true True TRUE false False FALSE".split(),
    *"tRUE nO ~ null Null NULL nUll".split(),
    *"0 -0 +1 017 0o17 08 09.5 0x1F 0x_1F 0b101 0b_1 1_000 1__0 190:20:30 1:30 -1:30 0:0".split(),
    *"1e3 1E3 1.0e+3 1.5e3 12e03 6.8523015e+5 685.230_15e+03 685_230.15 1. 0. .5 +.5 -.5".split(),
    *".inf -.Inf +.INF .NaN .nan ._ . 1,000 1.2.3".split(),
    *"2001-12-14 2001-12-14t21:59:43.10-05:00 2002-12-14 12:00 <<".split(),
    *"a:b enc:1 x:y:z http://h/p a#b a,b a]b a}b ?x :x -x --x ---x ...x".split(),
    "",
    "two words",
    "trailing space ",
]
# Text that stresses the scanner: indicators, quotes, colons, hashes, dashes, spaces.
NOISE = st.text(alphabet=" -?:,[]{}#&*!|>'\"%@`_.+0123456789eExob~yntTfF<=\\NLPu", max_size=10)
SCALAR = st.one_of(st.sampled_from(SCALARS), NOISE)


def _embed(s: str) -> list[str]:
    """The scalar where specs write scalars: a value, a key, list items, flow collections,
    quoted both ways."""
    single = "'" + s.replace("'", "''") + "'"
    return [
        f"k: {s}\n",
        f"{s}: v\n",
        f"- {s}\n- x\n",
        f"k: [{s}, x]\n",
        f"k: {{a: {s}, b: 1}}\n",
        f"k:\n  - {s}\n  - {{n: {s}}}\n",
        f"k: {single}\n",
        f'k: "{s}"\n',
        f"k: |\n  {s}\n",
        f"k: >-\n  {s}\n  {s}\n",
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCALAR)
def test_scalar_typing_matches_pyyaml(scalar):
    for text in _embed(scalar):
        check(text)


def test_long_lines_without_long_keys_stay_on_the_fast_path():
    # A model with many outputs lists them on one line, far past libyaml's 1,024-character
    # limit on keys, which only a `:` that far into the line could break.
    assert check("outputs: [" + ", ".join(f"n{i}:0" for i in range(400)) + "]\n")


def test_yaml_1_1_corner_cases_are_typed_by_the_fast_path():
    # Each of these is answered by the fast path (not left to PyYAML) and typed as PyYAML types it.
    for scalar in ("yes", "off", "0o17", "017", "0x1F", "1e3", "1.0e+3", ".inf", "~", "1_000"):
        assert check(f"k: {scalar}\n"), scalar
    data, values = fast_yaml.load(
        "a: yes\nb: 1e3\nc: 017\nd: '1'\ne: 2001-12-14\n", source._Loader, 99
    )
    assert data == {"a": True, "b": "1e3", "c": 15, "d": "1", "e": "2001-12-14"}
    assert values == 6


_LINE = st.tuples(
    st.integers(0, 3),  # indentation, in two-space steps
    st.sampled_from(
        ["", "- ", "k: ", "k:", "? ", ": ", "- k: ", "--- ", "# ", "k: [", "k: {", "- [", "'", '"']
    ),
    SCALAR,
    st.sampled_from(["", " # c", ":", ": v", " &a", " *a", " !!str", "]", ",", "}", "'", '"']),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=6))
def test_generated_documents_match_pyyaml_or_are_left_to_it(lines):
    text = "".join("  " * indent + lead + s + tail + "\n" for indent, lead, s, tail in lines)
    check(text)


# Tokens mixed freely, line breaks and indentation included: what the line-shaped documents
# above cannot produce (a blank line inside a flow collection, a key over two lines, text
# after a closing quote or bracket, document markers).
_TOKEN = st.one_of(
    SCALAR,
    st.sampled_from(
        ["\n", "\n  ", "\n\n", ": ", ":", "- ", ", ", "[", "]", "{", "}", "'q'", '"q"']
        + ["[1, 2]", "{a: 1}", "...", "---", " # c", "  ", "\\"]
    ),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKEN, min_size=1, max_size=14))
def test_token_soup_matches_pyyaml_or_is_left_to_it(tokens):
    check("".join(tokens) + "\n")


def test_the_fast_path_leaves_what_it_cannot_vouch_for_to_pyyaml():
    unsure = [
        "a: 1\na: 2\n",  # a key written twice: PyYAML's loader reports GS103
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "base: &b {x: 1}\nm:\n  <<: *b\n",  # merge keys
        "a: !!int 3\n",  # tags
        "a: 1\n---\nb: 2\n",  # several documents
        "%YAML 1.1\n---\na: 1\n",  # directives
        "a:\n\t- 1\n",  # tabs
        "a: 1\r\nb: 2\r\n",  # carriage returns
        "a: @x\n",  # rapidyaml reads this; PyYAML refuses it
        "a: [1, 2\n",  # an error
        # Differences a review found, each closed by a guard:
        "a: {b: c\n\n  }\n",  # rapidyaml keeps the blank line: 'c\n'
        "- {layer: Dense, activation: relu\n\n  }\n",
        "{a\n b: 1}\n",  # a key over two lines: libyaml refuses it
        "[a\n b: 1]\n",
        '{"a\n b": 1}\n',
        '{"a\\\n b": 1}\n',  # an escaped line break in a key
        "- 'a\n  b': 1\n",
        "k" * 1025 + ": 1\n",  # libyaml's limit on a key
        "...\na: 1\n",  # a document end before the content
        "- \n  ...\n",  # an indented `...`: text for libyaml, a document end for rapidyaml
        "- 'a' - b\n",  # a second item after a closed quote: libyaml refuses it
        "- [a] - b\n",
        ".nan: 1\n",  # NaN keys never compare equal: duplicates would go unseen
        "plain text\n",  # not a mapping or a list
        "",
    ]
    for text in unsure:
        assert fast_yaml.load(text, source._Loader, math.inf) is fast_yaml.UNSURE, text


def test_values_over_the_limit_are_left_to_pyyaml_to_report():
    text = "k: [" + ", ".join(["1"] * 50) + "]\n"
    assert fast_yaml.load(text, source._Loader, 1000) == ({"k": [1] * 50}, 52)
    assert fast_yaml.load(text, source._Loader, 60) is fast_yaml.UNSURE


def test_rapidyaml_errors_do_not_reach_stderr(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(source, "FAST_FROM", 0)  # the file is small
    answers = []
    load = fast_yaml.load
    monkeypatch.setattr(fast_yaml, "load", lambda *a: answers.append(load(*a)) or answers[-1])
    spec = tmp_path / "broken.yaml"
    spec.write_text("graphspec: 1\nname: m\nlayers: [1, 2\n")
    diagnostics = graphspec.validate(spec)
    out, err = capfd.readouterr()
    assert answers == [fast_yaml.UNSURE]  # rapidyaml ran and failed, and said nothing
    assert err == "" and out == ""
    assert [d.code for d in diagnostics] == ["GS101"]


def test_same_diagnostics_with_and_without_the_fast_path(monkeypatch):
    fixtures = sorted(ROOT.glob("tests/invalid/*.yaml"))

    def everything():
        return {p: [d.format() for d in graphspec.validate(p)] for p in fixtures}

    monkeypatch.setattr(source, "FAST_FROM", 0)  # the fixtures are small
    answered = []
    load = fast_yaml.load

    def counted(*args):
        answer = load(*args)
        answered.append(answer is not fast_yaml.UNSURE)
        return answer

    monkeypatch.setattr(fast_yaml, "load", counted)
    fast = everything()
    # Most fixtures are valid YAML with a mistake in the spec: the fast path reads them.
    assert sum(answered) > len(fixtures) / 2, (sum(answered), len(fixtures))
    monkeypatch.setattr(fast_yaml, "ryml", None)
    assert everything() == fast
