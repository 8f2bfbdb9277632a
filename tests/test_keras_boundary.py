"""The Keras boundary: only `graphspec/keras/` imports Keras or TensorFlow, `import graphspec`
and validation never do, models saved before the move still load, and the few uses of
what Keras does not export (`graphspec/keras/_private.py`) still hold."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphspec

from conftest import ROOT

PACKAGE = ROOT / "graphspec"
DATA = Path(__file__).resolve().parent / "data"
FORBIDDEN = {"keras", "tensorflow", "jax"}


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import, at any depth (functions too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))  # importlib by name
    return found


def test_only_the_keras_package_imports_keras_or_tensorflow():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "api.py" in modules and PACKAGE / "keras" / "compiler.py" in modules
    offenders = []
    for path in modules:
        if (PACKAGE / "keras") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [
            f"{path.relative_to(ROOT)}:{line} imports {root}"
            for line, root in _imported_roots(tree)
            if root in FORBIDDEN
        ]
    assert offenders == [], "only graphspec/keras/ may import Keras or TensorFlow"


def test_the_import_walker_sees_imports_inside_functions():
    tree = ast.parse(
        "def f():\n    import keras.layers\n    from tensorflow import summary\n"
        "    importlib.import_module('keras')\nfrom . import keras\n"
    )
    assert _imported_roots(tree) == [(2, "keras"), (3, "tensorflow"), (4, "keras")]


def test_validation_leaves_keras_and_tensorflow_unimported():
    code = (
        "import sys, graphspec; graphspec.load('examples/mlp.yaml'); "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]


# -- models saved before graphspec/keras/ existed ---------------------------------------------


@pytest.mark.backends
def test_a_model_saved_by_graphspec_0_1_reloads_with_its_op_layers():
    """`golden_ops_v0_1.keras` was saved by graphspec 0.1.0 at commit 5dfc09b, when the op
    layer lived in `graphspec.ops` (its config records that module). The spec: inputs x, y of
    shape [4]; `subtract` (op, list input), Dense(3) (weights), `clip` (op with args),
    `mean` (op, axis 1, keepdims). Its entries are as Keras wrote them; only the zip
    container was recompressed to keep the file small."""
    keras = pytest.importorskip("keras")
    model = keras.saving.load_model(DATA / "golden_ops_v0_1.keras")  # safe mode: no bytecode
    arrays = np.load(DATA / "golden_ops_v0_1.npz")
    ops = [layer for layer in model.layers if type(layer).__name__ == "Op"]
    assert [layer.op for layer in ops] == ["subtract", "clip", "mean"]
    assert {keras.saving.get_registered_name(type(layer)) for layer in ops} == {"graphspec>Op"}
    predicted = model.predict([arrays["x"], arrays["y"]], verbose=0)
    np.testing.assert_allclose(predicted, arrays["prediction"], rtol=1e-6, atol=1e-7)
    assert graphspec.saved_metadata(DATA / "golden_ops_v0_1.keras")["spec"] == "golden_ops"


# -- what graphspec/keras/_private.py relies on ------------------------------------------------


def test_private_merge_base_is_the_base_of_the_merge_layers():
    keras = pytest.importorskip("keras")
    from graphspec.keras import _private

    merge = _private.merge_layer_base()
    assert all(
        issubclass(getattr(keras.layers, n), merge)
        for n in ("Add", "Subtract", "Concatenate", "Dot", "Average")
    )
    assert not issubclass(keras.layers.Dense, merge)


def test_private_application_layers_are_found_and_reloadable():
    pytest.importorskip("keras")
    from graphspec.keras import _private

    found = _private.application_layers()
    assert {"LayerScale", "CustomScaleLayer"} <= set(found)
    layer_scale = found["LayerScale"]
    assert _private.application_layer(layer_scale.__module__, "LayerScale") is layer_scale


def test_private_weighted_loss_function_is_what_compile_makes_of_a_loss_name():
    keras = pytest.importorskip("keras")
    from graphspec.keras import _private

    fn = keras.losses.get("mse")
    loss = _private.weighted_loss_function(fn)
    assert isinstance(loss, keras.losses.Loss) and type(loss).__name__ == "LossFunctionWrapper"
    assert loss.reduction == "mean_with_sample_weight" and loss.name == "mean_squared_error"
    # It saves and reloads like the loss Keras makes when compile() is given "mse".
    assert keras.losses.deserialize(keras.losses.serialize(loss)).get_config() == loss.get_config()
    y_true, y_pred = np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]])
    weights = np.array([1.0, 0.0])
    assert float(loss(y_true, y_pred, sample_weight=weights)) == pytest.approx(0.25)
