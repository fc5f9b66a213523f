"""The backfill command against a real redis-server, real images and the real ONNX engine."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
import redis

from courier_core.cache_keys import (
    DEFAULT_TTL_SECONDS,
    current_version_key,
    embedding_key,
    version_info_key,
)
from courier_core.embeddings_file import read_embeddings, validate_embeddings
from tests.backfill.conftest import cached_vectors, expected_vectors, run_backfill_cli
from tests.fixtures.service_app import app_settings, running_app


def test_good_items_cached_with_the_service_vector_and_bad_ones_reported(
    mixed_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    out = tmp_path / "emb.parquet"
    code, summary, stderr = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 1, stderr  # some items failed
    assert summary["embedded"] == len(mixed_catalogue.good)
    assert summary["skipped_cached"] == 0
    assert summary["failed"]["image_decode_error"]["count"] == len(mixed_catalogue.corrupt)
    assert sorted(summary["failed"]["image_decode_error"]["first_item_ids"]) == sorted(
        mixed_catalogue.corrupt
    )
    assert sorted(summary["failed"]["image_not_found"]["first_item_ids"]) == sorted(mixed_catalogue.missing)
    assert summary["wall_s"] > 0 and summary["items_per_s"] > 0

    expected = expected_vectors(engine, mixed_catalogue, mixed_catalogue.good)
    cached = cached_vectors(redis_db.url, engine.version, mixed_catalogue.all_ids, engine.dim)
    assert sorted(cached) == sorted(mixed_catalogue.good)
    for item_id, vector in expected.items():
        np.testing.assert_allclose(cached[item_id], vector, rtol=1e-5, atol=1e-6)
    client = redis.Redis.from_url(redis_db.url)
    ttl = client.ttl(embedding_key(engine.version, mixed_catalogue.good[0]))
    assert DEFAULT_TTL_SECONDS - 120 < ttl <= DEFAULT_TTL_SECONDS

    emb = read_embeddings(out)
    validate_embeddings(emb, mixed_catalogue.good, source=str(out))
    assert len(emb.item_ids) == len(mixed_catalogue.good)
    assert emb.metadata["model"]["version"] == engine.version
    for item_id, row in zip(emb.item_ids, emb.matrix, strict=True):
        np.testing.assert_allclose(row, expected[item_id], rtol=1e-5, atol=1e-6)
    assert not out.with_name(out.name + ".parts").exists()

    code, again, _ = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 1  # the bad items are still bad
    assert again["embedded"] == 0
    assert again["skipped_cached"] == len(mixed_catalogue.good)
    validate_embeddings(read_embeddings(out), mixed_catalogue.good)


def test_parquet_copies_vectors_already_in_redis_without_embedding(
    clean_catalogue, onnx_model_repo, engine, redis_db, tmp_path
):
    """Redis written but no part (a kill between the two, or an earlier Redis-only run): nothing re-embedded."""
    code, first, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--limit", "10"
    )
    assert code == 0 and first["embedded"] == 10
    out = tmp_path / "emb.parquet"
    code, second, stderr = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--parquet-out", str(out)
    )
    assert code == 0, stderr
    assert second["embedded"] == len(clean_catalogue.good) - 10
    assert second["skipped_cached"] == 10
    emb = read_embeddings(out)
    validate_embeddings(emb, clean_catalogue.good)
    expected = expected_vectors(engine, clean_catalogue, emb.item_ids)
    np.testing.assert_allclose(
        emb.matrix, np.stack([expected[i] for i in emb.item_ids]), rtol=1e-5, atol=1e-6
    )


def test_overwrite_reembeds_everything(clean_catalogue, onnx_model_repo, redis_db):
    run_backfill_cli(clean_catalogue, onnx_model_repo, "--redis", redis_db.url)
    code, summary, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--overwrite"
    )
    assert code == 0
    assert summary["embedded"] == len(clean_catalogue.good)
    assert summary["skipped_cached"] == 0


def test_promote_moves_current_only_after_the_whole_catalogue(
    clean_catalogue, onnx_model_repo, engine, redis_db
):
    client = redis.Redis.from_url(redis_db.url)
    key = current_version_key(engine.manifest.name)
    client.set(key, "previous-version")

    code, first, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--shard", "0/2", "--promote"
    )
    assert code == 0
    assert first["promoted"] is False
    assert client.get(key) == b"previous-version"

    code, second, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--redis", redis_db.url, "--shard", "1/2", "--promote"
    )
    assert code == 0
    assert first["embedded"] + second["embedded"] == len(clean_catalogue.good)
    assert second["promoted"] is True
    assert client.get(key) == engine.version.encode()
    info = client.hgetall(version_info_key(engine.version))
    assert info[b"dim"] == str(engine.dim).encode() and info[b"name"] == engine.manifest.name.encode()


def test_promote_refuses_an_incomplete_catalogue(mixed_catalogue, onnx_model_repo, engine, redis_db):
    code, summary, _ = run_backfill_cli(
        mixed_catalogue, onnx_model_repo, "--redis", redis_db.url, "--promote"
    )
    assert code == 1
    assert summary["promoted"] is False
    assert redis.Redis.from_url(redis_db.url).get(current_version_key(engine.manifest.name)) is None


def test_clear_errors_for_bad_inputs(clean_catalogue, onnx_model_repo, redis_db, tmp_path):
    code, _, stderr = run_backfill_cli(clean_catalogue, onnx_model_repo)
    assert code == 2 and "nothing to write to" in stderr
    code, _, stderr = run_backfill_cli(clean_catalogue, onnx_model_repo, "--redis", "redis://127.0.0.1:1/0")
    assert code == 2 and "cannot reach Redis" in stderr
    broken = tmp_path / "models"
    shutil.copytree(onnx_model_repo.root, broken)
    (broken / onnx_model_repo.name / onnx_model_repo.version / "model.onnx").write_bytes(b"truncated")
    code, _, stderr = run_backfill_cli(
        clean_catalogue, type(onnx_model_repo)(broken, *astuple(onnx_model_repo)[1:]), "--redis", redis_db.url
    )
    assert code == 2 and "model.onnx" in stderr and "sha256" in stderr
    (tmp_path / "items.parquet").write_bytes(b"garbage")
    bad = type(clean_catalogue)(tmp_path, [], [], [])
    code, _, stderr = run_backfill_cli(bad, onnx_model_repo, "--redis", redis_db.url)
    assert code == 2 and "items.parquet" in stderr


def test_indexed_job_manifest_shards_by_completion_index():
    text = (Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "backfill-job.yaml").read_text()
    assert "completionMode: Indexed" in text
    completions = int(re.search(r"^  completions: (\d+)$", text, re.M).group(1))
    parallelism = int(re.search(r"^  parallelism: (\d+)$", text, re.M).group(1))
    shards = int(re.search(r"--shard=auto/(\d+)", text).group(1))
    assert completions == shards == parallelism
    assert "python" in text and "service.backfill" in text and "--promote" in text


def test_the_service_serves_what_the_backfill_wrote(clean_catalogue, onnx_model_repo, engine, redis_db):
    """Through the API: /embed answers backfilled items from the cache, and recomputing them gives the
    same vector."""
    code, _, stderr = run_backfill_cli(clean_catalogue, onnx_model_repo, "--redis", redis_db.url)
    assert code == 0, stderr
    backfilled = cached_vectors(redis_db.url, engine.version, clean_catalogue.good, engine.dim)
    items = pd.read_parquet(clean_catalogue.root / "items.parquet").set_index("item_id")
    ids = clean_catalogue.good[:6]
    body = [
        {
            "item_id": i,
            "image_b64": base64.b64encode(
                (clean_catalogue.root / items.loc[i, "image"]).read_bytes()
            ).decode(),
        }
        for i in ids
    ]
    settings = app_settings(onnx_model_repo.root, model_name=onnx_model_repo.name, redis_url=redis_db.url)

    async def embed_twice() -> tuple[dict, dict]:
        async with running_app(settings) as service:
            cached = await service.http.post("/embed", json={"items": body})
            fresh = await service.http.post("/embed", json={"items": body, "refresh": True})
        return cached.json(), fresh.json()

    cached, fresh = asyncio.run(embed_twice())
    assert cached["model"]["version"] == engine.version
    for item_id, from_cache, recomputed in zip(ids, cached["data"], fresh["data"], strict=True):
        assert from_cache["item_id"] == item_id and from_cache["cached"] is True
        np.testing.assert_array_equal(np.asarray(from_cache["embedding"], np.float32), backfilled[item_id])
        assert recomputed["cached"] is False
        np.testing.assert_allclose(
            np.asarray(recomputed["embedding"], np.float32), backfilled[item_id], atol=1e-6
        )
