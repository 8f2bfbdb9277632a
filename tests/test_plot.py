"""Pictures of the graph: DOT and Mermaid text for the examples, and a rendered PNG."""

import shutil

import pytest

import graphspec
from graphspec import plot
from graphspec.cli import main

from conftest import EXAMPLES


def dot_of(example, **kw):
    spec = graphspec.load(EXAMPLES / example, **kw)
    return spec.to_dot()


def test_dot_has_inputs_nodes_edges_and_outputs():
    dot = dot_of("ticket_router.yaml")
    assert '"title" [label="title\\ninput [None] int32", shape=invhouse' in dot
    assert '"title_emb" [label="title_emb\\nEmbedding\\ninput_dim=10000, output_dim=64"];' in dot
    assert '"body_emb" [label="body_emb\\nshares title_emb", style="rounded,filled,dashed"];' in dot
    for edge in [
        '"title" -> "title_emb"',
        '"body" -> "body_emb"',
        '"tags" -> "merged"',
        '"merged" -> "priority"',
        '"merged" -> "department"',
    ]:
        assert f"  {edge};" in dot
    assert dot.count("shape=house") == 2 and '"priority" -> "__output_0";' in dot
    assert dot.count(" -> ") == 9 + 2


def test_block_instances_are_clusters():
    dot = dot_of("transformer_encoder.yaml", params={"num_layers": 2})
    assert 'subgraph "cluster_encoder_1_" {' in dot and 'label="encoder[1] (block encoder)";' in dot
    assert 'subgraph "cluster_encoder_2_" {' in dot
    resnet = dot_of("resnet50.yaml")
    # Nested blocks give nested clusters: conv2 > block1 > body > 1.
    assert (
        'label="conv2 (block stage)"' in resnet
        and 'label="block[1] (block identity_block)"' in resnet
    )


def test_output_index_edges_are_labelled():
    dot = dot_of("seq2seq.yaml")
    assert '"enc" -> "dec" [taillabel="1"];' in dot and '"enc" -> "dec" [taillabel="2"];' in dot


def test_mermaid_text():
    spec = graphspec.load(EXAMPLES / "siamese.yaml")
    text = spec.to_mermaid()
    assert text.startswith("%% siamese\nflowchart TD\n")
    assert '  n0[/"left<br/>input [28, 28, 1] float32"/]' in text
    assert '["r_conv1<br/>shares conv1"]' in text and '["diff<br/>op subtract"]' in text
    assert text.count(" --> ") == 14 + 1  # 14 references, one output
    assert "class n0,n1 input" in text


def test_shapes_label_the_edges(tmp_path):
    pytest.importorskip("keras")
    spec = graphspec.load(EXAMPLES / "ticket_router.yaml")
    spec.plot(tmp_path / "g.dot", shapes=True)
    dot = (tmp_path / "g.dot").read_text()
    assert '"merged" -> "priority" [label="(None, 172)"];' in dot
    assert '"title_emb" -> "title_vec" [label="(None, None, 64)"];' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_png_is_rendered(tmp_path, capsys):
    out = tmp_path / "router.png"
    assert main(["plot", str(EXAMPLES / "ticket_router.yaml"), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "router.svg"
    assert main(["plot", str(EXAMPLES / "ticket_router.yaml"), "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text() and "title_emb" in svg.read_text()


def test_without_graphviz_the_message_names_the_package(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plot.shutil, "which", lambda name: None)
    assert main(["plot", str(EXAMPLES / "mlp.yaml"), "-o", str(tmp_path / "g.svg")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert not (tmp_path / "g.svg").exists()
    assert main(["plot", str(EXAMPLES / "mlp.yaml"), "-o", str(tmp_path / "g.mmd")]) == 0
    assert main(["plot", str(EXAMPLES / "mlp.yaml"), "-o", str(tmp_path / "g.txt")]) == 2
