"""Issue #10, the Keras side: each defect class with the audit's case and variants of it.

3 resume checks the checkpoint against the spec; 4 compile settings are GS302 at build;
5 data that should not train (target shapes, NaN and infinity, a diverging loss); 6 output
locations checked before training; 8 train paths relative to the spec and confined to its
folder; 9 bad data and checkpoint files; 11 models export cannot load; 12 seeds and batch
sizes out of range; 15 BatchSequence errors name the actual settings."""

import json
import zipfile

import numpy as np
import pytest
import yaml

import graphspec
from graphspec.errors import DataError, ExportError, OutputError, SpecError

from conftest import EXAMPLES

keras = pytest.importorskip("keras")
from graphspec.document import CompileSpec  # noqa: E402
from graphspec.keras import compiler, export, saving, train  # noqa: E402
from graphspec.keras import data as data_module  # noqa: E402
from graphspec.keras.data import BatchSequence, first_nonfinite, load_arrays  # noqa: E402

SPEC = EXAMPLES / "train_mlp.yaml"
RNG = np.random.default_rng(10)


def arrays(n=256, target=(1,)):
    return {
        "features": RNG.normal(size=(n, 8)).astype("float32"),
        "target": RNG.normal(size=(n, *target)).astype("float32"),
    }


def write_spec(folder, name="train_mlp.yaml", *, compile_=None, **train_settings):
    doc = yaml.safe_load(SPEC.read_text())
    doc["train"] = {
        "batch_size": 64,
        "epochs": 1,
        "seed": 0,
        "loop": "batch",
        "checkpoint": "ckpt.keras",
        **train_settings,
    }
    if compile_:
        doc["compile"].update(compile_)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def quiet(message):
    pass


# -- 3. resume trusts the checkpoint, not the spec ---------------------------------------------


@pytest.fixture
def trained(tmp_path):
    """A spec in tmp_path whose checkpoint holds 1 epoch of the width-32 model."""
    path = write_spec(tmp_path)
    train.train(graphspec.load(path), arrays(), progress=False)
    return path


@pytest.mark.backends
def test_resume_refuses_a_checkpoint_of_other_parameters(trained):
    before = graphspec.saved_metadata(trained.parent / "ckpt.keras")
    spec = graphspec.load(trained, params={"width": 64, "epochs": 2})
    with pytest.raises(
        DataError,
        match=r"another model .*layers hidden1, hidden2.*"
        r"width: 32 -> 64",
    ) as info:
        train.train(spec, arrays(), resume=True, progress=False, log=quiet)
    assert "width=32" in str(info.value)  # what would resume it
    # Nothing was trained, nothing recorded: the checkpoint is the width-32 one still.
    assert graphspec.saved_metadata(trained.parent / "ckpt.keras") == before


@pytest.mark.backends
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_resume_refuses_a_checkpoint_of_another_spec(trained, tmp_path):
    other = yaml.safe_load((EXAMPLES / "mlp.yaml").read_text())
    other["compile"] = {"optimizer": "adam", "loss": "mse"}
    other_spec = graphspec.load(other)
    other_spec.save(other_spec.build(), trained.parent / "ckpt.keras", extra={"epoch": 3})
    with pytest.raises(DataError, match="holds another model"):
        train.train(graphspec.load(trained), arrays(), resume=True, progress=False, log=quiet)


