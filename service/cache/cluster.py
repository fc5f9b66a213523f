"""Redis Cluster cache: keys grouped by the node that owns their slot, one pipeline per node, all nodes in
parallel, so a node that fails costs only its own keys.

- Each item key has its own slot (no hash tag), so one MGET would fail with CROSSSLOT: a look-up is one
  pipeline of GETs per node instead. MOVED and ASK replies (resharding) are followed by redis-py, command by
  command, and MOVED patches its slot map.
- A node that fails (refused, timed out, CLUSTERDOWN) is skipped (`NodeHealth`): its keys are misses and
  its writes are dropped while the other nodes keep serving, until it or the replica a failover promoted
  serves its slots again.
- Strict caches (backfill) instead retry the failed commands on the refreshed slot map until
  `failover_wait_s` has passed, then raise `CacheError`. A SET repeated after a failover writes the same
  bytes, so nothing is duplicated; writes the old primary acknowledged but never replicated are found
  missing by the next run's existence check and embedded again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AskError,
    ClusterError,
    ConnectionError,
    RedisClusterException,
    RedisError,
    TimeoutError,
    TryAgainError,
)

from courier_core.cache_keys import (
    DEFAULT_TTL_SECONDS,
    current_version_key,
    embedding_key,
    vector_to_bytes,
    version_info_key,
)
from service import metrics
from service.cache.base import CacheError, EmbeddingCache, decode_values, safe_url
from service.cache.cluster_health import NodeHealth

log = logging.getLogger(__name__)

# A node is unreachable or the cluster is mid-failover: worth skipping the node, and worth a strict retry.
# (AskError covers MOVED; ClusterError covers CLUSTERDOWN; RedisClusterException: no slot map.)
_TRANSIENT = (
    ConnectionError,
    TimeoutError,
    OSError,
    ClusterError,
    TryAgainError,
    AskError,
    RedisClusterException,
)


class ClusterCache(EmbeddingCache):
    kind = "redis-cluster"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        retry_interval_s: float = 1.0,
        log_interval_s: float = 30.0,
        strict: bool = False,
        failover_wait_s: float = 30.0,
        max_connections: int = 64,
    ) -> None:
        # No client-side retries: a retry there closes every node's connections; failures are handled here.
        self._client = RedisCluster.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            require_full_coverage=False,
            max_connections=max_connections,
        )
        self._url = url
        self._strict = strict
        self._retry_interval_s = retry_interval_s
        self._log_interval_s = log_interval_s
        self._failover_wait_s = failover_wait_s
        self._mapped = False  # the slot map has been read at least once
        self._health = NodeHealth(self._client, self._refresh, retry_interval_s)
        self._last_logged = float("-inf")
        self._described: dict[str, dict[str, str]] = {}

    @property
    def available(self) -> bool:
        """False only while no node can be used (no slot map yet, or every primary down)."""
        if not self._mapped:
            return False
        return any(not self._health.is_down(node.name) for node in self._client.get_primaries())

    async def get_many(
        self, version: str, ids: Sequence[str], dim: int | None = None
    ) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        values = await self._run("get", [("GET", embedding_key(version, i)) for i in ids])
        return decode_values(ids, [v if isinstance(v, bytes) else None for v in values], dim)

    async def set_many(
        self, version: str, vectors: Mapping[str, np.ndarray], ttl: int = DEFAULT_TTL_SECONDS
    ) -> None:
        commands: list[tuple[Any, ...]] = [
            ("SET", embedding_key(version, i), vector_to_bytes(v), "EX", ttl) for i, v in vectors.items()
        ]
        if commands and version in self._described:
            commands.append(_hset(version, self._described[version]))
        if commands:
            await self._run("set", commands)

    async def exists_many(self, version: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        counts = await self._run("exists", [("EXISTS", embedding_key(version, i)) for i in ids])
        return {i for i, n in zip(ids, counts, strict=True) if n == 1}

    async def get_current_version(self, name: str) -> str | None:
        (value,) = await self._run("get", [("GET", current_version_key(name))])
        return value.decode() if isinstance(value, bytes) and value else None

    async def set_current_version(self, name: str, version: str) -> None:
        await self._run("set", [("SET", current_version_key(name), version)])

    async def get_version_info(self, version: str) -> dict[str, str] | None:
        (fields,) = await self._run("hgetall", [("HGETALL", version_info_key(version))])
        if not isinstance(fields, dict) or not fields:
            return None
        return {k.decode(): v.decode() for k, v in fields.items()}

    async def set_version_info(self, version: str, info: Mapping[str, str]) -> None:
        self._described[version] = dict(info)
        await self._run("hset", [_hset(version, info)])

    async def ping(self) -> bool:
        """True when every primary answers (one node down makes the service's readiness 'degraded')."""
        if not self._mapped:
            await self._refresh()
        if not self._mapped or self._health.any_down:
            return False
        try:
            await self._client.execute_command("PING", target_nodes=RedisCluster.PRIMARIES)
        except (RedisError, RedisClusterException, OSError):
            return False
        return True

    async def start(self) -> None:
        if not await self._refresh():
            self._health.mark_down(None)  # the background watch reads the slot map once a node answers

    async def close(self) -> None:
        await self._health.close()
        await self._client.aclose()

    async def _run(self, op: str, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run single-key commands grouped by node; results in command order. A command whose node failed
        gets its exception as result (non-strict), or is retried until `failover_wait_s` (strict)."""
        started = time.perf_counter()
        results: list[Any] = [None] * len(commands)
        todo = list(range(len(commands)))
        deadline = time.monotonic() + self._failover_wait_s
        while True:
            failed = await self._run_once(op, commands, todo, results)
            if not failed:
                metrics.CACHE_OP.labels(op).observe(time.perf_counter() - started)
                return results
            if not self._strict:
                return results
            error = results[failed[0]]
            if not isinstance(error, _TRANSIENT) or time.monotonic() >= deadline:
                raise CacheError(
                    f"Redis Cluster {op} failed at {safe_url(self._url)} for {len(failed)} key(s): {error}"
                ) from error
            await asyncio.sleep(min(self._retry_interval_s, max(0.0, deadline - time.monotonic())))
            await self._refresh()
            todo = failed

    async def _run_once(
        self, op: str, commands: list[tuple[Any, ...]], todo: list[int], results: list[Any]
    ) -> list[int]:
        """One pass over `todo`: one pipeline per node, in parallel; returns the positions that failed."""
        if not self._mapped and self._strict:  # the service's cache leaves this to the background watch
            await self._refresh()
        groups: dict[str, tuple[ClusterNode, list[int]]] = {}
        failed: list[int] = []
        for position in todo:
            try:
                node = self._node_for(commands[position][1])
            except RedisClusterException as exc:  # no slot map, or the slot is not covered
                results[position] = exc
                failed.append(position)
                continue
            groups.setdefault(node.name, (node, []))[1].append(position)
        replies = await asyncio.gather(
            *(self._pipeline(node, [commands[p] for p in positions]) for node, positions in groups.values()),
            return_exceptions=True,
        )
        for (node, positions), reply in zip(groups.values(), replies, strict=True):
            if isinstance(reply, BaseException) and not isinstance(reply, Exception):
                raise reply  # cancelled
            values = [reply] * len(positions) if isinstance(reply, Exception) else reply
            errors = [value for value in values if isinstance(value, Exception)]
            for position, value in zip(positions, values, strict=True):
                results[position] = value
                if isinstance(value, Exception):
                    failed.append(position)
            if errors:
                self._note_failure(op, errors[0], node)
        return failed

    def _node_for(self, key: str) -> ClusterNode:
        """The primary that owns the key's slot; a node known to be down raises (its keys miss)."""
        if not self._mapped:
            raise RedisClusterException(f"no slot map yet for {safe_url(self._url)}")
        node = self._client.get_node_from_key(key)
        if not self._strict and self._health.is_down(node.name):
            raise RedisClusterException(f"node {node.name} is down")
        return node

    async def _pipeline(self, node: ClusterNode, commands: list[tuple[Any, ...]]) -> list[Any]:
        pipe = self._client.pipeline()
        for args in commands:
            pipe.execute_command(*args, target_nodes=node)
        return await pipe.execute(raise_on_error=False)

    async def _refresh(self) -> bool:
        """Read the slot map again (after a failover a promoted replica owns the slots); True once known."""
        try:
            await self._client.nodes_manager.initialize()
        except (RedisError, RedisClusterException, OSError) as exc:
            self._log("slot map read", safe_url(self._url), exc)
        else:
            self._mapped = True
        return self._mapped

    def _note_failure(self, op: str, exc: BaseException, node: ClusterNode | None = None) -> None:
        metrics.CACHE_ERRORS.labels(op).inc()
        self._log(op, f"node {node.name}" if node is not None else safe_url(self._url), exc)
        if isinstance(exc, _TRANSIENT):
            self._health.mark_down(node)

    def _log(self, op: str, where: str, exc: BaseException) -> None:
        """At most one line per `log_interval_s`."""
        now = time.monotonic()
        if now - self._last_logged < self._log_interval_s:
            return
        self._last_logged = now
        then = (
            f"retrying for up to {self._failover_wait_s:g}s"
            if self._strict
            else "its keys are misses meanwhile"
        )
        log.warning("Redis Cluster %s failed at %s (%s); %s", op, where, exc, then)


def _hset(version: str, info: Mapping[str, str]) -> tuple[Any, ...]:
    return ("HSET", version_info_key(version), *(part for pair in info.items() for part in pair))
