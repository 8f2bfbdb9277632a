"""`graphspec tune` (issue #16): search spaces as KerasTuner hyperparameters, candidates that
fail validation as failed trials that do not count, resuming, and distributed tuning.

`when` and `repeat: 0` are compared with hand-written Keras models in test_compose.py; these
tests are about the tuner side. Models are tiny and train for one or two epochs."""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import graphspec
from graphspec import cli
from graphspec.errors import DataError, OutputError, SpecError

kt = pytest.importorskip("keras_tuner")
from graphspec.keras import tune  # noqa: E402

# KerasTuner's own use of threading.currentThread(), deprecated since Python 3.10.
pytestmark = pytest.mark.filterwarnings(
    "ignore:currentThread:DeprecationWarning", "ignore:getName:DeprecationWarning"
)

# Two branches that are added: only a == b fits (GS401); a == b == 16 with the extra layer is
# over the budget (GS410). Three of the eight candidates are valid.
HALF = """\
graphspec: 1
name: half
params: {a: 8, b: 8, deep: false, lr: 0.01}
inputs:
  x: {shape: [4]}
layers:
  - {name: left, layer: Dense, in: x, args: {units: "${a}"}}
  - {name: right, layer: Dense, in: x, args: {units: "${b}"}}
  - {name: sum, layer: Add, in: [left, right]}
  - {name: more, layer: Dense, args: {units: 64}, when: "${deep}"}
  - {name: y, layer: Dense, args: {units: 1}}
search:
  a: {choice: [8, 16]}
  b: {choice: [8, 16]}
  deep: {bool: true}
budget:
  params: 1000
compile:
  optimizer: {class_name: Adam, config: {learning_rate: "${lr}"}}
  loss: mse
train: {batch_size: 32, epochs: 1, seed: 0}
"""

# A continuous space: never exhausted.
RATES = """\
graphspec: 1
name: rates
params:
  width: 8      # units
  lr: 0.01      # the learning rate
inputs:
  x: {shape: [4]}
layers:
  - {name: h, layer: Dense, args: {units: "${width}", activation: relu}}
  - {name: y, layer: Dense, args: {units: 1}}
search:
  lr: {float: [1.0e-3, 1.0e-1], log: true}
compile:
  optimizer: {class_name: Adam, config: {learning_rate: "${lr}"}}
  loss: mse
train: {batch_size: 32, epochs: 2, seed: 0}
"""


