"""Registries: collisions name the first registration; plugins load by file, module or entry point."""

import sys
import textwrap

import pytest

import graphspec
from graphspec import registry
from graphspec.errors import RegistryError


@pytest.fixture
def cleanup():
    names = []
    yield names
    for reg, name in names:
        reg.unregister(name)


def test_register_op_forms_and_collision(cleanup):
    @graphspec.register_op("twice_test")
    def twice(inputs, factor=2):
        return inputs * factor

    cleanup.append((registry.OPS, "twice_test"))
    assert registry.OPS.get("twice_test") is twice
    assert registry.OPS.signature("twice_test").keyword == ("factor",)
    with pytest.raises(RegistryError) as info:
        graphspec.register_op("twice_test")(lambda inputs: inputs)
    message = str(info.value)
    assert "already registered by" in message and "test_registry.py" in message
    assert "override=True" in message
    replacement = graphspec.register_op("twice_test", override=True)(lambda inputs: inputs)
    assert registry.OPS.get("twice_test") is replacement


def test_builtin_names_are_taken(cleanup):
    with pytest.raises(RegistryError, match=r"already defined by Keras \(keras.ops.mean\)"):
        graphspec.register_op("mean")(lambda inputs: inputs)
    graphspec.register_op("mean", override=True)(lambda inputs, **kw: inputs)
    cleanup.append((registry.OPS, "mean"))
    assert registry.OPS.signature("mean").registered


def test_registered_ops_are_validated_by_their_signature(cleanup):
    @graphspec.register_op
    def scaled_test(inputs, *, scale):
        return inputs * scale

    cleanup.append((registry.OPS, "scaled_test"))
    base = {"graphspec": 1, "name": "m", "inputs": {"x": {"shape": [2]}}}
    diags = graphspec.validate({**base, "layers": [{"op": "scaled_test", "args": {"scal": 2}}]})
    assert [d.code for d in diags] == ["GS204", "GS203"]  # document order: args, then args.scal
    assert diags[1].hint == "did you mean 'scale'?"


def test_register_layer_collision_and_keras_registration(cleanup):
    keras = pytest.importorskip("keras")

    @graphspec.register_layer(name="DoubleTest")
    class Double(keras.layers.Layer):
        def __init__(self, factor=2, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    cleanup.append((registry.LAYERS, "DoubleTest"))
    assert keras.saving.get_registered_name(Double) == "graphspec>Double"
    assert "factor" in registry.LAYERS.signature("DoubleTest").args
    with pytest.raises(RegistryError, match="already defined by Keras"):
        graphspec.register_layer(Double, name="Dense")
    with pytest.raises(RegistryError, match="expects a keras.layers.Layer subclass"):
        graphspec.register_layer(object, name="NotALayer")


def test_plugin_errors_name_the_plugin(tmp_path):
    with pytest.raises(RegistryError, match="plugin file not found"):
        graphspec.load_plugin(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RegistryError, match="cannot load plugin .*broken_plugin.py.*boom"):
        graphspec.load_plugin(str(broken))
    with pytest.raises(RegistryError, match="No module named"):
        graphspec.load_plugin("no_such_module_for_graphspec")


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch, cleanup):
    (tmp_path / "gs_ep_plugin.py").write_text(
        textwrap.dedent("""
        import graphspec

        @graphspec.register_op("from_entry_point")
        def from_entry_point(inputs):
            return inputs
    """)
    )
    dist = tmp_path / "gs_ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gs-ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[graphspec.plugins]\nmine = gs_ep_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    cleanup.append((registry.OPS, "from_entry_point"))
    base = {"graphspec": 1, "name": "m", "inputs": {"x": {"shape": [2]}}}
    assert graphspec.validate({**base, "layers": [{"op": "from_entry_point"}]}) == []
    sys.modules.pop("gs_ep_plugin", None)
