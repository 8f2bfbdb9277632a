"""Located loading: positions of keys and values, duplicates, unsafe tags, JSON quirks."""

import json

import pytest

from graphspec import SpecError
from graphspec.source import read

YAML = """\
graphspec: 1
name: m
inputs:
  x: {shape: [4]}
layers:
  - name: fc
    layer: Dense
    args: {units: 2}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_positions_of_values_and_keys_are_one_based(tmp_path):
    source, diags = read(write(tmp_path, "m.yaml", YAML))
    assert diags == []
    assert source.data["layers"][0]["args"] == {"units": 2}
    assert source.locate(("layers", 0, "layer")) == (7, 12)
    assert source.locate(("layers", 0, "layer"), key=True) == (7, 5)
    assert source.locate(("inputs", "x", "shape", 0)) == (4, 15)
    # A path that does not exist points at its nearest existing parent.
    assert source.locate(("layers", 0, "args", "nope")) == (8, 11)


def test_duplicate_keys_are_located_not_silently_dropped(tmp_path):
    source, diags = read(write(tmp_path, "m.yaml", YAML + "name: again\n"))
    assert [(d.code, d.line, d.column) for d in diags] == [("GS103", 9, 1)]
    assert "first at line 2" in diags[0].message


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    text = YAML.replace(
        "    args: {units: 2}", "    args: {<<: &base {units: 2, use_bias: false}, units: 3}"
    )
    source, diags = read(write(tmp_path, "m.yaml", text))
    assert diags == []
    assert source.data["layers"][0]["args"] == {"units": 3, "use_bias": False}


def test_unsafe_tags_are_rejected_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = YAML + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(SpecError) as info:
        read(write(tmp_path, "m.yaml", text))
    assert [(d.code, d.line) for d in info.value.diagnostics] == [("GS102", 9)]
    assert not marker.exists()


def test_yaml_syntax_error_names_where_the_construct_started(tmp_path):
    with pytest.raises(SpecError) as info:
        read(write(tmp_path, "m.yaml", "graphspec: 1\nlayers: [{layer: Dense\n"))
    (diag,) = info.value.diagnostics
    assert diag.code == "GS101" and "started at line 2, column 10" in diag.message


def test_json_with_tabs_gets_positions(tmp_path):
    data = json.loads(
        json.dumps(
            {
                "graphspec": 1,
                "name": "m",
                "inputs": {"x": {"shape": [4]}},
                "layers": [{"layer": "Dense"}],
            }
        )
    )
    text = json.dumps(data, indent="\t")
    source, diags = read(write(tmp_path, "m.json", text))
    assert diags == [] and source.data == data
    line = text.splitlines().index('\t\t\t"layer": "Dense"') + 1
    assert source.locate(("layers", 0, "layer")) == (line, 13)


def test_json_duplicate_keys(tmp_path):
    _, diags = read(write(tmp_path, "m.json", '{"name": "a",\n "name": "b"}'))
    assert [(d.code, d.line, d.column) for d in diags] == [("GS103", 2, 2)]


def test_json_syntax_error(tmp_path):
    with pytest.raises(SpecError) as info:
        read(write(tmp_path, "m.json", '{"name": "a",\n}'))
    assert [(d.code, d.line, d.column) for d in info.value.diagnostics] == [("GS101", 2, 1)]


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(SpecError) as info:
        read(str(tmp_path / "nope.yaml"))
    assert info.value.diagnostics[0].code == "GS001"
    with pytest.raises(SpecError) as info:
        read(write(tmp_path, "m.txt", YAML))
    assert info.value.diagnostics[0].code == "GS002"
    with pytest.raises(SpecError) as info:
        read(42)
    assert info.value.diagnostics[0].code == "GS002"


def test_dict_sources_have_no_lines():
    source, _ = read({"graphspec": 1})
    assert source.path == "<dict>" and source.locate(("graphspec",)) == (None, None)


def test_dumps_writes_what_it_reads_for_every_example():
    import yaml

    from graphspec.source import dumps

    from conftest import EXAMPLES

    for path in sorted(EXAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert yaml.safe_load(dumps(data)) == data, path.name
