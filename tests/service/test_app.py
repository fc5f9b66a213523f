"""The whole app on real parts, in-process: the real ONNX engine, a real redis-server and real image bytes.

What rankers rely on end to end: served vectors equal direct onnxruntime on the decoded image, the Redis
layout (raw float32 bytes, TTL), the `current` version pointer, the metric series, and a dead Redis
degrading to uncached serving.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import numpy as np
import onnxruntime as ort
import pytest
import redis

from courier_core.cache_keys import DEFAULT_TTL_SECONDS, current_version_key, embedding_key, vector_to_bytes
from courier_core.images import decode_image
from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.redis import RedisServer
from harness.service import metric_values
from service.runtime import lookup
from tests.fixtures.service_app import InProcessService, app_settings, running_app

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def real_app(onnx_model_repo: ModelRepo, redis_server: RedisServer) -> AsyncIterator[InProcessService]:
    settings = app_settings(
        onnx_model_repo.root,
        model_name=onnx_model_repo.name,
        redis_url=redis_server.url,
        cache_retry_interval_s=0.2,
    )
    async with running_app(settings) as service:
        yield service


@pytest.fixture(scope="module")
def redis_client(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


def new_id(prefix: str = "item") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_vectors_equal_direct_onnxruntime(real_app, onnx_model_repo, fmt) -> None:
    data = image_bytes(fmt, size=(80, 50), seed=3)
    response = await real_app.http.post("/embed", json={"items": [item(new_id(fmt), data)]})
    served = np.array(response.json()["data"][0]["embedding"], dtype=np.float32)

    session = ort.InferenceSession(str(onnx_model_repo.onnx_path), providers=["CPUExecutionProvider"])
    direct = session.run(["embedding"], {"images": decode_image(data, onnx_model_repo.size)[None]})[0][0]

    np.testing.assert_allclose(served, direct, atol=1e-5, rtol=0)
    assert response.json()["model"] == {
        "name": onnx_model_repo.name,
        "version": onnx_model_repo.version,
        "dim": onnx_model_repo.dim,
    }


async def test_vectors_are_stored_as_raw_float32_with_the_ttl(
    real_app, onnx_model_repo, redis_client
) -> None:
    item_id = new_id("layout")
    body = {"items": [item(item_id, image_bytes(seed=9))], "encoding": "base64"}
    encoded = (await real_app.http.post("/embed", json=body)).json()["data"][0]["embedding"]
    key = embedding_key(onnx_model_repo.version, item_id)

    assert base64.b64decode(encoded) == redis_client.get(key)
    assert DEFAULT_TTL_SECONDS - 60 < redis_client.ttl(key) <= DEFAULT_TTL_SECONDS


async def test_wrong_length_cached_value_is_never_returned(real_app, onnx_model_repo, redis_client) -> None:
    item_id = new_id("short")
    key = embedding_key(onnx_model_repo.version, item_id)
    redis_client.set(key, b"\x00" * 12)

    found = (await real_app.http.post("/embeddings:lookup", json={"item_ids": [item_id]})).json()
    assert found["data"] == [] and found["missing"] == [item_id]

    body = {"items": [item(item_id, image_bytes(seed=2))]}
    data = (await real_app.http.post("/embed", json=body)).json()["data"][0]
    assert data["cached"] is False and len(data["embedding"]) == onnx_model_repo.dim
    assert len(redis_client.get(key)) == onnx_model_repo.dim * 4


async def test_refresh_overwrites_and_resets_the_ttl(real_app, onnx_model_repo, redis_client) -> None:
    item_id = new_id("refresh")
    key = embedding_key(onnx_model_repo.version, item_id)
    await real_app.http.post("/embed", json={"items": [item(item_id, image_bytes(seed=1))]})
    redis_client.expire(key, 100)

    body = {"items": [item(item_id, image_bytes(seed=2))], "refresh": True}
    data = (await real_app.http.post("/embed", json=body)).json()["data"][0]

    np.testing.assert_array_equal(np.frombuffer(redis_client.get(key), "<f4"), np.float32(data["embedding"]))
    assert redis_client.ttl(key) > 100


async def test_lookup_follows_the_current_version_pointer(
    real_app, onnx_model_repo, redis_client, monkeypatch
) -> None:
    monkeypatch.setattr(lookup, "CURRENT_VERSION_TTL_S", 0.0)  # no memo: see each pointer change at once
    other = np.arange(8, dtype=np.float32) / 10
    redis_client.set(embedding_key("v-next", "pointer-item"), vector_to_bytes(other))
    redis_client.set(current_version_key(onnx_model_repo.name), "v-next")
    try:
        moved = (await real_app.http.post("/embeddings:lookup", json={"item_ids": ["pointer-item"]})).json()
    finally:
        redis_client.delete(current_version_key(onnx_model_repo.name))
    back = (await real_app.http.post("/embeddings:lookup", json={"item_ids": ["pointer-item"]})).json()

    assert moved["model"]["version"] == "v-next" and moved["model"]["dim"] == 8
    np.testing.assert_allclose(moved["data"][0]["embedding"], other)
    assert back["model"]["version"] == onnx_model_repo.version and back["missing"] == ["pointer-item"]


async def test_metrics_hold_every_documented_series(real_app, onnx_model_repo) -> None:
    await real_app.http.post("/embed", json={"items": [item(new_id(), image_bytes(seed=1))]})
    response = await real_app.http.get("/metrics")
    values = metric_values(response.text)
    names = {name for name, _ in values}

    assert response.headers["content-type"].startswith("text/plain")
    for expected in (
        "courier_requests_total",
        "courier_request_duration_seconds_bucket",
        "courier_items_total",
        "courier_queue_items",
        "courier_queue_wait_seconds_bucket",
        "courier_batch_size_bucket",
        "courier_preprocess_seconds_bucket",
        "courier_inference_seconds_bucket",
        "courier_fetch_seconds_bucket",
        "courier_cache_requests_total",
        "courier_cache_op_seconds_bucket",
        "courier_model_info",
        "courier_ready",
    ):
        assert expected in names, expected
    assert values[("courier_ready", ())] == 1.0
    assert values[("courier_requests_total", (("code", "200"), ("route", "/embed")))] >= 1
    info = [dict(labels) for name, labels in values if name == "courier_model_info"]
    served = {"name": onnx_model_repo.name, "version": onnx_model_repo.version, "dim": "16"}
    assert served | {"provider": "CPUExecutionProvider", "gpu_unused": "false"} in info


async def test_redis_outage_degrades_to_uncached_serving(real_app, redis_server) -> None:
    """Runs last in this module: Redis dies, requests still succeed uncached; the cache comes back."""
    redis_server.kill()
    body = {"items": [item(new_id("outage"), image_bytes(seed=6))]}
    try:
        for _ in range(2):
            response = await real_app.http.post("/embed", json=body)
            assert response.status_code == 200 and response.json()["data"][0]["cached"] is False
        ready = await real_app.http.get("/readyz")
        metrics = metric_values((await real_app.http.get("/metrics")).text)
    finally:
        redis_server.restart()
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert metrics[("courier_cache_requests_total", (("result", "unavailable"),))] >= 1

    async with asyncio.timeout(10):
        while (await real_app.http.get("/readyz")).json()["status"] != "ready":
            await asyncio.sleep(0.05)
    await real_app.http.post("/embed", json=body)
    assert (await real_app.http.post("/embed", json=body)).json()["data"][0]["cached"] is True
