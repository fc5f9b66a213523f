"""In-process LRU cache (the embedded default when REDIS_URL is unset), bounded in entries, with TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from courier_core.cache_keys import DEFAULT_TTL_SECONDS, embedding_key, vector_to_bytes
from service.cache.base import EmbeddingCache, decode_values


class MemoryCache(EmbeddingCache):
    """Stores the same bytes Redis would, so both backends behave identically (including wrong lengths)."""

    kind = "memory"

    def __init__(self, max_items: int = 100_000) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self._max_items = max_items
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._current: dict[str, str] = {}
        self._info: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put_raw(self, version: str, item_id: str, value: bytes, ttl: int = DEFAULT_TTL_SECONDS) -> None:
        """Store raw bytes as given (tests use it to plant a wrong-length value)."""
        key = embedding_key(version, item_id)
        self._entries[key] = (value, time.monotonic() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_items:
            self._entries.popitem(last=False)

    async def get_many(
        self, version: str, ids: Sequence[str], dim: int | None = None
    ) -> dict[str, np.ndarray]:
        return decode_values(ids, [self._get(embedding_key(version, i)) for i in ids], dim)

    async def set_many(
        self, version: str, vectors: Mapping[str, np.ndarray], ttl: int = DEFAULT_TTL_SECONDS
    ) -> None:
        for item_id, vector in vectors.items():
            self.put_raw(version, item_id, vector_to_bytes(vector), ttl)

    async def exists_many(self, version: str, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if self._get(embedding_key(version, i)) is not None}

    async def get_current_version(self, name: str) -> str | None:
        return self._current.get(name)

    async def set_current_version(self, name: str, version: str) -> None:
        self._current[name] = version

    async def get_version_info(self, version: str) -> dict[str, str] | None:
        return self._info.get(version)

    async def set_version_info(self, version: str, info: Mapping[str, str]) -> None:
        self._info[version] = dict(info)
