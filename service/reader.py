"""`RedisEmbeddingReader`: rankers read vectors straight from Redis, no HTTP (MGET plus a byte cast)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import redis

from courier_core.cache_keys import bytes_to_vector, current_version_key, embedding_key


class RedisEmbeddingReader:
    """Reads vectors straight from Redis (no HTTP): the version from `courier:model:{name}:current`
    (or the one given), then one MGET and a little-endian float32 cast. Wrong-length values are misses."""

    def __init__(self, url: str, *, model_name: str, dim: int, timeout_s: float = 0.25) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._name = model_name
        self._dim = dim

    def current_version(self) -> str | None:
        value = self._redis.get(current_version_key(self._name))
        return value.decode() if value else None

    def get_many(self, item_ids: Sequence[str], *, version: str | None = None) -> dict[str, np.ndarray]:
        version = version or self.current_version()
        if version is None:
            raise LookupError(f"{current_version_key(self._name)} is not set; pass version=")
        values = self._redis.mget([embedding_key(version, i) for i in item_ids])
        found = {}
        for item_id, value in zip(item_ids, values, strict=True):
            vector = bytes_to_vector(value, self._dim)
            if vector is not None:
                found[item_id] = vector
        return found

    def close(self) -> None:
        self._redis.close()
