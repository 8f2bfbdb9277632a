"""Promise (2) of the hardening issue: no user input, file or path ever ends in a Python
traceback. Every command meets a corpus of bad paths, files and arguments; each must answer
with located diagnostics or a one-line error, the documented exit code (1 for spec or data
errors, 2 for usage), and leave nothing half-written.

Most cases run `graphspec.cli.main` in this process (the same code path as the command, minus
interpreter start-up; a crash would surface as an exception here); a few run the real command
in a subprocess.
"""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from graphspec.cli import main

from conftest import EXAMPLES, INVALID

MLP = str(EXAMPLES / "mlp.yaml")
TRAIN = str(EXAMPLES / "train_mlp.yaml")


def bad_specs(tmp):
    """name -> a path that is not a usable spec, made in `tmp`."""
    made = {}

    def write(name, data: bytes):
        path = tmp / name
        path.write_bytes(data)
        return str(path)

    made["missing"] = str(tmp / "missing.yaml")
    (tmp / "folder.yaml").mkdir()
    made["a directory"] = str(tmp / "folder.yaml")
    os.mkfifo(tmp / "pipe.yaml")
    made["a FIFO"] = str(tmp / "pipe.yaml")
    os.symlink("/dev/zero", tmp / "zero.yaml")
    made["a symlink to /dev/zero"] = str(tmp / "zero.yaml")
    made["empty"] = write("empty.yaml", b"")
    made["binary"] = write("binary.yaml", bytes(range(256)) * 8)
    made["not UTF-8"] = write("latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    made["wrong suffix"] = write("spec.txt", b"graphspec: 1\n")
    made["a list"] = write("list.yaml", b"- 1\n- 2\n")
    made["bad JSON"] = write("bad.json", b'{"graphspec": 1,')
    made["JSON with BOM"] = write("bom.json", b'\xef\xbb\xbf{"graphspec": 1}')
    made["spec errors"] = str(INVALID / "unknown_layer.yaml")
    made["shape errors"] = str(INVALID / "shape_mismatch.yaml")
    made["huge"] = write("huge.yaml", b"graphspec: 1\nname: m\ndescription: " + b"x" * 2_000_000)
    return made


def run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "internal error" not in text, text
    return code, text


@pytest.mark.parametrize("command", ["validate", "summary", "build", "plot", "train"])
def test_every_command_answers_bad_spec_paths(capsys, tmp_path, command):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    extra = {
        "validate": [],
        "summary": [],
        "build": ["-o", str(out_dir / "m.keras")],
        "plot": ["-o", str(out_dir / "g.dot")],
        "train": ["--data", str(tmp_path / "data.npz")],
    }[command]
    np.savez(
        tmp_path / "data.npz",
        features=np.zeros((4, 8), "float32"),
        target=np.zeros((4, 1), "float32"),
    )
    (tmp_path / "specs").mkdir()
    for name, path in bad_specs(tmp_path / "specs").items():
        code, text = run(capsys, [command, path, *extra])
        assert code in (1, 2), (name, text)
        assert "error" in text, (name, text)
    assert list(out_dir.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize(
    "command, spec, suffix",
    [
        ("build", MLP, ".keras"),
        ("plot", MLP, ".dot"),
        ("export", "keras.applications.MobileNet", ".yaml"),
        ("schema", None, ".json"),
    ],
)
def test_bad_output_paths_are_usage_errors_found_before_any_work(
    capsys, tmp_path, command, spec, suffix
):
    (tmp_path / f"taken{suffix}").mkdir()
    targets = {
        "a missing folder": tmp_path / "no" / "such" / f"out{suffix}",
        "an existing directory": tmp_path / f"taken{suffix}",
        "a wrong suffix": tmp_path / "out.wrong",
        "a device": "/dev/null",
    }
    for name, target in targets.items():
        argv = [command] + ([spec] if spec else []) + ["-o", str(target)]
        if command == "schema" and name == "a wrong suffix":
            continue  # the schema may be written to any file name
        code, text = run(capsys, argv)
        assert code == 2, (name, text)
        assert text.startswith("graphspec: error:") and text.count("\n") == 1, (name, text)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"taken{suffix}"]


def test_bad_data_files_are_one_line_errors(capsys, tmp_path):
    cases = {}
    text_npz = tmp_path / "text.npz"
    text_npz.write_text("features,target\n1,2\n")
    cases["a text file named .npz"] = text_npz
    good = tmp_path / "good.npz"
    np.savez(good, features=np.zeros((16, 8), "float32"), target=np.zeros((16, 1), "float32"))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    cases["a truncated .npz"] = truncated
    objects = tmp_path / "objects.npz"
    np.savez(
        objects,
        features=np.array([{"a": 1}] * 16, dtype=object),
        target=np.zeros((16, 1), "float32"),
    )
    cases["object arrays"] = objects
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    cases["a folder without .npy files"] = empty_dir
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, features=np.zeros((16, 8), "float32"), target=np.zeros((16, 5), "float32"))
    cases["targets of the wrong shape"] = wrong
    nan = tmp_path / "nan.npz"
    features = np.zeros((16, 8), "float32")
    features[3, 2] = np.nan
    np.savez(nan, features=features, target=np.zeros((16, 1), "float32"))
    cases["NaN in the features"] = nan
    out = tmp_path / "model.keras"
    for name, path in cases.items():
        code, text = run(capsys, ["train", TRAIN, "--data", str(path), "-o", str(out), "--quiet"])
        assert code in (1, 2), (name, text)
        assert "graphspec: error:" in text, (name, text)
    assert not out.exists()


def test_bad_export_sources_are_one_line_errors(capsys, tmp_path):
    (tmp_path / "dir.keras").mkdir()
    (tmp_path / "text.keras").write_text("not a zip")
    (tmp_path / "empty.keras").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "nomodel.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    sources = [
        "missing.keras",
        "dir.keras",
        "text.keras",
        "empty.keras",
        "nomodel.keras",
        "keras.applications.NoSuchNet",
        "model.h5x",
    ]
    for name in sources:
        code, text = run(
            capsys,
            [
                "export",
                str(tmp_path / name) if "applications" not in name else name,
                "-o",
                str(tmp_path / "spec.yaml"),
            ],
        )
        assert code in (1, 2), (name, text)
        assert "error" in text, (name, text)
    assert not (tmp_path / "spec.yaml").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", MLP, "--set", "=3"],
        ["validate", MLP, "--set", "units"],
        ["validate", MLP, "--set", "units=[1, 2"],
        ["validate", MLP, "--set", "units=!!python/object:os.system ls"],
        ["validate", MLP, "--set", "a=" + "{" * 500 + "}" * 500],
        ["validate", MLP, "--max-nodes", "0"],
        ["build", MLP, "-o", "/tmp/never.keras", "--seed", "-1"],
        ["build", MLP, "-o", "/tmp/never.keras", "--seed", "99999999999"],
        ["train", TRAIN, "--data", "/no/such/data.npz"],
    ],
)
def test_bad_arguments_are_usage_or_spec_errors(capsys, argv):
    code, text = run(capsys, argv)
    assert code in (1, 2), text
    assert not os.path.exists("/tmp/never.keras")


def test_the_real_command_never_prints_a_traceback(tmp_path):
    """The same promise through the installed entry point, in a subprocess."""
    os.mkfifo(tmp_path / "pipe.yaml")
    for argv in (
        ["validate", str(tmp_path / "pipe.yaml")],
        ["validate", str(tmp_path)],
        ["build", MLP, "-o", str(tmp_path)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "graphspec.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert done.stderr.strip().count("\n") <= 1, done.stderr
