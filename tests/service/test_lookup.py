"""Read path: lookup routes (served and `current` versions), the typed client and the Redis reader."""

from __future__ import annotations

import base64
import time
import uuid

import numpy as np
import redis

from courier_core.cache_keys import current_version_key, embedding_key, vector_to_bytes
from service.client import AsyncCourierClient, CourierClient, ImageInput
from service.reader import RedisEmbeddingReader
from tests.service.helpers import image_bytes, item


def test_lookup_routes_return_cached_vectors_and_missing_ids(service) -> None:
    ids = [f"look-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    embedded = service.http.post(
        "/embed", json={"items": [item(i, image_bytes(seed=n)) for n, i in enumerate(ids)]}
    )
    vectors = {d["item_id"]: d["embedding"] for d in embedded.json()["data"]}

    response = service.http.post("/embeddings:lookup", json={"item_ids": [ids[1], "never-seen", ids[0]]})
    body = response.json()
    assert response.status_code == 200
    assert [d["item_id"] for d in body["data"]] == [ids[1], ids[0]]
    assert body["missing"] == ["never-seen"]
    assert body["data"][0]["embedding"] == vectors[ids[1]]

    encoded = service.http.post(
        "/embeddings:lookup", json={"item_ids": [ids[0]], "encoding": "base64"}
    ).json()
    np.testing.assert_array_equal(
        np.frombuffer(base64.b64decode(encoded["data"][0]["embedding"]), "<f4"), np.float32(vectors[ids[0]])
    )
    one = service.http.get(f"/embeddings/{ids[0]}")
    assert one.status_code == 200 and one.json()["embedding"] == vectors[ids[0]]
    assert service.http.get("/embeddings/never-seen").status_code == 404


def test_lookup_follows_the_current_version_pointer(service, onnx_model_repo, redis_server) -> None:
    client = redis.Redis.from_url(redis_server.url)
    other = np.arange(8, dtype=np.float32) / 10
    client.set(embedding_key("v-next", "pointer-item"), vector_to_bytes(other))
    client.set(current_version_key(onnx_model_repo.name), "v-next")
    try:
        time.sleep(1.1)  # the pointer is memoised for a second
        body = service.http.post("/embeddings:lookup", json={"item_ids": ["pointer-item"]}).json()
        assert body["model"]["version"] == "v-next" and body["model"]["dim"] == 8
        np.testing.assert_allclose(body["data"][0]["embedding"], other)
    finally:
        client.delete(current_version_key(onnx_model_repo.name))
    time.sleep(1.1)
    body = service.http.post("/embeddings:lookup", json={"item_ids": ["pointer-item"]}).json()
    assert body["model"]["version"] == onnx_model_repo.version and body["missing"] == ["pointer-item"]


def test_typed_clients_and_redis_reader(service, onnx_model_repo, redis_server) -> None:
    item_id = f"client-{uuid.uuid4().hex[:8]}"
    with CourierClient(service.url) as http_client:
        result = http_client.embed(
            [ImageInput(item_id, image=image_bytes(seed=7)), ImageInput("bad", image=b"no")]
        )
        assert result.vectors[item_id].shape == (16,) and result.errors["bad"].code == "image_decode_error"
        looked_up = http_client.lookup([item_id, "absent"])
    assert looked_up.missing == ["absent"]
    np.testing.assert_array_equal(looked_up.vectors[item_id], result.vectors[item_id])

    async def async_lookup() -> np.ndarray:
        async with AsyncCourierClient(service.url) as client:
            return (await client.lookup([item_id])).vectors[item_id]

    import asyncio

    np.testing.assert_array_equal(asyncio.run(async_lookup()), result.vectors[item_id])

    reader = RedisEmbeddingReader(redis_server.url, model_name=onnx_model_repo.name, dim=16)
    found = reader.get_many([item_id, "absent"], version=onnx_model_repo.version)
    reader.close()
    assert list(found) == [item_id]
    np.testing.assert_array_equal(found[item_id], result.vectors[item_id])
