"""`python -m service.backfill`: fill the embedding cache for a model version before rankers switch to it.

Exit codes: 0 all items cached, 1 some items failed (reported per error code; rerunning will not fix
them), 2 bad input or Redis unreachable, 3 the run crashed (an unexpected error, with its traceback; a rerun
resumes), 130 interrupted (rerun to resume: nothing done is redone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from courier_core.cache_keys import DEFAULT_TTL_SECONDS
from courier_core.dataset import DatasetError
from courier_core.embeddings_file import EmbeddingsFileError
from courier_core.model_repo import ModelError
from service.backfill.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_SIZE,
    REDIS_FAILOVER_WAIT_S,
    BackfillConfig,
)
from service.backfill.parts import PartsError
from service.backfill.report import Summary
from service.backfill.run import BackfillError, run_backfill
from service.backfill.sharding import parse_shard
from service.cache import CacheError
from service.runtime.decoding import default_decode_workers

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_ERROR, EXIT_CRASHED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.backfill",
        description="Embed a catalogue with the service's engine and fill the Redis cache (and/or a parquet "
        "file) for one model version. Safe to kill and rerun: finished work is never redone.",
    )
    parser.add_argument("--data", required=True, type=Path, help="dataset directory holding items.parquet")
    parser.add_argument("--model", required=True, type=Path, help="model version dir, <repo>/<name>, or repo")
    parser.add_argument("--name", help="model name inside the repository given by --model")
    parser.add_argument(
        "--redis", default=os.environ.get("REDIS_URL"), help="Redis URL (default: $REDIS_URL)"
    )
    parser.add_argument(
        "--redis-mode",
        choices=["standalone", "cluster"],
        default=os.environ.get("COURIER_REDIS_MODE", "standalone"),
        help="cluster: --redis names any one node of a Redis Cluster (default: $COURIER_REDIS_MODE or standalone)",
    )
    parser.add_argument(
        "--redis-failover-wait",
        type=float,
        default=REDIS_FAILOVER_WAIT_S,
        help="cluster: seconds to keep retrying a failed node's keys (a failover) before giving up",
    )
    parser.add_argument(
        "--parquet-out", type=Path, help="also write item_id, embedding parquet (training eval)"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="images per model call")
    parser.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="items per Redis round trip"
    )
    parser.add_argument("--decode-workers", type=int, default=default_decode_workers())
    parser.add_argument("--decode-pool", choices=["thread", "process"], default="thread")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    parser.add_argument("--providers", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--fetch-allow-hosts",
        default=os.environ.get("COURIER_FETCH_ALLOW_HOSTS", ""),
        help="image URL hosts/IPs/CIDRs exempt from the private-address refusal, comma-separated "
        "(default: $COURIER_FETCH_ALLOW_HOSTS, as the service)",
    )
    parser.add_argument(
        "--fetch-allow-http",
        default=os.environ.get("COURIER_FETCH_ALLOW_HTTP", ""),
        help="hosts/IPs/CIDRs whose images may be fetched over plain http (default: $COURIER_FETCH_ALLOW_HTTP)",
    )
    parser.add_argument(
        "--shard",
        default=os.environ.get("COURIER_BACKFILL_SHARD"),
        help="I/N: this process's share of the catalogue; auto/N reads I from $JOB_COMPLETION_INDEX",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--skip-cached", dest="skip_cached", action="store_true", default=True, help="(default)"
    )
    mode.add_argument(
        "--overwrite", dest="skip_cached", action="store_false", help="re-embed cached items too"
    )
    parser.add_argument("--limit", type=int, help="process at most N items of this shard")
    parser.add_argument("--max-items-per-s", type=float, help="throttle, to spare a shared Redis")
    parser.add_argument("--ttl-seconds", type=int, default=DEFAULT_TTL_SECONDS)
    parser.add_argument("--promote", action="store_true", help="move the current version once all are cached")
    parser.add_argument(
        "--engine", choices=["local", "ray"], default="local", help="ray: distributed (Ray Data)"
    )
    parser.add_argument("--ray-address", help="Ray cluster address (default: start a local instance)")
    parser.add_argument("--ray-actors", type=int, help="embedding actors (default: GPUs, else 1)")
    parser.add_argument("--progress", choices=["auto", "bar", "log", "off"], default="auto")
    parser.add_argument("--log-every", type=float, default=10.0, help="seconds between log lines off a TTY")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line on stdout")
    return parser


def config_from_args(args: argparse.Namespace) -> BackfillConfig:
    return BackfillConfig(
        data_dir=args.data,
        model=args.model,
        name=args.name,
        redis_url=args.redis or None,
        redis_mode=args.redis_mode,
        redis_failover_wait_s=args.redis_failover_wait,
        parquet_out=args.parquet_out,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        decode_workers=args.decode_workers,
        decode_pool=args.decode_pool,
        intra_op_threads=args.threads,
        providers=args.providers,
        shard=parse_shard(args.shard),
        fetch_allow_hosts=_comma_list(args.fetch_allow_hosts),
        fetch_allow_http=_comma_list(args.fetch_allow_http),
        skip_cached=args.skip_cached,
        limit=args.limit,
        max_items_per_s=args.max_items_per_s,
        ttl_seconds=args.ttl_seconds,
        promote=args.promote,
        engine=args.engine,
        ray_address=args.ray_address,
        ray_actors=args.ray_actors,
        progress=args.progress,
        log_every_s=args.log_every,
    )


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


async def _run_local(config: BackfillConfig) -> Summary:
    """Run with SIGINT/SIGTERM handling: the first stops after chunks in flight, the second exits at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)  # nothing is half-written: every SET and part rename is atomic
        stop.set()
        print("backfill: stopping after the chunks in flight (signal again to quit now)", file=sys.stderr)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return await run_backfill(config, stop=stop)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"backfill: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if config.engine == "ray":
            from service.backfill.ray_engine import run_backfill_ray

            summary = run_backfill_ray(config)
        else:
            summary = asyncio.run(_run_local(config))
    except (
        BackfillError,
        ModelError,
        DatasetError,
        PartsError,
        CacheError,
        EmbeddingsFileError,
    ) as exc:
        print(f"backfill: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # a bug or an unforeseen failure: not "some items failed" (exit 1)
        traceback.print_exc()
        print(
            "backfill: crashed (the traceback above); finished work is kept, a rerun resumes", file=sys.stderr
        )
        return EXIT_CRASHED
    if args.json:
        print(json.dumps(summary.to_json()), flush=True)
    else:
        print(summary.text())
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED_ITEMS if summary.failed_count else EXIT_OK
