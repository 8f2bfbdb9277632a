"""Static analysis: shapes, dtypes, parameters and cost of a checked graph, without Keras.

    summary, diagnostics = analyze(spec.source, checked)

Every input's shape (batch axis first, None for an unknown size) and dtype is propagated
through every node in build order by pure-Python rules (`rules/layers.py`, `rules/ops.py`,
and plugins' rules given with `register_shape`). A node without a rule, or whose rule
cannot tell, is unknown, and so is everything that depends on it: never a guess, never a
false error. Shape errors are located diagnostics (GS401-GS411), all in one pass; a node
downstream of an error is unknown, not a second error.

Counting conventions
--------------------
Parameters are counted as Keras's `count_params()`: every weight, trainable or not
(BatchNormalization's moving mean and variance and Normalization's statistics are
non-trainable; a layer created with `trainable: false` has no trainable parameters). A
shared layer counts once, at the node that owns it; a nested sub-model counts its nodes.

MACs are multiply-accumulates per sample (batch axis excluded), for one forward pass:
- Dense: (positions) x in_features x units, positions = the product of the axes between
  the batch and the last (1 for a 2-D input).
- Conv (1-3D): out_positions x prod(kernel) x in_channels / groups x filters.
- Conv transpose: in_positions x prod(kernel) x in_channels x filters.
- Depthwise conv: out_positions x prod(kernel) x channels x depth_multiplier; separable conv
  adds its pointwise part, out_positions x channels x depth_multiplier x filters.
- EinsumDense, einsum: the product of the sizes of all letters of the contraction, the batch
  letter aside; matmul, dot, tensordot: output elements (per sample) x contracted size.
- SimpleRNN / GRU / LSTM: timesteps x gates x (in x units + units x units), gates 1 / 3 / 4;
  Bidirectional: both directions.
- MultiHeadAttention: the query, key, value and output projections, plus
  heads x Tq x Tk x (key_dim + value_dim) for the scores and the weighted sum;
  Attention: Tq x Tk x (dim + value_dim).
- Zero for everything else: elementwise ops and activations, merges (Add, Concatenate...),
  pooling, normalization, biases, reshaping, embeddings (a lookup). These cost memory
  traffic rather than multiply-accumulates and are not counted separately.

Activation bytes: the size of each node's outputs per sample (dtype size x elements),
inputs included.
"""

from . import budget
from .core import Tensor
from .rules import register_shape, unregister_shape
from .shapes import analyze, tensor_shapes
from .summary import NodeSummary, Summary

__all__ = [
    "NodeSummary",
    "budget",
    "Summary",
    "Tensor",
    "analyze",
    "register_shape",
    "tensor_shapes",
    "unregister_shape",
]
