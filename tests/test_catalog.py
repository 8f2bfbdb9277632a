"""The shipped catalog of Keras signatures matches the installed Keras."""

import pytest

from graphspec import catalog


def test_catalog_is_current():
    pytest.importorskip("keras")
    from graphspec.keras import catalog_gen

    assert catalog_gen.dumps(catalog_gen.generate()) == catalog_gen.dumps(catalog.load()), (
        "graphspec/catalog.json is stale: run python scripts/update_catalog.py"
    )


def test_catalog_knows_what_validation_needs():
    dense = catalog.layer("Dense")
    assert dense["required"] == ["units"] and "name" not in dense["args"]
    assert catalog.layer("Add")["inputs"] == [2, None]
    assert catalog.layer("LSTM")["outputs"] == {"return_state": 3}
    assert catalog.layer("Lambda") is None  # refused with a reason instead
    assert catalog.op("one_hot")["required"] == ["x", "num_classes"]
    assert catalog.op("image.resize") is not None
