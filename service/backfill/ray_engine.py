"""`--engine ray`: the same backfill on a Ray cluster (or a local Ray instance), for catalogues past one host.

Ray Data reads items.parquet; parallel tasks keep this shard's items, check the cache (one pipelined
round trip per chunk), fetch URLs with the service's fetcher and decode what is missing with the shared
decode function; an actor pool, one
onnxruntime session per actor (a GPU each when the cluster has them), embeds full batches and writes
each chunk through `ChunkSink`, the local pipeline's code path (Redis first, then the parquet part).
The driver counts outcomes, finalises the parquet file and promotes, exactly as the local run does.
Parquet parts are written by the actors, so with several nodes `--parquet-out` must be on shared storage.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from courier_core.dataset import ITEMS_FILE
from courier_core.errors import ItemError
from courier_core.manifest import Manifest
from courier_core.model_repo import load_model_dir
from service.backfill.catalogue import Catalogue, read_catalogue
from service.backfill.chunk_io import Chunk
from service.backfill.config import BackfillConfig
from service.backfill.model import load_engine
from service.backfill.parts import PartsWriter
from service.backfill.report import Progress, Summary
from service.backfill.run import (
    BackfillError,
    finish,
    open_cache,
    open_parts,
    parts_identity,
    sink_for,
)
from service.backfill.sharding import Shard
from service.backfill.sources import load_sources, open_fetcher, split_decoded
from service.cache import describe_version
from service.runtime.decoding import DecodeLimits, Source, decode_sources

TODO, PRESENT, FAILED, EMBEDDED = "todo", "present", "failed", "embedded"


def _select(batch: pa.Table, *, shard: Shard, done: frozenset[str]) -> pa.Table:
    """Keep this shard's items that no completed parquet part holds yet."""
    keep = [shard.contains(i) and i not in done for i in batch.column("item_id").to_pylist()]
    return batch.filter(pa.array(keep, type=pa.bool_()))


def _check_and_decode(
    batch: pa.Table, *, config: BackfillConfig, root: str, version: str, dim: int, size: int
):
    """One chunk: one cache round trip, then fetch and decode the missing items (Ray runs many of these
    in parallel)."""
    item_ids = batch.column("item_id").to_pylist()
    chunk = Catalogue(Path(root), item_ids, batch.column("image").to_pylist())

    async def check_and_fetch() -> tuple[
        dict[str, np.ndarray | None], dict[str, Source], dict[str, ItemError]
    ]:
        cache = await open_cache(config)
        fetcher = open_fetcher(config.fetch_allow_hosts, config.fetch_allow_http)
        try:
            present = await sink_for(config, version, dim, cache, None).present(item_ids)
            todo = [k for k, i in enumerate(item_ids) if i not in present]
            sources, failures = await load_sources(
                fetcher, [item_ids[k] for k in todo], [chunk.source(k) for k in todo]
            )
            return present, sources, failures
        finally:
            await fetcher.close()
            if cache is not None:
                await cache.close()

    present, sources, failures = asyncio.run(check_and_fetch())
    decoded, _ = decode_sources(list(sources.values()), DecodeLimits(size))
    pixels, undecodable = split_decoded(sources, decoded)
    failures |= undecodable
    state, code, message, pixel_col, vector_col = [], [], [], [], []
    for item_id in item_ids:
        failure = failures.get(item_id)
        state.append(PRESENT if item_id in present else FAILED if failure else TODO)
        code.append(str(failure.code) if failure else "")
        message.append(failure.message if failure else "")
        pixel_col.append(pixels[item_id].tobytes() if item_id in pixels else b"")
        vector = present.get(item_id)
        vector_col.append(np.asarray(vector, dtype="<f4").tobytes() if vector is not None else b"")
    return pa.table(
        {
            "item_id": item_ids,
            "state": state,
            "code": code,
            "message": message,
            "pixels": pa.array(pixel_col, type=pa.binary()),
            "vector": pa.array(vector_col, type=pa.binary()),
        }
    )


def _decode_task_resources() -> dict[str, Any]:
    """One CPU per decode task. Given as a function so that Ray does not fuse decoding into the embedding
    actors: decoding then runs in parallel tasks on every node while the actors only embed and write."""
    return {"num_cpus": 1}


