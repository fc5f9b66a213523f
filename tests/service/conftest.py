"""Service tests: most run the app in-process (tests/fixtures/service_app.py) on one asyncio runner per
package; the few that need a process (signals, worker crashes) start `python -m service` (harness)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="package")
def anyio_backend() -> str:
    return "asyncio"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="package")
def image_http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local http.server on 127.0.0.1 serving a directory; yields (base URL, directory)."""
    root = tmp_path_factory.mktemp("www")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
