"""`RedisEmbeddingReader`: rankers read vectors straight from Redis, no HTTP (GETs plus a byte cast).

The layout is docs/redis-contract.md. Standalone Redis answers one MGET. In Redis Cluster each item key
has its own slot, so the reader sends one GET per key, pipelined per node; single-key GETs are followed
through MOVED and ASK while slots migrate (a multi-key MGET there gets TRYAGAIN when its slot is half
moved). Errors are raised: the caller decides whether a Redis outage means "no vectors" or a failed
request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import redis

from courier_core.cache_keys import bytes_to_vector, current_version_key, embedding_key, version_info_key


class RedisEmbeddingReader:
    """Reads the version from `courier:model:{name}:current` (or the one given), then the vectors as
    little-endian float32. `dim` defaults to the version's `courier:meta:{version}` hash; values of another
    length are misses."""

    def __init__(
        self,
        url: str,
        *,
        model_name: str,
        dim: int | None = None,
        mode: Literal["standalone", "cluster"] = "standalone",
        timeout_s: float = 0.25,
    ) -> None:
        options = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
        self._cluster = mode == "cluster"
        self._redis: redis.Redis | redis.RedisCluster = (
            redis.RedisCluster.from_url(url, **options)
            if self._cluster
            else redis.Redis.from_url(url, **options)
        )
        self._name = model_name
        self._dim = dim
        self._dims: dict[str, int] = {}

    def current_version(self) -> str | None:
        value = self._redis.get(current_version_key(self._name))
        return value.decode() if value else None

    def version_info(self, version: str) -> dict[str, str] | None:
        """`courier:meta:{version}`: name, version, dim, created_at and format, or None when unset."""
        fields = self._redis.hgetall(version_info_key(version))
        return {k.decode(): v.decode() for k, v in fields.items()} if fields else None

    def dim(self, version: str) -> int:
        """The dimension given at construction, else the version's metadata (read once per version)."""
        if self._dim is not None:
            return self._dim
        if version not in self._dims:
            info = self.version_info(version)
            if info is None:
                raise LookupError(f"{version_info_key(version)} is not set; pass dim=")
            self._dims[version] = int(info["dim"])
        return self._dims[version]

    def get_many(self, item_ids: Sequence[str], *, version: str | None = None) -> dict[str, np.ndarray]:
        version = version or self.current_version()
        if version is None:
            raise LookupError(f"{current_version_key(self._name)} is not set; pass version=")
        if not item_ids:
            return {}
        dim = self.dim(version)
        keys = [embedding_key(version, i) for i in item_ids]
        values = self._cluster_get(keys) if self._cluster else self._redis.mget(keys)
        found = {}
        for item_id, value in zip(item_ids, values, strict=True):
            vector = bytes_to_vector(value, dim)
            if vector is not None:
                found[item_id] = vector
        return found

    def _cluster_get(self, keys: list[str]) -> list[bytes | None]:
        pipe = self._redis.pipeline()
        for key in keys:
            pipe.get(key)
        return pipe.execute()

    def close(self) -> None:
        self._redis.close()
