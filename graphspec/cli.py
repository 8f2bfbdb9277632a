"""The `graphspec` command: argument parsing, printing diagnostics, exit codes.

Every command is a small function that calls the library and returns an `ExitCode`; every
error a user can cause reaches `main` as a `graphspec.Error` and is printed there, in one
place, as located diagnostics or a one-line `graphspec: error: ...`. A mistake in a spec, a
file or on the command line never prints a Python traceback.
"""

from __future__ import annotations

import argparse
import enum
import gc
import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Callable

from . import __version__, api, output, registry, source
from .analysis import backends
from .errors import ERROR, Error, ExportError, OutputError, PlotError, RegistryError, SpecError
from .limits import Limits

# Commands that live in their feature's module (`add_parser` and `run`), imported only when
# that command runs or the full help is printed: `graphspec validate` does not pay for the
# viewer, the tuner, the diff or the language server.
_FEATURES = {
    "view": "graphspec.view",
    "tune": "graphspec.keras.tune",
    "diff": "graphspec.diff",
    "lsp": "graphspec.lsp",
}


class ExitCode(enum.IntEnum):
    OK = 0  # warnings allowed
    ERRORS = 1  # the spec, the data or the model has errors
    USAGE = 2  # bad arguments, a missing input file, an output that cannot be written
    INTERRUPTED = 130  # Ctrl-C or SIGTERM, after cleaning up


# Diagnostics about the file itself (missing, not a spec file) are usage errors.
_USAGE_CODES = {"GS001", "GS002"}
_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_KERAS2_SUFFIXES = (".h5", ".hdf5", ".json")  # Keras 2 models: model.save, model.to_json()
_SEED_RANGE = (0, 2**32 - 1)  # NumPy's seeds, which Keras's set_random_seed passes on


