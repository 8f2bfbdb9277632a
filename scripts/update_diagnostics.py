"""Regenerate the diagnostic snapshots of tests/invalid/ and the page docs/diagnostics.md.

    python scripts/update_diagnostics.py

Run it after changing a message, a fixture or an explanation (scripts/diagnostics.yaml), and
review the diff: tests/test_invalid.py fails while a snapshot differs from what graphspec
prints, tests/test_diagnostics.py while the page differs from what this script writes.

This module is also where the fixtures' `# expect:` header is read (the syntax is described
in tests/test_invalid.py), so that the tests and this script run a fixture the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import yaml  # noqa: E402

import graphspec  # noqa: E402
from graphspec.codes import CATALOGUE, WARNING  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INVALID = ROOT / "tests" / "invalid"
LIBRARY = INVALID / "lib"  # files that fixtures import; not fixtures themselves
PAGE = ROOT / "docs" / "diagnostics.md"
EXPLAINED = Path(__file__).with_name("diagnostics.yaml")
COMMAND = "python scripts/update_diagnostics.py"
SIDECARS = (".expect", ".snap")

_EXPECT = re.compile(r"(GS\d{3})(?: at (\d+):(\d+))?((?: \([^()]+\))*)")
_FLAG = re.compile(r" \(([^()]+)\)")
# How tests/test_docs.py names the file of a spec shown in the docs.
_NAME = re.compile(r"^name:\s*([\w.-]+)", re.MULTILINE)


@dataclass(frozen=True)
class Expectation:
    """The one diagnostic a fixture must give, and how to run the fixture to get it."""

    code: str
    line: int | None
    column: int | None
    warning: bool = False
    build: bool = False
    strict: bool = False  # validate with strict_shapes (`--strict-shapes`)
    reported_in: str | None = None  # relative to the fixture's folder
    overrides: tuple[str, ...] = ()  # `NAME=VALUE`, as `--set` takes them
    limits: tuple[tuple[str, int], ...] = ()
    backend: str | None = None  # validate for this Keras backend (`--backend`)

    def options(self) -> dict:
        """The keyword arguments of `graphspec.load` for this fixture."""
        params = {}
        for pair in self.overrides:
            name, _, value = pair.partition("=")
            params[name] = yaml.safe_load(value)  # as the command line reads `--set`
        return {
            "params": params or None,
            "limits": graphspec.Limits(**dict(self.limits)) if self.limits else None,
            "strict_shapes": self.strict,
            "backend": self.backend,
        }

    def validate(self, path: str) -> list[graphspec.Diagnostic]:
        return graphspec.validate(path, build=self.build, **self.options())

    def command(self, path: str) -> str:
        """The `graphspec validate` command line that reports this diagnostic for `path`."""
        words = ["graphspec validate"] + (["--build"] if self.build else [])
        words += ["--strict-shapes"] if self.strict else []
        words += [f"--backend {self.backend}"] if self.backend else []
        words += [f"--set {pair}" for pair in self.overrides]
        words += [f"--{name.replace('_', '-')} {value}" for name, value in self.limits]
        return " ".join(words + [path])


def fixtures() -> list[Path]:
    return sorted(
        p
        for p in INVALID.iterdir()
        if p.is_file() and p.suffix not in SIDECARS and not p.name.startswith(".")
    )


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def expectation(path: Path) -> Expectation:
    """Read the fixture's `.expect` file, or else its first line (`# expect: ...`)."""
    if _sidecar(path, ".expect").exists():
        text = _sidecar(path, ".expect").read_text(encoding="utf-8").strip()
    else:
        # Bytes: a fixture may be deliberately not UTF-8 after its first line.
        first = path.read_bytes().split(b"\n", 1)[0].decode("ascii").strip()
        if not first.startswith("# expect:"):
            raise ValueError(f"{path}: the first line must be '# expect: ...'")
        text = first.removeprefix("# expect:").strip()
    match = _EXPECT.fullmatch(text)
    if not match:
        raise ValueError(f"{path}: cannot read the expectation {text!r}")
    code, line, column, flags = match.groups()
    fields: dict = {"overrides": (), "limits": ()}
    for flag in _flags(flags):
        kind, _, value = flag.partition(":")
        if flag in ("warning", "build", "strict"):
            fields[flag] = True
        elif flag.startswith("reported in "):
            fields["reported_in"] = flag.removeprefix("reported in ")
        elif kind == "set":
            fields["overrides"] += (value.strip(),)
        elif kind == "backend":
            fields["backend"] = value.strip()
        elif kind == "limits":
            name, _, number = value.strip().partition("=")
            fields["limits"] += ((name, int(number)),)
        else:
            raise ValueError(f"{path}: unknown flag ({flag})")
    return Expectation(code, int(line) if line else None, int(column) if column else None, **fields)


def _flags(text: str) -> list[str]:
    """`(warning, strict) (set: x=[1, 2])` -> ['warning', 'strict', 'set: x=[1, 2]']: a group
    holds words separated by commas, or one `set:`/`limits:`/`backend:` value (which may hold
    commas)."""
    out = []
    for group in _FLAG.findall(text):
        out += [group] if ":" in group else [word.strip() for word in group.split(",")]
    return out


def shown(path: Path) -> str:
    """The fixture's path as the tests pass it, from the repository root (the current folder
    while they run): diagnostics and snapshots then do not depend on where the checkout is."""
    return path.relative_to(ROOT).as_posix()


def render(diagnostics) -> str:
    return "".join(d.format() + "\n" for d in diagnostics)


