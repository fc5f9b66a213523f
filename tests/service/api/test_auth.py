"""API keys in-process: required on data routes only, by either scheme; no keys configured means open."""

from __future__ import annotations

import pytest

from harness.images import image_bytes, item
from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio

KEY = "s3cret-key"


async def test_data_routes_need_a_configured_key_by_bearer_or_x_api_key() -> None:
    body = {"items": [item("k1", image_bytes(seed=1))]}
    async with fake_app(api_keys=["other-key", KEY]) as service:
        http = service.http
        refused = [
            await http.post("/embed", json=body),
            await http.post("/embed", json=body, headers={"authorization": "Bearer wrong"}),
            await http.post("/embed", json=body, headers={"x-api-key": "wrong"}),
            await http.post("/embed", json=body, headers={"authorization": f"Basic {KEY}"}),
            await http.post("/embeddings:lookup", json={"item_ids": ["k1"]}),
            await http.get("/embeddings/k1"),
        ]
        embedded = await http.post("/embed", json=body, headers={"authorization": f"Bearer {KEY}"})
        looked_up = await http.post(
            "/embeddings:lookup", json={"item_ids": ["k1"]}, headers={"x-api-key": KEY}
        )
        open_routes = [await http.get(path) for path in ("/healthz", "/readyz", "/metrics")]

    for response in refused:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert embedded.status_code == 200 and "embedding" in embedded.json()["data"][0]
    assert looked_up.status_code == 200 and looked_up.json()["data"][0]["item_id"] == "k1"
    assert [r.status_code for r in open_routes] == [200, 200, 200]


async def test_no_keys_configured_means_no_auth() -> None:
    async with fake_app() as service:
        response = await service.http.post("/embeddings:lookup", json={"item_ids": ["anything"]})
    assert response.status_code == 200