class UsageError(Error):
    """A command line that cannot be carried out; printed as one line, exit 2."""


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `command` only that command's feature module loaded
    (the built-in commands cost nothing to describe)."""
    parser = argparse.ArgumentParser(
        prog="graphspec",
        description="Declarative model graphs for Keras: validate, build, "
        "train, export, plot and summarize models described in YAML or JSON.",
    )
    parser.add_argument("--version", action="version", version=f"graphspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    spec_options = argparse.ArgumentParser(add_help=False)
    spec_options.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE.py",
        help="import a module that registers layers or ops (repeatable)",
    )
    spec_options.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="overrides",
        help="override a parameter; the value is read "
        "as YAML (256, 0.5, gelu, true, [1, 2]) (repeatable)",
    )
    spec_options.add_argument(
        "--allow-imports-from",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder outside the spec's own folder that its imports may read (repeatable)",
    )
    defaults = Limits()
    for field, text in (
        ("max_bytes", "largest spec file read (default {:,})"),
        ("max_nodes", "most nodes after expansion (default {:,})"),
        ("max_depth", "deepest nesting in a file, and of blocks (default {})"),
        (
            "max_value_size",
            "largest value a ${{...}} may produce, in characters or values (default {:,})",
        ),
    ):
        default = getattr(defaults, field)
        spec_options.add_argument(
            "--" + field.replace("_", "-"),
            type=int,
            default=default,
            metavar="N",
            help=text.format(default),
        )

    def spec_command(name: str, help: str, description: str | None = None, spec: bool = True):
        """A command that reads one spec with the shared spec options."""
        cmd = sub.add_parser(name, parents=[spec_options], help=help, description=description)
        if spec:
            cmd.add_argument("spec", metavar="SPEC")
        return cmd

    val = spec_command(
        "validate",
        "check specs without building them",
        "Check specs, shapes included; every problem is reported at file:line:col.",
        spec=False,
    )
    val.add_argument("specs", nargs="+", metavar="SPEC")
    val.add_argument("--format", choices=["text", "json"], default="text")
    val.add_argument(
        "--build",
        action="store_true",
        help="also build the model, to catch what only Keras knows (imports Keras)",
    )
    val.add_argument(
        "--strict-shapes",
        action="store_true",
        help="warn about every node whose output shape cannot be told statically",
    )
    val.add_argument(
        "--backend",
        metavar="NAME",
        help="also report the layers and ops that this Keras backend (jax, tensorflow, "
        "torch) does not run; read from the catalog, no backend is imported",
    )

    smr = spec_command(
        "summary",
        "shapes, parameters and MACs of every node, without Keras",
        "Print the static summary of a spec: output shapes, "
        "parameters, multiply-accumulates and source line of every node.",
    )
    smr.add_argument("--format", choices=["table", "json"], default="table")

    bld = spec_command("build", "validate, build and save a model")
    bld.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.keras",
        help="where to save the model (.keras); written atomically",
    )
    bld.add_argument("--summary", action="store_true", help="print the Keras model summary")
    bld.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="set Keras's random seed first: the same seed gives the same weights",
    )
    bld.add_argument(
        "--weights-from",
        metavar="OLD.keras",
        help="copy the weights of every layer with the same name and weight "
        "shapes from this saved model (model surgery); prints what was copied",
    )
    bld.add_argument(
        "--strict",
        action="store_true",
        help="with --weights-from: fail, writing nothing, if a layer not named "
        "with --reinit would keep new weights",
    )
    bld.add_argument(
        "--reinit",
        action="append",
        default=[],
        metavar="NAME",
        help="with --weights-from: a layer that keeps its new weights (repeatable)",
    )

    trn = spec_command(
        "train",
        "train the model of a spec",
        "Train the model of a spec as its train and compile sections say, on named arrays.",
    )
    trn.add_argument(
        "--data",
        required=True,
        metavar="train.npz",
        help="a .npz file, or a folder of NAME.npy files (memory-mapped), whose "
        "array names are the model's input and output names",
    )
    trn.add_argument("--validation", metavar="val.npz", help="validation arrays, as --data")
    trn.add_argument("-o", "--output", metavar="OUT.keras", help="save the trained model here")
    trn.add_argument(
        "--resume",
        action="store_true",
        help="continue from train.checkpoint (epoch counter and optimizer state)",
    )
    trn.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multi-worker"],
        default="default",
        help="distribution to build and train in: tf.distribute on TensorFlow; on JAX, "
        "mirrored is keras.distribution.DataParallel over the local devices (multi-worker "
        "is TensorFlow's)",
    )
    trn.add_argument(
        "--checkpoint",
        metavar="CKPT.keras",
        help="checkpoint path (replaces train.checkpoint; used as given)",
    )
    trn.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="TensorBoard folder (replaces train.tensorboard; used as given)",
    )
    trn.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="train on data holding NaN or infinity (warns instead of refusing)",
    )
    trn.add_argument("--quiet", action="store_true", help="no progress bar")

    exp = spec_command(
        "export",
        "write the spec of a Keras model",
        "Write the spec of a saved .keras model, of a Keras 2 "
        "model (.h5 from model.save, .json from model.to_json(); read as "
        "data, never deserialized), or of a keras.applications architecture "
        "(built with weights=None).",
        spec=False,
    )
    exp.add_argument(
        "source",
        metavar="SOURCE",
        help="a .keras, .h5 or .json file, or e.g. keras.applications.MobileNetV2",
    )
    exp.add_argument("-o", "--output", required=True, metavar="SPEC.yaml")
    exp.add_argument(
        "--build",
        metavar="OUT.keras",
        help="Keras 2 models: also build the spec and save the model here",
    )
    exp.add_argument(
        "--weights",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Keras 2 models: copy the .h5 file's weights into the --build model, "
        "matching layers by name (default: on for .h5)",
    )

    plt = spec_command(
        "plot",
        "draw the graph of a spec",
        "Draw a spec's graph as SVG or PNG (needs Graphviz), "
        "Graphviz DOT text, or Mermaid text for Markdown.",
    )
    plt.add_argument(
        "-o", "--output", required=True, metavar="graph.svg|graph.png|graph.dot|graph.mmd"
    )
    plt.add_argument(
        "--shapes",
        action="store_true",
        help="label edges with tensor shapes (static when every shape is known, "
        "else by building the model)",
    )

    for name, module in _FEATURES.items():
        if command in (None, name):
            importlib.import_module(module).add_parser(sub, spec_options)

    sch = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    sch.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command (`argv`: the words after `graphspec`; None: this process's own)."""
    if argv is not None:
        return _main(argv)
    code = _main(sys.argv[1:])
    # The process ends with this command. What it made is garbage with many reference
    # cycles (networkx's graphs, the spec's nodes): collecting it at exit would cost a
    # quarter of a 10,000-node validate. Frozen objects are left to the operating system.
    gc.freeze()
    return code


