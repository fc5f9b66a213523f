"""Module/package-scoped real servers: few uvicorn start-ups, several settings variants."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.models import ModelRepo
from tests.fixtures.redis import RedisServer
from tests.service.helpers import ServiceProcess, start_service


def model_settings(repo: ModelRepo) -> dict[str, str]:
    return {"COURIER_MODEL_REPOSITORY": str(repo.root), "COURIER_MODEL_NAME": repo.name}


@pytest.fixture(scope="package")
def service(
    onnx_model_repo: ModelRepo, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """Redis-backed, no API keys, small body/item/pixel limits so the limit errors are cheap to provoke."""
    settings = model_settings(onnx_model_repo) | {
        "REDIS_URL": redis_server.url,
        "COURIER_MAX_BODY_BYTES": 1024 * 1024,
        "COURIER_MAX_ITEMS_PER_REQUEST": 16,
        "COURIER_MAX_QUEUE_ITEMS": 64,
        "COURIER_MAX_IMAGE_PIXELS": 1_000_000,
        "COURIER_CACHE_RETRY_INTERVAL_S": 0.2,
        "COURIER_DECODE_WORKERS": 2,
    }
    server = start_service(settings, tmp_path_factory.mktemp("svc") / "service.log")
    yield server
    server.stop()


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
