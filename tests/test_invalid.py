"""One small invalid spec per error kind; each pins its code, its position and its full message.

Every file directly in tests/invalid/ is a fixture (tests/invalid/lib/ holds files that
fixtures import). Its first line says what it must report; for JSON, which has no comments,
a `.expect` file beside it holds the same text without `# expect:`:

    # expect: GS201 at 7:24                          code, line and column
    # expect: GS209 at 7:5 (warning)                 a warning: the spec still loads
    # expect: GS301 at 9:5 (build)                   found by building the model (imports Keras)
    # expect: GS409 at 7:5 (warning, strict)         validated with strict_shapes=True
    # expect: GS151 at 4:4 (reported in lib/b.yaml)  the mistake lies in an imported file
    # expect: GS120 (set: widht=16)                  run with this parameter override, as
                                                     `--set widht=16` (repeatable)
    # expect: GS160 (limits: max_nodes=3)            run with graphspec.Limits(max_nodes=3),
                                                     as `--max-nodes 3` (repeatable)
    # expect: GS216 at 9:24 (backend: jax)           validated for a Keras backend, as
                                                     `--backend jax`
    # expect: GS002                                  no `at`: the diagnostic has no position

A fixture must produce exactly that one diagnostic: an extra one would be a cascade of the
first, which graphspec is designed not to print. The full rendered output is recorded beside
it in `NAME.snap` (ruff-style snapshots), with paths from the repository root; after changing
a message, run `python scripts/update_diagnostics.py` and review the snapshots' diff. The
header is read by that script (`update_diagnostics.expectation`), which runs the fixtures
exactly as this test does.
"""

import sys

import pytest

import graphspec

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import update_diagnostics as fixtures  # noqa: E402

FIXTURES = fixtures.fixtures()


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # fixtures are named from the root, as their snapshots show them


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(path):
    expect = fixtures.expectation(path)
    name = fixtures.shown(path)
    diagnostics = expect.validate(name)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        (expect.code, expect.line, expect.column)
    ], "\n".join(d.format() for d in diagnostics)
    (diag,) = diagnostics
    where = path.parent / expect.reported_in if expect.reported_in else path
    assert diag.path == fixtures.shown(where)
    assert diag.severity == ("warning" if expect.warning else "error")
    snapshot = fixtures.snapshot_file(path)
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run {fixtures.COMMAND}"
    assert fixtures.render(diagnostics) == snapshot.read_text(encoding="utf-8"), (
        f"{snapshot.name} differs from the output: run {fixtures.COMMAND} and review the diff"
    )
    if expect.warning:
        spec = graphspec.load(name, **expect.options())  # warnings do not stop a load
        assert spec.diagnostics == diagnostics
    else:
        with pytest.raises(graphspec.SpecError) as info:
            spec = graphspec.load(name, **expect.options())
            if expect.build:
                spec.build()
        assert info.value.diagnostics == diagnostics
