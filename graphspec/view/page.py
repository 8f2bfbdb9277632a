"""The page: one HTML document that draws a graph model (see `model.py`) with the vendored
layout engine (dagre) and `static/view.js`.

Two forms: the self-contained file (`render_html`: scripts, styles and data inlined; its
Content-Security-Policy allows only those inline pieces, by hash, so the browser itself
refuses any network request), and the served page (scripts by URL from the same server, and
a connection back to it for live updates). The data travels as JSON in a non-executable
`<script type="application/json">` element; every `<` in it is escaped, so no value can
close that element, and view.js builds the DOM with `textContent` only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from importlib import resources

STATIC_FILES = {
    "dagre.min.js": "text/javascript",
    "view.js": "text/javascript",
    "view.css": "text/css",
}
STATES = ("added", "changed", "removed")
#: What the served page may load: its own scripts, styles and model, from its own server.
SERVED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{style}
</head>
<body>
<header id="bar">
  <span id="title"></span>
  <span id="stats"></span>
  <span id="search-box"><input id="search" type="search" placeholder="find a node (/)"
    autocomplete="off" spellcheck="false" aria-label="find a node"><ul id="matches"></ul></span>
  <button id="fit" type="button" title="fit the graph to the window (f)">fit</button>
  <button id="expand-all" type="button" title="expand every block">expand all</button>
  <button id="collapse-all" type="button" title="collapse every block">collapse all</button>
  <span id="status"></span>
</header>
<main>
  <div id="canvas"><svg id="graph" xmlns="http://www.w3.org/2000/svg"><defs>
    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse"
      orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"></path></marker>
  </defs><g id="viewport"></g></svg></div>
  <aside id="panel"><section id="diagnostics"></section><section id="details"></section></aside>
</main>
<script type="application/json" id="graphspec-data">{data}</script>
{scripts}
</body>
</html>
"""


@functools.lru_cache(maxsize=None)
def static_text(name: str) -> str:
    """A file of `static/` (only the names in STATIC_FILES)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("static", name).read_text("utf-8")


def _json_in_html(value) -> str:
    """JSON that cannot end its <script> element or open a comment inside it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _page(graph_json: dict, *, inline: bool, live: bool) -> str:
    data = dict(graph_json, live=live)
    title = html.escape(f"{data.get('name') or 'graph'} - graphspec view", quote=True)
    if inline:
        css = static_text("view.css")
        scripts = [static_text("dagre.min.js"), static_text("view.js")]
        style = f"<style>{css}</style>"
        script_tags = "\n".join(f"<script>{s}</script>" for s in scripts)
        csp = (
            "default-src 'none'; script-src "
            + " ".join(_sha256(s) for s in scripts)
            + f"; style-src {_sha256(css)}; img-src data:; base-uri 'none'; "
            "form-action 'none'"
        )
    else:
        style = '<link rel="stylesheet" href="static/view.css">'
        script_tags = (
            '<script src="static/dagre.min.js"></script>\n<script src="static/view.js"></script>'
        )
        csp = SERVED_CSP
    return _TEMPLATE.format(
        csp=csp, title=title, style=style, data=_json_in_html(data), scripts=script_tags
    )


def render_html(graph_json: dict, *, states: dict[str, str] | None = None) -> str:
    """One self-contained HTML page that draws `graph_json` (a model from `model.build`):
    it needs no network and no server. `states` colours nodes: node id -> "added",
    "changed" or "removed" (for diff pages)."""
    if states:
        bad = {v for v in states.values() if v not in STATES}
        if bad:
            raise ValueError(f"node states are {', '.join(STATES)}. Received: {sorted(bad)}")
        graph_json = dict(graph_json, states=dict(states))
    return _page(graph_json, inline=True, live=False)


def served_page(graph_json: dict) -> str:
    """The page the server sends: scripts and styles from the server, live updates on."""
    return _page(graph_json, inline=False, live=True)
