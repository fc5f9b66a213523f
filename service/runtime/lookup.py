"""Cached vectors by item id, without model work: what the lookup routes read.

They read the version rankers read: `courier:model:{name}:current` when set (memoised for a second, so a
burst of lookups costs one extra round trip per second), else the served version. While the cache cannot
be reached they raise `CacheUnavailable` instead of answering "nothing cached", which a caller could not
tell from a genuine miss.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.cache import EmbeddingCache
from service.runtime.engine import Engine

CURRENT_VERSION_TTL_S = 1.0


@dataclass(frozen=True)
class ModelInfo:
    """The model a vector belongs to; `dim` is None for another version with nothing found."""

    name: str
    version: str
    dim: int | None


@dataclass(frozen=True)
class Lookup:
    model: ModelInfo
    vectors: dict[str, np.ndarray]


class CacheUnavailable(Exception):
    """The cache backend cannot be reached now: nothing can be said about which ids are cached."""


class CacheReader:
    def __init__(self, cache: EmbeddingCache, engine: Engine) -> None:
        self._cache = cache
        self._engine = engine
        self._current: tuple[str, float] | None = None

    async def read(self, item_ids: Sequence[str]) -> Lookup:
        """The cached vectors of `item_ids` (absent ones left out) under the version rankers read; raises
        `CacheUnavailable` when the backend failed or is known to be down."""
        engine = self._engine
        version = await self._reader_version()
        dim = engine.dim if version == engine.version else None
        found = await self._cache.get_many(version, item_ids, dim=dim)
        if not self._cache.available:
            raise CacheUnavailable(f"the embedding cache ({self._cache.kind}) cannot be reached")
        if dim is None and found:
            dim = len(next(iter(found.values())))
        return Lookup(ModelInfo(engine.name, version, dim), found)

    async def _reader_version(self) -> str:
        now = time.monotonic()
        if self._current is not None and now - self._current[1] < CURRENT_VERSION_TTL_S:
            return self._current[0]
        version = await self._cache.get_current_version(self._engine.name) or self._engine.version
        self._current = (version, now)
        return version
