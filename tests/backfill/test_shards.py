"""Sharding: stable across processes, and N shards cover the catalogue exactly once (Redis and parquet)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from courier_core.embeddings_file import read_embeddings
from service.backfill.sharding import Shard, parse_shard, shard_of
from tests.backfill.conftest import cached_vectors, run_backfill_cli


def test_shard_of_is_a_fixed_function_of_the_id():
    # Literal values: a change here would reshuffle every running Indexed Job.
    assert [shard_of(x, 3) for x in ("a", "item-1", "12345")] == [2, 1, 1]
    assert shard_of("item-1", 1000) == 548
    other = subprocess.run(  # another interpreter, another hash salt
        [
            sys.executable,
            "-c",
            "from service.backfill.sharding import shard_of; print(shard_of('item-1', 1000))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == "548"


def test_shards_partition_ids():
    ids = [f"sku-{k}" for k in range(3000)]
    shards = [Shard(i, 4) for i in range(4)]
    owners = [[s for s in shards if s.contains(item_id)] for item_id in ids]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(1 for o in owners if o[0] == s) for s in shards]
    assert min(sizes) > 600  # roughly balanced


def test_parse_shard_reads_the_indexed_job_completion_index():
    assert parse_shard("2/5") == Shard(2, 5)
    assert parse_shard("auto/5", {"JOB_COMPLETION_INDEX": "4"}) == Shard(4, 5)
    assert parse_shard(None) == Shard(0, 1)
    for bad in ("5/5", "1", "x/2", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad, {})
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        parse_shard("auto/3", {})


def test_three_shards_cover_the_catalogue_exactly_once(
    clean_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    out = tmp_path / "emb.parquet"
    embedded, parquet_ids = [], []
    for index in range(3):
        code, summary, stderr = run_backfill_cli(
            clean_catalogue,
            onnx_model_repo,
            "--redis",
            redis_db.url,
            "--shard",
            f"{index}/3",
            "--parquet-out",
            str(out),
        )
        assert code == 0, stderr
        assert summary["shard"] == f"{index}/3"
        embedded.append(summary["embedded"])
        shard_file = tmp_path / f"emb.shard-{index}-of-3.parquet"
        parquet_ids.append(set(read_embeddings(shard_file).item_ids))
    assert all(embedded), "a shard got no items (30 items over 3 shards)"
    assert sum(embedded) == len(clean_catalogue.good)
    union = set().union(*parquet_ids)
    assert union == set(clean_catalogue.good)
    assert sum(len(s) for s in parquet_ids) == len(union)  # pairwise disjoint
    cached = cached_vectors(redis_db.url, engine.version, clean_catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(clean_catalogue.good)
