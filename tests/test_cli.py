"""The `graphspec` command. Most tests call `main()` in this process; a few run the installed
console script in a fresh process, where imports and exit codes are what a user gets."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from graphspec.cli import main

from conftest import EXAMPLES, INVALID, PLUGINS, ROOT

PLUGIN_ARGS = [
    "--plugin",
    str(PLUGINS / "seed_ops.py"),
    "--plugin",
    str(PLUGINS / "seed_layers.py"),
]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(*args):
    return subprocess.run(
        list(args), capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300
    )


def test_validate_ok_and_errors(capsys):
    assert main(["validate", str(EXAMPLES / "mlp.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("mlp.yaml: ok")
    bad = INVALID / "unknown_layer.yaml"
    assert main(["validate", str(bad), str(EXAMPLES / "mlp.yaml")]) == 1
    captured = capsys.readouterr()
    assert (
        f"{bad}:7:24: error[GS201]: unknown layer 'Dens' in node 'fc1'\n"
        "  hint: did you mean 'Dense'?" in captured.err
    )
    assert "Traceback" not in captured.err


def test_validate_warnings_exit_zero(capsys):
    assert main(["validate", str(INVALID / "unused_node.yaml")]) == 0
    assert "warning[GS209]" in capsys.readouterr().err


def test_validate_json(capsys):
    assert main(["validate", "--format", "json", str(INVALID / "cycle.yaml")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    (diag,) = report["files"][0]["diagnostics"]
    assert (diag["code"], diag["line"], diag["column"]) == ("GS207", 7, 31)


def test_validate_catches_shape_errors_and_build_what_only_keras_knows(capsys):
    assert main(["validate", str(INVALID / "shape_mismatch.yaml")]) == 1  # static shapes
    assert "error[GS401]" in capsys.readouterr().err
    assert main(["validate", str(INVALID / "bad_arg_value.yaml")]) == 0
    assert main(["validate", "--build", str(INVALID / "bad_arg_value.yaml")]) == 1
    assert "error[GS301]" in capsys.readouterr().err


def test_usage_errors_exit_two(capsys, tmp_path):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert (
        main(["validate", str(EXAMPLES / "mlp.yaml"), "--plugin", str(tmp_path / "nope.py")]) == 2
    )
    assert main(["build", str(EXAMPLES / "mlp.yaml"), "-o", str(tmp_path / "m.h5")]) == 2
    with pytest.raises(SystemExit) as info:
        main(["validate", "--format", "xml", str(EXAMPLES / "mlp.yaml")])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_build_saves_and_reports(capsys, tmp_path):
    out = tmp_path / "router.keras"
    assert main(["build", str(EXAMPLES / "ticket_router.yaml"), "-o", str(out), "--summary"]) == 0
    printed = capsys.readouterr().out
    assert "built ticket_router: functional keras.Model, 752,097 parameters" in printed
    assert "title_emb" in printed  # the summary
    assert out.stat().st_size > 0 and os.listdir(tmp_path) == ["router.keras"]


def test_set_overrides_parameters_and_the_archive_records_them(capsys, tmp_path):
    import graphspec

    out = tmp_path / "enc.keras"
    spec = str(EXAMPLES / "transformer_encoder.yaml")
    assert (
        main(["build", spec, "-o", str(out), "--set", "num_layers=1", "--set", "dropout=0.25"]) == 0
    )
    printed = capsys.readouterr().out
    assert "num_layers=1" in printed and "dropout=0.25" in printed
    meta = graphspec.saved_metadata(out)
    assert meta["spec"] == "transformer_encoder" and meta["source"] == spec
    assert meta["params"]["num_layers"] == 1 and meta["params"]["dropout"] == 0.25
    assert main(["validate", spec, "--set", "num_layrs=2"]) == 1
    assert "did you mean 'num_layers'?" in capsys.readouterr().err
    assert main(["validate", spec, "--set", "num_layers"]) == 2


def test_failed_build_leaves_the_output_untouched(capsys, tmp_path):
    out = tmp_path / "model.keras"
    out.write_bytes(b"previous model")
    assert main(["build", str(INVALID / "bad_arg_value.yaml"), "-o", str(out)]) == 1
    assert main(["build", str(INVALID / "unknown_layer.yaml"), "-o", str(out)]) == 1
    assert out.read_bytes() == b"previous model"
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary file left behind
    assert "error[GS301]" in capsys.readouterr().err


def test_schema_command_matches_checked_in_file(capsys, tmp_path):
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == (ROOT / "schemas" / "graphspec.schema.json").read_text()
    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").read_text() == printed


def test_validate_and_plot_import_neither_tensorflow_nor_keras(tmp_path):
    code = (
        "import sys; from graphspec.cli import main; rc = main(['validate', *sys.argv[2:]]); "
        "rc = rc or main(['plot', sys.argv[2], '-o', sys.argv[1]]); "
        "heavy = [m for m in ('keras', 'tensorflow') if m in sys.modules]; "
        "print('heavy:', heavy); sys.exit(rc)"
    )
    result = run(
        sys.executable,
        "-c",
        code,
        str(tmp_path / "graph.dot"),
        *[
            str(p)
            for p in sorted(EXAMPLES.glob("*.yaml"))
            if p.name not in ("minus.yaml", "custom_layer.yaml")
        ],
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


def test_console_script_builds_and_models_reload_in_a_fresh_process(tmp_path):
    exe = shutil.which("graphspec")
    assert exe, "the graphspec console script is not installed"
    result = run(exe, "validate", *PLUGIN_ARGS, *map(str, sorted(EXAMPLES.glob("*.yaml"))))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "minus.keras"
    result = run(exe, "build", str(EXAMPLES / "minus.yaml"), "-o", str(out), *PLUGIN_ARGS)
    assert result.returncode == 0, result.stderr
    assert "built minus: functional keras.Model, 0 parameters" in result.stdout
    ops_only = tmp_path / "gather.keras"
    assert (
        run(exe, "build", str(EXAMPLES / "gather_onehot.yaml"), "-o", str(ops_only)).returncode == 0
    )
    # A new process: `import graphspec` (which does not import Keras), then plain Keras
    # loading in safe mode; a registered op needs its plugin imported first.
    code = f"""
import sys, numpy as np, graphspec
assert "keras" not in sys.modules
import keras
gather = keras.models.load_model({str(ops_only)!r})
values = np.arange(1536, dtype="float32")[None]; idx = np.arange(0, 1536, 3, dtype="int32")[None]
print(float(np.asarray(gather([values, idx])).sum()))
graphspec.load_plugin({str(PLUGINS / "seed_ops.py")!r})
model = keras.models.load_model({str(out)!r})
x = np.array([[1., 2.], [3., 5.]], "float32"); y = np.array([[0., 0.], [1., 1.]], "float32")
print(np.asarray(model([x, y])).tolist())
"""
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(float(sum(range(0, 1536, 3)))), "[1.5,", "3.0]"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_build_leaves_no_partial_file(tmp_path, signum):
    out = tmp_path / "resnet.keras"
    out.write_bytes(b"previous model")
    exe = shutil.which("graphspec")
    proc = subprocess.Popen(
        [exe, "build", str(EXAMPLES / "resnet50.yaml"), "-o", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Wait until the model is being written to its temporary file, then interrupt.
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".resnet.*.tmp.keras")):
        assert proc.poll() is None, "the build ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"interrupted" in err and b"Traceback" not in err
    assert os.listdir(tmp_path) == ["resnet.keras"]
    assert out.read_bytes() == b"previous model"
