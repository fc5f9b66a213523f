"""SIGTERM: readiness and new requests turn 503, in-flight work finishes, the process exits 0."""

from __future__ import annotations

import threading
import time

import httpx

from tests.service.conftest import model_settings
from tests.service.helpers import image_bytes, item, start_service


def test_sigterm_drains_in_flight_requests(onnx_model_repo, tmp_path) -> None:
    settings = model_settings(onnx_model_repo) | {
        "COURIER_MAX_BATCH_DELAY_MS": 800,
        "COURIER_DRAIN_TIMEOUT_S": 10,
    }
    server = start_service(settings, tmp_path / "service.log")
    try:
        in_flight: dict[str, httpx.Response] = {}
        body = {"items": [item("draining", image_bytes(seed=1))]}
        worker = threading.Thread(target=lambda: in_flight.update(r=server.http.post("/embed", json=body)))
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        server.terminate()
        time.sleep(0.1)
        with httpx.Client(base_url=server.url) as client:
            ready = client.get("/readyz")
            refused = client.post("/embed", json={"items": [item("new", image_bytes(seed=2))]})
        worker.join(timeout=10)
        exit_code = server.process.wait(timeout=10)
    finally:
        server.stop()

    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    assert refused.status_code == 503 and "retry-after" in refused.headers
    assert in_flight["r"].status_code == 200
    assert len(in_flight["r"].json()["data"][0]["embedding"]) == 16
    assert exit_code == 0
    assert time.monotonic() - started < 5
    assert "shut down cleanly" in server.log()
