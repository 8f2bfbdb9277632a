"""Issue #10, the input side: spec paths that are not regular files (class 7), string and list
amplification through parameters (class 2), `--set` values (class 13), the alias-expansion
limit (class 14), corner cases of reading and expressions (class 15) and output paths
(class 6, the part in graphspec/output.py). Each class: the issue's case and variants."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import graphspec
from graphspec import Limits, SpecError
from graphspec.cli import main
from graphspec.expr import Budget, ExprError, chain, evaluate, names, substitute
from graphspec.output import (
    OutputError,
    atomic_path,
    check_target,
    read_metadata,
    write_text,
)
from graphspec.source import FILE_COST, Source, Spent, read, read_value

from hostile_specs import HEADER, amplification, laughs

LAYERS = "layers: [{layer: Dense, args: {units: 2}}]\n"


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def refused(spec, **kw):
    with pytest.raises(SpecError) as info:
        read(spec, **kw)
    return info.value.diagnostics


@pytest.fixture
def deadline():
    """Fails a test that blocks (on a FIFO, say) instead of hanging the run."""

    def expire(signum, frame):
        raise TimeoutError("blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- class 7: spec paths that are not regular files --------------------------------------------


def test_a_symlink_to_dev_zero_is_refused_before_reading(tmp_path):
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    (diag,) = refused(str(link))
    assert diag.code == "GS001" and "character device, not a regular file" in diag.message


def test_a_fifo_is_refused_without_blocking(tmp_path, deadline):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    (diag,) = refused(str(fifo))
    assert diag.code == "GS001" and "named pipe" in diag.message
    assert main(["validate", str(fifo)]) == 2  # a usage error, like a missing file


@pytest.mark.parametrize("kind", ["directory", "socket", "stdin"])
def test_other_paths_that_are_not_files(tmp_path, kind, deadline):
    path = tmp_path / "spec.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    else:
        path.symlink_to("/dev/stdin")
    (diag,) = refused(str(path))
    assert diag.code == "GS001" and "not a regular file" in diag.message


def test_a_file_larger_than_its_size_says_is_cut_at_the_limit(tmp_path):
    # /proc files report a size of 0 and then yield more: only max_bytes + 1 bytes are read.
    link = tmp_path / "maps.yaml"
    link.symlink_to("/proc/self/maps")
    (diag,) = refused(str(link), limits=Limits(max_bytes=100))
    assert diag.code == "GS160" and "more than 100 bytes" in diag.message


def test_an_import_that_is_a_fifo_does_not_hang(tmp_path, deadline):
    os.mkfifo(tmp_path / "lib.yaml")
    path = write(tmp_path, HEADER + "imports: [lib.yaml]\n" + LAYERS)
    assert codes(graphspec.validate(path))  # reported, whichever check sees it first


# -- class 2: string and list amplification through parameters ---------------------------------


def test_the_issues_600_byte_string_chain(tmp_path):
    path = write(tmp_path, amplification(9, 10))
    assert len(path.read_bytes()) < 700
    diags = graphspec.validate(path)
    (first,) = [d for d in diags if d.code == "GS160"][:1]
    assert "more than 100,000 characters" in first.message
    assert first.line == 10  # p5, the first that would pass the limit: p4 is 100,000 long
    assert first.column == 13  # at its second `${`, the one that would pass it


@pytest.mark.parametrize("steps, times", [(4, 1000), (30, 2)])
def test_other_string_chains(tmp_path, steps, times):
    assert "GS160" in codes(graphspec.validate(write(tmp_path, amplification(steps, times))))


def test_a_structure_is_measured_before_it_is_turned_into_text():
    big = ["x" * 1000] * 1000
    scope = {"p": [big] * 1000}  # str() of it would be a billion characters
    with pytest.raises(ExprError) as info:
        substitute("a${p}", scope)
    assert info.value.code == "GS160" and info.value.offset == 1
    roomy = Limits(max_value_size=10**7, max_nodes=10**5)
    assert substitute("${p}", scope, roomy) is scope["p"]  # referred to, not copied


def test_list_amplification_is_bounded(tmp_path):
    params = ["  p0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"] + [
        f"  p{k}: [" + ", ".join([f'"${{p{k - 1}}}"'] * 10) + "]" for k in range(1, 9)
    ]
    path = write(tmp_path, HEADER + "params:\n" + "\n".join(params) + "\n" + LAYERS)
    diags = [d for d in graphspec.validate(path) if d.code == "GS160"]
    assert diags and "a list of more than 100,000 values" in diags[0].message


def test_the_budget_bounds_many_modest_values_together():
    budget = Budget(Limits(max_nodes=100))  # 3,000 values
    scope = {"p": list(range(100)), "s": "y" * 640}
    for _ in range(29):
        substitute("${p}", scope, budget=budget)
    with pytest.raises(ExprError) as info:
        for _ in range(10):
            substitute("${p}", scope, budget=budget)
    assert info.value.code == "GS160" and "3,000" in str(info.value)
    # Text counts one value per 64 characters, built or referenced.
    budget = Budget(Limits(max_nodes=100))
    with pytest.raises(ExprError):
        for _ in range(1000):
            substitute("a${s}", scope, budget=budget)
    # Copies that are not substitutions are charged with `charge`.
    budget = Budget(Limits(max_nodes=100))
    with pytest.raises(ExprError):
        for _ in range(100):
            budget.charge({"args": list(range(50))})


def test_names_and_chain_trace_an_amplification():
    assert names("${a + b} ${max(c, 1)} $${d} ${e") == ["a", "b", "c", "e"]
    assert names({"k": ["${p0}${p0}", 3], "j": "${1e3 + q}"}) == ["p0", "q"]
    raw = {"p0": "x", "p1": "${p0}${p0}", "p2": "${p1}${p0}${p1}", "p3": "${p2}-${p2}"}
    assert chain("p3", raw) == ["p3", "p2", "p1", "p0"]
    assert chain("p0", raw) == ["p0"]
    assert chain("a", {"a": "${b}", "b": "${a}"}) == ["a", "b"]  # a circle ends the chain


# -- class 13: --set values --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("256", 256),
        ("0.5", 0.5),
        ("gelu", "gelu"),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("", ""),
        ("2024-01-31", "2024-01-31"),
        ("null", None),
    ],
)
def test_set_values_are_yaml(text, value):
    assert read_value(text) == value


def test_a_set_alias_bomb_is_refused():
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]" for p, c in zip("abcdefg", "bcdefgh")
    ]
    with pytest.raises(SpecError) as info:
        read_value("{" + ", ".join(levels) + "}", where="--set p")
    (diag,) = info.value.diagnostics
    assert diag.code == "GS160" and diag.path == "--set p" and "value holds" in diag.message


@pytest.mark.parametrize(
    "text, code, message",
    [
        ("[" * 400 + "]" * 400, "GS160", "nests about"),
        ("x" * 2000, "GS160", "bytes"),
        ("[1, 2", "GS101", "flow sequence"),
        ("!!python/object/apply:os.system [ls]", "GS102", "tag"),
        ("{a: 1, a: 2}", "GS103", "written twice"),
        ("&x [*x]", "GS160", "itself is endless"),
    ],
    ids=["deep", "long", "syntax", "tag", "duplicate", "recursive"],
)
def test_set_values_get_the_limits_and_checks_of_files(text, code, message):
    with pytest.raises(SpecError) as info:
        read_value(text, Limits(max_bytes=1000))
    (diag,) = info.value.diagnostics
    assert diag.code == code and message in diag.message


def test_a_set_error_is_located_in_the_value():
    with pytest.raises(SpecError) as info:
        read_value("[1, !!binary aGk=]", where="--set p")
    (diag,) = info.value.diagnostics
    assert (diag.path, diag.line, diag.column, diag.code) == ("--set p", 1, 5, "GS102")


# -- class 14: the alias-expansion limit and the defaults ---------------------------------------


def alias_document(width: int, levels: int) -> str:
    return HEADER + "params:\n" + "\n".join(laughs(width, levels, "1")) + "\n" + LAYERS


def test_the_issues_1kb_document_of_1_6_million_values(tmp_path):
    path = write(tmp_path, alias_document(35, 4))  # 35**4 = 1.5 million values
    assert len(path.read_bytes()) < 1100
    (diag,) = graphspec.validate(path)
    assert diag.code == "GS160" and f"{Limits().max_values:,} values" in diag.message


def test_mapping_aliases_and_merge_keys_count_too(tmp_path):
    lines = ["  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"] + [
        f"  m{k}: &m{k} {{" + ", ".join(f"k{j}: *m{k - 1}" for j in range(8)) + "}"
        for k in range(1, 7)
    ]
    (diag,) = graphspec.validate(
        write(tmp_path, HEADER + "params:\n" + "\n".join(lines) + "\n" + LAYERS)
    )
    assert diag.code == "GS160"
    merged = (
        HEADER
        + "params:\n  base: &b {"
        + ", ".join(f"k{i}: {i}" for i in range(100))
        + "}\n"
        + "".join(f"  m{i}: {{<<: *b, own: {i}}}\n" for i in range(2000))
        + LAYERS
    )
    assert codes(graphspec.validate(write(tmp_path, merged, "merged.yaml"))) == ["GS160"]


def test_aliases_under_the_limit_are_fine(tmp_path):
    assert codes(graphspec.validate(write(tmp_path, alias_document(10, 4)))) == []


def test_many_written_values_are_refused_while_parsing(tmp_path):
    limits = Limits(max_nodes=1000, max_bytes=10**7)  # 30,000 values
    (diag,) = refused(
        str(write(tmp_path, "a: [" + ",".join(["1"] * 100_000) + "]\n")), limits=limits
    )
    assert diag.code == "GS160" and "30,000 values" in diag.message


def test_defaults_keep_the_promise_in_their_documentation():
    limits = Limits()
    assert limits.max_values == 30 * limits.max_nodes
    assert (limits.max_bytes, limits.max_nodes, limits.max_value_size) == (2**20, 5_000, 100_000)
    assert "2 seconds" in Limits.__doc__ and "300 MB" in Limits.__doc__


def test_imports_share_the_limits_of_their_spec(tmp_path):
    limits = Limits(max_bytes=10_000, max_nodes=100)  # 3,000 values
    main, _ = read(str(write(tmp_path, HEADER + LAYERS)), limits)
    spent = Spent()
    spent.add(main)
    part = "graphspec: 1\nparams: {p: [" + ",".join(["1"] * 1000) + "]}\n"
    read(str(write(tmp_path, part, "a.yaml")), limits, spent=spent)
    with pytest.raises(SpecError) as info:  # each is fine alone; the third is one too many
        read(str(write(tmp_path, part, "b.yaml")), limits, spent=spent)
        read(str(write(tmp_path, part, "c.yaml")), limits, spent=spent)
    assert "the spec and its imports" in info.value.diagnostics[0].message
    # Once over, nothing more is read; and tiny files count FILE_COST each.
    assert codes(
        refused(str(write(tmp_path, "graphspec: 1\n", "d.yaml")), limits=limits, spent=spent)
    ) == ["GS160"]
    spent = Spent()
    for i in range(10_000 // FILE_COST):
        read(str(write(tmp_path, "graphspec: 1\n", f"t{i}.yaml")), limits, spent=spent)
    assert codes(
        refused(str(write(tmp_path, "graphspec: 1\n", "t.yaml")), limits=limits, spent=spent)
    ) == ["GS160"]


# -- class 15: corner cases ----------------------------------------------------------------------


def test_a_json_spec_with_a_byte_order_mark(tmp_path):
    text = (
        '{"graphspec": 1, "name": "m", "inputs": {"x": {"shape": [4]}},\n'
        ' "layers": [{"layer": "Dense", "args": {"units": "2"}}]}'
    )
    path = tmp_path / "m.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    source, _ = read(str(path))
    assert source.data["name"] == "m" and source.locate(("layers", 0, "args", "units")) == (2, 50)
    path.write_bytes(b"\xef\xbb\xbf" + b'{"graphspec": 1,\n "name": }')
    assert [(d.code, d.line) for d in refused(str(path))] == [("GS101", 2)]
    yaml_path = tmp_path / "m.yaml"
    yaml_path.write_bytes(b"\xef\xbb\xbf" + (HEADER + LAYERS).encode())
    assert graphspec.validate(yaml_path) == []


@pytest.mark.parametrize(
    "text, kind",
    [
        ("? [a, b]\n: 1\n", "a list"),
        ("{[a]: 1}\n", "a list"),
        ("? {a: 1}\n: 2\n", "a mapping"),
    ],
)
def test_a_complex_key_is_a_format_error_not_an_unsafe_tag(tmp_path, text, kind):
    params = "params:\n  " + text.replace("\n", "\n  ")
    (diag,) = refused(str(write(tmp_path, HEADER + "description: x\n" + params + "\n" + LAYERS)))
    assert diag.code == "GS101" and f"{kind} is used as a mapping key" in diag.message
    assert "plain scalars" in diag.message and diag.line == 6


@pytest.mark.parametrize(
    "value, offset",
    [
        ("${3", 0),
        ("a ${x", 2),
        ("${ {a} }", 0),
        ("ok ${x} then ${", 13),
    ],
)
def test_an_unterminated_placeholder_is_a_syntax_error_at_its_start(value, offset):
    with pytest.raises(ExprError) as info:
        substitute(value, {"x": 1})
    assert (info.value.code, info.value.offset) == ("GS130", offset)
    assert substitute("$${3", {}) == "${3"  # the escape still works


@pytest.mark.parametrize("value, column", [('"${3"', 39), ('"a ${3"', 42), ("'x ${ {3} }'", 42)])
def test_an_unterminated_placeholder_in_a_spec_is_located(tmp_path, value, column):
    # At the `${`; one that starts the value is located at the value (its quote, if any).
    path = write(
        tmp_path,
        HEADER + f"params: {{w: 2}}\nlayers: [{{layer: Dense, args: {{units: {value}}}}}]\n",
    )
    (diag,) = graphspec.validate(path)
    assert (diag.code, diag.line, diag.column) == ("GS130", 5, column)


@pytest.mark.parametrize(
    "text",
    ["1e400", "-1e999", "10.0 ** 400", "1e308 * 10", "inf", "nan + 1", "max(1, inf)", "-inf"],
)
def test_every_number_in_an_expression_is_finite(text):
    with pytest.raises(ExprError) as info:
        evaluate(text, {"inf": float("inf"), "nan": float("nan")})
    assert info.value.code == "GS132"


def test_non_finite_numbers_in_a_spec(tmp_path):
    path = write(
        tmp_path,
        HEADER + "params: {big: .inf}\nlayers: [{layer: Dense, args: "
        '{units: "${1e400}"}}, {layer: Dense, args: {units: "${big * 2}"}}]\n',
    )
    assert codes(graphspec.validate(path)) == ["GS132", "GS132"]


@pytest.mark.parametrize(
    "value, code",
    [
        ("!!set {a}", "GS102"),
        ("!!binary aGk=", "GS102"),
        ("!!timestamp 2024-01-31", "GS102"),
        ("!!omap [a: 1]", "GS102"),
        ("!!int abc", "GS101"),
        ("!!bool maybe", "GS101"),
        ("9" * 5000, "GS101"),
        ("{<<: 3}", "GS101"),
    ],
    ids=["set", "binary", "timestamp", "omap", "int", "bool", "digits", "merge"],
)
def test_values_that_are_not_plain_data_are_located_errors(tmp_path, value, code):
    (diag,) = refused(str(write(tmp_path, HEADER + LAYERS + f"description: {value}\n")))
    assert (diag.code, diag.line) == (code, 5)


def test_yaml_1_1_oddities_stay_text(tmp_path):
    stamp = "2001-12-14t21:59:43.10-05:00"
    source, _ = read(str(write(tmp_path, f"a: 2024-01-31\nb: =\nc: <<\nd: {stamp}\n")))
    assert source.data == {"a": "2024-01-31", "b": "=", "c": "<<", "d": stamp}


def test_positions_follow_aliases_and_merges():
    text = (
        "base: &base {units: 2, act: relu}\none: *base\n"
        "two: {<<: *base, units: 3}\nseq: [&s 5, *s]\n"
    )
    source = Source("t.yaml", None, text)
    assert source.locate(("one",)) == (2, 6)
    assert source.locate(("one", "act")) == (1, 29)  # where the anchored value was written
    assert source.locate(("two", "units")) == (3, 25)
    assert source.locate(("two", "act"), key=True) == (1, 24)
    assert source.locate(("seq", 1)) == (4, 13)
    assert source.locate(("nope", 3)) == (1, 1)


def test_line_text_uses_yamls_line_breaks():
    source = Source("t.yaml", None, "a: 1\r\nb: 'x'\rc: 3\n")
    assert [source.line_text(i) for i in (1, 2, 3, 4, 9)] == ["a: 1", "b: 'x'", "c: 3", "", ""]
    assert source.column_in_value(2, 4, 1) == 6  # one character into a quoted scalar


# -- class 6: output paths (graphspec/output.py) -------------------------------------------------


def test_check_target_refuses_before_any_work(tmp_path):
    (tmp_path / "folder.keras").mkdir()
    cases = {
        tmp_path / "missing" / "m.keras": "folder does not exist",
        tmp_path / "folder.keras": "is a directory",
        tmp_path / "m.txt": "must be a .keras file",
        Path("/proc/m.keras"): "cannot write in the output folder",
        Path("/dev/null"): "not a regular file",
    }
    for target, message in cases.items():
        with pytest.raises(OutputError) as info:
            check_target(target, [".keras"] if target.suffix != "" else [])
        assert info.value.usage and message in str(info.value), target
        assert "\n" not in str(info.value)
    assert check_target(tmp_path / "m.keras", [".keras"]) == tmp_path / "m.keras"
    assert check_target(tmp_path / "g.PNG", [".svg", ".png"]).name == "g.PNG"


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path):
    # A full disk, played by a file-size limit in a process of its own.
    code = (
        "import resource, signal, sys\n"
        "from graphspec.output import write_text, OutputError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "try:\n    write_text(sys.argv[1], 'x' * 100000)\n"
        "except OutputError as exc:\n    sys.stderr.write(str(exc))\n"
    )
    target = tmp_path / "out.yaml"
    target.write_text("old")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, env=env
    )
    assert done.stderr == f"cannot write '{target}': file too large"
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


def test_atomic_writes_follow_symlinks_and_clean_up(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.yaml") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "real.yaml"]


def test_read_metadata_of_what_is_not_an_archive(tmp_path):
    text = write(tmp_path, "not a zip", "m.keras")
    for path, message in [
        (text, "not a readable .keras archive"),
        (tmp_path, "is a directory"),
        (tmp_path / "none.keras", "no such file"),
    ]:
        with pytest.raises(OutputError) as info:
            read_metadata(path)
        assert message in str(info.value) and str(path) in str(info.value)
    archive = tmp_path / "plain.keras"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
    assert read_metadata(archive) is None
