"""Kill the backfill at several points (SIGKILL, SIGINT) and rerun: nothing lost, nothing embedded twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from courier_core.embeddings_file import read_embeddings, validate_embeddings
from tests.backfill.conftest import (
    REPO_ROOT,
    backfill_command,
    cached_vectors,
    child_env,
    expected_vectors,
    run_backfill_cli,
)


def _parts(out: Path) -> int:
    return len(list(out.with_name(out.name + ".parts").glob("part-*.parquet")))


def _keys(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return client.dbsize()
    finally:
        client.close()


def _start(catalogue, repo, url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = backfill_command(catalogue, repo, "--redis", url, "--parquet-out", str(out), *extra)
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(proc: subprocess.Popen[str], condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"backfill finished before the kill point: {proc.communicate()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.005)


@pytest.mark.parametrize(
    ("point", "threshold"),
    [("parts", 1), ("parts", 4), ("redis_keys", 10)],
    ids=["after-1-part", "after-4-parts", "right-after-a-redis-write"],
)
def test_sigkill_then_rerun_completes_exactly_once(
    mixed_catalogue, onnx_model_repo, engine, redis_db, tmp_path, point, threshold
):
    out = tmp_path / "emb.parquet"
    # Throttled so the test can catch the run in the middle; the parts kill lands between chunks, the Redis
    # one right after a pipelined write (often before that chunk's part exists).
    rate = "40" if point == "parts" else "200"
    proc = _start(mixed_catalogue, onnx_model_repo, redis_db.url, out, "--max-items-per-s", rate)
    try:
        counter = (lambda: _parts(out)) if point == "parts" else (lambda: _keys(redis_db.url))
        _wait_for(proc, lambda: counter() >= threshold)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert not out.exists()  # never finalised, never truncated
    before = cached_vectors(redis_db.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert 0 < len(before) < len(mixed_catalogue.good)

    code, summary, stderr = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 1, stderr  # the corrupt and missing images only
    assert summary["embedded"] == len(mixed_catalogue.good) - len(before)  # nothing embedded twice
    assert summary["skipped_cached"] == len(before)
    assert summary["failed"]["image_decode_error"]["count"] == len(mixed_catalogue.corrupt)

    expected = expected_vectors(engine, mixed_catalogue, mixed_catalogue.good)
    after = cached_vectors(redis_db.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert sorted(after) == sorted(mixed_catalogue.good)
    for item_id in mixed_catalogue.good:
        np.testing.assert_allclose(after[item_id], expected[item_id], rtol=1e-5, atol=1e-6)
        if item_id in before:  # written once, by the killed run, untouched since
            np.testing.assert_array_equal(after[item_id], before[item_id])
    emb = read_embeddings(out)
    validate_embeddings(emb, mixed_catalogue.good)  # each exactly once
    assert len(emb.item_ids) == len(mixed_catalogue.good)
    for item_id, row in zip(emb.item_ids, emb.matrix, strict=True):
        np.testing.assert_allclose(row, expected[item_id], rtol=1e-5, atol=1e-6)


def test_sigint_stops_cleanly_and_the_rerun_finishes(
    clean_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    out = tmp_path / "emb.parquet"
    proc = _start(clean_catalogue, onnx_model_repo, redis_db.url, out, "--max-items-per-s", "40")
    try:
        _wait_for(proc, lambda: _parts(out) >= 2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert 0 < summary["embedded"] < len(clean_catalogue.good)
    assert not out.exists()

    code, rerun, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 0
    assert rerun["embedded"] + summary["embedded"] == len(clean_catalogue.good)
    validate_embeddings(read_embeddings(out), clean_catalogue.good)


def test_redis_dying_mid_run_fails_loudly_and_the_rerun_restores_everything(
    mixed_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    """Writes are never silently dropped; after a restart (Redis empty, parts kept) the rerun refills Redis
    from scratch and the parquet file still holds every item once."""
    out = tmp_path / "emb.parquet"
    proc = _start(mixed_catalogue, onnx_model_repo, redis_db.url, out, "--max-items-per-s", "40")
    try:
        _wait_for(proc, lambda: _parts(out) >= 2)
        redis_db.kill()
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        redis_db.start()
    assert proc.returncode == 2
    assert "Redis" in stderr and "failed" in stderr
    assert _parts(out) >= 2 and not out.exists()

    code, summary, stderr = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 1, stderr
    assert summary["embedded"] == len(mixed_catalogue.good)  # Redis lost everything: all written again
    cached = cached_vectors(redis_db.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(mixed_catalogue.good)
    emb = read_embeddings(out)
    validate_embeddings(emb, mixed_catalogue.good)
    assert len(emb.item_ids) == len(mixed_catalogue.good)
