"""The backfill into a real Redis Cluster: SIGKILL then resume and promote; a primary failing over mid-run.
Either way every good item ends up cached once, correct, and in the parquet file exactly once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import redis

from courier_core.cache_keys import bytes_to_vector, current_version_key, embedding_key, version_info_key
from courier_core.embeddings_file import read_embeddings, validate_embeddings
from harness.redis_cluster import RedisClusterServer
from tests.backfill.conftest import (
    REPO_ROOT,
    CatalogueDir,
    backfill_command,
    child_env,
    expected_vectors,
    run_backfill_cli,
    run_backfill_process,
)


def cluster_vectors(url: str, version: str, ids: list[str], dim: int) -> dict[str, np.ndarray]:
    client = redis.RedisCluster.from_url(url)
    try:
        pipe = client.pipeline()
        for item_id in ids:
            pipe.get(embedding_key(version, item_id))
        values = pipe.execute()
    finally:
        client.close()
    return {i: v for i, raw in zip(ids, values, strict=True) if (v := bytes_to_vector(raw, dim)) is not None}


def parts(out: Path) -> int:
    return len(list(out.with_name(out.name + ".parts").glob("part-*.parquet")))


def start(catalogue: CatalogueDir, repo, url: str, out: Path, *extra: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    command = backfill_command(
        catalogue, repo, "--redis", url, "--redis-mode", "cluster", "--parquet-out", str(out), *extra
    )
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_parts(proc: subprocess.Popen[str], out: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while parts(out) < count:
        assert proc.poll() is None, f"backfill finished before the kill point: {proc.communicate()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.005)


def check_complete(catalogue: CatalogueDir, engine, url: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    expected = expected_vectors(engine, catalogue, catalogue.good)
    cached = cluster_vectors(url, engine.version, catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(catalogue.good)
    emb = read_embeddings(out)
    validate_embeddings(emb, catalogue.good)  # each exactly once
    assert len(emb.item_ids) == len(catalogue.good)
    for item_id, row in zip(emb.item_ids, emb.matrix, strict=True):
        np.testing.assert_allclose(row, expected[item_id], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cached[item_id], expected[item_id], rtol=1e-5, atol=1e-6)


def test_sigkill_then_resume_and_promote_in_a_cluster(
    clean_catalogue, onnx_model_repo, engine, redis_cluster: RedisClusterServer, tmp_path
):
    out = tmp_path / "emb.parquet"
    proc = start(
        clean_catalogue, onnx_model_repo, redis_cluster.url, out, "--max-items-per-s", "40", "--promote"
    )
    try:
        wait_for_parts(proc, out, 2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    before = cluster_vectors(redis_cluster.url, engine.version, clean_catalogue.all_ids, engine.dim)
    assert 0 < len(before) < len(clean_catalogue.good)

    code, summary, stderr = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_cluster.url, "--redis-mode", "cluster",
        "--parquet-out", str(out), "--promote",
    )  # fmt: skip
    assert code == 0, stderr
    assert summary["embedded"] == len(clean_catalogue.good) - len(before)  # nothing embedded twice
    assert summary["skipped_cached"] == len(before)
    assert summary["promoted"] is True
    check_complete(clean_catalogue, engine, redis_cluster.url, out)
    after = cluster_vectors(redis_cluster.url, engine.version, list(before), engine.dim)
    for item_id, vector in before.items():  # written once, by the killed run, untouched since
        np.testing.assert_array_equal(after[item_id], vector)

    client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        assert client.get(current_version_key(onnx_model_repo.name)) == engine.version.encode()
        info = {k.decode(): v.decode() for k, v in client.hgetall(version_info_key(engine.version)).items()}
    finally:
        client.close()
    assert info["name"] == onnx_model_repo.name and info["version"] == engine.version
    assert info["dim"] == str(engine.dim) and info["format"] == "float32-le" and info["created_at"]


def test_a_failover_mid_run_loses_and_duplicates_nothing(
    mixed_catalogue, onnx_model_repo, engine, redis_cluster: RedisClusterServer, tmp_path
):
    """The primary holding part of the keys dies mid-run; its replica takes over and the run carries on.
    Writes the old primary acknowledged but had not replicated would be missing: the rerun embeds exactly
    those."""
    master = redis_cluster.victim()
    redis_cluster.add_replica(master)
    out = tmp_path / "emb.parquet"
    proc = start(
        mixed_catalogue,
        onnx_model_repo,
        redis_cluster.url,
        out,
        "--max-items-per-s",
        "40",
        "--redis-failover-wait",
        "30",
    )
    try:
        wait_for_parts(proc, out, 2)
        master.kill()
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr  # finished: only the bad images failed
    assert f"failed at node 127.0.0.1:{master.port}" in stderr  # it did meet the dead primary, and waited
    assert out.exists()
    after = cluster_vectors(redis_cluster.url, engine.version, mixed_catalogue.all_ids, engine.dim)

    code, summary, stderr = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_cluster.url, "--redis-mode", "cluster",
        "--parquet-out", str(out),
    )  # fmt: skip
    assert code == 1, stderr
    assert summary["embedded"] == len(mixed_catalogue.good) - len(after)
    check_complete(mixed_catalogue, engine, redis_cluster.url, out)


def test_the_wrong_redis_mode_is_a_clear_error(
    clean_catalogue, onnx_model_repo, redis_cluster: RedisClusterServer, redis_db
):
    code, _, stderr = run_backfill_process(clean_catalogue, onnx_model_repo, "--redis", redis_cluster.url)
    assert code == 2
    assert "this Redis is a cluster node: set COURIER_REDIS_MODE=cluster / --redis-mode cluster" in stderr
    code, _, stderr = run_backfill_process(  # a real process: the slot-map warning goes to its stderr
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--redis-mode", "cluster"
    )
    assert code == 2
    assert "Cluster mode is not enabled on this node" in stderr and "cannot reach Redis" in stderr
