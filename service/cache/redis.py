"""Standalone Redis cache: one MGET per look-up, one pipelined SET…EX per write-back, short timeouts.

A down or slow Redis must never fail a request: after an error the cache answers "all misses" without
touching the network, a background task pings until Redis is back, and errors are logged at most once
per interval. Backfill creates it with `strict=True` to get exceptions instead. Redis Cluster has its own
class (`service.cache.cluster`): MGET across slots fails there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterCrossSlotError, MovedError

from courier_core.cache_keys import (
    DEFAULT_TTL_SECONDS,
    current_version_key,
    embedding_key,
    vector_to_bytes,
    version_info_key,
)
from service import metrics
from service.cache.base import CacheError, EmbeddingCache, decode_values, safe_url

log = logging.getLogger(__name__)


class RedisCache(EmbeddingCache):
    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        retry_interval_s: float = 1.0,
        log_interval_s: float = 30.0,
        strict: bool = False,
        max_connections: int = 64,
    ) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),  # one immediate retry on a stale connection, none on timeouts
            max_connections=max_connections,
        )
        self._url = url
        self._strict = strict
        self._retry_interval_s = retry_interval_s
        self._log_interval_s = log_interval_s
        self._available = True
        self._last_logged = float("-inf")
        self._reconnect: asyncio.Task[None] | None = None
        self._described: dict[str, dict[str, str]] = {}

    @property
    def available(self) -> bool:
        return self._available

    async def get_many(
        self, version: str, ids: Sequence[str], dim: int | None = None
    ) -> dict[str, np.ndarray]:
        if not ids or not self._usable():
            return {}
        values = await self._call("mget", self._client.mget([embedding_key(version, i) for i in ids]))
        return {} if values is None else decode_values(ids, values, dim)

    async def set_many(
        self, version: str, vectors: Mapping[str, np.ndarray], ttl: int = DEFAULT_TTL_SECONDS
    ) -> None:
        if not vectors or not self._usable():
            return
        pipe = self._client.pipeline(transaction=False)
        for item_id, vector in vectors.items():
            pipe.set(embedding_key(version, item_id), vector_to_bytes(vector), ex=ttl)
        if version in self._described:
            pipe.hset(version_info_key(version), mapping=self._described[version])
        await self._call("set", pipe.execute())

    async def exists_many(self, version: str, ids: Sequence[str]) -> set[str]:
        if not ids or not self._usable():
            return set()
        pipe = self._client.pipeline(transaction=False)
        for item_id in ids:
            pipe.exists(embedding_key(version, item_id))
        counts = await self._call("exists", pipe.execute())
        return set() if counts is None else {i for i, n in zip(ids, counts, strict=True) if n}

    async def get_current_version(self, name: str) -> str | None:
        if not self._usable():
            return None
        value = await self._call("get", self._client.get(current_version_key(name)))
        return value.decode() if value else None

    async def set_current_version(self, name: str, version: str) -> None:
        if self._usable():
            await self._call("set", self._client.set(current_version_key(name), version))

    async def get_version_info(self, version: str) -> dict[str, str] | None:
        if not self._usable():
            return None
        fields = await self._call("hgetall", self._client.hgetall(version_info_key(version)))
        return {k.decode(): v.decode() for k, v in fields.items()} if fields else None

    async def set_version_info(self, version: str, info: Mapping[str, str]) -> None:
        self._described[version] = dict(info)
        if self._usable():
            await self._call("hset", self._client.hset(version_info_key(version), mapping=dict(info)))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (TimeoutError, redis.RedisError, OSError):
            return False

    async def start(self) -> None:
        if not await self.ping():
            self._mark_down("ping", ConnectionError(f"cannot reach {safe_url(self._url)}"))

    async def close(self) -> None:
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        await self._client.aclose()

    def _usable(self) -> bool:
        """Strict caches always try the network; others skip it while Redis is known to be down."""
        return self._strict or self._available

    async def _call(self, op: str, awaitable):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            result = await awaitable
        except (TimeoutError, redis.RedisError, OSError) as exc:
            metrics.CACHE_ERRORS.labels(op).inc()
            self._mark_down(op, exc)
            if self._strict:
                raise CacheError(f"Redis {op} failed at {safe_url(self._url)}: {exc}{_hint(exc)}") from exc
            return None
        metrics.CACHE_OP.labels(op).observe(time.perf_counter() - started)
        return result

    def _mark_down(self, op: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_logged >= self._log_interval_s:
            self._last_logged = now
            log.warning(
                "Redis %s failed (%s%s); serving uncached and reconnecting in the background",
                op,
                exc,
                _hint(exc),
            )
        self._available = False
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while True:
            await asyncio.sleep(self._retry_interval_s)
            if await self.ping():
                await self._client.connection_pool.disconnect()  # drop connections to the dead server
                self._available = True
                log.warning("Redis at %s is reachable again; cache re-enabled", safe_url(self._url))
                return


def _hint(exc: BaseException) -> str:
    """MOVED or CROSSSLOT replies mean the URL names a Redis Cluster node: say which setting reads it."""
    if isinstance(exc, MovedError | ClusterCrossSlotError):
        return " (this Redis is a cluster node: set COURIER_REDIS_MODE=cluster / --redis-mode cluster)"
    return ""
