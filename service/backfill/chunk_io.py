"""Per-chunk cache I/O shared by the local pipeline and the Ray actors: one code path for what is written.

A chunk (~1000 items) is the unit of the existence check (one pipelined round trip), of the Redis write
(one pipelined SET…EX per key; each SET is atomic, so a value is whole or absent) and of the parquet part.
Redis is written before the part: after a kill between the two, a rerun finds the vectors in Redis and
copies them into a part instead of embedding again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from courier_core.errors import ItemError
from service.backfill.parts import PartsWriter
from service.cache import EmbeddingCache


@dataclass
class Chunk:
    """One chunk's items and outcome: present (already cached; with vectors when parquet needs them),
    embedded now, or failed. `in_parts` are already in a completed parquet part: never written to one again."""

    item_ids: list[str]
    present: dict[str, np.ndarray | None] = field(default_factory=dict)
    embedded_ids: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    failures: dict[str, ItemError] = field(default_factory=dict)
    in_parts: set[str] = field(default_factory=set)


@dataclass
class ChunkSink:
    """Where a version's vectors go: a strict cache (Redis) and/or parquet parts."""

    cache: EmbeddingCache | None
    parts: PartsWriter | None
    version: str
    dim: int
    ttl_seconds: int
    skip_cached: bool = True
    with_vectors: bool = False

    async def present(self, item_ids: list[str]) -> dict[str, np.ndarray | None]:
        """Ids already cached for this version, in one round trip; with their vectors (MGET) when the
        parquet output needs them (`with_vectors`), else an EXISTS pipeline."""
        if not self.skip_cached or self.cache is None or not item_ids:
            return {}
        if self.with_vectors:
            return dict(await self.cache.get_many(self.version, item_ids, self.dim))
        return dict.fromkeys(await self.cache.exists_many(self.version, item_ids))

    async def write(self, chunk: Chunk) -> None:
        """Redis first (pipelined), then the chunk's parquet part (atomic rename)."""
        if self.cache is not None and chunk.embedded_ids:
            vectors = dict(zip(chunk.embedded_ids, chunk.vectors, strict=True))
            await self.cache.set_many(self.version, vectors, ttl=self.ttl_seconds)
        if self.parts is not None:
            pairs = [(i, v) for i, v in chunk.present.items() if i not in chunk.in_parts]
            pairs += [
                (i, v)
                for i, v in zip(chunk.embedded_ids, chunk.vectors, strict=True)
                if i not in chunk.in_parts
            ]
            ids = [i for i, _ in pairs]
            rows = [v for _, v in pairs]
            matrix = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
            await asyncio.to_thread(self.parts.write_part, ids, matrix)
