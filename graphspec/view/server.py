"""The live page's server: 127.0.0.1 only, a fixed set of answers, and a watcher that
rebuilds the model when the spec or a file it imports is saved.

Only four kinds of request are answered: the page (`/`), its three static files, and the
model (`/graph.json`, which with `?after=N` waits until there is a version newer than N, so
the page learns of a change as soon as it is built). No path from a request ever reaches the
file system, so `../` and absolute paths can only get a 404. A request whose Host header is
not this server's own address is refused, so that a web page in the same browser cannot
read the spec through a DNS name rebound to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from . import page

HOST = "127.0.0.1"
POLL_SECONDS = 0.1  # how often the watched files are looked at
WAIT_SECONDS = 25  # how long a request for a newer model is held open before "no change"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _stamp(path: str):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class Live:
    """The current model, its version, and the watcher that replaces it."""

    def __init__(self, build: Callable[[], dict], first: dict | None = None):
        self._build = build
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.version = 0
        self.rebuilt_at = 0.0
        self._publish(first if first is not None else build())
        self._thread = threading.Thread(
            target=self._watch, name="graphspec-view-watch", daemon=True
        )

    def _publish(self, model: dict) -> None:
        with self._changed:
            self.version += 1
            model["version"] = self.version
            self.model = model
            self.body = json.dumps(model, separators=(",", ":"), allow_nan=False).encode()
            self.stamps = {p: _stamp(p) for p in model.get("watch") or [model["path"]]}
            self.rebuilt_at = time.time()
            self._changed.notify_all()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            stamps = {p: _stamp(p) for p in self.stamps}
            if stamps == self.stamps:
                continue
            try:
                self._publish(self._build())
            except Exception as exc:  # a bug in graphspec: keep serving the last model
                self.stamps = stamps  # and try again at the next save
                print(
                    f"graphspec view: internal error while reading the spec: "
                    f"{type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )

    def wait_newer(self, version: int, timeout: float = WAIT_SECONDS) -> bytes | None:
        """The model's JSON once its version is newer than `version`; None on time-out."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > version or self._stop.is_set(), timeout)
            return self.body if self.version > version else None


class _Handler(BaseHTTPRequestHandler):
    server: "ViewServer"
    protocol_version = "HTTP/1.1"
    server_version = "graphspec-view"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # the terminal is the user's; requests are not news

    def do_GET(self):  # noqa: N802 - http.server's naming
        allowed = {f"{HOST}:{self.server.port}", f"localhost:{self.server.port}"}
        if self.headers.get("Host") not in allowed:
            return self._send(HTTPStatus.MISDIRECTED_REQUEST, b"unknown host\n", "text/plain")
        parts = urlsplit(self.path)
        live = self.server.live
        if parts.path == "/":
            body = page.served_page(live.model).encode()
            return self._send(
                HTTPStatus.OK,
                body,
                "text/html; charset=utf-8",
                {"Content-Security-Policy": page.SERVED_CSP},
            )
        if parts.path == "/graph.json":
            after = parse_qs(parts.query).get("after", [None])[0]
            if after is None:
                return self._send(HTTPStatus.OK, live.body, "application/json")
            try:
                version = int(after)
            except ValueError:
                return self._send(HTTPStatus.BAD_REQUEST, b"after=N\n", "text/plain")
            body = live.wait_newer(version)
            if body is None:
                return self._send(HTTPStatus.NO_CONTENT, b"", None)
            return self._send(HTTPStatus.OK, body, "application/json")
        name = parts.path.removeprefix("/static/")
        if parts.path.startswith("/static/") and name in page.STATIC_FILES:
            body = page.static_text(name).encode()
            return self._send(HTTPStatus.OK, body, page.STATIC_FILES[name] + "; charset=utf-8")
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str | None, headers: dict | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**_SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


class ViewServer(ThreadingHTTPServer):
    """`ViewServer(build, port)`: serves the model that `build()` returns (`first`, when it
    was built already), rebuilt whenever one of its watched files changes. Port 0 takes a
    free port (see `.port`, `.url`)."""

    daemon_threads = True  # a page waiting for a change never holds up the stop

    def __init__(self, build: Callable[[], dict], port: int = 0, first: dict | None = None):
        self.live = Live(build, first)
        super().__init__((HOST, port), _Handler)
        self.port = self.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a page closed or reloaded while it waited for a change: not news
        super().handle_error(request, client_address)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self.live.start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self.live.stop()

    def start(self) -> threading.Thread:
        """Serve from a background thread (for tests and embedding); `stop()` ends it."""
        thread = threading.Thread(target=self.serve_forever, name="graphspec-view", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.live.stop()
        self.shutdown()
        self.server_close()
