"""The seed note's custom layer, in Keras 3 style, registered as a graphspec node type.

Load with `--plugin examples/plugins/seed_layers.py`, or import it before building or loading.
"""

import keras
from keras import ops

import graphspec


def _my_layer_shape(input_shape, args):
    """The static shape rule (pure Python, no Keras): `graphspec validate` and
    `graphspec summary` use it to know this layer's output without building the model."""
    return (*input_shape[:-1], args["output_dim"])


@graphspec.register_layer(shape=_my_layer_shape)
class MyLayer(keras.layers.Layer):
    """x @ kernel, with a trainable kernel of shape (input features, output_dim)."""

    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.output_dim),
            initializer="uniform",
            trainable=True,
        )

    def call(self, x):
        return ops.matmul(x, self.kernel)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim}
