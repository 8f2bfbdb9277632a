"""One small invalid spec per error kind; each pins its code, line and column.

The expectation is the file's first line (`# expect: GS201 at 7:24`), or for JSON files a
`.expect` file beside it. A fixture must produce exactly that one diagnostic: an extra one
would be a cascade of the first, which graphspec is designed not to print.
"""

import re

import pytest

import graphspec
from conftest import INVALID

FIXTURES = sorted(p for p in INVALID.iterdir() if p.suffix in (".yaml", ".json"))
# tests/invalid/lib/ holds files that fixtures import; they are not fixtures themselves.
_EXPECT = re.compile(r"(GS\d{3}) at (\d+):(\d+)(?: \((warning|build|reported in (\S+))\))?")


def _expectation(path):
    """(code, line, column, flag, path the diagnostic names). `(reported in lib/x.yaml)`
    marks a mistake that lies in a file the fixture imports."""
    sidecar = path.with_name(path.name + ".expect")
    text = sidecar.read_text() if sidecar.exists() else path.read_text().splitlines()[0]
    code, line, column, flag, elsewhere = _EXPECT.search(text).groups()
    where = str(path.parent / elsewhere) if elsewhere else str(path)
    return code, int(line), int(column), flag, where


def test_every_error_code_has_a_fixture():
    covered = {_expectation(p)[0] for p in FIXTURES}
    # GS001/GS002 concern the file itself, GS120 a parameter override and GS160 the limits
    # (no position to pin): tested in test_api, test_compose and test_limits.
    missing = set(graphspec.CODES) - covered - {"GS001", "GS002", "GS120", "GS160"}
    assert not missing, f"no invalid fixture for {sorted(missing)}"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(path):
    code, line, column, flag, where = _expectation(path)
    diagnostics = graphspec.validate(str(path), build=flag == "build")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [(code, line, column)], \
        "\n".join(d.format() for d in diagnostics)
    (diag,) = diagnostics
    assert diag.path == where
    assert diag.severity == ("warning" if flag == "warning" else "error")
    assert diag.message and diag.pointer is not None
    if flag == "warning":
        graphspec.load(str(path))  # warnings do not stop a load
    else:
        with pytest.raises(graphspec.SpecError) as info:
            graphspec.load(str(path)).build() if flag == "build" else graphspec.load(str(path))
        assert isinstance(info.value, ValueError)
        assert info.value.diagnostics == diagnostics
