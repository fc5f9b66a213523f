"""The service on a real Redis Cluster: embed and lookup across slots, the redis-cli read, two replicas
sharing the cluster, and a primary killed under load (no failed request, its keys become misses)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import numpy as np
import redis

from courier_core.cache_keys import embedding_key
from harness.images import item
from harness.redis_cluster import RedisClusterServer
from harness.service import ServiceProcess, start_service
from tests.cluster.conftest import cluster_settings
from tests.service.redis_checks import check_redis_cli_read, check_replicas_share, embed, image_of


def new_ids(prefix: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}-{tag}-{k}" for k in range(count)]


def test_embed_and_lookup_across_slots(cluster_service, cluster_client, onnx_model_repo) -> None:
    ids = new_ids("slots", 12)
    first = embed(cluster_service, ids)
    assert [d["cached"] for d in first["data"]] == [False] * len(ids)
    vectors = {d["item_id"]: d["embedding"] for d in first["data"]}
    version = first["model"]["version"]
    nodes = {cluster_client.get_node_from_key(embedding_key(version, i)).name for i in ids}
    assert len(nodes) > 1  # the request's keys live on several primaries

    again = embed(cluster_service, ids)
    assert [d["cached"] for d in again["data"]] == [True] * len(ids)
    looked = cluster_service.http.post("/embeddings:lookup", json={"item_ids": [*ids, "absent"]}).json()
    assert looked["missing"] == ["absent"]
    assert {d["item_id"]: d["embedding"] for d in looked["data"]} == vectors
    one = cluster_service.http.get(f"/embeddings/{ids[3]}")
    assert one.status_code == 200 and one.json()["embedding"] == vectors[ids[3]]
    assert cluster_service.http.get("/readyz").json()["status"] == "ready"


def test_redis_cli_alone_reads_the_vector_the_service_answered(cluster_service, redis_cluster) -> None:
    check_redis_cli_read(cluster_service, redis_cluster.seed.port, cluster=True)


def test_two_replicas_share_one_cluster(cluster_service, redis_cluster, onnx_model_repo, tmp_path) -> None:
    other = start_service(cluster_settings(onnx_model_repo, redis_cluster), tmp_path / "replica.log")
    try:
        check_replicas_share(cluster_service, other)
    finally:
        other.stop()


class Load:
    """Threads sending lookups and embeds (some cached ids, some new) until stopped; keeps every answer."""

    def __init__(self, service: ServiceProcess, cached_ids: list[str]) -> None:
        self.service, self.cached_ids = service, cached_ids
        self.statuses: list[int] = []
        self.item_errors: list[dict] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._lookups), threading.Thread(target=self._embeds)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _lookups(self) -> None:
        with httpx.Client(base_url=self.service.url, timeout=30) as http:
            while not self._stop.is_set():
                self.statuses.append(
                    http.post("/embeddings:lookup", json={"item_ids": self.cached_ids}).status_code
                )

    def _embeds(self) -> None:
        with httpx.Client(base_url=self.service.url, timeout=30) as http:
            while not self._stop.is_set():
                ids = [f"load-{uuid.uuid4().hex[:8]}", *self.cached_ids[:4]]
                response = http.post("/embed", json={"items": [item(i, image_of(i)) for i in ids]})
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.item_errors += [d for d in response.json()["data"] if "error" in d]


def test_a_primary_killed_under_load_costs_only_its_keys(
    cluster_service, redis_cluster: RedisClusterServer, cluster_client
) -> None:
    ids = new_ids("load", 24)
    version = embed(cluster_service, ids)["model"]["version"]
    victim = redis_cluster.victim()
    on_victim = [
        i for i in ids if cluster_client.get_node_from_key(embedding_key(version, i)).port == victim.port
    ]
    assert 0 < len(on_victim) < len(ids)
    misses_before = cluster_service.value("courier_cache_requests_total", result="miss")
    errors_before = cluster_service.value("courier_cache_errors_total", op="get")

    with Load(cluster_service, ids) as load:
        time.sleep(1.0)
        victim.kill()
        time.sleep(2.5)  # past the cluster's node timeout: the others mark it failed and keep serving
        during = cluster_service.http.post("/embeddings:lookup", json={"item_ids": ids}).json()
        redo = embed(cluster_service, on_victim)
        ready = cluster_service.http.get("/readyz")
    assert load.statuses and set(load.statuses) == {200}
    assert load.item_errors == []
    assert sorted(during["missing"]) == sorted(on_victim)  # the other primaries still answer
    assert len(during["data"]) == len(ids) - len(on_victim)
    assert [d["cached"] for d in redo["data"]] == [False] * len(on_victim)  # recomputed, not failed
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert cluster_service.value("courier_cache_requests_total", result="miss") >= misses_before + len(
        on_victim
    )
    assert cluster_service.value("courier_cache_errors_total", op="get") > errors_before

    redis_cluster.restart(victim)  # back, empty: the service uses it again within a few retry intervals
    deadline = time.monotonic() + 15
    while cluster_service.http.get("/readyz").json()["status"] != "ready":
        assert time.monotonic() < deadline, "the service never used the restarted primary again"
        time.sleep(0.1)
    embed(cluster_service, on_victim)
    looked = cluster_service.http.post("/embeddings:lookup", json={"item_ids": ids}).json()
    assert looked["missing"] == []
    np.testing.assert_array_equal(
        np.float32([d["embedding"] for d in looked["data"] if d["item_id"] in on_victim]),
        np.float32([d["embedding"] for d in redo["data"]]),
    )
    check = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        assert all(check.exists(embedding_key(version, i)) for i in on_victim)
    finally:
        check.close()
