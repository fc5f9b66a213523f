"""10× overload on a real service process: the queue bound holds, the excess is refused fast with 429 +
Retry-After, nothing is lost or fails with a 5xx, and a request right after the load is served at once.

The queue holds 32 items and each request carries 16, so 20 clients sending back to back offer ten times
what can be admitted. `-m soak` runs the same for 30 s."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.service import ServiceProcess, start_service
from tests.reliability.load import Load, fault_line, tally

QUEUE_ITEMS = 32
ITEMS_PER_REQUEST = 16
CLIENTS = 20  # 20 × 16 items offered against 32 admitted: 10×
IMAGES = [image_bytes(seed=k) for k in range(ITEMS_PER_REQUEST)]


@pytest.fixture(scope="module")
def service(onnx_model_repo: ModelRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    settings = {
        "COURIER_MODEL_REPOSITORY": onnx_model_repo.root,
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "COURIER_DECODE_WORKERS": 1,
        "COURIER_MAX_QUEUE_ITEMS": QUEUE_ITEMS,
        "COURIER_MAX_ITEMS_PER_REQUEST": ITEMS_PER_REQUEST,
    }
    server = start_service(settings, tmp_path_factory.mktemp("overload") / "service.log")
    yield server
    server.stop()


def new_items(thread: int, number: int) -> tuple[str, str, dict]:
    """Uncached ids every time (the images repeat; the ids do not), so every item needs the model."""
    items = [item(f"o{thread}-{number}-{k}", image) for k, image in enumerate(IMAGES)]
    return "POST", "/embed", {"items": items}


def overload(service: ServiceProcess, seconds: float, name: str) -> None:
    load = Load(service.url, new_items, threads=CLIENTS, timeout_s=30).start()
    deadline = time.monotonic() + seconds
    peak = 0.0
    while time.monotonic() < deadline:
        peak = max(peak, service.value("courier_queue_items"))
        time.sleep(0.05)
    results = load.stop()
    stopped = time.monotonic()
    after = service.http.post("/embed", json=new_items(999, 0)[2])
    recovery_s = time.monotonic() - stopped

    summary = tally(results)
    refused = [r for r in results if r.status == 429]
    refused_ms = np.percentile([r.latency_s * 1000 for r in refused], [50, 99]) if refused else [0, 0]
    print(
        "\n"
        + fault_line(
            name,
            **summary,
            refused_share=round(len(refused) / max(1, summary["sent"]), 3),
            refused_p50_ms=round(float(refused_ms[0]), 1),
            refused_p99_ms=round(float(refused_ms[1]), 1),
            peak_queue_items=int(peak),
            recovery_s=round(recovery_s, 3),
        )
    )
    assert summary["lost"] == 0 and summary["refused_connections"] == 0, summary
    assert set(summary) <= {"sent", "lost", "refused_connections", "200", "429"}, summary  # no 5xx
    assert summary.get("200", 0) > 0 and len(refused) > summary.get("200", 0)
    assert all(r.retry_after is not None and r.code == "queue_full" for r in refused)
    assert refused_ms[1] < 1000  # refused without waiting for the queue
    assert peak <= QUEUE_ITEMS
    assert after.status_code == 200 and all("embedding" in d for d in after.json()["data"])
    assert service.value("courier_queue_items") == 0


def test_ten_times_overload(service: ServiceProcess) -> None:
    overload(service, 4.0, "overload_10x")


@pytest.mark.soak
def test_ten_times_overload_for_30_s(service: ServiceProcess) -> None:
    overload(service, 30.0, "overload_10x_30s")
