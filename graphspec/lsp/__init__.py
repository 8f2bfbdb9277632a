"""`graphspec lsp`: a language server for spec files (diagnostics as you type, completion,
hover, definitions, references, rename, quick fixes), over stdio.

Modules: `check` (validate an editor's text), `index` (where each key and value starts and
ends), `names` (definitions and uses of names), `context` (where the cursor is, in text
that does not parse yet), `features` (the answers), `server` (the protocol, with pygls).
Only `features` and `server` need pygls (the `lsp` extra); it is imported when the command
runs, so the rest of graphspec works without it.
"""

from __future__ import annotations

import argparse


def add_parser(sub, spec_options: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "lsp",
        parents=[spec_options],
        help="run the language server (for editors)",
        description="Serve the Language Server Protocol over stdin/stdout: an editor starts "
        "this command and gets diagnostics as you type, completion, hover, go to definition, "
        "find references, rename and quick fixes for spec files. --plugin, --set, "
        "--allow-imports-from and --max-* apply to every spec; the editor's 'graphspec' "
        "settings (plugins, params, allowImportsFrom) add to them.",
    )


def run(args: argparse.Namespace) -> int:
    from ..cli import ExitCode, UsageError, _limits, _overrides
    from .check import Options

    try:
        from .server import Settings, serve
    except ImportError as exc:
        raise UsageError(
            f"the language server needs pygls ({exc}): pip install 'graphspec[lsp]'"
        ) from None
    options = Options(
        params=_overrides(args),
        limits=_limits(args),
        allow_imports_from=tuple(args.allow_imports_from),
    )
    serve(Settings(options, tuple(args.plugin)))
    return ExitCode.OK
