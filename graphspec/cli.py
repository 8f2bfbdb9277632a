"""The `graphspec` command: argument parsing, printing diagnostics, exit codes.

Exit codes: 0 success (warnings allowed), 1 the spec has errors, 2 usage errors (bad
arguments, a spec file that does not exist, a plugin that cannot be loaded). A mistake in a
spec or on the command line never prints a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import yaml

from . import __version__, api, output, registry
from .errors import ERROR, ExportError, RegistryError, SpecError
from .limits import Limits

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2
_USAGE_CODES = {"GS001", "GS002"}  # the file itself is missing or not a spec file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphspec", description="Declarative model graphs for Keras: validate, build, "
        "train, export and plot models described in YAML or JSON.")
    parser.add_argument("--version", action="version", version=f"graphspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugin = argparse.ArgumentParser(add_help=False)
    plugin.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE.py",
                        help="import a module that registers layers or ops (repeatable)")
    plugin.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        dest="overrides", help="override a parameter; the value is read as "
                        "YAML (256, 0.5, gelu, true, [1, 2]) (repeatable)")
    defaults = Limits()
    plugin.add_argument("--max-bytes", type=int, default=defaults.max_bytes, metavar="N",
                        help=f"largest spec file read (default {defaults.max_bytes:,})")
    plugin.add_argument("--max-nodes", type=int, default=defaults.max_nodes, metavar="N",
                        help=f"most nodes after expansion (default {defaults.max_nodes:,})")
    plugin.add_argument("--max-depth", type=int, default=defaults.max_depth, metavar="N",
                        help=f"deepest nesting in a file (default {defaults.max_depth})")

    val = sub.add_parser("validate", parents=[plugin], help="check specs without building them",
                         description="Check specs; every problem is reported at file:line:col.")
    val.add_argument("specs", nargs="+", metavar="SPEC")
    val.add_argument("--format", choices=["text", "json"], default="text")
    val.add_argument("--build", action="store_true",
                     help="also build the model symbolically to catch shape and dtype errors "
                          "(imports Keras)")

    bld = sub.add_parser("build", parents=[plugin], help="validate, build and save a model")
    bld.add_argument("spec", metavar="SPEC")
    bld.add_argument("-o", "--output", required=True, metavar="OUT.keras",
                     help="where to save the model (.keras); written atomically")
    bld.add_argument("--summary", action="store_true", help="print the Keras model summary")
    bld.add_argument("--seed", type=int, metavar="N",
                     help="set Keras's random seed first: the same seed gives the same weights")

    trn = sub.add_parser("train", parents=[plugin], help="train the model of a spec",
                         description="Train the model of a spec as its train and compile "
                         "sections say, on named arrays.")
    trn.add_argument("spec", metavar="SPEC")
    trn.add_argument("--data", required=True, metavar="train.npz",
                     help="a .npz file, or a folder of NAME.npy files (memory-mapped), whose "
                     "array names are the model's input and output names")
    trn.add_argument("--validation", metavar="val.npz", help="validation arrays, as --data")
    trn.add_argument("-o", "--output", metavar="OUT.keras", help="save the trained model here")
    trn.add_argument("--resume", action="store_true",
                     help="continue from train.checkpoint (epoch counter and optimizer state)")
    trn.add_argument("--strategy", choices=["default", "mirrored", "multi-worker"],
                     default="default", help="tf.distribute strategy to build and train in")
    trn.add_argument("--quiet", action="store_true", help="no progress bar")

    exp = sub.add_parser("export", parents=[plugin], help="write the spec of a Keras model",
                         description="Write the spec of a saved .keras model, or of a "
                         "keras.applications architecture (built with weights=None).")
    exp.add_argument("source", metavar="SOURCE",
                     help="a .keras file, or e.g. keras.applications.MobileNetV2")
    exp.add_argument("-o", "--output", required=True, metavar="SPEC.yaml")

    plt = sub.add_parser("plot", parents=[plugin], help="draw the graph of a spec",
                         description="Draw a spec's graph as SVG or PNG (needs Graphviz), "
                         "Graphviz DOT text, or Mermaid text for Markdown.")
    plt.add_argument("spec", metavar="SPEC")
    plt.add_argument("-o", "--output", required=True,
                     metavar="graph.svg|graph.png|graph.dot|graph.mmd")
    plt.add_argument("--shapes", action="store_true",
                     help="build the model (imports Keras) and label edges with tensor shapes")

    sch = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    sch.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    return parser


class _Usage(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before a plugin imports TensorFlow
    try:
        for ref in getattr(args, "plugin", []):
            registry.load_plugin(ref)
        registry.load_entry_points()
        command = {"validate": _validate, "build": _build, "train": _train, "export": _export,
                   "plot": _plot, "schema": _schema}
        return command[args.command](args)
    except (_Usage, RegistryError) as exc:
        print(f"graphspec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("graphspec: interrupted", file=sys.stderr)
        return 130


def _print_diagnostics(diagnostics) -> None:
    for d in diagnostics:
        print(d.format(), file=sys.stderr)


def _exit_code(diagnostics) -> int:
    errors = [d for d in diagnostics if d.severity == ERROR]
    if any(d.code in _USAGE_CODES for d in errors):
        return EXIT_USAGE
    return EXIT_SPEC if errors else EXIT_OK


def _validate(args) -> int:
    params = _overrides(args.overrides)
    results = [(path, api.validate(path, params=params, build=args.build, limits=_limits(args)))
               for path in args.specs]
    everything = [d for _, diags in results for d in diags]
    if args.format == "json":
        json.dump({"valid": not any(d.severity == ERROR for d in everything),
                   "files": [{"path": path, "valid": not any(d.severity == ERROR for d in diags),
                              "diagnostics": [d.to_dict() for d in diags]}
                             for path, diags in results]}, sys.stdout, indent=2)
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


def _build(args) -> int:
    out = Path(args.output)
    if out.suffix != ".keras":
        raise _Usage(f"the output must be a .keras file. Received: '{args.output}'")
    if not out.parent.exists():
        raise _Usage(f"the output folder does not exist: '{out.parent}'")
    params = _overrides(args.overrides)
    try:
        spec = api.load(args.spec, params=params, limits=_limits(args))
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return _exit_code(exc.diagnostics)
    _print_diagnostics(spec.diagnostics)  # warnings
    # SIGTERM unwinds like Ctrl-C, so the temporary file is removed, never left behind.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        try:
            model = spec.build(seed=args.seed)
        except SpecError as exc:
            _print_diagnostics(exc.diagnostics)
            return EXIT_SPEC
        if args.summary:
            model.summary(print_fn=lambda line, **_: print(line))
        spec.save(model, out)
    finally:
        signal.signal(signal.SIGTERM, previous)
    kind = "keras.Sequential" if spec.kind == "sequential" else "functional keras.Model"
    print(f"built {spec.name}: {kind}, {model.count_params():,} parameters -> {out}")
    if spec.params:
        print("params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in spec.params.items()))
    return EXIT_OK


def _limits(args) -> Limits:
    values = {"max_bytes": args.max_bytes, "max_nodes": args.max_nodes, "max_depth": args.max_depth}
    for name, value in values.items():
        if value < 1:
            raise _Usage(f"--{name.replace('_', '-')} must be at least 1. Received: {value}")
    return Limits(**values)


def _overrides(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise _Usage(f"--set expects NAME=VALUE. Received: '{pair}'")
        try:
            params[name.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise _Usage(f"cannot read the value of --set {pair!r}: {exc}") from None
    return params


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _train(args) -> int:
    if args.output and Path(args.output).suffix != ".keras":
        raise _Usage(f"the output must be a .keras file. Received: '{args.output}'")
    for given in (args.data, args.validation):
        if given and not Path(given).exists():
            raise _Usage(f"no such file or folder: '{given}'")
    try:
        spec = api.load(args.spec, params=_overrides(args.overrides), limits=_limits(args))
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return _exit_code(exc.diagnostics)
    from .keras import train
    from .keras.data import DataError

    # SIGTERM stops training like Ctrl-C: a checkpoint is written, nothing is left half-written.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        data = train.load_arrays(args.data)
        validation = train.load_arrays(args.validation) if args.validation else None
        result = train.train(spec, data, validation, output_path=args.output,
                             resume=args.resume, strategy=args.strategy,
                             progress=not args.quiet)
    except DataError as exc:
        print(f"graphspec: error: {exc}", file=sys.stderr)
        return EXIT_SPEC
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return EXIT_SPEC
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.interrupted:
        return 130
    last = {k: v[-1] for k, v in result.history.items()}
    print(f"trained {spec.name}: {result.epochs} epoch(s); "
          + ", ".join(f"{k}={v:.4f}" for k, v in last.items())
          + (f" -> {args.output}" if args.output else ""))
    return EXIT_OK


def _export(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise _Usage(f"the output must be a .yaml, .yml or .json file. Received: '{args.output}'")
    source = args.source
    if source.endswith(".keras") and not Path(source).is_file():
        raise _Usage(f"no such file: '{source}'")
    from .keras import export

    try:
        if source.endswith(".keras"):
            model = export.load_model(source)
        else:
            model = export.application(source)
        spec = api.from_keras(model)
    except (ExportError, SpecError) as exc:
        for d in getattr(exc, "diagnostics", []):
            print(d.format(), file=sys.stderr)
        print(f"graphspec: error: cannot export '{source}': {exc}" if not isinstance(exc, SpecError)
              else f"graphspec: error: the spec exported from '{source}' does not validate "
              "(a graphspec bug; please report it)", file=sys.stderr)
        return EXIT_SPEC
    text = json.dumps(spec.source.data, indent=2) + "\n" if out.suffix.lower() == ".json" \
        else spec.to_yaml()
    output.write_text(out, text)
    print(f"exported {spec.name}: {spec.kind}, {len(spec.build_order)} nodes, "
          f"{len(text.splitlines())} lines -> {out}")
    return EXIT_OK


def _plot(args) -> int:
    from . import plot

    suffix = Path(args.output).suffix.lower()
    if suffix not in plot.TEXT and suffix not in plot.RENDERED:
        raise _Usage(f"the output must be a .svg, .png, .dot, .gv or .mmd file. "
                     f"Received: '{args.output}'")
    try:
        spec = api.load(args.spec, params=_overrides(args.overrides), limits=_limits(args))
        spec.plot(args.output, shapes=args.shapes)
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return _exit_code(exc.diagnostics)
    except plot.PlotError as exc:
        raise _Usage(str(exc)) from None
    print(f"drew {spec.name}: {len(spec.build_order)} nodes -> {args.output}")
    return EXIT_OK


def _schema(args) -> int:
    text = json.dumps(api.json_schema(), indent=2) + "\n"
    if args.output:
        output.write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
