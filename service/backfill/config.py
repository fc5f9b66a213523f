"""Typed configuration of a backfill run (the CLI turns argparse into this; library code sees only this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from courier_core.cache_keys import DEFAULT_TTL_SECONDS
from service.backfill.sharding import Shard
from service.runtime.decoding import PoolKind, default_decode_workers
from service.runtime.fetch import FetchPolicy

EngineKind = Literal["local", "ray"]
RedisMode = Literal["standalone", "cluster"]
ProgressMode = Literal["auto", "bar", "log", "off"]

DEFAULT_BATCH_SIZE = 32
DEFAULT_CHUNK_SIZE = 1000
REDIS_TIMEOUT_S = 10.0
REDIS_FAILOVER_WAIT_S = 30.0


@dataclass(frozen=True)
class BackfillConfig:
    """One backfill: which catalogue, which model, where vectors go and how hard to push."""

    data_dir: Path
    model: Path
    name: str | None = None
    redis_url: str | None = None
    redis_mode: RedisMode = "standalone"
    redis_failover_wait_s: float = REDIS_FAILOVER_WAIT_S
    parquet_out: Path | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    chunk_size: int = DEFAULT_CHUNK_SIZE
    decode_workers: int = field(default_factory=default_decode_workers)
    decode_pool: PoolKind = "thread"
    intra_op_threads: int = 0
    providers: Literal["auto", "cpu", "cuda"] = "auto"
    shard: Shard = field(default_factory=Shard)
    fetch_allow_hosts: tuple[str, ...] = ()
    fetch_allow_http: tuple[str, ...] = ()
    skip_cached: bool = True
    max_items_per_s: float | None = None
    limit: int | None = None
    promote: bool = False
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    redis_timeout_s: float = REDIS_TIMEOUT_S
    engine: EngineKind = "local"
    ray_address: str | None = None
    ray_actors: int | None = None
    progress: ProgressMode = "auto"
    log_every_s: float = 10.0

    def __post_init__(self) -> None:
        if self.redis_url is None and self.parquet_out is None:
            raise ValueError("nothing to write to: give --redis URL (or REDIS_URL) and/or --parquet-out FILE")
        if self.promote and self.redis_url is None:
            raise ValueError(
                "--promote needs Redis (--redis URL or REDIS_URL): the current version lives there"
            )
        for label, value in (("batch size", self.batch_size), ("chunk size", self.chunk_size)):
            if value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        if self.max_items_per_s is not None and self.max_items_per_s <= 0:
            raise ValueError(f"--max-items-per-s must be > 0, got {self.max_items_per_s}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"--limit must be >= 0, got {self.limit}")
        FetchPolicy(self.fetch_allow_hosts, self.fetch_allow_http)  # a malformed CIDR raises here

    def shard_out_path(self) -> Path | None:
        """The parquet file of this shard: `<out>` unsharded, `<stem>.shard-I-of-N<suffix>` otherwise."""
        if self.parquet_out is None or self.shard.count == 1:
            return self.parquet_out
        out = self.parquet_out
        return out.with_name(f"{out.stem}.shard-{self.shard.index}-of-{self.shard.count}{out.suffix}")
