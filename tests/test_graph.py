"""Graph checks, model kind and build order; none of this imports Keras."""

import networkx as nx
import pytest

import graphspec


def spec(layers, inputs=None, **top):
    return {
        "graphspec": 1,
        "name": "m",
        "inputs": inputs or {"x": {"shape": [4]}},
        "layers": layers,
        **top,
    }


def dense(name=None, units=2, **node):
    out = {"layer": "Dense", "args": {"units": units}, **node}
    if name:
        out["name"] = name
    return out


def test_default_names_are_unique_and_made_from_the_kind():
    s = graphspec.load(spec([dense(), dense(), {"op": "relu"}, dense(name="dense_2")]))
    assert s.build_order == ["dense", "dense_1", "relu", "dense_2"]


def test_graph_has_nodes_edges_and_attributes():
    s = graphspec.load(
        spec(
            [
                {"name": "lstm", "layer": "LSTM", "args": {"units": 3, "return_state": True}},
                {"name": "h", "layer": "Dense", "in": "lstm:1", "args": {"units": 2}},
            ],
            inputs={"x": {"shape": [None, 4]}},
        )
    )
    g = s.graph
    assert isinstance(g, nx.DiGraph)
    assert list(g.edges) == [("x", "lstm"), ("lstm", "h")]
    assert g.edges["lstm", "h"]["outputs"] == [1]
    assert g.nodes["x"]["kind"] == "input" and g.nodes["lstm"]["type"] == "LSTM"
    assert s.kind == "functional"  # an index reference is not a plain chain


@pytest.mark.parametrize(
    "layers, inputs, extra, kind",
    [
        ([dense(), dense()], None, {}, "sequential"),
        ([dense(), {"op": "relu"}, dense()], None, {}, "sequential"),
        ([dense(), dense()], None, {"model": "functional"}, "functional"),
        ([dense("a"), dense("b", in_="x")], None, {"outputs": ["a", "b"]}, "functional"),
        # Dense(4) on a width-4 input can be applied again to its own output.
        ([dense("a", units=4), {"name": "b", "share": "a", "in": "a"}], None, {}, "functional"),
        (
            [dense("a", in_="x"), dense("b", in_="y"), {"layer": "Add", "in": ["a", "b"]}],
            {"x": {"shape": [2]}, "y": {"shape": [2]}},
            {},
            "functional",
        ),
        (
            [dense("a"), dense("b", in_="x"), {"layer": "Add", "in": ["a", "b"]}],
            None,
            {},
            "functional",
        ),
    ],
)
def test_model_kind(layers, inputs, extra, kind):
    layers = [{("in" if k == "in_" else k): v for k, v in node.items()} for node in layers]
    assert graphspec.load(spec(layers, inputs, **extra)).kind == kind


def test_cycle_is_spelled_out():
    (diag,) = graphspec.validate(spec([dense("a", **{"in": "c"}), dense("b"), dense("c")]))
    assert diag.code == "GS207" and "a -> b -> c -> a" in diag.message


def test_self_reference_is_a_cycle():
    (diag,) = graphspec.validate(spec([{"name": "a", "layer": "Add", "in": ["x", "a"]}]))
    assert diag.code == "GS207" and "a -> a" in diag.message


def test_errors_do_not_cascade():
    # One typo in a reference; the unreachable input and node it causes are not reported too.
    diags = graphspec.validate(spec([dense("hidden"), dense("o", **{"in": "hiden"})]))
    assert [d.code for d in diags] == ["GS206"]
    assert diags[0].hint == "did you mean 'hidden'?"


def test_keras_ops_arity_and_arguments():
    diags = graphspec.validate(
        spec(
            [
                {"name": "m", "op": "mean", "args": {"axes": 1}},
                {"name": "s", "op": "subtract", "in": ["m", "m", "m"]},
                {"name": "h", "op": "one_hot"},
            ]
        )
    )
    assert [(d.code, d.pointer) for d in diags] == [
        ("GS203", "layers[0].args.axes"),
        ("GS210", "layers[1].in"),
        ("GS204", "layers[2]"),
    ]
    assert diags[0].hint == "did you mean 'axis'?"


def test_mapping_inputs_are_checked_against_call_arguments():
    diags = graphspec.validate(
        spec(
            [
                {"name": "enc", "layer": "LSTM", "args": {"units": 3, "return_state": True}},
                {
                    "name": "dec",
                    "layer": "LSTM",
                    "in": {"sequences": "x", "initial_stat": ["enc:1", "enc:2"]},
                    "args": {"units": 3},
                },
            ],
            inputs={"x": {"shape": [None, 4]}},
            outputs=["dec"],
        )
    )
    assert [(d.code, d.pointer) for d in diags] == [("GS203", "layers[1].in.initial_stat")]
    assert diags[0].hint == "did you mean 'initial_state'?"


def test_nested_layers_are_validated():
    diags = graphspec.validate(
        spec(
            [
                {
                    "layer": "Bidirectional",
                    "args": {"layer": {"layer": "LSTMM", "args": {"units": 2}}},
                },
            ],
            inputs={"x": {"shape": [None, 4]}},
        )
    )
    assert [(d.code, d.pointer) for d in diags] == [("GS201", "layers[0].args.layer.layer")]
    assert diags[0].hint == "did you mean 'LSTM'?"


def test_name_in_args_is_refused():
    (diag,) = graphspec.validate(spec([{"layer": "Dense", "args": {"units": 1, "name": "x2"}}]))
    assert diag.code == "GS203" and "node's 'name'" in diag.hint


def test_sharing_an_op_is_a_located_error_not_a_crash():
    (diag,) = graphspec.validate(
        spec(
            [
                {"name": "clipped", "op": "clip", "args": {"x_min": 0, "x_max": 1}},
                {"name": "again", "share": "clipped", "in": "x"},
            ],
            outputs=["clipped", "again"],
        )
    )
    assert (diag.code, diag.pointer) == ("GS214", "layers[1].share")
    assert "ops hold no weights" in diag.message