def _main(argv: list[str]) -> int:
    # The command is the first word (the only options before it are --help and --version);
    # anything else (a typo) gets the full parser, whose error lists every command.
    command = argv[0] if argv and (argv[0] in COMMANDS or argv[0] in _FEATURES) else None
    args = _parser(command).parse_args(argv)  # exits with 2 on a malformed command line
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before a plugin imports TensorFlow
    try:
        for ref in getattr(args, "plugin", []):
            registry.load_plugin(ref)
        registry.load_entry_points()
        run = COMMANDS.get(args.command) or importlib.import_module(_FEATURES[args.command]).run
        return int(run(args))
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return _exit_code(exc.diagnostics)
    except OutputError as exc:
        return _fail(exc, ExitCode.USAGE if exc.usage else ExitCode.ERRORS)
    except Error as exc:  # PlotError: no Graphviz, a bad format; DataError, ExportError: 1
        usage = isinstance(exc, (UsageError, RegistryError, PlotError))
        return _fail(exc, ExitCode.USAGE if usage else ExitCode.ERRORS)
    except KeyboardInterrupt:
        print("graphspec: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug in graphspec, not in the user's input
        if os.environ.get("GRAPHSPEC_DEBUG"):
            raise
        print(
            f"graphspec: internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in graphspec; please report it with the command you ran "
            "(GRAPHSPEC_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return ExitCode.ERRORS


def _fail(exc: Exception, code: ExitCode) -> int:
    print(f"graphspec: error: {exc}", file=sys.stderr)
    return code


def _print_diagnostics(diagnostics) -> None:
    for d in diagnostics:
        print(d.format(), file=sys.stderr)


def _exit_code(diagnostics) -> ExitCode:
    errors = [d for d in diagnostics if d.severity == ERROR]
    if any(d.code in _USAGE_CODES for d in errors):
        return ExitCode.USAGE
    return ExitCode.ERRORS if errors else ExitCode.OK


# -- shared pieces -------------------------------------------------------------------------


def _limits(args) -> Limits:
    values = {
        "max_bytes": args.max_bytes,
        "max_nodes": args.max_nodes,
        "max_depth": args.max_depth,
        "max_value_size": args.max_value_size,
    }
    for name, value in values.items():
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1. Received: {value}")
    return Limits(**values)


def _overrides(args) -> dict:
    """`--set NAME=VALUE` pairs, each value read as YAML with the limits of a spec file."""
    params = {}
    for pair in args.overrides:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects NAME=VALUE. Received: '{pair}'")
        params[name.strip()] = source.read_value(text, _limits(args), where=f"--set {name}")
    return params


def _load(args, path: str) -> api.Spec:
    """The spec at `path` with the command line's parameters, limits and import folders."""
    spec = api.load(
        path,
        params=_overrides(args),
        limits=_limits(args),
        allow_imports_from=args.allow_imports_from,
    )
    _print_diagnostics(spec.diagnostics)  # warnings
    return spec


def _target(path: str, suffixes: tuple[str, ...]) -> Path:
    """An output path checked before any work starts."""
    return output.check_target(path, suffixes)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _interruptible(work: Callable[[], object]):
    """Run `work` with SIGTERM unwinding like Ctrl-C, so temporary files are removed."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return work()
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- commands ------------------------------------------------------------------------------


def _validate(args) -> ExitCode:
    params = _overrides(args)
    try:
        backend = None if args.backend is None else backends.backend_name(args.backend)
    except ValueError as exc:
        raise UsageError(f"--backend: {exc}") from None
    # Each file is validated on its own: one file's failure never stops the others.
    results = [
        (
            path,
            api.validate(
                path,
                params=params,
                build=args.build,
                limits=_limits(args),
                allow_imports_from=args.allow_imports_from,
                strict_shapes=args.strict_shapes,
                backend=backend,
            ),
        )
        for path in args.specs
    ]
    everything = [d for _, diags in results for d in diags]
    if args.format == "json":
        json.dump(
            {
                "valid": not any(d.severity == ERROR for d in everything),
                "files": [
                    {
                        "path": path,
                        "valid": not any(d.severity == ERROR for d in diags),
                        "diagnostics": [d.to_dict() for d in diags],
                    }
                    for path, diags in results
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        for path, diags in results:
            _print_diagnostics(diags)
            errors = sum(d.severity == ERROR for d in diags)
            warnings = len(diags) - errors
            status = "ok" if not errors else f"{errors} error(s)"
            if warnings:
                status += f", {warnings} warning(s)"
            print(f"{path}: {status}")
    return _exit_code(everything)


def _summary(args) -> ExitCode:
    summary = _load(args, args.spec).summary()
    if args.format == "json":
        json.dump(summary.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(summary.table())
    return ExitCode.OK


def _build(args) -> ExitCode:
    if args.seed is not None and not _SEED_RANGE[0] <= args.seed <= _SEED_RANGE[1]:
        raise UsageError(
            f"--seed must be between {_SEED_RANGE[0]} and {_SEED_RANGE[1]:,}. Received: {args.seed}"
        )
    if (args.strict or args.reinit) and not args.weights_from:
        raise UsageError("--strict and --reinit go with --weights-from OLD.keras")
    if args.weights_from and not Path(args.weights_from).is_file():
        raise UsageError(f"no such file: '{args.weights_from}'")
    out = _target(args.output, (".keras",))
    spec = _load(args, args.spec)

    def build_and_save():
        model = spec.build(seed=args.seed)
        if args.weights_from:
            from .keras.transplant import transplant

            print(
                transplant(model, args.weights_from, strict=args.strict, reinit=args.reinit).text()
            )
        if args.summary:
            model.summary(print_fn=lambda line, **_: print(line))
        spec.save(model, out)
        return model

    model = _interruptible(build_and_save)
    kind = "keras.Sequential" if spec.kind == "sequential" else "functional keras.Model"
    print(f"built {spec.name}: {kind}, {model.count_params():,} parameters -> {out}")
    if spec.params:
        print("params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in spec.params.items()))
    return ExitCode.OK


def _train(args) -> ExitCode:
    if args.output:
        _target(args.output, (".keras",))
    for given in (args.data, args.validation):
        if given and not Path(given).exists():
            raise UsageError(f"no such file or folder: '{given}'")
    spec = _load(args, args.spec)
    from .keras import train

    def run():
        data = train.load_arrays(args.data)
        validation = train.load_arrays(args.validation) if args.validation else None
        return train.train(
            spec,
            data,
            validation,
            output_path=args.output,
            resume=args.resume,
            strategy=args.strategy,
            progress=not args.quiet,
            checkpoint=args.checkpoint,
            tensorboard=args.tensorboard,
            allow_nonfinite=args.allow_nonfinite,
            log=lambda message: print(message, file=sys.stderr),
        )

    result = _interruptible(run)
    if result.interrupted:
        return ExitCode.INTERRUPTED
    last = {k: v[-1] for k, v in result.history.items()}
    print(
        f"trained {spec.name}: {result.epochs} epoch(s); "
        + ", ".join(f"{k}={v:.4f}" for k, v in last.items())
        + (f" -> {args.output}" if args.output else "")
    )
    return ExitCode.OK


def _export(args) -> ExitCode:
    out = _target(args.output, _SPEC_SUFFIXES)
    given = args.source
    if Path(given).suffix.lower() in _KERAS2_SUFFIXES:
        return _export_keras2(args, out)
    if args.build or args.weights is not None:
        raise UsageError("--build and --weights are for Keras 2 models (.h5, .json)")
    if given.lower().endswith(".keras") and not os.path.lexists(given):
        raise UsageError(f"no such file: '{given}'")
    from .keras import export

    model = export.load_model(given) if given.endswith(".keras") else export.application(given)
    try:
        spec = api.from_keras(model)
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        raise ExportError(
            f"the spec exported from '{given}' does not validate (a graphspec "
            "bug; please report it)"
        ) from None
    _write_spec(spec, out, "")
    return ExitCode.OK


def _write_spec(spec: api.Spec, out: Path, origin: str) -> None:
    """An exported spec, as JSON or YAML by the output's suffix."""
    text = (
        json.dumps(spec.source.data, indent=2) + "\n"
        if out.suffix.lower() == ".json"
        else spec.to_yaml()
    )
    output.write_text(out, text)
    print(
        f"exported {spec.name}{origin}: {spec.kind}, {len(spec.build_order)} nodes, "
        f"{len(text.splitlines())} lines -> {out}"
    )


def _export_keras2(args, out: Path) -> ExitCode:
    if not Path(args.source).is_file():
        raise UsageError(f"no such file: '{args.source}'")
    if args.weights and Path(args.source).suffix.lower() == ".json":
        raise UsageError("a .json model (model.to_json()) holds no weights: leave out --weights")
    built = _target(args.build, (".keras",)) if args.build else None
    from .keras import keras2

    result = _interruptible(
        lambda: keras2.convert(args.source, build=built is not None, weights=args.weights)
    )
    spec = result.spec
    _write_spec(spec, out, " (Keras 2)")
    if built is None:
        return ExitCode.OK
    spec.save(result.model, built)
    print(f"built {spec.name}: {result.model.count_params():,} parameters -> {built}")
    if result.report is None:
        return ExitCode.OK
    print(result.report.summary())
    for problem in result.report.problems():
        print(f"graphspec: warning: {problem}", file=sys.stderr)
    return ExitCode.OK if result.report.complete else ExitCode.ERRORS


def _plot(args) -> ExitCode:
    from . import plot

    _target(args.output, tuple(plot.TEXT) + tuple(plot.RENDERED))
    spec = _load(args, args.spec)
    spec.plot(args.output, shapes=args.shapes)
    print(f"drew {spec.name}: {len(spec.build_order)} nodes -> {args.output}")
    return ExitCode.OK


def _schema(args) -> ExitCode:
    text = json.dumps(api.json_schema(), indent=2) + "\n"
    if args.output:
        output.write_text(_target(args.output, ()), text)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], ExitCode]] = {
    "validate": _validate,
    "summary": _summary,
    "build": _build,
    "train": _train,
    "export": _export,
    "plot": _plot,
    "schema": _schema,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
