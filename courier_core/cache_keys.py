"""Redis key layout and vector encoding: the wire contract between the service, backfill and rankers.

A ranker in any language reads a vector with one GET and a little-endian float32 cast.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TTL_SECONDS = 30 * 24 * 3600
_VECTOR_DTYPE = np.dtype("<f4")


def embedding_key(version: str, item_id: str) -> str:
    return f"courier:emb:{version}:{item_id}"


def current_version_key(name: str) -> str:
    """Names the model version rankers should read; moved only after a complete backfill."""
    return f"courier:model:{name}:current"


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=_VECTOR_DTYPE).tobytes()


def bytes_to_vector(data: bytes | None, dim: int) -> np.ndarray | None:
    """Decode a cached value; None when absent or of the wrong length (treated as a miss)."""
    if data is None or len(data) != dim * _VECTOR_DTYPE.itemsize:
        return None
    return np.frombuffer(data, dtype=_VECTOR_DTYPE).astype(np.float32)