@pytest.mark.backends
def test_resume_refuses_other_optimizer_settings_and_applies_the_loss(trained):
    with pytest.raises(DataError, match=r"compile.optimizer differs .*learning_rate"):
        train.train(
            graphspec.load(trained, params={"lr": 0.001, "epochs": 2}),
            arrays(),
            resume=True,
            progress=False,
            log=quiet,
        )
    doc = yaml.safe_load(trained.read_text())
    doc["compile"]["loss"] = "mae"
    doc["train"]["epochs"] = "${epochs}"
    trained.write_text(yaml.safe_dump(doc, sort_keys=False))
    said = []
    result = train.train(
        graphspec.load(trained, params={"epochs": 2}),
        arrays(),
        resume=True,
        progress=False,
        log=said.append,
    )
    assert result.epochs == 2 and "applying the spec's compile.loss" in said[0]
    assert "epochs: 5 -> 2" in said[0]  # parameters that change no layer are allowed
    meta = graphspec.saved_metadata(trained.parent / "ckpt.keras")
    # The record is true: epoch 1 came from the earlier run, with its parameters.
    assert meta["params"]["epochs"] == 2 and meta["epoch"] == 2
    assert meta["resumed"] == [
        {
            "spec": "train_mlp",
            "source": str(trained),
            "params": {"width": 32, "lr": 0.01, "epochs": 5},
            "epoch": 1,
        }
    ]


@pytest.mark.backends
def test_resume_refuses_a_checkpoint_graphspec_did_not_write(tmp_path):
    path = write_spec(tmp_path)
    spec = graphspec.load(path)
    spec.build().save(tmp_path / "ckpt.keras")  # plain Keras: no epoch, no spec recorded
    with pytest.raises(DataError, match="not written by graphspec train"):
        train.train(spec, arrays(), resume=True, progress=False, log=quiet)


# -- 4. compile settings checked at build ------------------------------------------------------


@pytest.fixture(scope="module")
def uncompiled():
    spec = graphspec.load(EXAMPLES / "mlp.yaml")
    return spec, spec.build(compile=False)


@pytest.mark.backends
@pytest.mark.parametrize(
    "settings, pointer, fragment",
    [
        ({"loss": {"nosuchoutput": "mse"}}, "compile.loss.nosuchoutput", "not an output"),
        (
            {"loss": "mse", "loss_weights": {"other": 2}},
            "compile.loss_weights.other",
            "not an output",
        ),
        (
            {"loss": "mse", "metrics": {"logits": ["mae"]}},
            "compile.metrics.logits",
            "not an output",
        ),
        ({"loss": "mse", "loss_weights": [1, 2]}, "compile.loss_weights", "one weight per output"),
        ({"loss": "mse", "metrics": ["acuracy"]}, "compile.metrics[0]", "Keras rejected"),
        ({"loss": "mse", "metrics": ["mae", "MeanIoU"]}, "compile.metrics[1]", "num_classes"),
    ],
)
def test_compile_settings_keras_defers_are_gs302_at_build(uncompiled, settings, pointer, fragment):
    spec, model = uncompiled
    with pytest.raises(SpecError) as info:
        compiler.compile_model(spec.source, model, CompileSpec(**settings))
    (d,) = info.value.diagnostics
    assert (d.code, d.pointer) == ("GS302", pointer) and fragment in d.message


@pytest.mark.backends
def test_compile_names_keras_resolves_itself_pass(uncompiled):
    spec, model = uncompiled
    compiler.compile_model(
        spec.source,
        model,
        CompileSpec(loss="mse", metrics=["ACC", "accuracy", "ce", "mae", "RootMeanSquaredError"]),
    )
    assert model.compiled


# -- 5. data that should not train silently ----------------------------------------------------


@pytest.mark.backends
def test_target_shapes_are_checked_against_the_outputs(tmp_path):
    spec = graphspec.load(write_spec(tmp_path))
    with pytest.raises(
        DataError,
        match=r"array 'target' has targets of shape \(5,\), but the "
        r"model's output 'target' gives \(1,\)",
    ):
        train.train(spec, arrays(100, target=(5,)), progress=False)
    with pytest.raises(DataError, match=r"targets of shape \(1, 4\)"):
        train.train(spec, arrays(100, target=(1, 4)), progress=False)
    # A trailing axis of 1 is what Keras squeezes or adds: (n,) and (n, 1, 1) targets for
    # a (None, 1) output train.
    assert train.train(spec, arrays(128, target=()), progress=False).epochs == 1
    assert train.train(spec, arrays(128, target=(1, 1)), progress=False).epochs == 1


