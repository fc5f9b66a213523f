"""Embedding caches: in-process LRU (REDIS_URL unset) or Redis, behind one async interface.

`make_cache(settings_or_url)` picks the backend; `EmbeddingCache` documents the interface
(`get_many`, `set_many`, `exists_many`, `get_current_version`, `set_current_version`).
"""

from __future__ import annotations

from typing import Any

from service.cache.base import CacheError, EmbeddingCache
from service.cache.memory import MemoryCache
from service.cache.redis import RedisCache

__all__ = ["CacheError", "EmbeddingCache", "MemoryCache", "RedisCache", "make_cache"]


def make_cache(
    source: Any = None,
    *,
    strict: bool = False,
    max_items: int | None = None,
    timeout_s: float | None = None,
) -> EmbeddingCache:
    """Build a cache from a Redis URL string, None (in-process), or service `Settings`.

    From settings it reads `redis_url`, `cache_max_items`, `cache_timeout_ms` and `cache_retry_interval_s`.
    `strict=True` (backfill) makes Redis failures raise `CacheError` instead of degrading to misses.
    """
    if source is None or isinstance(source, str):
        url, retry_s = source, 1.0
    else:
        url = source.redis_url
        max_items = max_items if max_items is not None else source.cache_max_items
        timeout_s = timeout_s if timeout_s is not None else source.cache_timeout_ms / 1000
        retry_s = source.cache_retry_interval_s
    if not url:
        return MemoryCache(max_items or 100_000)
    return RedisCache(url, timeout_s=timeout_s or 0.25, retry_interval_s=retry_s, strict=strict)
