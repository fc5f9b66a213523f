"""A real HTTP server on 127.0.0.1 (free port) that serves image bytes and scripted misbehaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


class ImageServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                server.requests.append(self.path)
                if self.path in server.routes:
                    server.routes[self.path](self)
                elif self.path in server.files:
                    send(self, 200, server.files[self.path])
                else:
                    send(self, 404, b"not found")

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in {"content-length": str(len(body)), **(headers or {})}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def redirect(location: str) -> Route:
    return lambda handler: send(handler, 302, b"", {"location": location})


def fail_then_serve(status: int, times: int, body: bytes) -> Route:
    """Answer `status` for the first `times` requests, then 200 with `body` (a flaky origin)."""
    count = {"n": 0}

    def route(handler: BaseHTTPRequestHandler) -> None:
        count["n"] += 1
        send(handler, status if count["n"] <= times else 200, b"busy" if count["n"] <= times else body)

    return route


def slow(seconds: float, body: bytes) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        send(handler, 200, body)

    return route


def endless(chunk: bytes = b"\xff" * 65536) -> Route:
    """A body with no content-length that never ends (the size cap must stop it)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(10_000):
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return route