@pytest.mark.backends
def test_sparse_losses_take_class_indices():
    model = graphspec.build(
        {
            "graphspec": 1,
            "name": "classes",
            "inputs": {"x": {"shape": [3]}},
            "layers": [
                {"name": "p", "layer": "Dense", "args": {"units": 4, "activation": "softmax"}}
            ],
            "compile": {"loss": "sparse_categorical_crossentropy"},
        }
    )
    x = RNG.normal(size=(8, 3)).astype("float32")
    BatchSequence.for_model(model, {"x": x, "y": RNG.integers(0, 4, size=8)}, 4)
    BatchSequence.for_model(model, {"x": x, "y": RNG.integers(0, 4, size=(8, 1))}, 4)
    with pytest.raises(DataError, match="compares them as class indices"):
        BatchSequence.for_model(model, {"x": x, "y": np.eye(4)[RNG.integers(0, 4, size=8)]}, 4)
    model.compile(loss="categorical_crossentropy")
    BatchSequence.for_model(model, {"x": x, "y": np.eye(4, dtype="float32")[[0] * 8]}, 4)
    with pytest.raises(DataError, match="element by element"):
        BatchSequence.for_model(model, {"x": x, "y": RNG.integers(0, 4, size=8)}, 4)


def test_nan_and_inf_in_the_data_are_refused_or_allowed_with_a_warning(tmp_path):
    spec = graphspec.load(write_spec(tmp_path))
    bad = arrays()
    bad["features"][17, 3] = np.nan
    with pytest.raises(DataError, match=r"array 'features' holds nan at index \(17, 3\)"):
        train.train(spec, bad, progress=False)
    said = []
    result = train.train(
        spec,
        bad,
        progress=False,
        allow_nonfinite=True,
        log=said.append,
        checkpoint=tmp_path / "other.keras",
    )
    assert result.warnings == ["array 'features' holds nan at index (17, 3)"]
    assert said and said[0].startswith("warning: array 'features' holds nan")
    target = arrays()
    target["target"][200] = -np.inf
    with pytest.raises(DataError, match=r"array 'target' holds -inf at index \(200, 0\)"):
        train.train(spec, target, progress=False)


def test_memory_maps_are_checked_a_chunk_at_a_time(tmp_path, monkeypatch):
    values = np.zeros((1000, 4), "float32")
    values[777, 2] = np.inf
    np.save(tmp_path / "x.npy", values)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    reads = []
    real_asarray = np.asarray
    monkeypatch.setattr(data_module, "_CHUNK_BYTES", 64 * 16)  # 64 rows of 16 bytes
    monkeypatch.setattr(
        data_module.np,
        "asarray",
        lambda a, *args, **kw: reads.append(len(a)) or real_asarray(a, *args, **kw),
    )
    index, value = first_nonfinite(mapped)
    monkeypatch.undo()
    assert index == (777, 2) and np.isinf(value)
    assert max(reads) == 64 and len(reads) == 777 // 64 + 1  # stops at the chunk that has it
    assert first_nonfinite(np.arange(10)) is None  # integers cannot be NaN


@pytest.mark.backends
@pytest.mark.parametrize("loop", ["batch", "fit"])
def test_a_diverging_loss_stops_training_without_saving_it(tmp_path, loop):
    spec = graphspec.load(write_spec(tmp_path, loop=loop, epochs=3))
    huge = arrays()
    huge["target"][:] = 1e30  # finite, but its square is not
    with pytest.raises(
        DataError,
        match=r"the loss became inf at epoch 1, batch 1: training "
        r"stopped and nothing was saved",
    ):
        train.train(spec, huge, output_path=tmp_path / "out.keras", progress=False)
    assert not (tmp_path / "ckpt.keras").exists() and not (tmp_path / "out.keras").exists()


