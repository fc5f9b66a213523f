"""Embedding caches: in-process LRU (REDIS_URL unset), standalone Redis or Redis Cluster, behind one async
interface.

`make_cache(settings_or_url)` picks the backend; `EmbeddingCache` documents the interface
(`get_many`, `set_many`, `exists_many`, `get_current_version`, `set_current_version`, version info).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from courier_core.cache_keys import version_info
from service.cache.base import CacheError, EmbeddingCache
from service.cache.cluster import ClusterCache
from service.cache.memory import MemoryCache
from service.cache.redis import RedisCache

__all__ = [
    "CacheError",
    "ClusterCache",
    "EmbeddingCache",
    "MemoryCache",
    "RedisCache",
    "describe_version",
    "make_cache",
]

RedisMode = Literal["standalone", "cluster"]


def make_cache(
    source: Any = None,
    *,
    strict: bool = False,
    max_items: int | None = None,
    timeout_s: float | None = None,
    mode: RedisMode | None = None,
    failover_wait_s: float = 30.0,
) -> EmbeddingCache:
    """Build a cache from a Redis URL string, None (in-process), or service `Settings`.

    From settings it reads `redis_url`, `redis_mode`, `cache_max_items`, `cache_timeout_ms` and
    `cache_retry_interval_s`. `mode="cluster"` treats the URL as any one node of a Redis Cluster.
    `strict=True` (backfill) makes Redis failures raise `CacheError` instead of degrading to misses; in a
    cluster a strict cache first waits up to `failover_wait_s` for a failed node's slots to come back.
    """
    if source is None or isinstance(source, str):
        url, retry_s = source, 1.0
    else:
        url = source.redis_url
        mode = mode or source.redis_mode
        max_items = max_items if max_items is not None else source.cache_max_items
        timeout_s = timeout_s if timeout_s is not None else source.cache_timeout_ms / 1000
        retry_s = source.cache_retry_interval_s
    if not url:
        return MemoryCache(max_items or 100_000)
    if mode == "cluster":
        return ClusterCache(
            url,
            timeout_s=timeout_s or 0.25,
            retry_interval_s=retry_s,
            strict=strict,
            failover_wait_s=failover_wait_s,
        )
    return RedisCache(url, timeout_s=timeout_s or 0.25, retry_interval_s=retry_s, strict=strict)


class DescribedModel(Protocol):
    """What `describe_version` reads: a model manifest or an engine."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def created_at(self) -> str: ...


def describe_version(model: DescribedModel) -> dict[str, str]:
    """The `courier:meta:{version}` fields of a model version (the same from the service and the backfill)."""
    return version_info(model.name, model.version, model.dim, model.created_at)