def _write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _arrays(samples, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return {"x": x, "y": (x.sum(axis=1, keepdims=True) ** 2).astype("float32")}


def _tune(path, tmp_path, lines=None, **kwargs):
    kwargs.setdefault("directory", tmp_path / "tuning")
    log = lines.append if lines is not None else (lambda line: None)
    return tune.tune(graphspec.load(path), _arrays(64, 1), _arrays(32, 2), log=log, **kwargs)


def _cli(argv):
    """`graphspec tune ...` in this process."""
    if "tune" in cli.COMMANDS:
        return cli.main(["tune", *argv])
    # Until cli.py lists the command: the same parser, with the spec options of `build`.
    parser = argparse.ArgumentParser(prog="graphspec")
    sub = parser.add_subparsers(dest="command")
    build = cli._parser()._subparsers._group_actions[0].choices["build"]
    spec_options = argparse.ArgumentParser(add_help=False)
    for action in build._actions:
        if action.dest not in ("help", "spec", "output", "summary", "seed"):
            spec_options._add_action(action)
    tune.add_parser(sub, spec_options)
    original = dict(cli.COMMANDS)
    cli.COMMANDS["tune"] = tune.run
    real_parser, cli._parser = cli._parser, lambda command=None: parser
    try:
        return cli.main(["tune", *argv])
    finally:
        cli._parser = real_parser
        cli.COMMANDS.clear()
        cli.COMMANDS.update(original)


# -- spaces --------------------------------------------------------------------------------------


def test_each_space_kind_becomes_the_matching_hyperparameter(tmp_path):
    path = _write(
        tmp_path,
        RATES.replace(
            "params:\n",
            "params:\n  act: relu\n  bias: true\n  kernel: [1, 1]\n  depth: 1\n  ratio: 0.5\n",
        )
        .replace(
            "search:\n",
            "search:\n  width: {choice: [4, 8, 16]}\n"
            "  depth: {int: [1, 5], step: 2}\n  ratio: {float: [0.1, 0.9]}\n"
            "  act: {choice: [relu, tanh]}\n  bias: {bool: true}\n"
            "  kernel: {choice: [[1, 1], [3, 3], null]}\n"
            "  flag: {choice: [true, false]}\n",
        )
        .replace("  depth: 1\n", "  depth: 1\n  flag: false\n"),
    )
    spec = graphspec.load(path)
    hp = tune.hyperparameters(spec)
    found = {p.name: p for p in hp.space}
    kinds = {name: type(p).__name__ for name, p in found.items()}
    assert kinds == {
        "width": "Choice",
        "depth": "Int",
        "ratio": "Float",
        "act": "Choice",
        "bias": "Boolean",
        "kernel": "Choice",
        "lr": "Float",
        "flag": "Choice",
    }
    assert (found["width"].values, found["width"].default) == ([4, 8, 16], 8)
    depth = found["depth"].get_config()
    assert (depth["min_value"], depth["max_value"], depth["step"], depth["default"]) == (1, 5, 2, 1)
    lr = found["lr"].get_config()
    assert (lr["min_value"], lr["max_value"], lr["sampling"], lr["default"]) == (
        1e-3,
        1e-1,
        "log",
        0.01,
    )
    assert found["ratio"].get_config()["sampling"] == "linear"
    assert found["act"].values == ["relu", "tanh"] and found["bias"].default is True
    # Lists and null are not values KerasTuner holds: they are chosen as JSON text.
    space = tune.Space.of(spec)
    assert found["kernel"].values == ["[1, 1]", "[3, 3]", "null"]
    assert found["kernel"].default == "[1, 1]"
    samples = [{p.name: p.random_sample(seed) for p in hp.space} for seed in range(40)]
    values = [space.values(s) for s in samples]
    assert {v["depth"] for v in values} == {1, 3, 5}
    assert {json.dumps(v["kernel"]) for v in values} == {"[1, 1]", "[3, 3]", "null"}
    assert {v["flag"] for v in values} == {True, False}  # booleans, not KerasTuner's 1 and 0
    assert all(type(v["flag"]) is bool for v in values)
    assert all(1e-3 <= v["lr"] <= 1e-1 and 0.1 <= v["ratio"] <= 0.9 for v in values)
    assert tune.Space.of(spec, pinned=["width"]).spaces.keys() == found.keys() - {"width"}


def test_a_trial_spec_keeps_comments_holds_the_values_and_has_no_search(tmp_path):
    spec = graphspec.load(_write(tmp_path, RATES))
    folder = tmp_path / "trial"
    folder.mkdir()
    text = tune.spec_text(spec, {"lr": 1e-05}, folder, "a header")
    assert "# a header\n" in text and "width: 8      # units" in text
    assert "lr: 1.0e-05   # the learning rate" in text and "search" not in text
    copy = _write(folder, text)
    assert graphspec.load(copy).params == {"width": 8, "lr": 1e-05}
    # Flow-style params, and a JSON spec.
    flow = graphspec.load(_write(tmp_path, HALF, "half.yaml"))
    text = tune.spec_text(flow, {"a": 16, "deep": True}, tmp_path)
    assert "params: {a: 16, b: 8, deep: true, lr: 0.01}" in text
    as_json = tmp_path / "rates.json"
    as_json.write_text(json.dumps(spec.source.data))
    text = tune.spec_text(graphspec.load(as_json), {"lr": 0.5}, tmp_path)
    assert json.loads(text)["params"] == {"width": 8, "lr": 0.5} and "search" not in text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("val_loss", ("val_loss", "min")),
        ("val_accuracy", ("val_accuracy", "max")),
        ("val_mae", ("val_mae", "min")),
        ("auc", ("auc", "max")),
        ("val_x:max", ("val_x", "max")),
    ],
)
def test_objectives_know_their_direction(text, expected):
    assert tune.parse_objective(text) == expected


