"""The one place in graphspec that imports Keras and TensorFlow.

Validation, composition and the graph checks run without them; a model is made, exported,
trained or described here. `tests/test_keras_boundary.py` fails when a module outside this
package imports `keras` or `tensorflow`, at module level or inside a function.

- `compiler`: a checked graph -> `keras.Sequential` or functional `keras.Model`
- `ops`: op nodes: Keras's own operations for `keras.ops` functions, and `Op` (registered as
  `graphspec>Op`) for registered custom ops
- `export`: a Keras model -> a spec; `differences` between two models
- `topology`: a model's wiring, read from its public `get_config()`
- `keras2`: Keras 2 `.h5`/`.json` models read as plain data and translated to specs
- `data`, `train`: `BatchSequence` and the training loops, on TensorFlow or JAX
- `events`: TensorBoard event files written without TensorFlow
- `catalog_gen`: `catalog.json` from the installed Keras; `describe`: registered layers
- `_private`: every use of something Keras does not export, each with its reason
"""
