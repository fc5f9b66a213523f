"""Limits and refusals in-process: body and item limits, malformed bodies, a full queue (429), queue
deadlines, not ready and draining (503). Each refusal names its limit and carries its request code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from harness.images import image_bytes, item
from tests.fixtures.fake_engine import FakeEngine
from tests.fixtures.service_app import app_settings, fake_app, running_app, until_ready

pytestmark = pytest.mark.anyio


async def test_body_over_the_limit_is_413_whether_declared_or_streamed() -> None:
    limit = 64 * 1024

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the cap counts bytes as they arrive
        yield b'{"items": ['
        for _ in range(10):
            yield b" " * 10_000

    async with fake_app(max_body_bytes=limit) as service:
        declared = await service.http.post("/embed", content=b"{" + b" " * limit + b"}")
        streamed = await service.http.post("/embed", content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        assert "COURIER_MAX_BODY_BYTES" in response.json()["error"]["message"]


async def test_item_and_id_limits_are_422_naming_the_limit() -> None:
    async with fake_app(max_items_per_request=16, max_lookup_ids=3) as service:
        many = await service.http.post("/embed", json={"items": [item(f"n{i}", b"x") for i in range(17)]})
        ids = await service.http.post("/embeddings:lookup", json={"item_ids": ["a", "b", "c", "d"]})
    assert many.status_code == 422 and many.json()["error"]["code"] == "too_many_items"
    assert "16" in many.json()["error"]["message"]
    assert "COURIER_MAX_ITEMS_PER_REQUEST" in many.json()["error"]["message"]
    assert ids.status_code == 422 and "COURIER_MAX_LOOKUP_IDS" in ids.json()["error"]["message"]


async def test_malformed_bodies_are_422_invalid_request() -> None:
    async with fake_app() as service:
        bad_bodies = [
            {"items": [{"item_id": "x"}]},  # no image
            {"items": [{"item_id": "x", "image_b64": "AAAA", "image_url": "https://a/b.jpg"}]},
            {"items": "nope"},
            {"itemz": []},
            {"items": []},
            {"items": [item("x", b"x")], "encoding": "hex"},
        ]
        responses = [await service.http.post("/embed", json=body) for body in bad_bodies]
        not_json = await service.http.post(
            "/embed", content=b"{oops", headers={"content-type": "application/json"}
        )
    for response in [*responses, not_json]:
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"
    assert "JSON decode error" in not_json.json()["error"]["message"]


async def test_full_queue_answers_429_at_once_with_retry_after() -> None:
    engine = FakeEngine()
    settings = {"max_queue_items": 4, "max_items_per_request": 4}
    async with fake_app(engine, **settings) as service:
        engine.hold()
        body = {"items": [item(f"fill-{i}", image_bytes(seed=i)) for i in range(4)]}
        admitted = asyncio.ensure_future(service.http.post("/embed", json=body))
        async with asyncio.timeout(10):
            while service.state.pipeline.queue_items < 4:
                await asyncio.sleep(0.005)
        refused = await service.http.post("/embed", json={"items": [item("late", image_bytes(seed=9))]})
        still_waiting = not admitted.done()
        engine.release()
        answered = await admitted
        metrics = (await service.http.get("/metrics")).text

    assert refused.status_code == 429 and still_waiting
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "queue_full"
    assert answered.status_code == 200 and all("embedding" in d for d in answered.json()["data"])
    assert 'courier_queue_rejections_total{reason="queue_full"}' in metrics


async def test_items_past_their_queue_deadline_get_deadline_without_inference() -> None:
    engine = FakeEngine()
    # a batch closes only after 300 ms, but an item may wait 50 ms: it expires in the queue
    async with fake_app(engine, max_batch_delay_ms=300, queue_deadline_ms=50) as service:
        response = await service.http.post("/embed", json={"items": [item("stale", image_bytes(seed=1))]})
        ready = await service.http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["data"][0]["error"]["code"] == "deadline"
    assert engine.batch_sizes == []
    assert ready.status_code == 200


async def test_not_ready_until_warmed_up() -> None:
    engine = FakeEngine()
    engine.hold()  # warm-up waits
    async with running_app(app_settings(), lambda _: engine, wait_ready=False) as service:
        embed = await service.http.post("/embed", json={"items": [item("early", image_bytes())]})
        ready = await service.http.get("/readyz")
        engine.release()
        await until_ready(service)
        after = await service.http.get("/readyz")
    assert embed.status_code == 503 and embed.json()["error"]["code"] == "not_ready"
    assert embed.headers["retry-after"] == "1"
    assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
    assert ready.json()["status"] == "not_ready" and ready.json()["checks"]["warmed_up"] is False
    assert after.status_code == 200 and after.json()["status"] == "ready"
    assert engine.warmed_buckets == (1, 2, 4, 8, 16, 32)  # every batch shape ran before ready


async def test_draining_refuses_new_work_but_not_liveness() -> None:
    async with fake_app(drain_min_s=0) as service:
        service.state.begin_drain()
        embed = await service.http.post("/embed", json={"items": [item("late", image_bytes())]})
        lookup = await service.http.post("/embeddings:lookup", json={"item_ids": ["late"]})
        ready = await service.http.get("/readyz")
        alive = await service.http.get("/healthz")
    for response in (embed, lookup):
        assert response.status_code == 503 and response.json()["error"]["code"] == "draining"
        assert response.headers["retry-after"] == "1"
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
