"""Image sources other than local files, the process decode pool, and progress lines off a terminal."""

from __future__ import annotations

import asyncio
import functools
import http.server
import io
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from courier_core.embeddings_file import read_embeddings, validate_embeddings
from service.backfill import BackfillConfig, run_backfill
from tests.backfill.conftest import (
    REPO_ROOT,
    CatalogueDir,
    backfill_command,
    child_env,
    expected_vectors,
    run_backfill_cli,
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_catalogue(mixed_catalogue, tmp_path: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """A catalogue whose images are http URLs of a local server; two URLs answer 404."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(mixed_catalogue.root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = pd.read_parquet(mixed_catalogue.root / "items.parquet")
    items = items[items["item_id"].isin(mixed_catalogue.good[:10])].reset_index(drop=True)
    ok = items["item_id"].tolist()
    items["image"] = [f"{base}/{path}" for path in items["image"]]
    gone = pd.DataFrame({"item_id": ["gone-1", "gone-2"], "image": [f"{base}/nope-{k}.jpg" for k in (1, 2)]})
    root = tmp_path / "urls"
    root.mkdir()
    pd.concat([items[["item_id", "image"]], gone]).to_parquet(root / "items.parquet", index=False)
    yield root, ok, ["gone-1", "gone-2"]
    server.shutdown()
    server.server_close()


def test_images_by_url_and_process_pool(http_catalogue, mixed_catalogue, onnx_model_repo, engine, tmp_path):
    """URLs go through the service's fetcher: a local http server is fetched only once allow-listed."""
    root, ok, gone = http_catalogue
    out = tmp_path / "emb.parquet"
    config = BackfillConfig(
        data_dir=root,
        model=onnx_model_repo.root,
        name=onnx_model_repo.name,
        parquet_out=out,
        batch_size=4,
        chunk_size=5,
        decode_workers=2,
        decode_pool="process",
        progress="log",
        log_every_s=0.0,
        fetch_allow_hosts=("127.0.0.0/8",),
        fetch_allow_http=("127.0.0.1",),
    )
    stream = io.StringIO()
    summary = asyncio.run(run_backfill(config, stream=stream))
    assert summary.embedded == len(ok)
    assert summary.failed["fetch_error"].count == 2
    assert sorted(summary.failed["fetch_error"].first_item_ids) == gone
    assert "items/s" in stream.getvalue() and "ETA" in stream.getvalue()
    emb = read_embeddings(out)
    validate_embeddings(emb, ok)
    expected = expected_vectors(engine, mixed_catalogue, emb.item_ids)
    np.testing.assert_allclose(emb.matrix, np.stack([expected[i] for i in emb.item_ids]), atol=1e-6)


def test_urls_follow_the_service_fetch_rules(http_catalogue, onnx_model_repo, tmp_path):
    """Without an allow-list, plain http and a loopback address are refused, as the service refuses them."""
    root, ok, gone = http_catalogue
    catalogue = CatalogueDir(root, ok, [], gone)
    code, summary, _ = run_backfill_cli(
        catalogue, onnx_model_repo, "--parquet-out", str(tmp_path / "e.parquet")
    )
    assert code == 1
    assert summary["embedded"] == 0
    assert summary["failed"]["fetch_refused"]["count"] == len(ok) + len(gone)

    code, summary, stderr = run_backfill_cli(
        catalogue,
        onnx_model_repo,
        "--parquet-out",
        str(tmp_path / "e2.parquet"),
        "--fetch-allow-hosts",
        "127.0.0.0/8",
        "--fetch-allow-http",
        "127.0.0.1",
    )
    assert code == 1, stderr  # the two 404s
    assert summary["embedded"] == len(ok) and summary["failed"]["fetch_error"]["count"] == len(gone)


def test_parquet_only_runs_resume_from_parts_and_from_the_finished_file(
    clean_catalogue, onnx_model_repo, tmp_path
):
    """Without Redis the parts and the finished file are the record: reruns embed only what they lack."""
    out = tmp_path / "emb.parquet"
    command = backfill_command(
        clean_catalogue, onnx_model_repo, "--parquet-out", str(out), "--max-items-per-s", "40"
    )
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    parts = out.with_name(out.name + ".parts")
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("part-*.parquet"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    first = json.loads(stdout.splitlines()[-1])

    code, second, _ = run_backfill_cli(
        clean_catalogue, onnx_model_repo, "--parquet-out", str(out), "--limit", "20"
    )
    assert code == 0
    assert second["skipped_cached"] == first["embedded"]
    assert second["embedded"] == 20 - first["embedded"]
    assert len(read_embeddings(out).item_ids) == 20

    code, third, _ = run_backfill_cli(clean_catalogue, onnx_model_repo, "--parquet-out", str(out))
    assert code == 0
    assert third["skipped_cached"] == 20  # from the finished file of the same version and shard
    assert third["embedded"] == len(clean_catalogue.good) - 20
    emb = read_embeddings(out)
    validate_embeddings(emb, clean_catalogue.good)
    assert len(emb.item_ids) == len(clean_catalogue.good)
