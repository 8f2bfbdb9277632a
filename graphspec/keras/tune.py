"""`graphspec tune`: KerasTuner over the `search:` section of a spec, with every candidate
validated statically (format, composition, shapes, `budget:`) before anything is built.

Each trial turns the sampled values into parameter overrides (`--set`), loads the spec with
them, and only a candidate that validates is built and trained, with the spec's own `compile`
and `train` sections on `BatchSequence`s (`model.fit`, whatever `train.loop` says). A candidate
that does not validate, or that Keras refuses to build, or whose loss becomes NaN, is a
*failed* trial in KerasTuner's sense (`FailedTrialError`): its diagnostics are kept in its
trial folder, and it does not count against `--trials`, which is the number of trials that
complete. The search stops with an error when `REJECTED_IN_A_ROW` candidates in a row do not
validate (the space is almost all invalid) or `FAILED_IN_A_ROW` trials in a row fail in
training.

Everything KerasTuner keeps lives in `DIR/NAME/` (NAME: the spec's name): `oracle.json`,
`trial_ID/trial.json` and checkpoints, plus graphspec's files: `graphspec.json` (what is
searched, to refuse a `--resume` of another search), and in each trial folder `graphspec.json`
(values, status, objective, timings), `spec.yaml` (the spec with the trial's values written
into `params`, no `search:`; it validates on its own) or `diagnostics.txt` (why it failed).

Distributed tuning is KerasTuner's own: with `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`
and `KERASTUNER_TUNER_ID` set, the process whose id contains `chief` serves the oracle and
writes the results; the others run trials. They share `--dir` for the best model.

Importing this module does not import Keras or KerasTuner (the command line builds its parser
from it): the KerasTuner classes are assembled on first use (`_classes`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import api, output
from .. import source as _source
from ..codes import CATALOGUE
from ..document import BoolSpace, ChoiceSpace, FloatSpace, IntSpace, TrainSpec
from ..errors import DataError, Diagnostic, OutputError, SpecError
from ..limits import Limits

TUNERS = ("random", "bayesian", "hyperband")
REJECTED_IN_A_ROW = 100  # candidates that do not validate, in a row, before the search stops
FAILED_IN_A_ROW = 3  # trials that fail in training, in a row (KerasTuner's own default)
STATE = "graphspec.json"  # graphspec's record, in the project folder and in each trial folder
INSTALL = "pip install 'graphspec[tune]' (keras-tuner[bayesian]>=1.4,<2)"
_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def _gs170(spec, template: str, hint: str | None = None, **fields) -> Diagnostic:
    code = CATALOGUE["GS170"]
    text = code.render(template, **fields)
    loc = ("search",) if template != "no_search" else ()
    return spec.source.diagnostic(loc, code.id, text, hint, key=True)


# -- the space ---------------------------------------------------------------------------------


def search_space(spec) -> dict:
    """The `search` section of a loaded spec: parameter name -> space model."""
    space = getattr(spec, "search_space", None)  # the public accessor, once Spec has it
    if space is None:
        space = spec._parsed.search
    return dict(space or {})


def _plain_choice(values: list) -> bool:
    """KerasTuner's Choice keeps ints, floats or strings, all of one type (booleans it turns
    into 1 and 0)."""
    kinds = {type(v) for v in values}
    return len(kinds) == 1 and kinds <= {int, float, str}


class Space:
    """The `search` section as KerasTuner hyperparameters, and sampled values back as
    parameter values. A choice among values KerasTuner cannot hold as they are (booleans,
    lists, mappings, null, mixed types) is a choice among their JSON texts, decoded here."""

    def __init__(self, spaces: dict, defaults: dict):
        self.spaces = spaces
        self.defaults = defaults
        self._encoded = {
            name
            for name, space in spaces.items()
            if isinstance(space, ChoiceSpace) and not _plain_choice(space.choice)
        }

    @classmethod
    def of(cls, spec, pinned: Sequence[str] = ()) -> "Space":
        """The space of `spec` without the parameters in `pinned` (fixed with --set).
        Raises SpecError when nothing is left to search."""
        spaces = search_space(spec)
        if not spaces:
            raise SpecError(
                [
                    _gs170(
                        spec,
                        "no_search",
                        hint="add e.g. search: {width: "
                        "{choice: [32, 64]}} for a declared parameter 'width'",
                    )
                ]
            )
        left = {name: space for name, space in spaces.items() if name not in pinned}
        if not left:
            raise SpecError([_gs170(spec, "pinned", hint="drop a --set")])
        return cls(left, spec.params)

    def declare(self, hp) -> None:
        """Declare every space on a `keras_tuner.HyperParameters`."""
        for name, space in self.spaces.items():
            default = self.defaults.get(name)
            if isinstance(space, ChoiceSpace):
                values = space.choice
                if name in self._encoded:
                    values = [json.dumps(v, sort_keys=True) for v in values]
                    default = json.dumps(default, sort_keys=True)
                values = list(dict.fromkeys(values))  # KerasTuner refuses repeated values
                hp.Choice(name, values, default=default if default in values else None)
            elif isinstance(space, IntSpace):
                low, high = space.int
                fits = (
                    type(default) is int
                    and low <= default <= high
                    and (default - low) % space.step == 0
                )
                hp.Int(name, low, high, step=space.step, default=default if fits else None)
            elif isinstance(space, FloatSpace):
                low, high = space.float
                fits = (
                    isinstance(default, (int, float))
                    and not isinstance(default, bool)
                    and low <= default <= high
                )
                hp.Float(
                    name,
                    low,
                    high,
                    sampling="log" if space.log else "linear",
                    default=float(default) if fits else None,
                )
            elif isinstance(space, BoolSpace):
                hp.Boolean(name, default=default if isinstance(default, bool) else False)
            else:  # pragma: no cover (the format knows four kinds)
                raise TypeError(f"unknown search space {space!r}")

    def values(self, sampled: dict) -> dict:
        """Parameter values from KerasTuner's values (which may hold `tuner/...` entries)."""
        return {
            name: json.loads(sampled[name]) if name in self._encoded else sampled[name]
            for name in self.spaces
            if name in sampled
        }

    def to_dict(self) -> dict:
        return {name: space.model_dump() for name, space in self.spaces.items()}


