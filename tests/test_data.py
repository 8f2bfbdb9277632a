"""BatchSequence: batch counts under each remainder policy, padding that leaves the loss
unchanged, named inputs and outputs, shuffling, memory maps, and errors naming the array."""

import numpy as np
import pytest

import graphspec

from conftest import EXAMPLES

keras = pytest.importorskip("keras")
from graphspec.keras.data import BatchSequence, DataError  # noqa: E402

RNG = np.random.default_rng(3)
pytestmark = pytest.mark.backends  # CI runs these under JAX too (.ci/run)
X = RNG.normal(size=(10, 4)).astype("float32")
Y = RNG.normal(size=(10, 1)).astype("float32")


@pytest.mark.parametrize(
    "remainder, batches, last", [("drop", 2, 4), ("keep", 3, 2), ("pad", 3, 4)]
)
def test_remainder_policies(remainder, batches, last):
    seq = BatchSequence({"x": X, "y": Y}, 4, remainder=remainder)
    assert len(seq) == seq.num_batches == batches
    batch = seq[batches - 1]
    assert len(batch[0]) == last
    seen = np.concatenate([seq[i][0] for i in range(len(seq))])
    if remainder == "drop":
        np.testing.assert_array_equal(seen, X[:8])
    elif remainder == "keep":
        np.testing.assert_array_equal(seen, X)
    else:
        np.testing.assert_array_equal(batch[2], [1, 1, 0, 0])
        np.testing.assert_array_equal(seen[:10], X)
    with pytest.raises(IndexError):
        seq[batches]


def test_padding_does_not_change_the_loss_or_metrics():
    model = graphspec.build(EXAMPLES / "mlp.yaml", seed=1)
    keep = BatchSequence({"x": X, "y": Y}, 4, remainder="keep")
    pad = BatchSequence({"x": X, "y": Y}, 4, remainder="pad")
    model.compile(
        loss=keras.losses.MeanSquaredError(reduction="mean_with_sample_weight"),
        weighted_metrics=["mae"],
    )
    kept = model.test_on_batch(*keep[2], return_dict=True)
    padded = model.test_on_batch(*pad[2], return_dict=True)
    assert kept["loss"] == pytest.approx(padded["loss"], rel=1e-6)
    assert kept["mae"] == pytest.approx(padded["mae"], rel=1e-6)
    # Keras's default reduction divides by the whole batch, padding included: why the
    # reduction above matters.
    model.compile(loss="mse")
    assert model.test_on_batch(*pad[2], return_dict=True)["loss"] == pytest.approx(
        kept["loss"] / 2, rel=1e-6
    )


def test_named_arrays_for_a_model_with_several_inputs_and_outputs(tmp_path):
    model = graphspec.build(EXAMPLES / "ticket_router.yaml", seed=0)
    n = 6
    arrays = {
        "title": RNG.integers(0, 100, size=(n, 5)),
        "body": RNG.integers(0, 100, size=(n, 7)),
        "tags": RNG.normal(size=(n, 12)).astype("float32"),
        "priority": RNG.normal(size=(n, 1)).astype("float32"),
        "department": keras.utils.to_categorical(RNG.integers(0, 4, size=n), 4),
    }
    np.save(tmp_path / "tags.npy", arrays["tags"])
    arrays["tags"] = np.load(tmp_path / "tags.npy", mmap_mode="r")  # larger than memory: fine
    seq = BatchSequence.for_model(model, arrays, 4, remainder="pad")
    x, y, w = seq[1]
    assert set(x) == {"title", "body", "tags"} and set(y) == {"priority", "department"}
    np.testing.assert_array_equal(w, [1, 1, 0, 0])
    model.compile(
        optimizer="adam", loss={"priority": "mse", "department": "categorical_crossentropy"}
    )
    history = model.fit(seq, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_shuffle_is_reproducible_and_changes_each_epoch():
    a = BatchSequence({"x": X, "y": Y}, 5, shuffle=True, seed=4)
    b = BatchSequence({"x": X, "y": Y}, 5, shuffle=True, seed=4)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    first = np.concatenate([a[i][0] for i in range(2)])
    a.on_epoch_end()
    second = np.concatenate([a[i][0] for i in range(2)])
    assert sorted(map(tuple, first)) == sorted(map(tuple, second)) == sorted(map(tuple, X))
    assert not np.array_equal(first, second)


def test_errors_name_the_array():
    with pytest.raises(DataError, match="array 'y' has 9 samples, but 'x' has 10"):
        BatchSequence({"x": X, "y": Y[:9]}, 4)
    with pytest.raises(DataError, match="no array named 'label'"):
        BatchSequence({"x": X, "y": Y}, 4, inputs=["x"], outputs=["label"])
    with pytest.raises(DataError, match="remainder must be one of drop, pad, keep"):
        BatchSequence({"x": X, "y": Y}, 4, remainder="fill")
    model = graphspec.build(EXAMPLES / "mlp.yaml")
    with pytest.raises(DataError, match="array 'features' has samples of shape \\(5,\\)"):
        BatchSequence.for_model(model, {"x": RNG.normal(size=(10, 5)), "y": Y}, 4)