@pytest.mark.backends
def test_a_loss_that_diverges_later_keeps_the_last_good_checkpoint(tmp_path):
    spec = graphspec.load(write_spec(tmp_path, epochs=3))
    seen = []

    def explode(index, batch):
        seen.append(index)
        x, y, *weights = batch
        return (x, np.full_like(y, 1e30), *weights) if len(seen) > 4 + 2 else batch

    with pytest.raises(DataError, match=r"epoch 2, batch 3: .*keeps epoch 1"):
        train.train(spec, arrays(), on_batch=explode, progress=False)
    checkpoint = tmp_path / "ckpt.keras"
    assert graphspec.saved_metadata(checkpoint)["epoch"] == 1
    weights = keras.models.load_model(checkpoint).get_weights()
    assert all(np.isfinite(w).all() for w in weights)


# -- 6. output locations checked before training -----------------------------------------------


def never(index, batch):
    raise AssertionError("training started")


@pytest.mark.parametrize(
    "where", ["missing folder", "directory", "checkpoint under a file", "tensorboard is a file"]
)
def test_output_locations_are_checked_before_training(tmp_path, where):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir.keras").mkdir()
    settings, out = {}, None
    if where == "missing folder":
        out = tmp_path / "nowhere" / "m.keras"
    elif where == "directory":
        out = tmp_path / "a_dir.keras"
    elif where == "checkpoint under a file":
        settings = {"checkpoint": "a_file/ckpt.keras"}
    else:
        settings = {"tensorboard": "a_file"}
    spec = graphspec.load(write_spec(tmp_path, **settings))
    with pytest.raises(OutputError) as info:
        train.train(spec, arrays(), output_path=out, on_batch=never, progress=False)
    assert info.value.usage


# -- 8. train paths are relative to the spec and stay in its folder ----------------------------


@pytest.mark.backends
def test_train_paths_resolve_against_the_spec_folder(tmp_path, monkeypatch):
    path = write_spec(tmp_path / "project", checkpoint="runs/ckpt.keras", tensorboard="logs")
    monkeypatch.chdir(tmp_path)  # not where the spec is
    result = train.train(graphspec.load(path), arrays(), progress=False)
    assert result.checkpoint == str(tmp_path / "project" / "runs" / "ckpt.keras")
    assert (tmp_path / "project" / "runs" / "ckpt.keras").is_file()
    assert (tmp_path / "project" / "logs" / "train").is_dir()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "key, value",
    [
        ("checkpoint", "../outside.keras"),
        ("checkpoint", "/tmp/graphspec_outside.keras"),
        ("tensorboard", "../logs"),
        ("checkpoint", "link/ckpt.keras"),
    ],
)
def test_train_paths_outside_the_spec_folder_are_refused(tmp_path, key, value):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "link").symlink_to(tmp_path)  # inside by name, outside in fact
    path = write_spec(tmp_path / "project", **{key: value})
    with pytest.raises(SpecError) as info:
        train.train(graphspec.load(path), arrays(), on_batch=never, progress=False)
    (d,) = info.value.diagnostics
    assert (d.code, d.pointer) == ("GS110", f"train.{key}") and d.line is not None
    assert "outside the spec's folder" in d.message and f"--{key}" in d.message
    assert not (tmp_path / "outside.keras").exists() and not (tmp_path / "logs").exists()


@pytest.mark.backends
def test_paths_the_caller_gives_are_not_confined(tmp_path):
    path = write_spec(tmp_path / "project", checkpoint="../refused.keras")
    result = train.train(
        graphspec.load(path),
        arrays(),
        progress=False,
        checkpoint=tmp_path / "chosen.keras",
        tensorboard=tmp_path / "tb",
    )
    assert result.checkpoint == str(tmp_path / "chosen.keras")
    assert (tmp_path / "chosen.keras").is_file() and (tmp_path / "tb" / "train").is_dir()


# -- 9. bad data and checkpoint files ----------------------------------------------------------


