"""Write real Keras 2 models (tf-keras) for the Keras 2 import tests:

    python scripts/make_keras2_fixtures.py OUT_DIR [NAME ...]

For each model NAME: `NAME.json` (model.to_json()), `NAME.h5` (model.save, HDF5) and
`NAME.npz` (`in_<i>` inputs and `out_<i>` Keras 2 predictions, in the model's order). With no
NAME, every model below. Needs `tf-keras` (the Keras 2 package); it is imported directly
(`tf_keras`), so this process's Keras 3, if any, is never involved.

Every weight that its initializer left constant (biases, batch-norm statistics, gamma, beta)
is set to random values first: a transfer that skipped it would then change the predictions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tf_keras as k2  # noqa: E402

L = k2.layers


def mlp():
    """Sequential, the input shape given to the first layer (`batch_input_shape`)."""
    return k2.Sequential(
        [
            L.Dense(
                32,
                activation="relu",
                input_shape=(20,),
                name="hidden1",
                kernel_regularizer=k2.regularizers.l2(1e-4),
                kernel_initializer=k2.initializers.HeNormal(seed=1),
            ),
            L.BatchNormalization(name="bn"),
            L.Dropout(0.2, name="drop"),
            L.Dense(
                16, activation="tanh", name="hidden2", kernel_constraint=k2.constraints.MaxNorm(3.0)
            ),
            L.LeakyReLU(alpha=0.1, name="leaky"),
            L.Dense(3, activation="softmax", name="probs"),
        ],
        name="mlp",
    )


def multi_io():
    """Two inputs, two outputs; a shared layer, a shared nested model, a multi-output layer."""
    encoder = k2.Sequential(
        [
            L.InputLayer(input_shape=(12,), name="enc_in"),
            L.Dense(24, activation="relu", name="enc_dense"),
            L.LayerNormalization(name="enc_norm"),
        ],
        name="encoder",
    )
    left = k2.Input((12,), name="left")
    right = k2.Input((12,), name="right")
    shared = L.Dense(12, activation="elu", name="shared_dense")
    a, b = encoder(shared(left)), encoder(shared(right))
    diff = L.Subtract(name="diff")([a, b])
    prod = L.Multiply(name="prod")([a, b])
    merged = L.Concatenate(name="merged")([diff, prod, L.Average(name="avg")([a, b])])
    seq = L.Reshape((6, 12), name="as_seq")(merged)
    gru_out, gru_state = L.GRU(8, return_state=True, name="gru")(seq)
    score = L.Dense(1, activation="sigmoid", name="score")(L.Add(name="add")([gru_out, gru_state]))
    label = L.Dense(4, activation="softmax", name="label")(
        L.Maximum(name="max")([L.Dense(8, name="proj")(merged), gru_state])
    )
    return k2.Model([left, right], [score, label], name="multi_io")


def cnn():
    """Sequential with an explicit InputLayer: convolutions, pooling, renamed arguments."""
    return k2.Sequential(
        [
            L.InputLayer(input_shape=(28, 28, 1), name="image"),
            L.Conv2D(8, 3, padding="same", name="conv1"),
            L.BatchNormalization(name="bn1"),
            L.ReLU(max_value=6.0, name="relu6"),
            L.MaxPooling2D(2, name="pool1"),
            L.SeparableConv2D(16, 3, activation="relu", name="sep"),
            L.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
            L.ZeroPadding2D(1, name="pad"),
            L.Conv2D(
                8, 1, strides=2, kernel_regularizer=k2.regularizers.L1L2(1e-5, 1e-4), name="conv2"
            ),
            L.LeakyReLU(name="leaky"),
            L.AveragePooling2D(name="pool2"),
            L.Flatten(name="flat"),
            L.Dropout(0.5, name="drop"),
            L.Dense(10, activation="softmax", name="probs"),
        ],
        name="cnn",
    )


def seq2seq():
    """An LSTM encoder-decoder: a Bidirectional encoder's states start the decoder."""
    src = k2.Input((None,), dtype="int32", name="source")
    tgt = k2.Input((None,), dtype="int32", name="target")
    enc = L.Embedding(50, 16, mask_zero=True, name="src_emb")(src)
    _, fh, fc, bh, bc = L.Bidirectional(L.LSTM(16, return_state=True), name="encoder")(enc)
    h = L.Concatenate(name="state_h")([fh, bh])
    c = L.Concatenate(name="state_c")([fc, bc])
    dec = L.Embedding(60, 16, name="tgt_emb")(tgt)
    dec = L.LSTM(32, return_sequences=True, name="decoder")(dec, initial_state=[h, c])
    dec = L.SimpleRNN(32, return_sequences=True, name="refine")(dec)
    out = L.TimeDistributed(L.Dense(60, activation="softmax"), name="next_token")(dec)
    return k2.Model([src, tgt], out, name="seq2seq")


