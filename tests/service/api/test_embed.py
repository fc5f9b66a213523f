"""POST /embed in-process on the fake engine: cache, per-item errors in request order, single-flight,
refresh, encodings and URL items. Real image bytes go through the real decode function."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from PIL import Image

from courier_core.images import decode_image
from harness.images import image_bytes, item
from tests.fixtures.fake_engine import FAKE_DIM, FAKE_NAME, FAKE_SIZE, FAKE_VERSION, FakeEngine
from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


async def test_miss_then_hit_runs_no_inference() -> None:
    engine = FakeEngine()
    async with fake_app(engine) as service:
        items = [item(f"sku-{i}", image_bytes(seed=i)) for i in range(3)]
        first = (await service.http.post("/embed", json={"items": items})).json()
        assert first["model"] == {"name": FAKE_NAME, "version": FAKE_VERSION, "dim": FAKE_DIM}
        assert [d["cached"] for d in first["data"]] == [False] * 3
        assert engine.items_embedded == 3

        second = (await service.http.post("/embed", json={"items": items})).json()

    assert [d["cached"] for d in second["data"]] == [True] * 3
    assert [d["embedding"] for d in second["data"]] == [d["embedding"] for d in first["data"]]
    assert engine.items_embedded == 3


async def test_vectors_are_the_engine_output_for_the_decoded_image() -> None:
    engine = FakeEngine()
    data = image_bytes("WEBP", size=(80, 50), seed=3)
    async with fake_app(engine) as service:
        response = await service.http.post("/embed", json={"items": [item("webp", data)]})
    served = np.array(response.json()["data"][0]["embedding"], dtype=np.float32)
    expected = engine.vectors(decode_image(data, FAKE_SIZE)[None])[0]
    np.testing.assert_array_equal(served, expected)


async def test_bad_items_fail_alone_in_request_order() -> None:
    good = image_bytes(seed=1)
    body = {
        "items": [
            item("good", good),
            item("truncated", good[: len(good) // 2]),
            item("junk", b"definitely not an image"),
            item("one-pixel", png((1, 1))),
            item("huge", png((1200, 1000))),  # 1.2 Mpx, over the 1 Mpx limit below
            {"item_id": "not-base64", "image_b64": "%%%not-base64%%%"},
        ]
    }
    async with fake_app(max_image_pixels=1_000_000) as service:
        response = await service.http.post("/embed", json=body)

    assert response.status_code == 200
    data = response.json()["data"]
    assert [d["item_id"] for d in data] == [i["item_id"] for i in body["items"]]
    codes = [d.get("error", {}).get("code") for d in data]
    assert codes == [
        None,
        "image_decode_error",
        "image_decode_error",
        None,
        "image_too_large",
        "image_decode_error",
    ]
    assert len(data[0]["embedding"]) == FAKE_DIM and len(data[3]["embedding"]) == FAKE_DIM
    assert "1000000" in data[4]["error"]["message"]


async def test_duplicate_ids_are_embedded_once() -> None:
    engine = FakeEngine()
    async with fake_app(engine) as service:
        response = await service.http.post("/embed", json={"items": [item("dup", image_bytes(seed=5))] * 3})
    data = response.json()["data"]
    assert [d["item_id"] for d in data] == ["dup"] * 3
    assert data[0]["embedding"] == data[1]["embedding"] == data[2]["embedding"]
    assert engine.items_embedded == 1


async def test_concurrent_requests_share_one_computation() -> None:
    engine = FakeEngine()
    payload = {"items": [item("flight", image_bytes(seed=11))]}
    async with fake_app(engine) as service:
        engine.hold()  # all six requests arrive while the first computation is in the batcher
        requests = [asyncio.ensure_future(service.http.post("/embed", json=payload)) for _ in range(6)]
        await asyncio.sleep(0.2)
        engine.release()
        responses = await asyncio.gather(*requests)
    assert len({tuple(r.json()["data"][0]["embedding"]) for r in responses}) == 1
    assert engine.items_embedded == 1


async def test_refresh_recomputes_and_overwrites() -> None:
    engine = FakeEngine()
    async with fake_app(engine) as service:
        first = await service.http.post("/embed", json={"items": [item("re", image_bytes(seed=1))]})
        again = await service.http.post(
            "/embed", json={"items": [item("re", image_bytes(seed=2))], "refresh": True}
        )
        cached = await service.http.post("/embed", json={"items": [item("re", image_bytes(seed=1))]})
    fresh = again.json()["data"][0]
    assert fresh["cached"] is False and fresh["embedding"] != first.json()["data"][0]["embedding"]
    assert cached.json()["data"][0] == {**fresh, "cached": True}
    assert engine.items_embedded == 2


async def test_base64_encoding_is_the_float32_bytes() -> None:
    async with fake_app() as service:
        body = {"items": [item("b64", image_bytes(seed=9))]}
        as_float = (await service.http.post("/embed", json=body)).json()["data"][0]["embedding"]
        encoded = (await service.http.post("/embed", json=body | {"encoding": "base64"})).json()
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), np.float32(as_float))


async def test_lookup_right_after_embed_finds_every_item() -> None:
    """/embed answers only after its vectors are stored, so a ranker can read them at once."""
    async with fake_app() as service:
        ids = [f"ryw-{k}" for k in range(4)]
        body = {"items": [item(i, image_bytes(seed=k)) for k, i in enumerate(ids)]}
        assert (await service.http.post("/embed", json=body)).status_code == 200
        found = (await service.http.post("/embeddings:lookup", json={"item_ids": ids})).json()
    assert found["missing"] == [] and [d["item_id"] for d in found["data"]] == ids


async def test_url_items_are_refused_for_loopback_by_default(image_http_server) -> None:
    base_url, root = image_http_server
    (root / "cat.jpg").write_bytes(image_bytes(seed=4))
    body = {
        "items": [
            {"item_id": "http", "image_url": f"{base_url}/cat.jpg"},
            {"item_id": "https", "image_url": base_url.replace("http://", "https://") + "/cat.jpg"},
        ]
    }
    async with fake_app() as service:
        data = (await service.http.post("/embed", json=body)).json()["data"]
    assert [d["error"]["code"] for d in data] == ["fetch_refused", "fetch_refused"]
    assert "non-public" in data[1]["error"]["message"]


async def test_allow_listed_urls_are_fetched_and_a_404_fails_alone(image_http_server) -> None:
    base_url, root = image_http_server
    data = image_bytes("PNG", size=(40, 60), seed=8)
    (root / "dog.png").write_bytes(data)
    body = {
        "items": [
            {"item_id": "from-url", "image_url": f"{base_url}/dog.png"},
            {"item_id": "gone", "image_url": f"{base_url}/missing.png"},
            item("from-bytes", data),
        ]
    }
    allowed = {"fetch_allow_hosts": ["127.0.0.0/8"], "fetch_allow_http": ["127.0.0.1"]}
    async with fake_app(**allowed) as service:
        result = (await service.http.post("/embed", json=body)).json()["data"]
    assert result[0]["embedding"] == result[2]["embedding"]
    assert result[1]["error"]["code"] == "fetch_error" and "404" in result[1]["error"]["message"]