def _bad_files(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((100, 8), "float32"))
    whole = good.read_bytes()
    text = tmp_path / "text.npz"
    text.write_text("features,target\n1,2\n")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole[: len(whole) // 2])
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([{"a": 1}, None], dtype=object))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    npy = tmp_path / "single.npz"
    np.save(tmp_path / "single.npy", np.zeros(3))
    npy.write_bytes((tmp_path / "single.npy").read_bytes())
    stranger = tmp_path / "stranger.npz"
    with zipfile.ZipFile(stranger, "w") as archive:
        archive.writestr("notes.txt", "hello")
    short_npy = tmp_path / "short"
    short_npy.mkdir()
    np.save(short_npy / "x.npy", np.zeros((100, 8), "float32"))
    data = (short_npy / "x.npy").read_bytes()
    (short_npy / "x.npy").write_bytes(data[:300])
    no_npy = tmp_path / "no_npy"
    no_npy.mkdir()
    (no_npy / "x.csv").write_text("1,2")
    obj_npy = tmp_path / "obj_npy"
    obj_npy.mkdir()
    np.save(obj_npy / "x.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    return [
        (text, "is not a .npz archive"),
        (truncated, "damaged or not a .npz archive"),
        (objects, "holds Python objects"),
        (empty, "is empty"),
        (npy, "is a single .npy array, not a .npz"),
        (stranger, "holds 'notes.txt', which is not a .npy array"),
        (short_npy, "is truncated: its header declares shape (100, 8)"),
        (no_npy, "no .npy files in the folder"),
        (obj_npy, "holds Python objects"),
    ]


def test_bad_data_files_are_one_line_errors_naming_the_file(tmp_path):
    for path, fragment in _bad_files(tmp_path):
        with pytest.raises(DataError) as info:
            load_arrays(path)
        message = str(info.value)
        assert fragment in message, (path.name, message)
        assert path.name in message and "\n" not in message
        assert "pickled" not in message


def test_arrays_a_model_cannot_take_are_refused(tmp_path):
    model = graphspec.build(EXAMPLES / "mlp.yaml")
    y = np.zeros((4, 1), "float32")
    np.savez(tmp_path / "strings.npz", x=np.array([["a"] * 4] * 4), y=y)
    with pytest.raises(
        DataError,
        match=r"array '\w+' holds strings \(dtype <U1\), but the "
        r"model's input '\w+' is float32",
    ):
        BatchSequence.for_model(model, load_arrays(tmp_path / "strings.npz"), 2)
    with pytest.raises(DataError, match="is a single value"):
        BatchSequence({"x": np.float32(1.0)}, 1)
    with pytest.raises(DataError, match="dtype object"):
        BatchSequence({"x": np.array([None, 1], dtype=object)}, 1)


@pytest.mark.backends
@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "is empty"),
        (b"not a zip at all", "is not a .keras archive"),
        ("directory", "is a directory"),
        ("zip", "without config.json"),
    ],
)
def test_a_bad_checkpoint_is_a_one_line_error(tmp_path, content, fragment):
    path = write_spec(tmp_path)
    checkpoint = tmp_path / "ckpt.keras"
    if content == "directory":
        checkpoint.mkdir()
    elif content == "zip":
        with zipfile.ZipFile(checkpoint, "w") as archive:
            archive.writestr("graphspec.json", json.dumps({"epoch": 1}))
    else:
        checkpoint.write_bytes(content)
    with pytest.raises(DataError, match=fragment) as info:
        train.train(graphspec.load(path), arrays(), resume=True, progress=False, log=quiet)
    assert "ckpt.keras" in str(info.value) and "File not found" not in str(info.value)


# -- 11. export of models it cannot load -------------------------------------------------------


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def _functional(layer):
    x = keras.Input((3,))
    return keras.Model(x, layer(x))


