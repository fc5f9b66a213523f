"""POST /embed against a real Redis-backed service: cache, per-item errors, parity with onnxruntime."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import redis
from PIL import Image

from courier_core.cache_keys import embedding_key
from courier_core.images import decode_image
from tests.service.helpers import image_bytes, item


def new_id(prefix: str = "item") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def vectors(response: httpx.Response) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    return {
        d["item_id"]: np.array(d["embedding"], dtype=np.float32)
        for d in response.json()["data"]
        if "embedding" in d
    }


def inferred_items(service) -> float:  # noqa: ANN001 - ServiceProcess
    return service.value("courier_batch_size_sum")


def test_miss_then_hit_runs_no_inference(service, onnx_model_repo) -> None:
    items = [item(new_id(), image_bytes(seed=i)) for i in range(3)]
    first = service.http.post("/embed", json={"items": items})
    assert [d["cached"] for d in first.json()["data"]] == [False] * 3
    assert first.json()["model"] == {
        "name": onnx_model_repo.name,
        "version": onnx_model_repo.version,
        "dim": 16,
    }
    before = inferred_items(service), service.value("courier_inference_seconds_count")

    second = service.http.post("/embed", json={"items": items})

    assert [d["cached"] for d in second.json()["data"]] == [True] * 3
    for a, b in zip(first.json()["data"], second.json()["data"], strict=True):
        np.testing.assert_allclose(a["embedding"], b["embedding"], rtol=0, atol=0)
    assert (inferred_items(service), service.value("courier_inference_seconds_count")) == before


def test_bad_items_fail_alone_in_request_order(service) -> None:
    good = image_bytes(seed=1)
    one_pixel = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(one_pixel, "PNG")
    huge = io.BytesIO()
    Image.new("RGB", (1200, 1000), (0, 0, 0)).save(huge, "PNG")  # 1.2 Mpx > the 1 Mpx limit
    ids = [new_id(k) for k in ("good", "trunc", "junk", "pixel", "huge", "b64")]
    body = {
        "items": [
            item(ids[0], good),
            item(ids[1], good[: len(good) // 2]),
            item(ids[2], b"definitely not an image"),
            item(ids[3], one_pixel.getvalue()),
            item(ids[4], huge.getvalue()),
            {"item_id": ids[5], "image_b64": "%%%not-base64%%%"},
        ]
    }
    response = service.http.post("/embed", json=body)

    assert response.status_code == 200
    data = response.json()["data"]
    assert [d["item_id"] for d in data] == ids
    codes = [d.get("error", {}).get("code") for d in data]
    assert codes == [
        None,
        "image_decode_error",
        "image_decode_error",
        None,
        "image_too_large",
        "image_decode_error",
    ]
    assert len(data[0]["embedding"]) == 16 and len(data[3]["embedding"]) == 16
    assert "1000000" in data[4]["error"]["message"]


def test_service_stays_healthy_after_tiny_and_corrupt_images(service) -> None:
    one_pixel = io.BytesIO()
    Image.new("L", (1, 1), 7).save(one_pixel, "PNG")
    for payload in (one_pixel.getvalue(), b"\xff\xd8\xff\xe0broken jpeg", b""):
        assert service.http.post("/embed", json={"items": [item(new_id(), payload)]}).status_code == 200
    for seed in range(3):
        response = service.http.post("/embed", json={"items": [item(new_id(), image_bytes(seed=seed))]})
        assert "embedding" in response.json()["data"][0]
    assert service.http.get("/healthz").status_code == 200
    assert service.http.get("/readyz").status_code == 200


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_embeddings_equal_direct_onnxruntime(service, onnx_model_repo, fmt) -> None:
    data = image_bytes(fmt, size=(80, 50), seed=3)
    response = service.http.post("/embed", json={"items": [item(new_id(fmt), data)], "refresh": True})
    served = np.array(response.json()["data"][0]["embedding"], dtype=np.float32)

    session = ort.InferenceSession(str(onnx_model_repo.onnx_path), providers=["CPUExecutionProvider"])
    image = decode_image(data, onnx_model_repo.size)[None]
    direct = session.run(["embedding"], {"images": image})[0][0]

    np.testing.assert_allclose(served, direct, atol=1e-5, rtol=0)


def test_base64_encoding_is_the_cache_layout(service, onnx_model_repo, redis_server) -> None:
    item_id = new_id("b64")
    body = {"items": [item(item_id, image_bytes(seed=9))]}
    as_float = vectors(service.http.post("/embed", json=body))[item_id]
    encoded = service.http.post("/embed", json=body | {"encoding": "base64"}).json()["data"][0]["embedding"]
    raw = redis.Redis.from_url(redis_server.url).get(embedding_key(onnx_model_repo.version, item_id))

    assert base64.b64decode(encoded) == raw
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), as_float)


def test_duplicate_ids_are_embedded_once(service) -> None:
    item_id = new_id("dup")
    before = inferred_items(service)
    response = service.http.post("/embed", json={"items": [item(item_id, image_bytes(seed=5))] * 3})
    data = response.json()["data"]
    assert [d["item_id"] for d in data] == [item_id] * 3
    assert data[0]["embedding"] == data[1]["embedding"] == data[2]["embedding"]
    assert inferred_items(service) - before == 1


def test_concurrent_requests_share_one_computation(service) -> None:
    payload = {"items": [item(new_id("flight"), image_bytes("JPEG", size=(1000, 900), seed=11))]}
    before = inferred_items(service)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/embed", json=payload) for _ in range(6)))

    responses = asyncio.run(burst())
    embeddings = {tuple(r.json()["data"][0]["embedding"]) for r in responses}
    assert len(embeddings) == 1
    assert inferred_items(service) - before == 1


def test_lookup_right_after_embed_finds_every_item(service) -> None:
    """/embed answers only after its vectors are stored, so a ranker can read them at once."""
    for attempt in range(10):
        ids = [new_id(f"ryw{attempt}") for _ in range(4)]
        body = {"items": [item(i, image_bytes(seed=k)) for k, i in enumerate(ids)]}
        assert service.http.post("/embed", json=body).status_code == 200
        found = service.http.post("/embeddings:lookup", json={"item_ids": ids}).json()
        assert found["missing"] == [] and [d["item_id"] for d in found["data"]] == ids


def test_wrong_length_cached_value_is_never_returned(service, onnx_model_repo, redis_server) -> None:
    item_id = new_id("short")
    key = embedding_key(onnx_model_repo.version, item_id)
    client = redis.Redis.from_url(redis_server.url)
    client.set(key, b"\x00" * 12)

    lookup = service.http.post("/embeddings:lookup", json={"item_ids": [item_id]}).json()
    assert lookup["data"] == [] and lookup["missing"] == [item_id]

    data = service.http.post("/embed", json={"items": [item(item_id, image_bytes(seed=2))]}).json()["data"][0]
    assert data["cached"] is False and len(data["embedding"]) == 16
    assert len(client.get(key)) == 16 * 4
    assert 0 < client.ttl(key) <= 30 * 24 * 3600


def test_refresh_recomputes_and_overwrites(service, onnx_model_repo, redis_server) -> None:
    item_id = new_id("refresh")
    key = embedding_key(onnx_model_repo.version, item_id)
    client = redis.Redis.from_url(redis_server.url)
    first = service.http.post("/embed", json={"items": [item(item_id, image_bytes(seed=1))]}).json()["data"][
        0
    ]
    client.expire(key, 100)

    again = service.http.post("/embed", json={"items": [item(item_id, image_bytes(seed=2))], "refresh": True})

    data = again.json()["data"][0]
    assert data["cached"] is False and data["embedding"] != first["embedding"]
    np.testing.assert_array_equal(np.frombuffer(client.get(key), "<f4"), np.float32(data["embedding"]))
    assert client.ttl(key) > 100


def test_body_and_item_limits_name_the_limit(service) -> None:
    too_big = service.http.post("/embed", content=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert too_big.status_code == 413
    assert "COURIER_MAX_BODY_BYTES" in too_big.json()["error"]["message"]

    many = {"items": [item(f"n{i}", b"x") for i in range(17)]}
    too_many = service.http.post("/embed", json=many)
    assert too_many.status_code == 422
    assert "16" in too_many.json()["error"]["message"]
    assert "COURIER_MAX_ITEMS_PER_REQUEST" in too_many.json()["error"]["message"]

    for bad in ({"items": [{"item_id": "x"}]}, {"items": "nope"}, {"itemz": []}):
        assert service.http.post("/embed", json=bad).status_code == 422
    not_json = service.http.post("/embed", content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json()["error"]["code"] == "invalid_request"
    assert "JSON decode error" in not_json.json()["error"]["message"]


def test_url_fetch_refuses_loopback(service, image_http_server) -> None:
    base_url, root = image_http_server
    (root / "cat.jpg").write_bytes(image_bytes(seed=4))
    https_url = base_url.replace("http://", "https://") + "/cat.jpg"
    body = {
        "items": [
            {"item_id": new_id("url"), "image_url": f"{base_url}/cat.jpg"},
            {"item_id": new_id("url"), "image_url": https_url},
        ]
    }

    data = service.http.post("/embed", json=body).json()["data"]

    assert [d["error"]["code"] for d in data] == ["fetch_refused", "fetch_refused"]
    assert "non-public" in data[1]["error"]["message"]


def test_no_api_key_needed_when_none_configured(service) -> None:
    response = service.http.post("/embeddings:lookup", json={"item_ids": ["anything"]})
    assert response.status_code == 200


def test_metrics_hold_the_design_series(service) -> None:
    service.http.post("/embed", json={"items": [item(new_id(), image_bytes(seed=1))]})
    text = service.http.get("/metrics").text
    names = {name for name, _ in service.metrics()}
    for expected in (
        "courier_requests_total",
        "courier_request_duration_seconds_bucket",
        "courier_items_total",
        "courier_queue_items",
        "courier_queue_wait_seconds_bucket",
        "courier_batch_size_bucket",
        "courier_preprocess_seconds_bucket",
        "courier_inference_seconds_bucket",
        "courier_cache_requests_total",
        "courier_cache_op_seconds_bucket",
        "courier_model_info",
        "courier_ready",
    ):
        assert expected in names, expected
    assert "# TYPE courier_queue_rejections_total counter" in text or "courier_queue_rejections" in text
    assert "courier_fetch_seconds" in text
    assert service.value("courier_ready") == 1.0
    assert service.value("courier_requests_total", route="/embed", code="200") >= 1
    info = [labels for (name, labels) in service.metrics() if name == "courier_model_info"]
    assert dict(info[0])["provider"] == "CPUExecutionProvider"


def test_redis_outage_degrades_to_uncached(service, redis_server) -> None:
    """Runs last in this module: Redis dies, requests still succeed uncached; the cache comes back."""
    redis_server.kill()
    item_id = new_id("outage")
    body = {"items": [item(item_id, image_bytes(seed=6))]}
    for _ in range(2):
        response = service.http.post("/embed", json=body)
        assert response.status_code == 200
        assert response.json()["data"][0]["cached"] is False
    ready = service.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert service.value("courier_cache_requests_total", result="unavailable") >= 1

    redis_server.restart()
    for _ in range(50):
        if service.http.get("/readyz").json()["status"] == "ready":
            break
        asyncio.run(asyncio.sleep(0.1))
    assert service.http.get("/readyz").json()["status"] == "ready"
    service.http.post("/embed", json=body)
    assert service.http.post("/embed", json=body).json()["data"][0]["cached"] is True
