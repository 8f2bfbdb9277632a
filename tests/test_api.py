"""The public API: what __all__ lists, load/validate/build, and SpecError."""

import pytest

import graphspec

from conftest import EXAMPLES

MLP = {
    "graphspec": 1,
    "name": "m",
    "inputs": {"x": {"shape": [4]}},
    "layers": [{"layer": "Dense", "args": {"units": 2}}],
}


def test_public_api():
    assert sorted(graphspec.__all__) == sorted(
        [
            "CODES",
            "DataError",
            "Diagnostic",
            "Diff",
            "Error",
            "ExportError",
            "Limits",
            "OutputError",
            "PlotError",
            "RegistryError",
            "Spec",
            "SpecError",
            "build",
            "diff",
            "from_keras",
            "json_schema",
            "load",
            "load_plugin",
            "register_layer",
            "register_op",
            "saved_metadata",
            "validate",
        ]
    )
    assert issubclass(graphspec.SpecError, ValueError)
    for error in (
        "SpecError",
        "ExportError",
        "DataError",
        "PlotError",
        "OutputError",
        "RegistryError",
    ):
        assert issubclass(getattr(graphspec, error), graphspec.Error), error
    assert not issubclass(graphspec.Error, ValueError)  # the base promises nothing else


def test_load_a_path_and_a_dict():
    spec = graphspec.load(EXAMPLES / "mlp.yaml")
    assert spec.name == "mlp" and spec.kind == "sequential" and spec.diagnostics == []
    assert "mlp" in repr(spec)
    assert graphspec.load(MLP).build_order == ["dense"]


def test_validate_never_raises_for_spec_problems(tmp_path):
    diags = graphspec.validate(tmp_path / "missing.yaml")
    assert [d.code for d in diags] == ["GS001"]
    assert graphspec.validate(MLP) == []


def test_spec_error_carries_every_diagnostic():
    bad = {**MLP, "layers": [{"layer": "Dens"}, {"layer": "Dense", "args": {"unit": 1}}]}
    with pytest.raises(graphspec.SpecError) as info:
        graphspec.load(bad)
    diags = info.value.diagnostics
    assert [d.code for d in diags] == ["GS201", "GS204", "GS203"]  # document order
    assert all(d.line is None and d.path == "<dict>" for d in diags)
    assert set(diags[0].to_dict()) == {
        "path",
        "line",
        "column",
        "code",
        "severity",
        "message",
        "hint",
        "pointer",
    }
    assert "GS201" in str(info.value)


def test_unknown_parameter_override():
    with pytest.raises(graphspec.SpecError) as info:
        graphspec.load(MLP, params={"width": 3})
    assert [d.code for d in info.value.diagnostics] == ["GS120"]