def test_models_export_cannot_load_are_export_errors(tmp_path):
    _functional(keras.layers.Lambda(lambda t: t * 2)).save(tmp_path / "lambda.keras")
    sub = _Subclassed()
    sub(np.zeros((1, 3)))
    sub.save(tmp_path / "sub.keras")
    _functional(keras.layers.Dense(2)).save(tmp_path / "custom.keras")
    with zipfile.ZipFile(tmp_path / "custom.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])
    dense = config["config"]["layers"][1]
    dense.update(module=None, class_name="Thing", registered_name="nowhere>Thing")
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "custom.keras", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "text.keras").write_text("hello")
    (tmp_path / "folder.keras").mkdir()
    cases = {
        "lambda.keras": "holds a Lambda layer",
        "sub.keras": "holds a subclassed model",
        "custom.keras": "uses the class 'nowhere>Thing', which is not registered",
        "empty.keras": "is empty",
        "text.keras": "is not a .keras archive",
        "folder.keras": "is a directory",
    }
    for name, fragment in cases.items():
        with pytest.raises(ExportError, match=fragment) as info:
            export.load_model(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


def test_from_keras_of_a_subclassed_model_says_what_it_is():
    sub = _Subclassed(name="mine")
    sub(np.zeros((1, 3)))  # called on data: built, but still no graph
    with pytest.raises(ExportError, match=r"'mine' is a subclassed model .*functional API"):
        graphspec.from_keras(sub)
    with pytest.raises(ExportError, match="subclassed model"):
        graphspec.from_keras(_Subclassed())
    with pytest.raises(ExportError, match="expected a keras.Model"):
        graphspec.from_keras(keras.layers.Dense(2))


def test_the_loader_refuses_before_keras_runs_anything(tmp_path):
    _functional(keras.layers.Lambda(lambda t: t * 2)).save(tmp_path / "lambda.keras")
    config = saving.read_config(tmp_path / "lambda.keras", DataError, "the model")
    assert "Lambda layer" in saving.problem(config)
    assert (
        saving.problem(
            saving.read_config(
                EXAMPLES.parent / "tests" / "data" / "golden_ops_v0_1.keras", DataError, "m"
            )
        )
        is None
    )


# -- 12. seeds and batch sizes out of range ----------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32, 99999999999])
def test_seeds_numpy_cannot_take_are_spec_errors(seed):
    spec = graphspec.load(EXAMPLES / "mlp.yaml")
    with pytest.raises(SpecError) as info:
        spec.build(seed=seed)
    (d,) = info.value.diagnostics
    assert d.code == "GS110" and "between 0 and 4,294,967,295" in d.message
    with pytest.raises(DataError, match="seed must be a whole number of at least 0"):
        BatchSequence({"x": np.zeros((4, 1))}, 2, shuffle=True, seed=-1)


def test_a_huge_padded_batch_is_refused_before_it_is_allocated(tmp_path):
    spec = graphspec.load(write_spec(tmp_path, batch_size=2**31 - 1, remainder="pad"))
    with pytest.raises(
        DataError,
        match=r"padding 256 samples up to a batch of 2147483647 .*"
        r"batch_size: 2147483647, remainder: pad",
    ):
        train.train(spec, arrays(), on_batch=never, progress=False)
    with pytest.raises(DataError, match="batch_size of at most 10"):
        BatchSequence({"x": np.zeros((10, 1))}, 1_000_000_000_000, remainder="pad")
    assert len(BatchSequence({"x": np.zeros((10, 1))}, 10**12, remainder="keep")) == 1


# -- 15. BatchSequence errors name the actual settings -----------------------------------------


@pytest.mark.parametrize("remainder", ["pad", "keep", "drop"])
def test_no_samples_names_the_actual_settings(remainder):
    with pytest.raises(DataError, match=f"no samples .*batch_size: 8, remainder: {remainder}"):
        BatchSequence({"x": np.zeros((0, 3)), "y": np.zeros((0, 1))}, 8, remainder=remainder)


def test_too_few_samples_for_drop_names_the_settings(tmp_path):
    spec = graphspec.load(write_spec(tmp_path, remainder="drop"))
    with pytest.raises(
        DataError,
        match=r"no full batch of 64 in 50 samples \(batch_size: 64, "
        r"remainder: drop\)",
    ):
        train.train(spec, arrays(50), on_batch=never, progress=False)
