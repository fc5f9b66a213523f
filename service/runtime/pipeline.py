"""Embed orchestration: cache → single-flight → admission → decode (processes) → batch → write-back.

A request's uncached items are computed by one detached task that always resolves their shared futures
and releases their admission slots, so a failed or abandoned request can never leave later requests
waiting. The task decodes in chunks (one pool task per chunk, not per item), which keeps the event loop's
work per item small: on a CPU host that loop shares the cores with decode and inference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from service import metrics
from service.api.schemas import EmbedItem
from service.cache.base import EmbeddingCache
from service.runtime.admission import Admission
from service.runtime.batcher import Batcher, DeadlineExceeded
from service.runtime.decoding import DecodeFailure, DecodePool
from service.runtime.engine import OnnxEngine
from service.runtime.fetch import Fetcher, FetchError
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

DEADLINE = "deadline"
# Items decoded per pool task under load: one task per 16-item request ran at 0.80-0.97x the pipeline
# limit over 11 runs against 0.75-0.90x over 5 for two (benchmarks/RESULTS.md); more per task would hold a
# large request's first images back from the model while the rest still decode.
MAX_CHUNK_ITEMS = 16
INFERENCE_ERROR = "inference_error"


@dataclass(frozen=True)
class Outcome:
    """One item's answer: a vector (cached or computed) or an error code and message."""

    vector: np.ndarray | None = None
    cached: bool = False
    code: str | None = None
    message: str | None = None