def describe(values: dict) -> str:
    """`width=64 lr=0.00123 dropout=true`: values as a reader (and --set) writes them."""
    return " ".join(f"{name}={_short(value)}" for name, value in values.items())


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _flow(value) if not isinstance(value, str) else value


def hyperparameters(spec, pinned: Sequence[str] = ()):
    """The `keras_tuner.HyperParameters` of a spec's `search` section."""
    hp = _keras_tuner().HyperParameters()
    Space.of(spec, pinned).declare(hp)
    return hp


# -- objectives --------------------------------------------------------------------------------

_MAXIMIZED = re.compile(r"acc|auc|precision|recall|f1|iou|r2|top_k|cosine_similarity")


def parse_objective(text: str) -> tuple[str, str]:
    """(metric, "min" or "max") from `val_loss`, `val_accuracy`, or `NAME:min` / `NAME:max`.
    Raises ValueError when the direction cannot be told."""
    name, _, direction = text.partition(":")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(
            f"the objective must be a metric name such as val_loss or "
            f"val_accuracy, optionally with :min or :max. Received: '{text}'"
        )
    if direction:
        if direction not in ("min", "max"):
            raise ValueError(f"the objective's direction is min or max. Received: '{text}'")
        return name, direction
    base = name.removeprefix("val_")
    if (
        base == "loss"
        or base.endswith("_loss")
        or re.search(
            r"error|mse|mae|mape|msle|"
            r"crossentropy|hinge|divergence",
            base,
        )
    ):
        return name, "min"
    if _MAXIMIZED.search(base):
        return name, "max"
    raise ValueError(
        f"cannot tell whether to minimize or maximize '{name}': write '{name}:min' or '{name}:max'"
    )


# -- specs of trials ---------------------------------------------------------------------------