# Logits, not probabilities: near-uniform softmax outputs of 1000 classes would hide
# differences far larger than the tolerance the tests compare with.
def rnn_cells():
    """Recurrent variants: a generic RNN of a cell in a wrapper, GRU(reset_after=False) and
    implementation=1, a convolutional LSTM."""
    x = k2.Input((5, 3), name="x")
    wrapped = L.Bidirectional(L.RNN(L.LSTMCell(4)), name="bi")(x)
    gru = L.GRU(3, reset_after=False, implementation=1, name="gru")(x)
    conv = L.ConvLSTM1D(2, 3, recurrent_activation="sigmoid", name="conv_lstm")(
        L.Reshape((5, 3, 1), name="as_images")(x)
    )
    return k2.Model(x, [wrapped, gru, conv], name="rnn_cells")


def resnet50():
    return k2.applications.ResNet50(weights=None, classifier_activation=None)


def mobilenet_v2():
    return k2.applications.MobileNetV2(weights=None, classifier_activation=None)


def mobilenet_v3_small():
    """TFOpLambda layers (hard sigmoid as `relu6(x + 3.0) * (1.0 / 6.0)`) and names with '/'."""
    return k2.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), weights=None, classifier_activation=None
    )


def tf_ops():
    """TensorFlow functions applied to tensors, which Keras 2 records as TFOpLambda layers."""
    import tensorflow as tf

    x, y = k2.Input((4,), name="x"), k2.Input((4,), name="y")
    scaled = tf.math.truediv((x + 3.0) * y, 2.0)
    joined = tf.concat([scaled, tf.reduce_mean(scaled, axis=1, keepdims=True)], axis=-1)
    gate = tf.math.sigmoid(1.0 - (tf.nn.relu(joined) - 1.5))
    return k2.Model([x, y], [gate, tf.nn.softmax(joined)], name="tf_ops")


MODELS = {
    "mlp": mlp,
    "multi_io": multi_io,
    "cnn": cnn,
    "seq2seq": seq2seq,
    "rnn_cells": rnn_cells,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "tf_ops": tf_ops,
}


def _randomize_constants(model, rng) -> None:
    """Weights left constant by their initializer get random values (positive for scales)."""
    values = []
    for w in model.weights:
        value = w.numpy()
        if value.size and np.all(value == value.flat[0]):
            if any(key in w.name for key in ("variance", "gamma")):
                value = rng.uniform(0.5, 1.5, value.shape)
            else:
                value = rng.normal(0.0, 0.1, value.shape)
        values.append(value.astype(w.dtype.as_numpy_dtype))
    model.set_weights(values)


def _sample(model, rng) -> list:
    arrays = []
    for tensor in model.inputs:
        shape = [2] + [7 if d is None else d for d in tensor.shape[1:]]
        if tensor.dtype.is_integer:
            arrays.append(rng.integers(0, 50, shape).astype(tensor.dtype.as_numpy_dtype))
        else:
            arrays.append(rng.normal(0.0, 1.0, shape).astype("float32"))
    return arrays


def write(name: str, out: Path) -> None:
    k2.backend.clear_session()  # layer names count from 0 again, whatever was made before
    k2.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = MODELS[name]()
    _randomize_constants(model, rng)
    inputs = _sample(model, rng)
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    (out / f"{name}.json").write_text(model.to_json())
    model.save(out / f"{name}.h5", save_format="h5")
    np.savez(
        out / f"{name}.npz",
        **{f"in_{i}": a for i, a in enumerate(inputs)},
        **{f"out_{i}": a for i, a in enumerate(outputs)},
        params=np.array(model.count_params()),
    )


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or list(MODELS):
        write(name, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
