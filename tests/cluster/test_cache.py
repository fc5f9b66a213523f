"""The cluster cache and the reader against a real three-master Redis Cluster: keys across slots and nodes,
a dead node (misses for its slots only), slot migration (ASK, then MOVED) and a strict write through a
failover."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis

from courier_core.cache_keys import embedding_key, version_info
from harness.redis_cluster import RedisClusterServer
from service.cache import CacheError, ClusterCache, make_cache
from service.reader import RedisEmbeddingReader

DIM = 8


def vectors(prefix: str, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(count, DIM)).astype(np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    return {f"{prefix}-{k}": raw[k] for k in range(count)}


def owners(client: redis.RedisCluster, version: str, ids) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Item id -> port of the primary that holds its key."""
    return {i: client.get_node_from_key(embedding_key(version, i)).port for i in ids}


def test_reads_and_writes_span_every_node(redis_cluster: RedisClusterServer, cluster_client) -> None:
    written = vectors("span", 300)
    cluster_client.set(embedding_key("v1", "short"), b"\x00" * (4 * DIM - 1))  # a wrong length: a miss

    async def scenario() -> None:
        cache = make_cache(redis_cluster.url, mode="cluster")
        assert isinstance(cache, ClusterCache)
        await cache.start()
        try:
            await cache.set_many("v1", written, ttl=120)
            found = await cache.get_many("v1", [*written, "absent", "short"], dim=DIM)
            assert sorted(found) == sorted(written)
            for item_id, vector in written.items():
                np.testing.assert_array_equal(found[item_id], vector)
            assert await cache.exists_many("v1", ["span-0", "span-299", "absent"]) == {"span-0", "span-299"}
            await cache.set_current_version("courier-x", "v1")
            assert await cache.get_current_version("courier-x") == "v1"
            info = version_info("courier-x", "v1", DIM, "2026-01-01T00:00:00Z")
            await cache.set_version_info("v1", info)
            assert await cache.get_version_info("v1") == info
            assert await cache.get_version_info("v-none") is None
            assert cache.available and await cache.ping()
        finally:
            await cache.close()

    asyncio.run(scenario())
    assert len(set(owners(cluster_client, "v1", written).values())) == 3  # every primary holds some
    assert 0 < cluster_client.ttl(embedding_key("v1", "span-7")) <= 120

    reader = RedisEmbeddingReader(redis_cluster.url, model_name="courier-x", mode="cluster")
    try:
        assert reader.current_version() == "v1"
        got = reader.get_many([*written, "absent"])  # dim from courier:meta:v1
    finally:
        reader.close()
    assert sorted(got) == sorted(written)
    np.testing.assert_array_equal(got["span-42"], written["span-42"])


