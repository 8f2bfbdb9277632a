"""Ops from the seed note, registered for op nodes.

Load with `--plugin examples/plugins/seed_ops.py`, or import it before building or loading.
"""

from keras import ops

import graphspec

# Each op gives static analysis a shape rule, fn(input_shapes, args) -> output shape, in plain
# Python: shapes are tuples with the batch axis first and None for an unknown size.


def _drop_axis(shapes, args):
    shape = shapes[0]
    axis = args.get("axis", 1) % len(shape)
    return shape[:axis] + shape[axis + 1 :]


@graphspec.register_op("minus_mean", shape=_drop_axis)
def minus_mean(inputs, axis=1):
    """mean(x - y, axis): the seed's two-input Lambda."""
    x, y = inputs
    return ops.mean(x - y, axis=axis)


@graphspec.register_op("gather_rows", shape=lambda shapes, args: shapes[1])
def gather_rows(inputs, batch_dims=1):
    """Per-sample gather (tf.gather with batch_dims=1): `params[b, indices[b, i]]`."""
    params, indices = inputs
    return ops.take_along_axis(params, ops.cast(indices, "int32"), axis=batch_dims)


@graphspec.register_op("row_norms", shape=lambda shape, args: shape[:-1])
def row_norms(inputs):
    """The L2 norm of each row, computed sample by sample with map (the seed's map_fn)."""
    return ops.map(lambda row: ops.sqrt(ops.sum(ops.square(row), axis=-1)), inputs)
