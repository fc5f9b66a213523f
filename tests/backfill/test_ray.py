"""`--engine ray` on a local Ray instance: same vectors, same keys, same parquet as the local engine, into
a standalone Redis and into a Redis Cluster (the actors write through the cluster cache).

Marked `ray`; `make test` installs the `ray` extra and runs them (skipped where Ray is not installed). A
local Ray start costs tens of seconds on 2 cores. Alone: `.venv/bin/python -m pytest -q -m ray tests/backfill`.
"""

from __future__ import annotations

import numpy as np
import pytest

from courier_core.embeddings_file import read_embeddings, validate_embeddings
from tests.backfill.conftest import cached_vectors, expected_vectors, run_backfill_cli, run_backfill_process
from tests.backfill.test_cluster import cluster_vectors

pytest.importorskip("ray")
pytest.importorskip("ray.data")

pytestmark = pytest.mark.ray


def test_ray_engine_backfills_like_the_local_engine(
    mixed_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    out = tmp_path / "ray.parquet"
    code, summary, stderr = run_backfill_process(  # Ray starts its own processes: keep them out of pytest's
        mixed_catalogue,
        onnx_model_repo,
        "--engine",
        "ray",
        "--redis",
        redis_db.url,
        "--parquet-out",
        str(out),
        "--chunk-size",
        "8",
        "--progress",
        "off",
        timeout=300,
    )
    assert code == 1, stderr[-3000:]
    assert summary["engine"] == "ray"
    assert summary["embedded"] == len(mixed_catalogue.good)
    assert summary["failed"]["image_decode_error"]["count"] == len(mixed_catalogue.corrupt)
    assert summary["failed"]["image_not_found"]["count"] == len(mixed_catalogue.missing)

    expected = expected_vectors(engine, mixed_catalogue, mixed_catalogue.good)
    cached = cached_vectors(redis_db.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(mixed_catalogue.good)
    for item_id, vector in expected.items():
        np.testing.assert_allclose(cached[item_id], vector, rtol=1e-5, atol=1e-6)
    emb = read_embeddings(out)
    validate_embeddings(emb, mixed_catalogue.good)
    assert len(emb.item_ids) == len(mixed_catalogue.good)

    code, again, _ = run_backfill_cli(mixed_catalogue, onnx_model_repo, "--redis", redis_db.url)
    assert again["embedded"] == 0  # the local engine sees the Ray run's keys
    assert again["skipped_cached"] == len(mixed_catalogue.good)


def test_ray_actors_write_into_a_redis_cluster(mixed_catalogue, onnx_model_repo, engine, redis_cluster):
    code, summary, stderr = run_backfill_process(
        mixed_catalogue, onnx_model_repo, "--engine", "ray", "--redis", redis_cluster.url,
        "--redis-mode", "cluster", "--chunk-size", "8", "--progress", "off", timeout=300,
    )  # fmt: skip
    assert code == 1, stderr[-3000:]  # the corrupt and missing images only
    assert summary["engine"] == "ray" and summary["embedded"] == len(mixed_catalogue.good)

    expected = expected_vectors(engine, mixed_catalogue, mixed_catalogue.good)
    cached = cluster_vectors(redis_cluster.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(mixed_catalogue.good)
    for item_id, vector in expected.items():
        np.testing.assert_allclose(cached[item_id], vector, rtol=1e-5, atol=1e-6)

    code, again, _ = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_cluster.url, "--redis-mode", "cluster"
    )
    assert again["embedded"] == 0 and again["skipped_cached"] == len(mixed_catalogue.good)
