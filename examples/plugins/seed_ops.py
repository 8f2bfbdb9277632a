"""Ops from the seed note, registered for op nodes.

Load with `--plugin examples/plugins/seed_ops.py`, or import it before building or loading.
"""

from keras import ops

import graphspec


@graphspec.register_op("minus_mean")
def minus_mean(inputs, axis=1):
    """mean(x - y, axis): the seed's two-input Lambda."""
    x, y = inputs
    return ops.mean(x - y, axis=axis)


@graphspec.register_op("gather_rows")
def gather_rows(inputs, batch_dims=1):
    """Per-sample gather (tf.gather with batch_dims=1): `params[b, indices[b, i]]`."""
    params, indices = inputs
    return ops.take_along_axis(params, ops.cast(indices, "int32"), axis=batch_dims)


@graphspec.register_op("row_norms")
def row_norms(inputs):
    """The L2 norm of each row, computed sample by sample with map (the seed's map_fn)."""
    return ops.map(lambda row: ops.sqrt(ops.sum(ops.square(row), axis=-1)), inputs)
