"""Checks that hold for any Redis the service uses (standalone or cluster): the language-neutral read of
docs/redis-contract.md with the `redis-cli` binary alone (no Python Redis client), and service replicas
sharing one Redis."""

from __future__ import annotations

import uuid
import zlib

import numpy as np

from courier_core.cache_keys import DEFAULT_TTL_SECONDS
from harness.images import image_bytes, item
from harness.redis import redis_cli, unquote_cli
from harness.service import ServiceProcess


def image_of(item_id: str) -> bytes:
    """One picture per id, whoever sends it (concurrent requests for an id share one computation)."""
    return image_bytes(seed=zlib.crc32(item_id.encode()) % 10_000)


def embed(service: ServiceProcess, ids: list[str]) -> dict:
    response = service.http.post("/embed", json={"items": [item(i, image_of(i)) for i in ids]})
    assert response.status_code == 200, response.text
    return response.json()


def check_replicas_share(first: ServiceProcess, second: ServiceProcess) -> None:
    """What one replica embedded, the other finds, and neither computes it again."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"replica-{tag}-{k}" for k in range(6)]
    made = embed(first, ids[:3])
    found = second.http.post("/embeddings:lookup", json={"item_ids": ids[:3]}).json()
    assert found["missing"] == []
    assert {d["item_id"]: d["embedding"] for d in found["data"]} == {
        d["item_id"]: d["embedding"] for d in made["data"]
    }
    assert all(d["cached"] for d in embed(second, ids[:3])["data"])

    made = embed(second, ids[3:])
    assert all(d["cached"] for d in embed(first, ids[3:])["data"])
    for d in made["data"]:
        assert first.http.get(f"/embeddings/{d['item_id']}").json()["embedding"] == d["embedding"]


def _fields(printed: str) -> dict[str, str]:
    """`1) "name"` / `2) "value"` lines of HGETALL as a dict."""
    values = [line.split(") ", 1)[1].strip('"') for line in printed.splitlines()]
    return dict(zip(values[::2], values[1::2], strict=True))


def check_redis_cli_read(service: ServiceProcess, port: int, *, cluster: bool) -> None:
    item_id = f"contract-{uuid.uuid4().hex[:8]}"
    body = embed(service, [item_id])
    model, answer = body["model"], np.float32(body["data"][0]["embedding"])
    key = f"courier:emb:{model['version']}:{item_id}"

    raw = unquote_cli(redis_cli(port, "GET", key, cluster=cluster))
    assert len(raw) == 4 * model["dim"]
    vector = np.frombuffer(raw, dtype="<f4")
    np.testing.assert_array_equal(vector, answer)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert unquote_cli(redis_cli(port, "GETRANGE", key, "0", "3", cluster=cluster)) == answer[:1].tobytes()
    assert redis_cli(port, "STRLEN", key, cluster=cluster) == f"(integer) {4 * model['dim']}"
    ttl = int(redis_cli(port, "TTL", key, cluster=cluster).removeprefix("(integer) "))
    assert DEFAULT_TTL_SECONDS - 60 < ttl <= DEFAULT_TTL_SECONDS

    info = _fields(redis_cli(port, "HGETALL", f"courier:meta:{model['version']}", cluster=cluster))
    assert info["name"] == model["name"] and info["version"] == model["version"]
    assert info["dim"] == str(model["dim"]) and info["format"] == "float32-le" and info["created_at"]
