"""API keys on, in-process cache, URL fetching allowed for 127.0.0.1 over http."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.service.conftest import model_settings
from tests.service.helpers import ServiceProcess, image_bytes, item, start_service

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def guarded(onnx_model_repo, tmp_path_factory) -> Iterator[ServiceProcess]:
    settings = model_settings(onnx_model_repo) | {
        "COURIER_API_KEYS": f"other-key, {KEY}",
        "COURIER_FETCH_ALLOW_HOSTS": "127.0.0.0/8",
        "COURIER_FETCH_ALLOW_HTTP": "127.0.0.1",
    }
    server = start_service(settings, tmp_path_factory.mktemp("guarded") / "service.log")
    yield server
    server.stop()


def test_api_keys_are_required_on_data_routes_only(guarded) -> None:
    body = {"items": [item("k1", image_bytes(seed=1))]}
    assert guarded.http.post("/embed", json=body).status_code == 401
    assert (
        guarded.http.post("/embed", json=body, headers={"authorization": "Bearer wrong"}).status_code == 401
    )
    assert guarded.http.post("/embeddings:lookup", json={"item_ids": ["k1"]}).status_code == 401
    assert guarded.http.get("/embeddings/k1").status_code == 401

    ok = guarded.http.post("/embed", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and len(ok.json()["data"][0]["embedding"]) == 16
    lookup = guarded.http.post("/embeddings:lookup", json={"item_ids": ["k1"]}, headers={"x-api-key": KEY})
    assert lookup.status_code == 200 and lookup.json()["data"][0]["item_id"] == "k1"

    for path in ("/healthz", "/readyz", "/metrics"):
        assert guarded.http.get(path).status_code == 200


def test_in_process_cache_serves_hits(guarded) -> None:
    headers = {"x-api-key": KEY}
    body = {"items": [item("mem-1", image_bytes(seed=3))]}
    assert guarded.http.post("/embed", json=body, headers=headers).json()["data"][0]["cached"] is False
    assert guarded.http.post("/embed", json=body, headers=headers).json()["data"][0]["cached"] is True
    assert guarded.http.get("/readyz").json()["cache"] == {"kind": "memory", "available": True}


def test_allow_listed_url_is_fetched(guarded, image_http_server) -> None:
    base_url, root = image_http_server
    data = image_bytes("PNG", size=(40, 60), seed=8)
    (root / "dog.png").write_bytes(data)
    headers = {"x-api-key": KEY}
    body = {
        "items": [
            {"item_id": "from-url", "image_url": f"{base_url}/dog.png"},
            {"item_id": "gone", "image_url": f"{base_url}/missing.png"},
            item("from-bytes", data),
        ]
    }
    result = guarded.http.post("/embed", json=body, headers=headers).json()["data"]

    np.testing.assert_allclose(result[0]["embedding"], result[2]["embedding"], atol=1e-6)
    assert result[1]["error"]["code"] == "fetch_error" and "404" in result[1]["error"]["message"]
    assert guarded.value("courier_fetch_seconds_count") >= 2