def _flow(value) -> str:
    """A value as YAML flow text that reads back as the same value (PyYAML reads YAML 1.1,
    where `1e-05` is a string: a float always gets a point)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        mantissa, e, exponent = repr(value).partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + (f"e{exponent}" if e else "")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not plain data: {value!r}")


def _scalar_end(line: str, start: int, flow: bool) -> int | None:
    """Where the one-line value starting at `line[start]` ends, or None when it does not end
    on this line or is not a plain value (a block scalar, an anchor, a tag)."""
    if start >= len(line):
        return None
    first = line[start]
    if first in "'\"":
        i = start + 1
        while i < len(line):
            if first == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == first:
                if first == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return None
    if first in "[{":
        depth, i, quote = 0, start, None
        while i < len(line):
            c = line[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 1
                elif c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return None
    if first in "|>&*!#":
        return None
    end = len(line)
    comment = line.find(" #", start)
    if comment != -1:
        end = comment
    if flow:
        end = min((i for i in (line.find(c, start, end) for c in ",]}") if i != -1), default=end)
    end = len(line[:end].rstrip())
    return end if end > start else None


def _expected(data: dict, values: dict, imports: list | None) -> dict:
    new = {k: v for k, v in data.items() if k != "search"}
    new["params"] = {**(data.get("params") or {}), **values}
    if imports is not None:
        new["imports"] = imports
    return new


def spec_text(spec, values: dict, folder: str | os.PathLike, header: str = "") -> str:
    """The text of `spec` with `values` written into `params` and the `search` section
    removed, for a file in `folder` (relative imports are rewritten to still find their
    files). Comments and layout are kept; when the file's layout is not one this can edit
    safely (params in an imported file, multi-line values), the spec is written anew in
    graphspec's own layout. The text is always read back and compared with what it must
    hold."""
    src = spec.source
    data = src.data
    imports = data.get("imports")
    if imports and src.base_dir is not None:
        base = Path(src.base_dir)
        imports = [
            os.path.relpath(base / i, Path(folder).resolve())
            if isinstance(i, str) and not os.path.isabs(i)
            else i
            for i in imports
        ]
    else:
        imports = None
    expected = _expected(data, values, imports)
    prefix = "".join(f"# {line}\n" for line in header.splitlines())
    if src.text is not None and not src.path.endswith(".json"):
        edited = _edit_yaml(src, values, imports)
        if edited is not None and _reads_as(edited, expected):
            return _with_header(edited, prefix)
    if src.path.endswith(".json"):
        return json.dumps(expected, indent=2) + "\n"
    return prefix + _source.dumps(expected)


def _with_header(text: str, prefix: str) -> str:
    first, _, rest = text.partition("\n")
    if first.startswith("# yaml-language-server:"):  # the schema modeline stays first
        return first + "\n" + prefix + rest
    return prefix + text


def _reads_as(text: str, expected: dict) -> bool:
    try:
        return _source.read_value(text, Limits(max_bytes=max(len(text) * 4, 1 << 20))) == expected
    except SpecError:
        return False


def _edit_yaml(src, values: dict, imports: list | None) -> str | None:
    """The spec's text with `values` replacing the written parameter values, `imports`
    replacing the import paths, and the top-level `search:` block cut out; None when the
    layout does not allow it."""
    lines = src.text.split("\n")
    edits: list[tuple[int, int, int, str]] = []  # (0-based line, start, end, new text)

    def replace(loc: tuple, new: str, flow: bool) -> bool:
        line, column = src.locate(loc)
        if line is None or line > len(lines):
            return False
        end = _scalar_end(lines[line - 1], column - 1, flow)
        if end is None:
            return False
        edits.append((line - 1, column - 1, end, new))
        return True

    params = src.data.get("params")
    if not isinstance(params, dict) or any(name not in params for name in values):
        return None  # a parameter declared in an imported file: nothing to edit here
    params_line, params_column = src.locate(("params",))
    params_flow = lines[params_line - 1][params_column - 1 : params_column] == "{"
    for name, value in values.items():
        if not replace(("params", name), _flow(value), params_flow):
            return None
    for i, path in enumerate(imports or []):
        imports_line, imports_column = src.locate(("imports",))
        flow = lines[imports_line - 1][imports_column - 1 : imports_column] == "["
        if not replace(("imports", i), json.dumps(path), flow):
            return None
    for row, start, end, new in sorted(edits, reverse=True):
        rest = lines[row][end:]
        gap = len(rest) - len(rest.lstrip(" "))
        if rest[gap:].startswith("#"):  # keep a trailing comment where it was, if there is room
            rest = " " * max(1, gap - (len(new) - (end - start))) + rest[gap:]
        lines[row] = lines[row][:start] + new + rest
    if "search" in src.data:
        first, column = src.locate(("search",), key=True)
        if first is None or column != 1:
            return None
        starts = sorted(
            line
            for key in src.data
            if key != "search"
            for line, _ in [src.locate((key,), key=True)]
            if line is not None and line > first
        )
        stop = starts[0] - 1 if starts else len(lines)
        # Comments and blank lines at the margin just above the next key belong to it.
        while stop > first and (not lines[stop - 1].strip() or lines[stop - 1].startswith("#")):
            stop -= 1
        del lines[first - 1 : stop]
    return "\n".join(lines)


# -- records -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What graphspec knows of one trial: written to `trial_ID/graphspec.json`."""

    trial: str
    values: dict
    status: str = "running"  # completed, rejected (did not validate), failed (build, training)
    objective: float | None = None
    epochs: int = 0
    continues: str | None = None  # Hyperband: the trial whose training this one continues
    reason: str | None = None  # why it failed, in one line
    message: str | None = None  # why it failed, in full (the diagnostics, or a traceback)
    seconds: dict = field(
        default_factory=lambda: dict.fromkeys(
            ("sample", "validate", "build", "train", "total"), 0.0
        )
    )
    tuner: str = ""
    started: float = field(default=0.0, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "started"}

    def fail(
        self, status: str, diagnostics: list[Diagnostic] | None = None, text: str | None = None
    ) -> None:
        self.status = status
        if diagnostics:
            first = next((d for d in diagnostics if d.is_error), diagnostics[0])
            where = f" ({Path(first.path).name}:{first.line})" if first.line else ""
            more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
            self.reason = f"{first.code} {first.message}{where}{more}"
            self.message = _render(diagnostics)
        else:
            self.reason, self.message = _last_line(text or ""), text

    @property
    def graphspec_seconds(self) -> float:
        return sum(self.seconds[k] for k in ("sample", "validate", "build"))


@dataclass
class TuneResult:
    """What `tune` did: every trial known (all of them on the chief or a local run, this
    worker's on a worker), the best one, and the files written."""

    trials: list[Outcome]
    best: Outcome | None = None
    spec_path: Path | None = None
    model_path: Path | None = None
    objective: tuple[str, str] = ("val_loss", "min")

    @property
    def completed(self) -> list[Outcome]:
        return [t for t in self.trials if t.status == "completed"]


def _rank(outcomes: list[Outcome], direction: str) -> list[Outcome]:
    sign = -1 if direction == "max" else 1
    done = sorted(
        (t for t in outcomes if t.status == "completed" and t.objective is not None),
        key=lambda t: sign * t.objective,
    )
    return done + sorted((t for t in outcomes if t not in done), key=_number)


def _number(outcome: Outcome) -> tuple:
    # KerasTuner's ids are numbers, zero-padded to the digits of its current trial limit.
    return (0, int(outcome.trial)) if outcome.trial.isdigit() else (1, outcome.trial)