class EmbedPipeline:
    def __init__(
        self,
        settings: Settings,
        engine: OnnxEngine,
        cache: EmbeddingCache,
        batcher: Batcher,
        admission: Admission,
        fetcher: Fetcher,
        decode_pool: DecodePool,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._cache = cache
        self._batcher = batcher
        self._admission = admission
        self._fetcher = fetcher
        self._decode_pool = decode_pool
        self._in_flight: dict[str, asyncio.Future[Outcome]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def version(self) -> str:
        return self._engine.version

    async def embed(self, items: Sequence[EmbedItem], *, refresh: bool = False) -> dict[str, Outcome]:
        """Outcome per distinct item id. Raises `QueueFull` before anything is queued when over the bound."""
        started = time.monotonic()
        deadline = started + self._settings.request_timeout_s
        unique: dict[str, EmbedItem] = {}
        for item in items:
            unique.setdefault(item.item_id, item)
        outcomes: dict[str, Outcome] = {}
        if not refresh:
            outcomes = await self._lookup(list(unique))
        misses = [i for i in unique if i not in outcomes]
        owned = [i for i in misses if i not in self._in_flight]
        self._admission.admit(len(owned))
        loop = asyncio.get_running_loop()
        for item_id in owned:
            self._in_flight[item_id] = loop.create_future()
        if owned:
            task = loop.create_task(self._compute_and_store([unique[i] for i in owned], deadline))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        waiting = {i: self._in_flight[i] for i in misses}
        if waiting:
            timeout = max(0.0, deadline - time.monotonic())
            await asyncio.wait(waiting.values(), timeout=timeout)  # never cancels the shared futures
            for item_id, future in waiting.items():
                outcomes[item_id] = (
                    future.result()
                    if future.done()
                    else Outcome(code=DEADLINE, message="request timeout passed before the item was embedded")
                )
        for outcome in outcomes.values():
            metrics.ITEMS.labels(outcome.code or ("cached" if outcome.cached else "computed")).inc()
        return outcomes

    async def drain(self) -> None:
        """Wait for every detached computation (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _lookup(self, ids: list[str]) -> dict[str, Outcome]:
        if not self._cache.available:
            metrics.CACHE_REQUESTS.labels("unavailable").inc(len(ids))
            return {}
        found = await self._cache.get_many(self.version, ids, dim=self._engine.dim)
        if not self._cache.available:  # failed during this call
            metrics.CACHE_REQUESTS.labels("unavailable").inc(len(ids))
            return {}
        metrics.CACHE_REQUESTS.labels("hit").inc(len(found))
        metrics.CACHE_REQUESTS.labels("miss").inc(len(ids) - len(found))
        return {item_id: Outcome(vector=vector, cached=True) for item_id, vector in found.items()}

    async def _compute_and_store(self, items: list[EmbedItem], deadline: float) -> None:
        """Compute owned items, write successes back in one round trip, then answer, unpublish and release
        them."""
        try:
            sources = await self._fetch_sources(items)
            pending = list(sources.items())
            parts = -(-len(pending) // MAX_CHUNK_ITEMS)
            if self._decode_pool.idle:  # a lone request: spread it over every worker for latency
                parts = max(parts, self._decode_pool.workers)
            chunks = _split(pending, parts)
            results = await asyncio.gather(*(self._embed_chunk(chunk, deadline) for chunk in chunks))
            outcomes = {item_id: o for result in results for item_id, o in result.items()}
            vectors = {item_id: o.vector for item_id, o in outcomes.items() if o.vector is not None}
            if vectors:
                await self._cache.set_many(self.version, vectors, ttl=self._settings.cache_ttl_s)
            # answered only once stored: a ranker that reads an id right after /embed answered finds it
            for item_id, outcome in outcomes.items():
                self._resolve(item_id, outcome)
        except Exception:  # never leave a future unresolved; the cache itself does not raise
            log.exception("embedding %d items failed", len(items))
        finally:
            for item in items:
                self._resolve(item.item_id, Outcome(code=INFERENCE_ERROR, message="internal error"))
            self._admission.release(len(items))

    async def _fetch_sources(self, items: list[EmbedItem]) -> dict[str, bytes | str]:
        """Each item's encoded image (base64 text, or bytes fetched from its URL); a failed fetch
        resolves its item at once."""
        sources: dict[str, bytes | str] = {}
        urls = [item for item in items if item.image_url is not None]
        fetched = await asyncio.gather(
            *(self._fetcher.fetch(item.image_url or "") for item in urls), return_exceptions=True
        )
        for item, result in zip(urls, fetched, strict=True):
            if isinstance(result, FetchError):
                self._resolve(item.item_id, Outcome(code=result.code, message=result.message))
            elif isinstance(result, BaseException):
                raise result
            else:
                sources[item.item_id] = result
        for item in items:
            if item.image_url is None:
                sources[item.item_id] = item.image_b64 or ""
        return sources

    async def _embed_chunk(self, chunk: list[tuple[str, bytes | str]], deadline: float) -> dict[str, Outcome]:
        """Decode a chunk in one pool task, queue its images for the batcher, wait for their vectors."""
        loop = asyncio.get_running_loop()
        decoded = await self._decode_pool.decode([data for _, data in chunk])
        queue_deadline = min(deadline, time.monotonic() + self._settings.queue_deadline_ms / 1000)
        outcomes: dict[str, Outcome] = {}
        queued: dict[str, asyncio.Future[np.ndarray]] = {}
        for (item_id, _), result in zip(chunk, decoded, strict=True):
            if isinstance(result, DecodeFailure):
                outcomes[item_id] = Outcome(code=result.code, message=result.message)
            else:
                queued[item_id] = future = loop.create_future()
                self._batcher.submit(result, future, queue_deadline)
        if queued:
            await asyncio.wait(queued.values())
        return outcomes | {item_id: _batch_outcome(future) for item_id, future in queued.items()}

    def _resolve(self, item_id: str, outcome: Outcome) -> None:
        """Answer everyone waiting on `item_id` and stop sharing its computation."""
        future = self._in_flight.pop(item_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)


def _split(items: list[T], parts: int) -> list[list[T]]:
    """`items` in at most `parts` contiguous chunks of nearly equal size (none empty)."""
    if not items:
        return []
    parts = min(parts, len(items))
    size, extra = divmod(len(items), parts)
    chunks: list[list[T]] = []
    start = 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def _batch_outcome(future: asyncio.Future[np.ndarray]) -> Outcome:
    exc = future.exception()
    if exc is None:
        return Outcome(vector=future.result())
    if isinstance(exc, DeadlineExceeded):
        return Outcome(code=DEADLINE, message=str(exc))
    return Outcome(code=INFERENCE_ERROR, message=str(exc))
