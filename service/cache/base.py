"""The async embedding-cache interface shared by the service and the backfill job.

Values are the wire format of docs/redis-contract.md (`courier_core.cache_keys`): key
`courier:emb:{version}:{item_id}`, raw little-endian float32 bytes. A value of the wrong length is reported
as a miss, never returned.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from courier_core.cache_keys import DEFAULT_TTL_SECONDS, bytes_to_vector


class CacheError(RuntimeError):
    """The cache backend failed (only raised by caches created with `strict=True`)."""


class EmbeddingCache(ABC):
    """Async cache of embeddings by (model version, item id).

    Non-strict caches (the service's) never raise: a failing backend answers "all misses", drops writes
    and reports `available == False` until it is reachable again. Strict caches (backfill) raise
    `CacheError` so that no write is silently lost.
    """

    kind: str = "cache"

    @property
    def available(self) -> bool:
        """False while the backend is unreachable (the service then serves uncached: degraded)."""
        return True

    @abstractmethod
    async def get_many(
        self, version: str, ids: Sequence[str], dim: int | None = None
    ) -> dict[str, np.ndarray]:
        """Vectors for the ids that are cached, in one round trip.

        With `dim`, values that are not exactly 4·dim bytes are treated as misses (left out). Without it,
        any value whose length is a multiple of 4 is returned.
        """

    @abstractmethod
    async def set_many(
        self, version: str, vectors: Mapping[str, np.ndarray], ttl: int = DEFAULT_TTL_SECONDS
    ) -> None:
        """Write vectors with a TTL (reset on every write) in one pipelined round trip.

        Redis backends also rewrite the version's info hash in that round trip once `set_version_info`
        described the version, so a flushed or evicted `courier:meta:{version}` comes back with the next
        write."""

    @abstractmethod
    async def exists_many(self, version: str, ids: Sequence[str]) -> set[str]:
        """The ids that have a value under `version` (any length), in one round trip."""

    @abstractmethod
    async def get_current_version(self, name: str) -> str | None:
        """The version rankers should read (`courier:model:{name}:current`), or None when unset."""

    @abstractmethod
    async def set_current_version(self, name: str, version: str) -> None:
        """Switch rankers to `version` (backfill does this once a version is complete)."""

    @abstractmethod
    async def get_version_info(self, version: str) -> dict[str, str] | None:
        """The fields of `courier:meta:{version}` (name, dim, created_at, format), or None when unset."""

    @abstractmethod
    async def set_version_info(self, version: str, info: Mapping[str, str]) -> None:
        """Describe a version for readers (the service at start, the backfill before writing); kept and
        rewritten with each `set_many` of that version."""

    async def ping(self) -> bool:
        """True when the backend answers now."""
        return True

    async def start(self) -> None:
        """Begin background work (reconnect loop); idempotent."""
        return None

    async def close(self) -> None:
        """Release connections and stop background work."""
        return None


def safe_url(url: str) -> str:
    """The URL without a password, for logs and errors."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def decode_values(
    ids: Iterable[str], values: Iterable[bytes | None], dim: int | None
) -> dict[str, np.ndarray]:
    """Pair ids with decoded vectors, dropping absent or wrong-length values."""
    found: dict[str, np.ndarray] = {}
    for item_id, value in zip(ids, values, strict=True):
        if value is None:
            continue
        if dim is None:
            if not value or len(value) % 4:
                continue
            vector = bytes_to_vector(value, len(value) // 4)
        else:
            vector = bytes_to_vector(value, dim)
        if vector is not None:
            found[item_id] = vector
    return found