def test_a_dead_node_costs_only_its_own_keys(redis_cluster: RedisClusterServer, cluster_client) -> None:
    written = vectors("dead", 120, seed=1)
    victim = redis_cluster.victim()
    on_victim = {i for i, port in owners(cluster_client, "v1", written).items() if port == victim.port}
    v2_on_victim = {i for i, port in owners(cluster_client, "v2", written).items() if port == victim.port}
    assert 0 < len(on_victim) < len(written) and 0 < len(v2_on_victim) < len(written)

    async def scenario() -> None:
        cache = ClusterCache(redis_cluster.url, retry_interval_s=0.1)
        await cache.start()
        try:
            await cache.set_many("v1", written)
            victim.kill()
            for _ in range(3):  # the first call finds the node dead, the next ones skip it
                found = await cache.get_many("v1", list(written), dim=DIM)
                assert set(found) == set(written) - on_victim
            assert cache.available and not await cache.ping()  # degraded, not down
            await cache.set_many("v2", written)  # no exception: the dead node's writes are dropped
            assert set(await cache.get_many("v2", list(written), dim=DIM)) == set(written) - v2_on_victim

            redis_cluster.restart(victim)  # back, empty
            deadline = time.monotonic() + 10
            while not await cache.ping():
                assert time.monotonic() < deadline, "the cache never used the restarted node again"
                await asyncio.sleep(0.05)
            await cache.set_many("v1", {i: written[i] for i in on_victim})
            assert set(await cache.get_many("v1", list(written), dim=DIM)) == set(written)
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_a_strict_cache_raises_when_a_node_stays_down(
    redis_cluster: RedisClusterServer, cluster_client
) -> None:
    written = vectors("strict", 60, seed=2)
    victim = redis_cluster.victim()

    async def scenario() -> None:
        cache = ClusterCache(redis_cluster.url, strict=True, failover_wait_s=1.0, retry_interval_s=0.2)
        await cache.start()
        try:
            victim.kill()
            started = time.monotonic()
            with pytest.raises(CacheError, match="Redis Cluster set failed"):
                await cache.set_many("v1", written)
            assert 1.0 <= time.monotonic() - started < 5
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_a_strict_write_waits_for_a_failover(redis_cluster: RedisClusterServer, cluster_client) -> None:
    """A primary with a replica dies: the strict cache retries on the refreshed slot map and every key ends
    up on the promoted replica."""
    master = redis_cluster.victim()
    replica = redis_cluster.add_replica(master)
    written = vectors("failover", 90, seed=3)
    on_master = {i for i, port in owners(cluster_client, "v1", written).items() if port == master.port}
    assert on_master

    async def scenario() -> None:
        cache = ClusterCache(redis_cluster.url, strict=True, failover_wait_s=20, retry_interval_s=0.2)
        await cache.start()
        try:
            master.kill()
            await cache.set_many("v1", written)  # blocks until the replica took over
            found = await cache.get_many("v1", list(written), dim=DIM)
            assert sorted(found) == sorted(written)
        finally:
            await cache.close()

    asyncio.run(scenario())
    assert replica.cli("ROLE").splitlines()[0] == "master"
    fresh = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        assert {i for i, port in owners(fresh, "v1", written).items() if port == replica.port} == on_master
    finally:
        fresh.close()


def test_moved_and_ask_are_followed_while_a_slot_migrates(redis_cluster: RedisClusterServer) -> None:
    """Ids sharing a hash tag share a slot; the slot moves to another node under the cache's and the
    reader's feet: first ASK (migration in progress), then MOVED (done)."""
    written = {f"{{mig}}-{k}": v for k, v in enumerate(vectors("m", 3, seed=4).values())}
    ids = list(written)
    first_key = embedding_key("v1", ids[0])
    slot = redis_cluster.seed.cli("CLUSTER", "KEYSLOT", first_key)
    source = redis_cluster.master_of(first_key)
    target = next(n for n in redis_cluster.masters() if n is not source)
    source_id, target_id = redis_cluster.node_id(source), redis_cluster.node_id(target)
    reader = RedisEmbeddingReader(redis_cluster.url, model_name="courier-x", dim=DIM, mode="cluster")

    async def scenario() -> None:
        cache = ClusterCache(redis_cluster.url)
        await cache.start()
        try:
            await cache.set_many("v1", {i: written[i] for i in ids[:2]})
            assert sorted(reader.get_many(ids, version="v1")) == sorted(ids[:2])  # slot map known

            assert target.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id) == "OK"
            assert source.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id) == "OK"
            assert (
                source.cli("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", first_key)
                == "OK"
            )
            assert sorted(await cache.get_many("v1", ids, dim=DIM)) == sorted(ids[:2])  # ASK for ids[0]
            assert sorted(reader.get_many(ids, version="v1")) == sorted(ids[:2])

            second_key = embedding_key("v1", ids[1])
            assert (
                source.cli("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", second_key)
                == "OK"
            )
            for node in [target, source, *(n for n in redis_cluster.masters() if n not in (source, target))]:
                assert node.cli("CLUSTER", "SETSLOT", slot, "NODE", target_id) == "OK"
            await cache.set_many("v1", {ids[2]: written[ids[2]]})  # MOVED: lands on the new owner
            found = await cache.get_many("v1", ids, dim=DIM)
            assert sorted(found) == sorted(ids)
            np.testing.assert_array_equal(found[ids[0]], written[ids[0]])
            assert sorted(reader.get_many(ids, version="v1")) == sorted(ids)
        finally:
            await cache.close()
            reader.close()

    asyncio.run(scenario())
    assert target.cli("DBSIZE") == "3" and source.cli("CLUSTER", "COUNTKEYSINSLOT", slot) == "0"
