"""Embed orchestration: cache → single-flight → admission → fetch → decode (pool) → batch → write-back.

The pipeline owns every runtime part (engine, cache, batcher, admission, fetcher, decode pool) and is
the only thing the API layer calls. A request's uncached items are computed by one detached task that
always answers their shared futures and releases their admission slots, so a failed or abandoned
request can never leave later requests waiting. Every step answers each item with an `Outcome`; the task
publishes them only once the new vectors are stored, so a ranker reading an id right after /embed finds
it. Decoding goes in chunks (one pool task per chunk, not per item), which keeps the event loop's work
per item small: on a CPU host that loop shares the cores with decoding and inference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol, TypeVar

from courier_core.errors import ItemCode, ItemError
from service import metrics
from service.cache import EmbeddingCache, describe_version, make_cache
from service.runtime.admission import Admission, base64_decode_cost, bytes_decode_cost
from service.runtime.batcher import Batcher
from service.runtime.decoding import DecodeLimits, DecodePool, Source
from service.runtime.engine import Engine
from service.runtime.fetch import Fetcher, FetchError, FetchPolicy
from service.runtime.lookup import CacheReader, Lookup, ModelInfo
from service.runtime.outcome import Outcome
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Items decoded per pool task under load (benchmarks/RESULTS.md compares chunk sizes); more per task
# would hold a large request's first images back from the model while the rest still decode.
MAX_CHUNK_ITEMS = 16
# The slowest the backlog is assumed to clear, for Retry-After: one full batch per max(delay, 50 ms).
_MIN_BATCH_INTERVAL_S = 0.05


class ImageItem(Protocol):
    """One item to embed: exactly one of base64 image bytes or an image URL (the API's EmbedItem fits)."""

    @property
    def item_id(self) -> str: ...

    @property
    def image_b64(self) -> str | None: ...

    @property
    def image_url(self) -> str | None: ...


class EmbedPipeline:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        cache: EmbeddingCache,
        fetcher: Fetcher,
        decoder: DecodePool,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._cache = cache
        self._fetcher = fetcher
        self._decoder = decoder
        delay_s = settings.max_batch_delay_ms / 1000
        self._batcher = Batcher(
            engine.embed,
            max_batch_size=settings.max_batch_size,
            max_delay_s=delay_s,
            unready_after_failures=settings.unready_after_failed_batches,
        )
        self._admission = Admission(
            settings.max_queue_items,
            drain_items_per_s=settings.max_batch_size / max(delay_s, _MIN_BATCH_INTERVAL_S),
            max_pixels=settings.max_queue_pixels,
        )
        self._reader = CacheReader(cache, engine)
        self._warmed_up = False
        self._in_flight: dict[str, asyncio.Future[Outcome]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def model(self) -> ModelInfo:
        return ModelInfo(self._engine.name, self._engine.version, self._engine.dim)

    @property
    def provider(self) -> str:
        return self._engine.provider

    @property
    def queue_items(self) -> int:
        """Items admitted and not yet answered."""
        return self._admission.in_flight

    @property
    def cache_kind(self) -> str:
        return self._cache.kind

    async def cache_reachable(self) -> bool:
        """The cache answers now (False while Redis is down: the service then serves uncached)."""
        return self._cache.available and await self._cache.ping()

    def checks(self) -> dict[str, bool]:
        """The pipeline's readiness conditions, by name."""
        return {
            "warmed_up": self._warmed_up,
            "batch_worker_alive": self._batcher.alive,
            "batches_ok": self._batcher.healthy,
        }

    async def start(self) -> None:
        """Connect the cache, describe the served version there (`courier:meta:{version}`) and start the
        batch worker (the engine is already loaded)."""
        await self._cache.start()
        await self._cache.set_version_info(self._engine.version, describe_version(self._engine))
        self._batcher.start()

    async def warm_up(self) -> None:
        """Run every batch bucket once and start the decode workers; raises when either fails."""
        started = time.perf_counter()
        buckets = self._settings.buckets
        await asyncio.gather(asyncio.to_thread(self._engine.warmup, buckets), self._decoder.start())
        self._warmed_up = True
        log.info(
            "warmed up buckets %s and %d decode workers in %.2fs on %s; ready",
            buckets,
            self._decoder.workers,
            time.perf_counter() - started,
            self._engine.provider,
        )

    async def close(self) -> None:
        """Finish every detached computation, then stop the parts."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._batcher.stop()
        await self._fetcher.close()
        await self._cache.close()
        self._decoder.close()

    async def lookup(self, item_ids: Sequence[str]) -> Lookup:
        """Cached vectors only, under the version rankers read; no model work."""
        return await self._reader.read(item_ids)

    async def embed(self, items: Sequence[ImageItem], *, refresh: bool = False) -> dict[str, Outcome]:
        """Outcome per distinct item id. Raises `QueueFull` before anything is queued when over the bound."""
        deadline = time.monotonic() + self._settings.request_timeout_s
        unique: dict[str, ImageItem] = {}
        for item in items:
            unique.setdefault(item.item_id, item)
        outcomes = {} if refresh else await self._cached(list(unique))
        misses = [i for i in unique if i not in outcomes]
        owned = [i for i in misses if i not in self._in_flight]
        pixels = sum(self._decode_cost(unique[i]) for i in owned)
        self._admission.admit(len(owned), pixels)  # raises QueueFull or TooManyPixels
        loop = asyncio.get_running_loop()
        for item_id in owned:
            self._in_flight[item_id] = loop.create_future()
        if owned:
            task = loop.create_task(self._compute_and_publish([unique[i] for i in owned], deadline, pixels))
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
                    else Outcome.failed(
                        ItemCode.DEADLINE, "request timeout passed before the item was embedded"
                    )
                )
        for outcome in outcomes.values():
            metrics.ITEMS.labels(outcome.label).inc()
        return outcomes

    def _decode_cost(self, item: ImageItem) -> int:
        """Pixels charged at admission: from the image header; an image_url is charged once downloaded."""
        size = self._engine.input_size
        return base64_decode_cost(item.image_b64, size) if item.image_b64 is not None else size * size

    async def _cached(self, ids: list[str]) -> dict[str, Outcome]:
        if not self._cache.available:
            metrics.CACHE_REQUESTS.labels("unavailable").inc(len(ids))
            return {}
        found = await self._cache.get_many(self._engine.version, ids, dim=self._engine.dim)
        if not self._cache.available:  # failed during this call
            metrics.CACHE_REQUESTS.labels("unavailable").inc(len(ids))
            return {}
        metrics.CACHE_REQUESTS.labels("hit").inc(len(found))
        metrics.CACHE_REQUESTS.labels("miss").inc(len(ids) - len(found))
        return {item_id: Outcome(vector=vector, cached=True) for item_id, vector in found.items()}

    async def _compute_and_publish(self, items: list[ImageItem], deadline: float, pixels: int) -> None:
        """Compute owned items, store the vectors in one round trip, then answer and release every item."""
        outcomes: dict[str, Outcome] = {}
        try:
            outcomes = await self._compute(items, deadline)
            vectors = {i: o.vector for i, o in outcomes.items() if o.vector is not None}
            if vectors:
                await self._cache.set_many(self._engine.version, vectors, ttl=self._settings.cache_ttl_s)
        except Exception:  # every item is still answered below
            log.exception("embedding %d items failed", len(items))
        finally:
            internal = Outcome.failed(ItemCode.INFERENCE_ERROR, "internal error")
            for item in items:
                future = self._in_flight.pop(item.item_id, None)
                if future is not None and not future.done():
                    future.set_result(outcomes.get(item.item_id, internal))
            self._admission.release(len(items), pixels)

    async def _compute(self, items: list[ImageItem], deadline: float) -> dict[str, Outcome]:
        sources, outcomes = await self._sources(items)
        size = self._engine.input_size
        downloaded = sum(bytes_decode_cost(s, size) for s in sources.values() if isinstance(s, bytes))
        self._admission.charge(downloaded)
        try:
            parts = -(-len(sources) // MAX_CHUNK_ITEMS)
            if self._decoder.idle:  # a lone request: spread it over every worker for latency
                parts = max(parts, self._decoder.workers)
            chunks = _split(list(sources.items()), parts)
            for result in await asyncio.gather(*(self._embed_chunk(chunk, deadline) for chunk in chunks)):
                outcomes |= result
            return outcomes
        finally:
            self._admission.release(0, downloaded)

    async def _sources(self, items: list[ImageItem]) -> tuple[dict[str, Source], dict[str, Outcome]]:
        """Each item's encoded image (base64 text, or the bytes fetched from its URL), or the outcome of
        its failed fetch."""
        with_url = [item for item in items if item.image_url is not None]
        fetched = await self._fetcher.fetch_many(item.image_url or "" for item in with_url)
        by_id = {item.item_id: result for item, result in zip(with_url, fetched, strict=True)}
        sources: dict[str, Source] = {}
        failed: dict[str, Outcome] = {}
        for item in items:
            result = by_id.get(item.item_id, item.image_b64 or "")
            if isinstance(result, FetchError):
                failed[item.item_id] = Outcome(error=result)
            else:
                sources[item.item_id] = result
        return sources, failed

    async def _embed_chunk(self, chunk: list[tuple[str, Source]], deadline: float) -> dict[str, Outcome]:
        """Decode a chunk in one pool task, queue its images for the batcher, wait for their outcomes."""
        loop = asyncio.get_running_loop()
        decoded = await self._decoder.decode([source for _, source in chunk])
        queue_deadline = min(deadline, time.monotonic() + self._settings.queue_deadline_ms / 1000)
        outcomes: dict[str, Outcome] = {}
        queued: dict[str, asyncio.Future[Outcome]] = {}
        for (item_id, _), result in zip(chunk, decoded, strict=True):
            if isinstance(result, ItemError):
                outcomes[item_id] = Outcome(error=result)
            else:
                queued[item_id] = future = loop.create_future()
                self._batcher.submit(result, future, queue_deadline)
        if queued:
            await asyncio.wait(queued.values())
        return outcomes | {item_id: future.result() for item_id, future in queued.items()}


def build_pipeline(settings: Settings, engine: Engine) -> EmbedPipeline:
    """The pipeline with the cache, fetcher and decode pool that `settings` describe."""
    fetch_policy = FetchPolicy(
        allow_hosts=settings.fetch_allow_hosts,
        allow_http=settings.fetch_allow_http,
        connect_timeout_s=settings.fetch_connect_timeout_s,
        total_timeout_s=settings.fetch_timeout_s,
        max_redirects=settings.fetch_max_redirects,
        max_bytes=settings.max_image_bytes,
    )
    limits = DecodeLimits(engine.input_size, settings.max_image_pixels, settings.max_image_bytes)
    decoder = DecodePool(settings.decode_pool_workers, limits, kind=settings.decode_pool)
    return EmbedPipeline(settings, engine, make_cache(settings), Fetcher(fetch_policy), decoder)


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
