"""`graphspec view`: the graph of a spec in the browser, live while the spec is edited.

`build_model(path)` makes the JSON model of the graph (nodes, block clusters, edges, static
summary, diagnostics placed on their nodes, source text); `render_html(model)` makes one
self-contained page of it; `ViewServer` serves it on 127.0.0.1 and redraws the page when the
spec or a file it imports is saved. Nothing here imports Keras.
"""

from __future__ import annotations

import signal
import sys

from ..errors import Diagnostic, SpecError
from .model import build as build_model
from .page import render_html

__all__ = ["ViewServer", "add_parser", "build_model", "render_html", "run"]


def __getattr__(name: str):
    # The server (http.server) and webbrowser load only when a page is served: `graphspec
    # --help` and the other commands do not pay for them.
    if name == "ViewServer":
        from .server import ViewServer

        return ViewServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FILE_PROBLEMS = {"GS001", "GS002"}  # the spec file is missing or not a spec file


# The command's help line and its description in `graphspec view --help`.
HELP = "show the graph in the browser, live while you edit"
DESCRIPTION = (
    "Serve a page on 127.0.0.1 that draws the spec's graph (blocks as clusters, shapes, "
    "parameters, diagnostics on their nodes, source lines) and redraws it whenever the spec or "
    "a file it imports is saved. With -o, write one self-contained HTML file instead."
)


def add_arguments(cmd) -> None:
    cmd.add_argument("spec", metavar="SPEC")
    cmd.add_argument(
        "-o",
        "--output",
        metavar="model.html",
        help="write a self-contained HTML page (no server, no network) and exit",
    )
    cmd.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="the port on 127.0.0.1 (default: a free one)",
    )
    cmd.add_argument(
        "--no-browser", action="store_true", help="print the address without opening a browser"
    )


def add_parser(sub, spec_options) -> None:
    cmd = sub.add_parser("view", parents=[spec_options], help=HELP, description=DESCRIPTION)
    add_arguments(cmd)


def run(args) -> int:
    from .. import cli, output

    params, limits = cli._overrides(args), cli._limits(args)
    if not 0 <= args.port <= 65535:
        raise cli.UsageError(f"--port must be between 0 and 65535. Received: {args.port}")
    target = output.check_target(args.output, (".html", ".htm")) if args.output else None

    def build() -> dict:
        return build_model(
            args.spec, params=params, limits=limits, allow_imports_from=args.allow_imports_from
        )

    model = build()
    problems = [_diagnostic(d) for d in model["diagnostics"]]
    if not model["composed"] and any(d.code in _FILE_PROBLEMS for d in problems):
        raise SpecError(problems)  # nothing to show, or to watch
    if target is not None:
        output.write_text(target, render_html(model))
        cli._print_diagnostics(problems)
        print(f"drew {model['name']}: {model['stats']['nodes']} nodes -> {target}")
        return cli.ExitCode.ERRORS if not model["ok"] else cli.ExitCode.OK
    import webbrowser

    from .server import ViewServer

    try:
        server = ViewServer(build, args.port, first=model)
    except OSError as exc:
        raise cli.UsageError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}"
        ) from None
    cli._print_diagnostics(problems)
    print(f"graphspec view: {model['name']} at {server.url}  (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("graphspec view: stopped", file=sys.stderr)
        return cli.ExitCode.INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return cli.ExitCode.OK


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _diagnostic(d: dict) -> Diagnostic:
    return Diagnostic(
        d["file"],
        d["line"],
        d["column"],
        d["code"],
        d["severity"],
        d["message"],
        d["hint"],
        d["pointer"],
    )
