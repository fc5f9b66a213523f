"""Request-level defences, in-process on the fake engine: auth before the body, blank key lists, the docs
and metrics behind the key when asked, bytes of bodies in flight, admission in decode pixels, duplicate
ids with different images, and base64 as people send it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from harness.images import b64, image_bytes, item
from service.settings import Settings
from tests.fixtures.fake_engine import FakeEngine
from tests.fixtures.service_app import app_settings, fake_app, running_app

pytestmark = pytest.mark.anyio

KEY = "k-123"


@pytest.mark.parametrize("blank", [" ", ",", " , ", ""])
def test_a_set_but_blank_key_list_is_a_start_up_error(blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """These started the service with no authentication and no log line before."""
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("COURIER_API_KEYS", blank)
    with pytest.raises(ValidationError, match="holds no key; unset COURIER_API_KEYS"):
        Settings()


def test_docs_and_metrics_behind_the_key_need_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("COURIER_AUTH_METRICS_AND_DOCS", "true")
    with pytest.raises(ValidationError, match="needs keys in COURIER_API_KEYS"):
        Settings()


async def test_malformed_json_without_a_key_is_401_not_422() -> None:
    async with fake_app(api_keys=[KEY]) as service:
        anonymous = await service.http.post(
            "/embed", content=b"{not json", headers={"content-type": "application/json"}
        )
        keyed = await service.http.post(
            "/embed", content=b"{not json", headers={"content-type": "application/json", "x-api-key": KEY}
        )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    assert keyed.status_code == 422


@pytest.mark.parametrize("protect", [False, True])
async def test_metrics_and_docs_open_unless_asked_and_probes_always_open(protect: bool) -> None:
    async with fake_app(api_keys=[KEY], auth_metrics_and_docs=protect) as service:
        ops = {p: (await service.http.get(p)).status_code for p in ("/metrics", "/docs", "/openapi.json")}
        keyed = {
            p: (await service.http.get(p, headers={"authorization": f"Bearer {KEY}"})).status_code
            for p in ("/metrics", "/docs", "/openapi.json")
        }
        probes = [(await service.http.get(p)).status_code for p in ("/healthz", "/readyz")]
    assert set(ops.values()) == ({401} if protect else {200})
    assert set(keyed.values()) == {200}
    assert probes == [200, 200]


async def _held(service, body: dict) -> asyncio.Task:
    """A request that stays in flight (the fake engine holds its batch)."""
    task = asyncio.create_task(service.http.post("/embed", json=body))
    await asyncio.sleep(0.3)
    assert not task.done()
    return task


async def test_bodies_in_flight_are_bounded_in_bytes() -> None:
    engine = FakeEngine()
    big = {"items": [item(f"b{k}", image_bytes(size=(200, 200), seed=k)) for k in range(8)]}
    small = {"items": [item("s", image_bytes(seed=99))]}
    limit = 500_000
    async with fake_app(engine, max_body_bytes_in_flight=limit, max_body_bytes=400_000) as service:
        engine.hold()
        first = await _held(service, big)
        refused = await service.http.post("/embed", json=big)

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: charged as it arrives
            data = io.BytesIO(json.dumps(big).encode())
            while chunk := data.read(64 * 1024):
                yield chunk

        refused_chunked = await service.http.post(
            "/embed", content=chunked(), headers={"content-type": "application/json"}
        )
        squeezed_in = asyncio.create_task(service.http.post("/embed", json=small))
        await asyncio.sleep(0.2)
        engine.release()
        answered = [await first, await squeezed_in]
        after = await service.http.post("/embed", json=big)
    for response in (refused, refused_chunked):
        assert response.status_code == 429, response.text
        assert response.json()["error"]["code"] == "queue_full"
        assert "COURIER_MAX_BODY_BYTES_IN_FLIGHT" in response.json()["error"]["message"]
        assert response.headers["retry-after"] == "1"
    assert [r.status_code for r in answered] == [200, 200]  # a small body still fits beside the big one
    assert after.status_code == 200


def flat_png(width: int, height: int) -> bytes:
    """A real PNG of `width`×`height` (one flat colour: tiny file, many pixels)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_admission_counts_decode_pixels() -> None:
    """Items of few bytes but many pixels are charged by their header: a request over the whole pixel
    budget is refused (413, it could never fit), one that does not fit now is told to retry (429), and
    small images are still admitted beside the large ones."""
    engine = FakeEngine()
    big = flat_png(2000, 2000)  # 4 Mpx in ~12 KB
    assert len(big) < 50_000
    budget = 10_000_000
    async with fake_app(engine, max_queue_pixels=budget, max_image_pixels=5_000_000) as service:
        too_many = await service.http.post("/embed", json={"items": [item(f"h{k}", big) for k in range(3)]})
        engine.hold()
        first = await _held(service, {"items": [item(f"g{k}", big) for k in range(2)]})
        later = await service.http.post("/embed", json={"items": [item("g9", big)]})
        small = asyncio.create_task(
            service.http.post("/embed", json={"items": [item("tiny", image_bytes())]})
        )
        await asyncio.sleep(0.2)
        engine.release()
        answered = [await first, await small]
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_pixels"
    assert "COURIER_MAX_QUEUE_PIXELS" in too_many.json()["error"]["message"]
    assert later.status_code == 429 and later.json()["error"]["code"] == "queue_full"
    assert "pixels" in later.json()["error"]["message"] and "retry-after" in later.headers
    assert [r.status_code for r in answered] == [200, 200]


