"""One backfill run end to end: load model and catalogue, resume from what is done, run the pipeline,
finalise the parquet output and, when asked, promote the version."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, TextIO

from service.backfill.catalogue import read_catalogue
from service.backfill.chunk_io import ChunkSink
from service.backfill.config import BackfillConfig
from service.backfill.model import load_engine
from service.backfill.parts import PartsWriter
from service.backfill.pipeline import ChunkPipeline, PipelineParts
from service.backfill.promote import promote_if_complete
from service.backfill.report import Progress, Summary
from service.backfill.sources import open_fetcher
from service.cache import EmbeddingCache, describe_version, make_cache
from service.cache.base import safe_url
from service.runtime.decoding import DecodeLimits, DecodePool


class BackfillError(RuntimeError):
    """A problem with the run's inputs or surroundings (model, catalogue, Redis), reported without a trace."""


async def open_cache(config: BackfillConfig) -> EmbeddingCache | None:
    """A strict Redis cache (failures raise instead of silently dropping writes), checked reachable."""
    if config.redis_url is None:
        return None
    cache = make_cache(
        config.redis_url,
        strict=True,
        timeout_s=config.redis_timeout_s,
        mode=config.redis_mode,
        failover_wait_s=config.redis_failover_wait_s,
    )
    if not await cache.ping():
        await cache.close()
        raise BackfillError(f"cannot reach Redis at {safe_url(config.redis_url)} ({config.redis_mode})")
    return cache


def sink_for(
    config: BackfillConfig, version: str, dim: int, cache: EmbeddingCache | None, parts: PartsWriter | None
) -> ChunkSink:
    return ChunkSink(
        cache,
        parts,
        version,
        dim,
        config.ttl_seconds,
        config.skip_cached,
        with_vectors=config.parquet_out is not None,
    )


def parts_identity(name: str, version: str, config: BackfillConfig) -> dict[str, Any]:
    """What a parts directory belongs to; a rerun must match it to reuse the parts."""
    return {"name": name, "version": version, "shard": str(config.shard)}


async def run_backfill(
    config: BackfillConfig,
    *,
    stop: asyncio.Event | None = None,
    stream: TextIO | None = None,
) -> Summary:
    """Backfill the shard of the catalogue that `config` names; returns what was done."""
    started = time.monotonic()
    stop = stop or asyncio.Event()
    catalogue = read_catalogue(config.data_dir)
    scope = catalogue.select(config.shard, config.limit)
    engine = load_engine(config)
    name, version = engine.name, engine.version
    parts = open_parts(config, name, version)
    in_parts = frozenset(parts.completed_ids()) if parts else frozenset()
    # With Redis, items already in a part are still checked there (Redis may have lost them: eviction, a
    # flush) and rewritten if missing; without Redis the parts are the only record and are skipped.
    skip = in_parts if config.redis_url is None else frozenset()
    positions = [i for i, item_id in enumerate(scope.item_ids) if item_id not in skip]
    summary = Summary(total=len(scope), skipped_cached=len(scope) - len(positions))
    summary.extra.update(model=name, version=version, shard=str(config.shard))
    progress = Progress(len(scope), mode=config.progress, log_every_s=config.log_every_s, stream=stream)
    progress.update(summary.skipped_cached, 0, 0)
    cache = await open_cache(config)
    fetcher = open_fetcher(config.fetch_allow_hosts, config.fetch_allow_http)
    decode = DecodePool(config.decode_workers, DecodeLimits(engine.input_size), kind=config.decode_pool)
    try:
        if cache is not None:
            await cache.set_version_info(version, describe_version(engine))
        pipeline_started = time.monotonic()
        sink = sink_for(config, version, engine.dim, cache, parts)
        pipeline = ChunkPipeline(
            PipelineParts(engine, fetcher, decode, sink),
            batch_size=config.batch_size,
            chunk_size=config.chunk_size,
            max_items_per_s=config.max_items_per_s,
            summary=summary,
            progress=progress,
            stop=stop,
        )
        await pipeline.run(scope, positions, in_parts)
        summary.pipeline_s = time.monotonic() - pipeline_started
        progress.close()
        summary.interrupted = stop.is_set()
        if not summary.interrupted:
            await finish(config, summary, parts, cache, engine.dim, catalogue.item_ids)
    finally:
        progress.close()
        decode.close()
        await fetcher.close()
        if cache is not None:
            await cache.close()
    summary.wall_s = time.monotonic() - started
    return summary


def open_parts(config: BackfillConfig, name: str, version: str) -> PartsWriter | None:
    """This shard's parts directory (reused on a rerun; started afresh with --overwrite)."""
    out = config.shard_out_path()
    if out is None:
        return None
    return PartsWriter(out, parts_identity(name, version, config), fresh=not config.skip_cached)


async def finish(
    config: BackfillConfig,
    summary: Summary,
    parts: PartsWriter | None,
    cache: EmbeddingCache | None,
    dim: int,
    catalogue_ids: Sequence[str],
) -> None:
    """After a complete pass: finalise the parquet file, then promote if asked and complete."""
    name, version = summary.extra["model"], summary.extra["version"]
    if parts is not None:
        metadata = {
            "source": "backfill",
            "model": {"name": name, "version": version, "dim": dim},
            "shard": str(config.shard),
            "failed": summary.failed_count,
        }
        rows = await asyncio.to_thread(parts.finalise, metadata)
        summary.extra.update(parquet_out=str(parts.out), parquet_rows=rows)
    if config.promote and cache is not None:
        await promote_into(summary, cache, name, version, catalogue_ids)


async def promote_into(
    summary: Summary, cache: EmbeddingCache, name: str, version: str, item_ids: Sequence[str]
) -> None:
    """Promote when the whole catalogue (every shard) is cached; record the outcome in the summary."""
    result = await promote_if_complete(cache, name, version, item_ids)
    summary.promoted = result.promoted
    summary.extra["promotion"] = result.describe()
