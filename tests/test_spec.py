"""The format models: the checked-in JSON Schema, document errors, all reported at once."""

import json

import jsonschema
import pytest
import yaml

import graphspec
from graphspec.document import json_schema

from conftest import EXAMPLES, ROOT

SCHEMA_FILE = ROOT / "schemas" / "graphspec.schema.json"


def test_checked_in_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "run: graphspec schema -o schemas/graphspec.schema.json"
    )


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_examples_satisfy_the_schema(example):
    data = yaml.safe_load((EXAMPLES / example).read_text())
    jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_schema_documents_every_field_and_forbids_extras():
    schema = json_schema()
    models = [schema] + list(schema["$defs"].values())
    for model in models:
        if "properties" not in model:
            continue
        assert model.get("additionalProperties") is False, model.get("title")
        for name, prop in model["properties"].items():
            assert prop.get("description"), f"{model.get('title')}.{name} has no description"


def test_schema_rejects_what_graphspec_rejects():
    validator = jsonschema.Draft202012Validator(json_schema())
    bad = {
        "graphspec": 1,
        "name": "m",
        "inputs": {"x": {"shape": [4]}},
        "layers": [{"layer": "Dense", "op": "mean"}],
    }
    assert list(validator.iter_errors(bad))


def test_every_document_problem_in_one_pass(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "graphspec: 1\n"
        "name: m\n"
        "inputs:\n"
        "  x: {shape: [4], dtype: flaot32}\n"
        "layers:\n"
        "  - {name: a, layer: Dense, args: {units: 2}, colour: red}\n"
        "  - {name: b, layer: Dens, args: {units: 2}}\n"
        "  - {name: c, share: a, args: {units: 3}}\n"
        "outputs: [b, c, nope]\n"
    )
    diags = graphspec.validate(str(path))
    assert [(d.code, d.line, d.column) for d in diags] == [
        ("GS114", 4, 26),
        ("GS112", 6, 47),
        ("GS201", 7, 22),
        ("GS116", 8, 25),
        ("GS206", 9, 17),
    ]
    assert diags[0].hint == "did you mean 'float32'?"
    assert diags[2].hint == "did you mean 'Dense'?"


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("- just\n- a list\n")
    (diag,) = graphspec.validate(str(path))
    assert (diag.code, diag.line, diag.column) == ("GS110", 1, 1)
    path.write_text("")
    (diag,) = graphspec.validate(str(path))
    assert diag.code == "GS110" and "empty file" in diag.message


def test_names_cannot_hold_slashes(tmp_path):
    (diag,) = graphspec.validate(
        {
            "graphspec": 1,
            "name": "m",
            "inputs": {"x": {"shape": [4]}},
            "layers": [{"name": "a/b", "layer": "Dense", "args": {"units": 1}}],
        }
    )
    assert diag.code == "GS114" and diag.pointer == "layers[0].name"