def table(result: TuneResult) -> str:
    """The trials sorted by objective, failed ones last."""
    name, direction = result.objective
    outcomes = _rank(result.trials, direction)
    params = list(dict.fromkeys(k for t in outcomes for k in t.values))
    head = ["#", "trial", *params, name, "epochs", "seconds", "status"]
    rows = []
    for rank, t in enumerate(outcomes, 1):
        done = t.status == "completed"
        rows.append(
            [
                str(rank) if done else "-",
                t.trial,
                *[_short(t.values[p]) if p in t.values else "" for p in params],
                f"{t.objective:.5g}" if t.objective is not None else "-",
                str(t.epochs) if done else "-",
                f"{t.seconds['total']:.1f}",
                t.status + (f": {t.reason}" if t.reason and not done else ""),
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]

    return "\n".join([line(head), *map(line, rows)])


def _last_line(message: str) -> str:
    """The last line of a traceback says what went wrong."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- tuning ------------------------------------------------------------------------------------


def role() -> str:
    """`local`, or with KERASTUNER_ORACLE_IP set, `chief` (the id contains `chief`) or
    `worker`: KerasTuner's own rule."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


@dataclass(frozen=True)
class _Options:
    """How the spec was loaded: every candidate is loaded the same way."""

    params: dict
    limits: Limits | None
    allow_imports_from: tuple

    def load(self, spec, values: dict):
        return api.load(
            spec.path,
            params={**self.params, **values},
            limits=self.limits,
            allow_imports_from=self.allow_imports_from,
        )


def tune(
    spec,
    data: dict,
    validation: dict,
    *,
    trials: int = 10,
    tuner: str = "random",
    objective: str = "val_loss",
    directory: str | os.PathLike = "tuning",
    output_path: str | os.PathLike | None = None,
    resume: bool = False,
    params: dict | None = None,
    limits: Limits | None = None,
    allow_imports_from: Sequence[str | os.PathLike] = (),
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Search the `search` space of `spec` (loaded from a file with `params`, `limits` and
    `allow_imports_from`, which every candidate is loaded with too) with KerasTuner's
    `tuner`, until `trials` trials complete. A parameter in `params` is fixed, not searched.

    Writes the state to `directory/NAME/` and, on a local run or the chief, the best spec to
    `output_path` (default `directory/NAME/best.yaml`) and the best model beside it (same
    name, `.keras`). `resume` continues the search in `directory`. A KeyboardInterrupt leaves
    the state saved and propagates."""
    if spec.source.text is None:
        raise ValueError(
            "tune needs a spec loaded from a file (every candidate is loaded again with its values)"
        )
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {', '.join(TUNERS)}. Received: {tuner!r}")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be at least 1. Received: {trials!r}")
    metric, direction = parse_objective(objective)
    check_installed(tuner)
    where = role()
    options = _Options(dict(params or {}), limits, tuple(allow_imports_from))
    space = Space.of(spec, pinned=list(options.params))
    project = Path(directory) / spec.name
    state = {
        "spec": str(spec.path),
        "search": space.to_dict(),
        "tuner": tuner,
        "objective": f"{metric}:{direction}",
        "params": options.params,
    }
    best_spec = best_model = None
    if where != "worker":
        _check_state(project, state, resume)
        if output_path is None:
            project.mkdir(parents=True, exist_ok=True)
        best_spec = Path(output_path) if output_path is not None else project / "best.yaml"
        output.check_target(best_spec, _SPEC_SUFFIXES)
        best_model = best_spec.with_suffix(".keras")
        output.check_target(best_model, (".keras",))
    classes = _classes()
    hypermodel = classes.HyperSpec(spec, space, options, metric)
    searcher = _searcher(hypermodel, tuner, (metric, direction), trials, directory, where, log)
    if where != "worker" and not resume:
        output.write_text(project / STATE, json.dumps(state, indent=2) + "\n")
    kind = {
        "random": "random search",
        "bayesian": "Bayesian optimization",
        "hyperband": "Hyperband",
    }[tuner]
    log(
        f"tuning {spec.name}: {kind} over {', '.join(space.spaces)} until {trials} trial(s) "
        f"complete; objective {metric} ({direction}); state in {project}"
        + {
            "chief": f" (chief: serving {_address()})",
            "worker": f" (worker {os.environ.get('KERASTUNER_TUNER_ID')} of {_address()})",
            "local": "",
        }[where]
    )
    try:
        with _quiet(), _frozen_garbage():
            if where == "chief":
                _serve(searcher)
            else:
                searcher.search(data, validation, verbose=0)
    except KeyboardInterrupt:
        searcher.save()
        log(f"\ninterrupted: the search is saved in {project}; continue with --resume")
        raise
    except classes.Stop as exc:
        raise exc.error from None

    result = TuneResult(searcher.outcomes(), objective=(metric, direction))
    if where == "worker":
        log(
            f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: ran {len(result.trials)} "
            f"trial(s), {len(result.completed)} completed"
        )
        return result
    log("\n" + table(result))
    ranked = _rank(result.trials, direction)
    result.best = ranked[0] if ranked and ranked[0].status == "completed" else None
    if result.best is None:
        raise DataError(
            f"no trial completed in {project}: every candidate failed (see "
            "the table above and each trial's diagnostics.txt)"
        )
    if len(result.completed) < trials:
        log(
            f"note: {len(result.completed)} of {trials} trials completed: the space holds "
            "no other candidate that KerasTuner had not tried"
        )
    _write_best(searcher, hypermodel, result, best_spec, best_model, log)
    return result


def _searcher(
    hypermodel, tuner: str, objective: tuple[str, str], trials: int, directory, where: str, log
):
    """The KerasTuner tuner of that name, over an oracle that counts completed trials."""
    kt, classes = _keras_tuner(), _classes()
    metric, direction = objective
    settings = hypermodel.spec.train_settings or TrainSpec()
    seed = None if settings.seed is None else settings.seed + 1  # KerasTuner reads 0 as none
    common = {
        "objective": kt.Objective(metric, direction),
        "seed": seed,
        "max_consecutive_failed_trials": None,
    }  # graphspec counts failures itself
    if tuner == "hyperband":
        # Endless brackets: the count of completed trials ends the search, as for the others.
        oracle = classes.oracles[tuner](
            max_epochs=settings.epochs, factor=3, hyperband_iterations=None, **common
        )
    else:
        oracle = classes.oracles[tuner](max_trials=trials, **common)
    oracle.wanted = trials
    if where == "chief":  # the chief runs no trial: it tells of each one a worker ends

        def announce(trial, runner):
            values = hypermodel.space.values(trial.hyperparameters.values)
            outcome = (
                f"{metric} {trial.score:.5g}"
                if trial.status == "COMPLETED"
                else f"failed (see trial_{trial.trial_id}/diagnostics.txt; not counted)"
            )
            log(f"trial {trial.trial_id} ({runner}): {describe(values)} -> {outcome}")

        oracle.announce = announce
        oracle.verbose = 0  # KerasTuner's own display
    Path(directory).mkdir(parents=True, exist_ok=True)
    return classes.tuners[tuner](
        hypermodel=hypermodel,
        oracle=oracle,
        directory=str(directory),
        project_name=hypermodel.spec.name,
        log=log,
        local=where == "local",
    )


@contextlib.contextmanager
def _quiet():
    """KerasTuner prints the traceback of every failed trial (`config.DEBUG`, not exported,
    on by default): graphspec records why each failed and prints one line instead. Loading
    a checkpoint into a fresh model warns that the optimizer's state is not loaded: the
    weights are what is wanted."""
    from keras_tuner.src import config

    before, config.DEBUG = config.DEBUG, False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            yield
    finally:
        config.DEBUG = before


@contextlib.contextmanager
def _frozen_garbage():
    """KerasTuner collects garbage twice per trial (`clear_session`, then `gc.collect`), and
    each full collection walks every object TensorFlow and Keras made: about 0.25 s of CPU.
    What exists when the search starts lives until it ends; frozen, it is not walked."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _address() -> str:
    return f"{os.environ.get('KERASTUNER_ORACLE_IP')}:{os.environ.get('KERASTUNER_ORACLE_PORT')}"


def _check_state(project: Path, state: dict, resume: bool) -> None:
    saved = project / "oracle.json"
    if not resume:
        if saved.exists():
            raise OutputError(
                f"'{project}' holds a search already: --resume continues it; "
                "or give another --dir, or delete it",
                project,
                usage=True,
            )
        return
    if not saved.exists():
        raise OutputError(
            f"--resume continues a search, but '{project}' holds none; "
            "run without --resume to start one",
            project,
            usage=True,
        )
    try:
        before = json.loads((project / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    differs = [
        key for key in ("search", "tuner", "objective", "params") if before.get(key) != state[key]
    ]
    if differs:
        shown = "; ".join(
            f"{key}: {json.dumps(before.get(key))} -> {json.dumps(state[key])}" for key in differs
        )
        raise DataError(
            f"the search in '{project}' differs from this one ({shown}): "
            "--resume continues only the same search. Restore the settings, or "
            "start a new search in another --dir"
        )


def _write_best(
    searcher, hypermodel, result: TuneResult, spec_path: Path, model_path: Path, log
) -> None:
    best = result.best
    name, _ = result.objective
    candidate = hypermodel.candidate(best.values)
    header = (
        f"graphspec tune: trial {best.trial} of {candidate.path}, {name} = "
        f"{best.objective:.6g}\nThe best values are written into params; the 'search' "
        "section was removed."
    )
    output.write_text(spec_path, spec_text(candidate, best.values, spec_path.parent, header))
    result.spec_path = spec_path
    log(
        f"best: trial {best.trial}, {describe(best.values)}, {name} = {best.objective:.5g} "
        f"-> {spec_path}"
    )
    trial = searcher.oracle.get_trial(best.trial)
    try:
        with _quiet():
            model = searcher.load_model(trial)
    except (OSError, ValueError) as exc:  # the checkpoint is on a worker's disk
        log(
            f"note: the best model was not saved: its checkpoint cannot be read ({exc}); "
            f"train {spec_path} to get it"
        )
        return
    candidate.save(
        model,
        model_path,
        extra={"tuning": {"trial": best.trial, "objective": name, "value": best.objective}},
    )
    result.model_path = model_path
    log(f"best model (weights of its best epoch) -> {model_path}")


def _serve(searcher) -> None:
    """The chief: KerasTuner's oracle server (its own servicer and messages), stopping as
    soon as every worker has been told the search is over. (KerasTuner's `start_server`
    checks that only every 20 seconds.)"""
    from concurrent import futures

    import grpc

    # Not exported by KerasTuner: the servicer and the wire format its workers speak.
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    searcher.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(searcher.oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if not server.add_insecure_port(_address()):
        raise OutputError(
            f"the chief cannot listen on {_address()} (KERASTUNER_ORACLE_IP, "
            "KERASTUNER_ORACLE_PORT)",
            usage=True,
        )
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(searcher.oracle)):
            time.sleep(0.2)
    finally:
        server.stop(grace=1)


# -- KerasTuner ----------------------------------------------------------------------------------


@functools.cache
def _keras_tuner():
    try:
        import keras_tuner
    except ImportError as exc:
        raise ImportError(f"graphspec tune needs KerasTuner: {INSTALL}") from exc
    return keras_tuner


def check_installed(tuner: str) -> None:
    """Raises ImportError, naming the install command, when `tuner` cannot run here."""
    _keras_tuner()
    if tuner == "bayesian":
        try:
            import scipy  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"--tuner bayesian needs scikit-learn and SciPy: {INSTALL}") from exc


class _Counting:
    """Joined with a KerasTuner oracle: `max_trials` grows by one for each failed trial,
    so that `wanted` trials complete (KerasTuner counts every trial). On the chief,
    `announce(trial, tuner_id)` is told of each trial a worker ends."""

    wanted: int | None = None
    announce: Callable | None = None

    def create_trial(self, tuner_id):
        if self.wanted is not None:
            failed = sum(t.status == "FAILED" for t in self.trials.values())
            self.max_trials = self.wanted + failed
        return super().create_trial(tuner_id)

    def end_trial(self, trial):
        runner = next(
            (
                tuner
                for tuner, running in self.ongoing_trials.items()
                if running.trial_id == trial.trial_id
            ),
            "?",
        )
        super().end_trial(trial)
        if self.announce is not None:
            self.announce(self.trials[trial.trial_id], runner)


class _HyperSpec:
    """Joined with `keras_tuner.HyperModel`: the spec's model for sampled values, validated
    first, and its training by the spec's `compile` and `train` sections."""

    def __init__(self, spec, space: Space, options: _Options, objective: str):
        _keras_tuner().HyperModel.__init__(self, name=spec.name)
        self.spec, self.space, self.options, self.objective = spec, space, options, objective
        self.outcome: Outcome | None = None  # the running trial's, for its timings
        self._cache: dict[str, tuple[Any, list[Diagnostic]]] = {}

    def declare_hyperparameters(self, hp) -> None:
        self.space.declare(hp)

    def check(self, values: dict):
        """(validated Spec or None, diagnostics) for parameter values."""
        key = json.dumps(values, sort_keys=True)
        if key not in self._cache:
            try:
                found = self.options.load(self.spec, values), []
            except SpecError as exc:
                found = None, exc.diagnostics
            self._cache = {key: found}  # trials ask for the same values a few times in a row
        return self._cache[key]

    def candidate(self, values: dict):
        spec, diagnostics = self.check(values)
        if spec is None:
            raise SpecError(diagnostics)
        return spec

    def build(self, hp):
        kt = _keras_tuner()
        spec = self.candidate(self.space.values(hp.values))
        started = time.perf_counter()
        try:
            model = spec.build(seed=(spec.train_settings or TrainSpec()).seed)
        except SpecError as exc:  # what only Keras tells
            if self.outcome is not None:
                self.outcome.fail("failed", exc.diagnostics)
            raise kt.errors.FailedTrialError(_render(exc.diagnostics)) from None
        if self.outcome is not None:
            self.outcome.seconds["build"] += time.perf_counter() - started
        return model

    def fit(self, hp, model, data, validation, callbacks=None, epochs=None, initial_epoch=0, **_):
        import keras

        from .data import BatchSequence

        spec = self.candidate(self.space.values(hp.values))
        settings = spec.train_settings or TrainSpec()
        started = time.perf_counter()
        batches = dict(batch_size=settings.batch_size, remainder=settings.remainder)
        try:
            train = BatchSequence.for_model(
                model, data, shuffle=settings.shuffle, seed=settings.seed, **batches
            )
            val = BatchSequence.for_model(model, validation, **batches)
        except DataError as exc:  # the data, not the candidate: no trial can do better
            raise _classes().Stop(exc) from None
        callbacks = list(callbacks or []) + [_nan_guard(keras)]
        stopping = _early_stopping(spec, self.objective)
        if stopping:
            callbacks.append(keras.callbacks.EarlyStopping(**stopping))
        steps = min(len(train), settings.steps_per_epoch or len(train))
        val_steps = min(len(val), settings.validation_steps or len(val))
        try:
            history = model.fit(
                train,
                validation_data=val,
                epochs=epochs or settings.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_steps=val_steps,
                callbacks=callbacks,
                verbose=0,
            )
        except _keras_tuner().errors.FailedTrialError as exc:
            if self.outcome is not None:
                self.outcome.fail("failed", text=str(exc))
            raise
        finally:
            if self.outcome is not None:
                self.outcome.seconds["train"] += time.perf_counter() - started
        if self.objective not in history.history:
            reported = ", ".join(history.history)
            raise _classes().Stop(
                DataError(
                    f"the objective '{self.objective}' is not among the metrics training reports "
                    f"({reported}); choose one of them with --objective"
                )
            )
        if self.outcome is not None:
            self.outcome.epochs = len(history.history[self.objective]) + initial_epoch
        return history


def _early_stopping(spec, objective: str) -> dict | None:
    """`train.early_stopping: {monitor, patience, min_delta}` as EarlyStopping's arguments."""
    value = getattr(spec.train_settings, "early_stopping", None)
    if value is None:
        return None
    value = value.model_dump() if hasattr(value, "model_dump") else dict(value)
    return {
        "monitor": value.get("monitor") or objective,
        "patience": value.get("patience") or 0,
        "min_delta": value.get("min_delta") or 0.0,
    }


def _nan_guard(keras):
    """Fails the trial at the first batch whose loss is NaN or infinite."""
    epoch = [0]

    def check(batch, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise _keras_tuner().errors.FailedTrialError(
                f"the loss became {float(loss)} at epoch {epoch[0] + 1}, batch {batch + 1}"
            )

    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs=None: epoch.__setitem__(0, e), on_train_batch_end=check
    )


def _render(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diagnostics)


class _Searcher:
    """Joined with `keras_tuner.Tuner` (or `Hyperband`): each trial's values are validated
    as a spec before it is built; the trial's record, progress line and failure limits."""

    def __init__(self, *, hypermodel, oracle, directory, project_name, log, local):
        self.log, self.local = log, local
        self._asked = time.perf_counter()
        self._outcome: Outcome | None = None
        self._in_a_row = {"rejected": 0, "failed": 0}
        self._last_rejection: list[Diagnostic] = []
        # Tuner's own __init__, also under Hyperband (whose __init__ makes its own oracle).
        _keras_tuner().Tuner.__init__(
            self,
            oracle=oracle,
            hypermodel=hypermodel,
            directory=directory,
            project_name=project_name,
            overwrite=False,
        )

    def _populate_initial_space(self):
        # KerasTuner builds the model here until every conditional hyperparameter is seen; a
        # spec declares all of its space up front, so declaring it is enough (and builds
        # nothing).
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def pre_create_trial(self):
        self._asked = time.perf_counter()

    def on_trial_begin(self, trial):
        now = time.perf_counter()
        values = self.hypermodel.space.values(trial.hyperparameters.values)
        self._outcome = Outcome(
            trial.trial_id,
            values,
            tuner=self.tuner_id,
            started=now,
            continues=trial.hyperparameters.values.get("tuner/trial_id"),
        )
        self._outcome.seconds["sample"] = now - self._asked
        self.hypermodel.outcome = self._outcome
        super().on_trial_begin(trial)

    def run_trial(self, trial, *args, **kwargs):
        kt = _keras_tuner()
        outcome = self._outcome
        started = time.perf_counter()
        spec, diagnostics = self.hypermodel.check(outcome.values)
        folder = Path(self.get_trial_dir(trial.trial_id))
        if spec is None:
            outcome.fail("rejected", diagnostics)
            self._last_rejection = diagnostics
            output.write_text(folder / "diagnostics.txt", _rejection(self.hypermodel, outcome))
            outcome.seconds["validate"] = time.perf_counter() - started
            raise kt.errors.FailedTrialError(outcome.message)
        output.write_text(
            folder / "spec.yaml",
            spec_text(
                spec,
                outcome.values,
                folder,
                f"graphspec tune: trial {trial.trial_id} of {spec.path}",
            ),
        )
        outcome.seconds["validate"] = time.perf_counter() - started  # with the spec's copy
        try:
            return super().run_trial(trial, *args, **kwargs)
        except kt.errors.FailedTrialError:
            if outcome.status == "failed":
                output.write_text(folder / "diagnostics.txt", _rejection(self.hypermodel, outcome))
            raise

    def on_trial_end(self, trial):
        outcome = self._outcome
        self.hypermodel.outcome = None
        if trial.status != "COMPLETED" and outcome.message:
            trial.message = outcome.message  # the diagnostics, not a traceback
        super().on_trial_end(trial)  # the oracle records it; KerasTuner's state is saved
        ended = self.oracle.get_trial(trial.trial_id)
        if ended.status == "COMPLETED":
            outcome.status, outcome.objective = "completed", float(ended.score)
        elif outcome.status not in ("rejected", "failed"):  # an error graphspec did not expect
            outcome.fail("failed", text=trial.message or "the objective is not a number")
            output.write_text(
                Path(self.get_trial_dir(trial.trial_id)) / "diagnostics.txt",
                _rejection(self.hypermodel, outcome),
            )
        outcome.seconds["total"] = time.perf_counter() - outcome.started
        output.write_text(
            Path(self.get_trial_dir(trial.trial_id)) / STATE,
            json.dumps(outcome.to_dict(), indent=2) + "\n",
        )
        self.log(self._progress(outcome))
        self._check_limits(outcome)

    def _progress(self, outcome: Outcome) -> str:
        count = ""
        if self.local:
            done = sum(t.status == "COMPLETED" for t in self.oracle.trials.values())
            count = f" [{done}/{self.oracle.wanted}]"
        line = f"trial {outcome.trial}{count}: {describe(outcome.values)} -> "
        seconds = f" in {outcome.seconds['total']:.1f} s"
        if outcome.status == "completed":
            more = f" (continues trial {outcome.continues})" if outcome.continues else ""
            return line + f"{self.hypermodel.objective} {outcome.objective:.5g}{more}" + seconds
        return line + f"{outcome.status}: {outcome.reason}" + seconds + " (not counted)"

    def _check_limits(self, outcome: Outcome) -> None:
        if outcome.status == "completed":
            self._in_a_row = {"rejected": 0, "failed": 0}
            return
        self._in_a_row[outcome.status] += 1
        if self._in_a_row["rejected"] >= REJECTED_IN_A_ROW:
            spec = self.hypermodel.spec
            raise SpecError(
                [
                    _gs170(
                        spec,
                        "mostly_invalid",
                        count=REJECTED_IN_A_ROW,
                        values=describe(outcome.values),
                        hint="narrow the ranges to values that fit the model's shapes and budget",
                    ),
                    *self._last_rejection,
                ]
            )
        if self._in_a_row["failed"] >= FAILED_IN_A_ROW:
            raise DataError(
                f"{FAILED_IN_A_ROW} trials in a row failed in training; the last "
                f"({describe(outcome.values)}): {outcome.reason}. "
                "The search is saved: fix the cause and continue with --resume"
            )

    def outcomes(self) -> list[Outcome]:
        """Every trial the oracle knows (on a worker: this worker's), from the records the
        tuners wrote, or from the oracle for a trial without one."""
        kt = _keras_tuner()
        if not isinstance(self.oracle, kt.Oracle):  # a worker: its own records only
            names = sorted(Path(self.project_dir).glob(f"trial_*/{STATE}"))
            found = [_read_outcome(n) for n in names]
            return [o for o in found if o is not None and o.tuner == self.tuner_id]
        result = []
        for trial_id, trial in self.oracle.trials.items():
            record = _read_outcome(Path(self.get_trial_dir(trial_id)) / STATE)
            if record is None:
                record = Outcome(
                    trial_id,
                    self.hypermodel.space.values(trial.hyperparameters.values),
                    status={"COMPLETED": "completed", "FAILED": "failed"}.get(
                        trial.status, "running"
                    ),
                    objective=trial.score,
                    reason=_last_line(trial.message or ""),
                    message=trial.message,
                )
            result.append(record)
        return result


def _read_outcome(path: Path) -> Outcome | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Outcome(**data)
    except (OSError, ValueError, TypeError):
        return None


def _rejection(hypermodel, outcome: Outcome) -> str:
    sets = " ".join(f"--set {name}={_flow(value)}" for name, value in outcome.values.items())
    what = (
        "does not validate" if outcome.status == "rejected" else "failed while building or training"
    )
    return (
        f"trial {outcome.trial}: {describe(outcome.values)} {what}. To see it again:\n"
        f"  graphspec validate {hypermodel.spec.path} {sets}\n\n{outcome.message}\n"
    )


@functools.cache
def _classes():
    """The KerasTuner classes, assembled on first use from the logic above."""
    kt = _keras_tuner()

    def counting(base):
        return type(
            f"Counting{base.__name__}",
            (_Counting, base),
            {
                "create_trial": kt.synchronized(_Counting.create_trial),
                "end_trial": kt.synchronized(_Counting.end_trial),
            },
        )

    class Stop(kt.errors.FatalError):
        """Ends the search with a graphspec error no trial can avoid (bad data)."""

        def __init__(self, error: Exception):
            super().__init__(str(error))
            self.error = error

    searcher = type("SpecTuner", (_Searcher, kt.Tuner), {})

    class Classes:
        pass

    found = Classes()
    found.Stop = Stop
    found.HyperSpec = type("SpecHyperModel", (_HyperSpec, kt.HyperModel), {})
    found.oracles = {
        "random": counting(kt.oracles.RandomSearchOracle),
        "bayesian": counting(kt.oracles.BayesianOptimizationOracle),
        "hyperband": counting(kt.oracles.HyperbandOracle),
    }
    found.tuners = {
        "random": searcher,
        "bayesian": searcher,
        "hyperband": type("SpecHyperband", (_Searcher, kt.Hyperband), {}),
    }
    return found


# -- the command line ----------------------------------------------------------------------------


# The command's help line and its description in `graphspec tune --help`.
HELP = "search the spec's `search:` space with KerasTuner"
DESCRIPTION = (
    "Search the values of the spec's `search:` section with KerasTuner. Every candidate is "
    "validated (shapes, budget) before it is built; one that fails is a failed trial that does "
    f"not count. Needs KerasTuner: {INSTALL}."
)


def add_arguments(cmd) -> None:
    cmd.add_argument("spec", metavar="SPEC")
    cmd.add_argument(
        "--data",
        required=True,
        metavar="train.npz",
        help="training arrays: a .npz file or a folder of NAME.npy files",
    )
    cmd.add_argument(
        "--validation",
        required=True,
        metavar="val.npz",
        help="validation arrays, as --data; the objective is measured on them",
    )
    cmd.add_argument(
        "--trials",
        type=int,
        default=10,
        metavar="N",
        help="trials to complete (failed candidates do not count; default 10)",
    )
    cmd.add_argument(
        "--tuner",
        choices=TUNERS,
        default="random",
        help="KerasTuner's RandomSearch, BayesianOptimization or Hyperband",
    )
    cmd.add_argument(
        "--objective",
        default="val_loss",
        metavar="METRIC[:min|max]",
        help="the metric to optimize (default val_loss)",
    )
    cmd.add_argument(
        "--dir",
        default="tuning",
        metavar="DIR",
        help="where KerasTuner keeps the search (DIR/NAME; default tuning)",
    )
    cmd.add_argument(
        "-o",
        "--output",
        metavar="best.yaml",
        help="the best spec (default DIR/NAME/best.yaml); the best model is "
        "saved beside it as .keras",
    )
    cmd.add_argument("--resume", action="store_true", help="continue the search saved in --dir")


def add_parser(sub, spec_options) -> None:
    cmd = sub.add_parser("tune", parents=[spec_options], help=HELP, description=DESCRIPTION)
    add_arguments(cmd)


def run(args) -> int:
    from .. import cli
    from .data import load_arrays

    if args.trials < 1:
        raise cli.UsageError(f"--trials must be at least 1. Received: {args.trials}")
    try:
        parse_objective(args.objective)
    except ValueError as exc:
        raise cli.UsageError(str(exc)) from None
    if "KERASTUNER_ORACLE_IP" in os.environ:
        missing = [
            v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)
        ]
        if missing:
            raise cli.UsageError(
                f"KERASTUNER_ORACLE_IP is set for distributed tuning, but "
                f"{' and '.join(missing)} is not"
            )
    try:
        check_installed(args.tuner)
    except ImportError as exc:
        raise cli.UsageError(str(exc)) from None
    for given in (args.data, args.validation):
        if not Path(given).exists():
            raise cli.UsageError(f"no such file or folder: '{given}'")
    spec = cli._load(args, args.spec)

    def search():
        return tune(
            spec,
            load_arrays(args.data),
            load_arrays(args.validation),
            trials=args.trials,
            tuner=args.tuner,
            objective=args.objective,
            directory=args.dir,
            output_path=args.output,
            resume=args.resume,
            params=cli._overrides(args),
            limits=cli._limits(args),
            allow_imports_from=args.allow_imports_from,
        )

    cli._interruptible(search)
    return cli.ExitCode.OK