async def test_a_repeated_id_with_different_images_fails_alone() -> None:
    """Before: the second image silently got the first image's vector."""
    one, two, other = image_bytes(seed=1), image_bytes(seed=2), image_bytes(seed=3)
    body = {
        "items": [item("dup", one), item("ok", other), item("dup", two), item("same", one), item("same", one)]
    }
    async with fake_app() as service:
        data = (await service.http.post("/embed", json=body)).json()["data"]
    assert [d["item_id"] for d in data] == ["dup", "ok", "dup", "same", "same"]
    assert data[0]["error"]["code"] == data[2]["error"]["code"] == "duplicate_item_id"
    assert "more than once with different images" in data[0]["error"]["message"]
    assert "embedding" in data[1] and data[3]["embedding"] == data[4]["embedding"]


async def test_base64_as_people_send_it() -> None:
    raw = image_bytes(seed=7)
    plain = b64(raw)
    forms = {
        "plain": plain,
        "mime": base64.encodebytes(raw).decode(),  # 76 characters a line, \n
        "crlf": base64.encodebytes(raw).decode().replace("\n", "\r\n"),
        "data-uri": f"data:image/jpeg;base64,{plain}",
        "urlsafe-unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    bad = {"not-base64": "%%%not base64%%%", "data-uri-not-base64": "data:image/jpeg,abc"}
    body = {"items": [{"item_id": k, "image_b64": v} for k, v in (forms | bad).items()]}
    async with fake_app() as service:
        data = {d["item_id"]: d for d in (await service.http.post("/embed", json=body)).json()["data"]}
    vectors = [np.array(data[k]["embedding"]) for k in forms]
    for vector in vectors[1:]:
        np.testing.assert_allclose(vector, vectors[0], rtol=1e-5, atol=1e-6)
    assert data["not-base64"]["error"] == {
        "code": "image_decode_error",
        "message": "image_b64 is not valid base64: it contains '%'",
    }
    assert "without ';base64'" in data["data-uri-not-base64"]["error"]["message"]


async def test_draining_serves_for_the_minimum_period_then_refuses_all_with_connection_close() -> None:
    body = {"items": [item("d", image_bytes(seed=4))]}
    async with fake_app(drain_min_s=20) as service:
        service.state.begin_drain()
        served = await service.http.post("/embed", json=body)
        ready = await service.http.get("/readyz")
    async with fake_app(drain_min_s=0) as service:
        service.state.begin_drain()
        refused = await service.http.post("/embed", json=body)
    assert served.status_code == 200 and served.headers["connection"] == "close"
    assert ready.status_code == 503 and ready.headers["connection"] == "close"
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining"
    assert refused.headers["connection"] == "close" and refused.headers["retry-after"] == "1"


async def test_not_ready_503_closes_the_connection() -> None:
    engine = FakeEngine()
    engine.hold()  # warm-up waits: not ready
    async with running_app(app_settings(), lambda _: engine, wait_ready=False) as service:
        refused = await service.http.post("/embed", json={"items": [item("early", image_bytes())]})
        engine.release()
    assert refused.status_code == 503 and refused.headers["connection"] == "close"
