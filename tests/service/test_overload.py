"""Overload is refused, not queued: 429 + Retry-After when the item queue is full; stale items get `deadline`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import model_settings
from tests.service.helpers import ServiceProcess, image_bytes, item, start_service


@pytest.fixture(scope="module")
def slow_batcher(onnx_model_repo, tmp_path_factory) -> Iterator[ServiceProcess]:
    """Batches close after 1 s but items may wait only 100 ms: every queued item expires."""
    settings = model_settings(onnx_model_repo) | {
        "COURIER_MAX_BATCH_DELAY_MS": 1000,
        "COURIER_QUEUE_DEADLINE_MS": 100,
        "COURIER_MAX_QUEUE_ITEMS": 4,
        "COURIER_MAX_ITEMS_PER_REQUEST": 4,
    }
    server = start_service(settings, tmp_path_factory.mktemp("overload") / "service.log")
    yield server
    server.stop()


def test_full_queue_answers_429_fast_with_retry_after(slow_batcher) -> None:
    done_at: dict[str, float] = {}
    first: dict[str, httpx.Response] = {}
    body = {"items": [item(f"fill-{i}", image_bytes(seed=i)) for i in range(4)]}

    def fill() -> None:
        first["r"] = slow_batcher.http.post("/embed", json=body)
        done_at["filler"] = time.monotonic()

    filler = threading.Thread(target=fill)
    filler.start()
    time.sleep(0.3)
    with httpx.Client(base_url=slow_batcher.url) as client:
        refused = client.post("/embed", json={"items": [item("late", image_bytes(seed=9))]})
    done_at["refused"] = time.monotonic()
    filler.join()

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "queue_full"
    # refused while the 4 admitted items still sat in the queue (it closes after 1 s), not queued behind them
    assert done_at["refused"] < done_at["filler"]
    assert first["r"].status_code == 200
    assert slow_batcher.value("courier_queue_rejections_total", reason="queue_full") >= 1


def test_items_past_their_deadline_are_dropped_before_inference(slow_batcher) -> None:
    before = slow_batcher.value("courier_batch_size_count")
    response = slow_batcher.http.post("/embed", json={"items": [item("stale", image_bytes(seed=1))]})

    assert response.status_code == 200
    assert response.json()["data"][0]["error"]["code"] == "deadline"
    assert slow_batcher.value("courier_batch_size_count") == before
    assert slow_batcher.value("courier_items_total", outcome="deadline") >= 1
    assert slow_batcher.http.get("/readyz").status_code == 200
