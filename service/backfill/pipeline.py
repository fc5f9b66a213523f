"""The chunked backfill pipeline: check the cache, fetch and decode ahead in a pool, embed full batches,
write.

Three stages joined by bounded queues, so decoding of the next batches overlaps inference and Redis
writes, and memory stays bounded (a semaphore caps decoded batches in flight):

  plan    per chunk (~1000 items): one pipelined existence check (MGET when parquet output needs the
          vectors), then start loading the missing items batch by batch: URLs through the service's
          fetcher, then the service's decode pool;
  embed   collect decoded images and run full batches through the service's engine;
  write   one pipelined SET…EX per chunk (each SET is atomic: a value is whole or absent), then the
          chunk's parquet part (atomic rename). Redis first, part second: after a kill between the
          two, the rerun finds the vectors in Redis and copies them into a part without re-embedding.

A stop event (first SIGINT/SIGTERM) stops planning new chunks; chunks already planned are finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from courier_core.errors import ItemError
from service.backfill.catalogue import Catalogue
from service.backfill.chunk_io import Chunk, ChunkSink
from service.backfill.report import Progress, Summary
from service.backfill.sources import CatalogueImage, load_sources, split_decoded
from service.runtime.decoding import DecodePool
from service.runtime.engine import Engine
from service.runtime.fetch import Fetcher

_DONE = object()


@dataclass
class PipelineParts:
    """What the pipeline drives: the service's engine, fetcher and decode pool, and where vectors go."""

    engine: Engine
    fetcher: Fetcher
    decode: DecodePool
    sink: ChunkSink


@dataclass
class DecodedBatch:
    """The decoded images of a batch (`images[k]` belongs to `item_ids[k]`) and the items that failed."""

    item_ids: list[str]
    images: np.ndarray
    failures: dict[str, ItemError]


class ChunkPipeline:
    def __init__(
        self,
        parts: PipelineParts,
        *,
        batch_size: int,
        chunk_size: int,
        max_items_per_s: float | None = None,
        summary: Summary,
        progress: Progress,
        stop: asyncio.Event,
    ) -> None:
        self.p = parts
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.max_items_per_s = max_items_per_s
        self.summary = summary
        self.progress = progress
        self.stop = stop
        self.size = parts.engine.input_size
        # Bounds decoded images in memory: enough look-ahead to keep every decode worker busy.
        self._decode_slots = asyncio.Semaphore(2 * parts.decode.workers + 2)
        self._infer = ThreadPoolExecutor(1, thread_name_prefix="infer")

    async def run(
        self, catalogue: Catalogue, positions: Sequence[int], in_parts: frozenset[str] = frozenset()
    ) -> None:
        """Process catalogue rows `positions` (filtered by shard and limit); `in_parts` are ids that a
        completed parquet part already holds (written to Redis again if missing there, never to a part)."""
        planned: asyncio.Queue[object] = asyncio.Queue(maxsize=4 * self.p.decode.workers + 4)
        embedded: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._plan(catalogue, positions, in_parts, planned))
                group.create_task(self._embed(planned, embedded))
                group.create_task(self._write(embedded))
        except ExceptionGroup as failed:  # report the first cause (e.g. CacheError), not the group
            raise failed.exceptions[0] from None
        finally:
            self._infer.shutdown(wait=True)

    async def _plan(
        self,
        catalogue: Catalogue,
        positions: Sequence[int],
        in_parts: frozenset[str],
        out: asyncio.Queue[object],
    ) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for start in range(0, len(positions), self.chunk_size):
            if self.max_items_per_s is not None:
                await asyncio.sleep(max(0.0, began + start / self.max_items_per_s - loop.time()))
            if self.stop.is_set():
                break
            rows = positions[start : start + self.chunk_size]
            chunk = Chunk([catalogue.item_ids[i] for i in rows])
            chunk.in_parts = in_parts.intersection(chunk.item_ids)
            chunk.present = await self.p.sink.present(chunk.item_ids)
            todo = [i for i in rows if catalogue.item_ids[i] not in chunk.present]
            for batch_start in range(0, len(todo), self.batch_size):
                batch = todo[batch_start : batch_start + self.batch_size]
                await self._decode_slots.acquire()
                ids = [catalogue.item_ids[i] for i in batch]
                await out.put(asyncio.ensure_future(self._load(ids, [catalogue.source(i) for i in batch])))
            await out.put(chunk)
        await out.put(_DONE)

    async def _load(self, item_ids: list[str], images: list[CatalogueImage]) -> DecodedBatch:
        """One batch's images fetched (URLs) and decoded; every failure is kept per item."""
        sources, failures = await load_sources(self.p.fetcher, item_ids, images)
        decoded = await self.p.decode.decode(list(sources.values()))
        pixels, undecodable = split_decoded(sources, decoded)
        stacked = (
            np.stack(list(pixels.values())) if pixels else np.empty((0, self.size, self.size, 3), np.uint8)
        )
        return DecodedBatch(list(pixels), stacked, failures | undecodable)

    async def _embed(self, planned: asyncio.Queue[object], out: asyncio.Queue[object]) -> None:
        """Cut decoded images into full batches; a chunk's marker follows its batches and flushes the tail."""
        done = Chunk([])
        pending_ids: list[str] = []
        pending: list[np.ndarray] = []
        while True:
            item = await planned.get()
            if item is _DONE:
                await out.put(_DONE)
                return
            if isinstance(item, Chunk):
                if pending_ids:
                    await self._embed_into(done, pending_ids, np.concatenate(pending))
                pending_ids, pending = [], []
                item.embedded_ids, item.vectors, item.failures = (
                    done.embedded_ids,
                    done.vectors,
                    done.failures,
                )
                done = Chunk([])
                await out.put(item)
                continue
            decoded: DecodedBatch = await item  # type: ignore[misc]
            self._decode_slots.release()
            done.failures |= decoded.failures
            pending_ids.extend(decoded.item_ids)
            pending.append(decoded.images)
            while len(pending_ids) >= self.batch_size:
                images = np.concatenate(pending) if len(pending) > 1 else pending[0]
                await self._embed_into(done, pending_ids[: self.batch_size], images[: self.batch_size])
                pending_ids, pending = pending_ids[self.batch_size :], [images[self.batch_size :]]

    async def _embed_into(self, chunk: Chunk, item_ids: list[str], images: np.ndarray) -> None:
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(self._infer, self.p.engine.embed, images)
        chunk.embedded_ids.extend(item_ids)
        chunk.vectors.extend(vectors)

    async def _write(self, embedded: asyncio.Queue[object]) -> None:
        while True:
            item = await embedded.get()
            if item is _DONE:
                return
            assert isinstance(item, Chunk)
            await self._write_chunk(item)

    async def _write_chunk(self, chunk: Chunk) -> None:
        await self.p.sink.write(chunk)
        self.summary.embedded += len(chunk.embedded_ids)
        self.summary.skipped_cached += len(chunk.present)
        self.summary.add_failures(chunk.failures)
        self.progress.update(len(chunk.item_ids), len(chunk.embedded_ids), self.summary.failed_count)