def test_an_objective_of_unknown_direction_is_a_usage_error():
    with pytest.raises(ValueError, match="write 'val_score:min' or 'val_score:max'"):
        tune.parse_objective("val_score")


# -- before any trial ----------------------------------------------------------------------------


def test_invalid_spaces_are_located_errors_before_any_trial(tmp_path, capsys):
    data, val = tmp_path / "train.npz", tmp_path / "val.npz"
    np.savez(data, **_arrays(64, 1))
    np.savez(val, **_arrays(32, 2))
    bad = _write(tmp_path, RATES.replace("  lr: {float", "  lr: {int: [4, 1]}\n  lrr: {float"))
    argv = [
        str(bad),
        "--data",
        str(data),
        "--validation",
        str(val),
        "--dir",
        str(tmp_path / "tuning"),
    ]
    assert _cli(argv) == 1
    err = capsys.readouterr().err
    assert f"{bad}:13:3: error[GS170]" in err and "did you mean 'lr'?" in err
    assert f"{bad}:12:7: error[GS170]: the range of 'lr' goes from 4 down to 1" in err
    none = _write(
        tmp_path,
        RATES.split("search:")[0] + RATES.split("search:")[1].split("\n", 2)[2],
        "none.yaml",
    )
    argv[0] = str(none)
    assert _cli(argv) == 1
    assert "error[GS170]: the spec has no 'search' section" in capsys.readouterr().err
    assert not (tmp_path / "tuning").exists()
    argv[0] = str(_write(tmp_path, RATES, "ok.yaml"))
    assert _cli([*argv, "--objective", "val_score"]) == 2
    assert "write 'val_score:min'" in capsys.readouterr().err


# -- trials ------------------------------------------------------------------------------------


def test_failed_candidates_keep_their_diagnostics_and_do_not_count(tmp_path):
    path = _write(tmp_path, HALF)
    lines = []
    result = _tune(path, tmp_path, lines, trials=3)
    done = sorted((t.values["a"], t.values["b"], t.values["deep"]) for t in result.completed)
    assert done == [(8, 8, False), (8, 8, True), (16, 16, False)]
    rejected = [t for t in result.trials if t.status == "rejected"]
    assert rejected and len(result.trials) == 3 + len(rejected)
    project = tmp_path / "tuning" / "half"
    oracle = json.loads((project / "oracle.json").read_text())
    assert len(oracle["end_order"]) == len(result.trials)
    for t in rejected:
        expected = "GS401" if t.values["a"] != t.values["b"] else "GS410"
        assert f"error[{expected}]" in t.message
        text = (project / f"trial_{t.trial}" / "diagnostics.txt").read_text()
        assert f"{path}:" in text and f"error[{expected}]" in text
        assert f"--set a={t.values['a']} --set b={t.values['b']}" in text
        trial = json.loads((project / f"trial_{t.trial}" / "trial.json").read_text())
        assert trial["status"] == "FAILED" and f"error[{expected}]" in trial["message"]
        assert not (project / f"trial_{t.trial}" / "spec.yaml").exists()
    assert any("rejected: " in line and "(not counted)" in line for line in lines)
    assert sum("-> val_loss" in line for line in lines) == 3
    # Every file that holds a trial's spec validates; best.yaml too, with the best values.
    copies = sorted(project.glob("trial_*/spec.yaml"))
    assert len(copies) == 3
    for copy in copies:
        assert not [d for d in graphspec.validate(copy) if d.is_error], copy
    best = graphspec.load(result.spec_path)
    assert best.params == {**result.best.values, "lr": 0.01}
    assert "search" not in best.source.data
    assert graphspec.saved_metadata(result.model_path)["params"] == best.params
    table = tune.table(result)
    assert table.splitlines()[1].startswith(f"1  {result.best.trial} ")