class _EmbedWriter:
    """An actor: one engine (onnxruntime session), one strict cache connection, one parts writer."""

    def __init__(self, config: BackfillConfig, identity: dict[str, Any], in_parts: frozenset[str]) -> None:
        self.in_parts = in_parts
        self.engine = load_engine(config)
        self.batch_size = config.batch_size
        self.loop = asyncio.new_event_loop()
        cache = self.loop.run_until_complete(open_cache(config))
        out = config.shard_out_path()
        parts = PartsWriter(out, identity) if out is not None else None
        self.sink = sink_for(config, self.engine.version, self.engine.dim, cache, parts)

    def __call__(self, batch: pa.Table) -> pa.Table:
        item_ids = batch.column("item_id").to_pylist()
        states = batch.column("state").to_pylist()
        codes = batch.column("code").to_pylist()
        messages = batch.column("message").to_pylist()
        chunk = Chunk(item_ids, in_parts=self.in_parts.intersection(item_ids))
        side, dim = self.engine.input_size, self.engine.dim
        todo: list[int] = []
        for k, state in enumerate(states):
            if state == PRESENT:
                raw = batch.column("vector")[k].as_py()
                chunk.present[item_ids[k]] = np.frombuffer(raw, dtype="<f4").reshape(dim) if raw else None
            elif state == FAILED:
                chunk.failures[item_ids[k]] = ItemError(codes[k], messages[k])
            else:
                todo.append(k)
        pixels = batch.column("pixels")
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            images = np.stack(
                [np.frombuffer(pixels[k].as_py(), np.uint8).reshape(side, side, 3) for k in rows]
            )
            chunk.embedded_ids.extend(item_ids[k] for k in rows)
            chunk.vectors.extend(self.engine.embed(images))
        self.loop.run_until_complete(self.sink.write(chunk))
        outcome = [EMBEDDED if s == TODO else s for s in states]
        return pa.table({"item_id": item_ids, "outcome": outcome, "code": codes, "message": messages})


def run_backfill_ray(config: BackfillConfig) -> Summary:
    """Run the backfill on Ray (a local instance unless `config.ray_address`); returns the same Summary."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise BackfillError("--engine ray needs Ray: pip install 'courier[ray]'") from None
    started = time.monotonic()
    catalogue = read_catalogue(config.data_dir)  # validates the file and gives the ids promotion checks
    scope = catalogue.select(config.shard, config.limit)
    model = load_model_dir(config.model, config.name)
    name, version, dim, size = (
        model.manifest.name,
        model.manifest.version,
        model.manifest.dim,
        model.manifest.input_size,
    )
    parts = open_parts(config, name, version)
    in_parts = frozenset(parts.completed_ids()) if parts else frozenset()
    done = in_parts if config.redis_url is None else frozenset()  # as in the local run
    summary = Summary(total=len(scope), skipped_cached=len(done & set(scope.item_ids)))
    summary.extra.update(model=name, version=version, shard=str(config.shard), engine="ray")
    progress = Progress(len(scope), mode=config.progress, log_every_s=config.log_every_s)
    progress.update(summary.skipped_cached, 0, 0)
    asyncio.run(_describe(config, model.manifest))  # also fails early when Redis is unreachable

    ray.init(
        address=config.ray_address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    gpus = int(ray.cluster_resources().get("GPU", 0)) if config.providers != "cpu" else 0
    actors = config.ray_actors or max(1, gpus)
    dataset = ray.data.read_parquet(str(catalogue.root / ITEMS_FILE), columns=["item_id", "image"])
    dataset = dataset.map_batches(
        _select, batch_format="pyarrow", fn_kwargs={"shard": config.shard, "done": done}, batch_size=None
    )
    if config.limit is not None:
        dataset = dataset.limit(max(0, config.limit - len(done)))
    dataset = dataset.map_batches(
        _check_and_decode,
        batch_format="pyarrow",
        batch_size=config.chunk_size,
        fn_kwargs={
            "config": config,
            "root": str(catalogue.root),
            "version": version,
            "dim": dim,
            "size": size,
        },
        ray_remote_args_fn=_decode_task_resources,
    )
    dataset = dataset.map_batches(
        _EmbedWriter,
        batch_format="pyarrow",
        batch_size=config.chunk_size,
        fn_constructor_kwargs={
            "config": config,
            "identity": parts_identity(name, version, config),
            "in_parts": in_parts,
        },
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=1 if gpus else 0,
    )
    pipeline_started = time.monotonic()
    try:
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            _count(summary, progress, batch)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.pipeline_s = time.monotonic() - pipeline_started
    progress.close()
    if not summary.interrupted:
        asyncio.run(_finish(config, summary, parts, dim, catalogue.item_ids))
    summary.wall_s = time.monotonic() - started
    return summary


def _count(summary: Summary, progress: Progress, batch: pa.Table) -> None:
    outcomes = batch.column("outcome").to_pylist()
    embedded = outcomes.count(EMBEDDED)
    summary.embedded += embedded
    summary.skipped_cached += outcomes.count(PRESENT)
    ids, codes, messages = (batch.column(c).to_pylist() for c in ("item_id", "code", "message"))
    summary.add_failures(
        {ids[k]: ItemError(codes[k], messages[k]) for k, outcome in enumerate(outcomes) if outcome == FAILED}
    )
    progress.update(len(outcomes), embedded, summary.failed_count)


async def _describe(config: BackfillConfig, manifest: Manifest) -> None:
    cache = await open_cache(config)
    if cache is not None:
        try:
            await cache.set_version_info(manifest.version, describe_version(manifest))
        finally:
            await cache.close()


async def _finish(
    config: BackfillConfig, summary: Summary, parts: PartsWriter | None, dim: int, ids: list[str]
) -> None:
    cache = await open_cache(config)
    try:
        await finish(config, summary, parts, cache, dim, ids)
    finally:
        if cache is not None:
            await cache.close()
