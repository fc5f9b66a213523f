"""Failures keep their shape: unknown routes and methods, and a failing model (per-item
`inference_error`, then not ready after consecutive failed batches)."""

from __future__ import annotations

import pytest

from courier_core.errors import RequestCode
from harness.images import image_bytes, item
from tests.fixtures.fake_engine import FakeEngine
from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio


async def test_unknown_routes_and_methods_answer_the_error_shape() -> None:
    async with fake_app() as service:
        missing = await service.http.get("/nope")
        wrong_method = await service.http.get("/embed")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    for response in (missing, wrong_method):
        assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message"}
        assert response.json()["error"]["code"] in set(RequestCode)


async def test_failing_batches_fail_their_items_then_readiness() -> None:
    engine = FakeEngine()
    async with fake_app(engine, unready_after_failed_batches=2) as service:
        engine.fail_with = RuntimeError("device lost")
        failed = [
            await service.http.post("/embed", json={"items": [item(f"f{k}", image_bytes(seed=k))]})
            for k in range(2)
        ]
        ready = await service.http.get("/readyz")
        refused = await service.http.post("/embed", json={"items": [item("f9", image_bytes(seed=9))]})
    for response in failed:
        error = response.json()["data"][0]["error"]
        assert error["code"] == "inference_error" and "device lost" in error["message"]
    assert ready.status_code == 503 and ready.json()["checks"]["batches_ok"] is False
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