def test_a_space_of_almost_only_invalid_candidates_stops_with_their_diagnostics(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(tune, "REJECTED_IN_A_ROW", 3)
    path = _write(
        tmp_path,
        HALF.replace(
            "  b: {choice: [8, 16]}\n  deep: {bool: true}\n", "  lr: {float: [0.001, 0.1]}\n"
        ).replace("a: {choice: [8, 16]}", "a: {choice: [16]}"),
    )
    lines = []
    with pytest.raises(SpecError) as caught:
        _tune(path, tmp_path, lines, trials=2)
    last, stop = caught.value.diagnostics  # in the order of the file
    assert (last.code, last.line, stop.code, stop.line) == ("GS401", 9, "GS170", 12)
    assert "3 candidates in a row from the 'search' section do not validate" in stop.message
    assert len(lines) == 4 and all("rejected: GS401" in line for line in lines[1:])


def test_resume_continues_an_interrupted_search(tmp_path, monkeypatch):
    path = _write(tmp_path, RATES)
    project = tmp_path / "tuning" / "rates"

    def ctrl_c_in_the_second_trial(self, trial, model, epoch, logs=None):
        if trial.trial_id == "1":
            raise KeyboardInterrupt  # as Ctrl-C does, after the trial's first epoch

    # The tuner's own per-epoch hook (KerasTuner calls it from its callback).
    monkeypatch.setattr(tune._Searcher, "on_epoch_end", ctrl_c_in_the_second_trial, raising=False)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        _tune(path, tmp_path, lines, trials=4)
    monkeypatch.undo()
    assert "continue with --resume" in lines[-1]
    oracle = json.loads((project / "oracle.json").read_text())
    assert oracle["end_order"] == ["0"] and list(oracle["ongoing_trials"].values()) == ["1"]
    first = (project / f"trial_0/{tune.STATE}").read_text()
    assert not (project / f"trial_1/{tune.STATE}").exists()
    with pytest.raises(OutputError, match="holds a search already"):
        _tune(path, tmp_path, trials=4)
    with pytest.raises(DataError, match="differs from this one"):
        _tune(path, tmp_path, trials=4, resume=True, objective="val_loss:max")
    result = _tune(path, tmp_path, trials=4, resume=True)
    assert sorted(t.trial for t in result.completed) == ["0", "1", "2", "3"]
    assert len(result.trials) == 4
    assert (project / f"trial_0/{tune.STATE}").read_text() == first  # not run again
    with pytest.raises(OutputError, match="holds none"):
        _tune(path, tmp_path, trials=4, resume=True, directory=tmp_path / "elsewhere")


def test_data_that_fits_no_candidate_stops_the_search(tmp_path):
    path = _write(tmp_path, RATES)
    data = {"x": np.zeros((64, 3), "float32"), "y": np.zeros((64, 1), "float32")}
    with pytest.raises(DataError, match="array 'x' has samples of shape"):
        tune.tune(
            graphspec.load(path),
            data,
            data,
            trials=2,
            directory=tmp_path / "t",
            log=lambda line: None,
        )
    with pytest.raises(DataError, match="'val_accuracy' is not among the metrics"):
        _tune(path, tmp_path, trials=2, objective="val_accuracy")


def test_a_loss_that_diverges_fails_the_trial_and_three_in_a_row_stop(tmp_path):
    text = RATES.replace(
        "lr: {float: [1.0e-3, 1.0e-1], log: true}", "lr: {float: [1.0e+12, 1.0e+13]}"
    ).replace("batch_size: 32", "batch_size: 8")
    lines = []
    with pytest.raises(DataError, match="3 trials in a row failed in training"):
        _tune(_write(tmp_path, text), tmp_path, lines, trials=2)
    assert len(lines) == 4 and all("failed: the loss became" in line for line in lines[1:])
    record = json.loads((tmp_path / "tuning" / "rates" / "trial_0" / tune.STATE).read_text())
    assert record["status"] == "failed" and record["reason"].startswith("the loss became")


@pytest.mark.parametrize("name", ["bayesian", "hyperband"])
def test_the_other_tuners_complete_their_trials(tmp_path, name):
    result = _tune(_write(tmp_path, RATES), tmp_path, trials=2, tuner=name)
    assert len(result.completed) == 2 and result.model_path.exists()


def test_early_stopping_from_the_train_section(tmp_path):
    # No epoch can improve val_loss by 1e6: training stops after the first epoch's patience.
    text = RATES.replace(
        "epochs: 2, seed: 0}",
        "epochs: 30, seed: 0, early_stopping: {monitor: val_loss, patience: 1, min_delta: 1.0e+6}}",
    )
    result = _tune(_write(tmp_path, text), tmp_path, trials=1)
    assert result.completed[0].epochs == 2


# -- distributed -------------------------------------------------------------------------------

_WORKER = """\
import sys
import numpy as np
import graphspec
from graphspec.keras import tune

def arrays(samples, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return {"x": x, "y": (x.sum(axis=1, keepdims=True) ** 2).astype("float32")}

result = tune.tune(graphspec.load(sys.argv[1]), arrays(64, 1), arrays(32, 2), trials=4,
                   directory=sys.argv[2])
print("RAN", " ".join(t.trial for t in result.trials))
"""


def test_a_chief_and_two_workers_complete_a_search_together(tmp_path, monkeypatch):
    pytest.importorskip("grpc", reason="distributed tuning needs grpcio")
    path = _write(tmp_path, RATES)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    # The chief in this process (it imported TensorFlow already), the workers in their own.
    lines, outcome = [], {}

    def chief():
        try:
            outcome["result"] = _tune(path, tmp_path, lines, trials=4)
        except BaseException as exc:  # reported below, in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=chief, daemon=True)
    thread.start()
    # Workers that find no chief yet retry with gRPC's growing back-off: start them once it
    # listens.
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    workers = {
        name: subprocess.Popen(
            [sys.executable, str(script), str(path), str(tmp_path / "tuning")],
            env=dict(os.environ, KERASTUNER_TUNER_ID=name, TF_CPP_MIN_LOG_LEVEL="3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("tuner0", "tuner1")
    }
    ran = {}
    try:
        for name, worker in workers.items():
            out, err = worker.communicate(timeout=150)
            assert worker.returncode == 0, f"{name}:\n{out}\n{err[-3000:]}"
            ran[name] = out.split("RAN")[-1].split()
        thread.join(timeout=60)
    finally:
        for worker in workers.values():
            worker.kill()
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert all(ran.values()), ran  # both workers ran trials
    assert sorted(ran["tuner0"] + ran["tuner1"]) == ["0", "1", "2", "3"]
    result = outcome["result"]
    assert "chief: serving 127.0.0.1" in lines[0]
    assert sum(" (tuner" in line and "-> val_loss" in line for line in lines) == 4
    assert sorted(t.trial for t in result.completed) == ["0", "1", "2", "3"]
    assert {t.tuner for t in result.trials} == {"tuner0", "tuner1"}
    assert graphspec.load(result.spec_path).params["lr"] == result.best.values["lr"]
    assert result.model_path.exists()
    for copy in (tmp_path / "tuning" / "rates").glob("trial_*/spec.yaml"):
        assert not [d for d in graphspec.validate(copy) if d.is_error]


def test_the_example_spec_and_its_data_script(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "examples", "make_tune_data.py")
    subprocess.run(
        [sys.executable, script, str(tmp_path), "--samples", "40"], check=True, capture_output=True
    )
    spec = graphspec.load(os.path.join(root, "examples", "tune_mlp.yaml"))
    assert set(tune.search_space(spec)) == {"width", "depth", "dropout", "lr"}
    with np.load(tmp_path / "tune_train.npz") as data:
        assert data["features"].shape == (40, 16) and data["target"].shape == (40, 1)
    over = graphspec.validate(spec.path, params={"width": 128, "depth": 3})
    assert [d.code for d in over] == ["GS410"]
