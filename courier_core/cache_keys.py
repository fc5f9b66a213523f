"""Redis key layout and vector encoding: the wire contract between the service, backfill and rankers.

A ranker in any language reads a vector with one GET and a little-endian float32 cast
(docs/redis-contract.md). Keys carry no hash tag, so in Redis Cluster each item's key lands in its own slot.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TTL_SECONDS = 30 * 24 * 3600
_VECTOR_DTYPE = np.dtype("<f4")
VECTOR_FORMAT = "float32-le"


def embedding_key(version: str, item_id: str) -> str:
    return f"courier:emb:{version}:{item_id}"


def current_version_key(name: str) -> str:
    """Names the model version rankers should read; moved only after a complete backfill."""
    return f"courier:model:{name}:current"


def version_info_key(version: str) -> str:
    """A hash describing a version's vectors (name, dim, created_at, format); written without TTL."""
    return f"courier:meta:{version}"


def version_info(name: str, version: str, dim: int, created_at: str) -> dict[str, str]:
    """The fields of `version_info_key` (all strings, so any client reads them with HGETALL)."""
    return {
        "name": name,
        "version": version,
        "dim": str(dim),
        "created_at": created_at,
        "format": VECTOR_FORMAT,
    }


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=_VECTOR_DTYPE).tobytes()


def bytes_to_vector(data: bytes | None, dim: int) -> np.ndarray | None:
    """Decode a cached value; None when absent or of the wrong length (treated as a miss)."""
    if data is None or len(data) != dim * _VECTOR_DTYPE.itemsize:
        return None
    return np.frombuffer(data, dtype=_VECTOR_DTYPE).astype(np.float32)
