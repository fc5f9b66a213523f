"""The read routes in-process: POST /embeddings:lookup and GET /embeddings/{item_id} (cached vectors only)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from harness.images import image_bytes, item
from tests.fixtures.fake_engine import FakeEngine
from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio


async def test_lookup_returns_cached_vectors_in_request_order_and_the_missing_ids() -> None:
    engine = FakeEngine()
    async with fake_app(engine) as service:
        ids = ["look-0", "look-1"]
        embedded = await service.http.post(
            "/embed", json={"items": [item(i, image_bytes(seed=n)) for n, i in enumerate(ids)]}
        )
        vectors = {d["item_id"]: d["embedding"] for d in embedded.json()["data"]}

        response = await service.http.post(
            "/embeddings:lookup", json={"item_ids": [ids[1], "never-seen", ids[0], ids[1]]}
        )
        encoded = await service.http.post(
            "/embeddings:lookup", json={"item_ids": [ids[0]], "encoding": "base64"}
        )
        one = await service.http.get(f"/embeddings/{ids[0]}")
        one_b64 = await service.http.get(f"/embeddings/{ids[0]}", params={"encoding": "base64"})
        absent = await service.http.get("/embeddings/never-seen")

    body = response.json()
    assert response.status_code == 200
    assert [d["item_id"] for d in body["data"]] == [ids[1], ids[0], ids[1]]
    assert body["missing"] == ["never-seen"]
    assert body["data"][0]["embedding"] == vectors[ids[1]]
    raw = base64.b64decode(encoded.json()["data"][0]["embedding"])
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), np.float32(vectors[ids[0]]))
    assert one.status_code == 200 and one.json()["embedding"] == vectors[ids[0]]
    assert one.json()["model"]["version"] == engine.version
    assert base64.b64decode(one_b64.json()["embedding"]) == raw
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "not_found"
    assert engine.items_embedded == 2  # lookups never run the model


async def test_lookup_needs_no_model_work_and_reports_the_served_model_when_nothing_is_cached() -> None:
    engine = FakeEngine()
    async with fake_app(engine) as service:
        body = (await service.http.post("/embeddings:lookup", json={"item_ids": ["a", "b"]})).json()
    assert body == {
        "model": {"name": engine.name, "version": engine.version, "dim": engine.dim},
        "data": [],
        "missing": ["a", "b"],
    }
    assert engine.batch_sizes == []