def snapshot_file(path: Path) -> Path:
    return _sidecar(path, ".snap")


def snapshot(path: Path) -> str:
    """The full rendered output of a fixture (run from the repository root)."""
    return render(expectation(path).validate(shown(path)))


# -- docs/diagnostics.md ---------------------------------------------------------------------

_INTRO = """\
# Diagnostics

<!-- Generated by scripts/update_diagnostics.py from graphspec/codes.py, the fixtures in
tests/invalid/ and the explanations in scripts/diagnostics.yaml: edit those, then run it. -->

Every problem graphspec finds in a spec is a diagnostic with a stable code, printed as

```text
path:line:column: severity[CODE]: message
  hint: how to fix it, when there is one
```

(`graphspec validate --format json` and `graphspec.validate()` give the same fields). GS0xx
codes concern the spec file itself, GS1xx the document and its composition (parameters,
blocks, imports, limits), GS2xx the graph, GS3xx building the model with Keras. Warnings
({warnings}) never stop a spec from loading; every other code is an error.

Each section says when its code is reported and how to fix it, and shows a minimal spec that
gets it (one of the fixtures in `tests/invalid/`) with the exact message graphspec prints.
"""


def _fence(lang: str, text: str) -> str:
    return f"```{lang}\n{text.rstrip(chr(10))}\n```"


@dataclass(frozen=True)
class Example:
    """A fixture as the page shows it: without its `# expect:` line, in a file named after its
    `name:` (as tests/test_docs.py names it), with the library files it imports."""

    fixture: Path
    expect: Expectation
    text: str
    data: bytes  # what the file holds (a fixture may be deliberately not UTF-8)
    file: str
    libraries: tuple[Path, ...]

    @property
    def plain(self) -> bool:
        """Whether plain `graphspec validate FILE.yaml` reports it: then the page marks the
        spec `<!-- invalid: CODE -->` and tests/test_docs.py checks its message too."""
        return (
            self.file.endswith(".yaml")
            and self.text.encode("utf-8") == self.data
            and not (
                self.expect.build
                or self.expect.strict
                or self.expect.overrides
                or self.expect.limits
                or self.expect.backend
            )
        )

    def message(self) -> str:
        """What graphspec prints for the example, run as a reader would run it."""
        with tempfile.TemporaryDirectory() as folder, _inside(folder):
            for library in self.libraries:
                target = Path("lib") / library.name
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(library.read_bytes())
            Path(self.file).write_bytes(self.data)
            diagnostics = self.expect.validate(self.file)
        if [d.code for d in diagnostics] != [self.expect.code]:
            raise SystemExit(
                f"{self.fixture}: shown as {self.file}, it reports "
                f"{[d.code for d in diagnostics]}, not {self.expect.code}"
            )
        return render(diagnostics)


def example(path: Path) -> Example:
    data = path.read_bytes()
    if not _sidecar(path, ".expect").exists():
        data = data.split(b"\n", 1)[1]  # the `# expect:` line is for the tests
    data = data.rstrip(b"\n") + b"\n"  # as a fenced block of the page ends
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the GS001 fixture, shown as its author meant it
    name = _NAME.search(text)
    file = (name.group(1) if name else "example") + path.suffix
    libraries = tuple(p for p in sorted(LIBRARY.iterdir()) if f"lib/{p.name}" in text)
    return Example(path, expectation(path), text, data, file, libraries)


@contextlib.contextmanager
def _inside(folder):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def explanations() -> dict[str, dict]:
    explained = yaml.safe_load(EXPLAINED.read_text(encoding="utf-8"))
    if list(explained) != list(CATALOGUE):
        raise SystemExit(
            f"{EXPLAINED.name} must explain the codes of graphspec/codes.py in "
            f"its order. Missing: {sorted(set(CATALOGUE) - set(explained))}; "
            f"unknown: {sorted(set(explained) - set(CATALOGUE))}"
        )
    return explained


def _wrap(paragraph: str) -> str:
    return textwrap.fill(paragraph.strip(), 95, break_long_words=False, break_on_hyphens=False)


def section(code, entry: dict) -> str:
    shown_as = example(INVALID / entry["fixture"])
    if shown_as.expect.code != code.id:
        raise SystemExit(
            f"{EXPLAINED.name}: {code.id} shows {entry['fixture']}, which "
            f"expects {shown_as.expect.code}"
        )
    parts = [f"## {code.id}: {code.title}", _wrap(entry["explain"])]
    for library in shown_as.libraries:
        parts.append(
            f"<!-- file: lib/{library.name} -->\n"
            + _fence("yaml", library.read_text(encoding="utf-8"))
        )
    if shown_as.plain:
        parts.append(f"<!-- invalid: {code.id} -->\n" + _fence("yaml", shown_as.text))
    else:
        parts.append(_fence("yaml", shown_as.text))
        parts.append(f"`{shown_as.expect.command(shown_as.file)}` reports:")
    parts.append(_fence("text", shown_as.message()))
    return "\n\n".join(parts)


def page() -> str:
    warnings = [c.id for c in CATALOGUE.values() if c.severity == WARNING]
    intro = _INTRO.format(warnings=", ".join(warnings) or "none")
    explained = explanations()
    return (
        "\n\n".join(
            [intro.rstrip("\n")]
            + [section(code, explained[code.id]) for code in CATALOGUE.values()]
        )
        + "\n"
    )


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    os.chdir(ROOT)
    for path in fixtures():
        _write(snapshot_file(path), snapshot(path))
    _write(PAGE, page())


if __name__ == "__main__":
    main()
