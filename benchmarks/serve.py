"""Service benchmark: a real `python -m service` (with a real redis-server) under a lean HTTP/1.1 load.

Reports items/s and p50/p95/p99 request latency for cache-miss /embed (real JPEGs), cache-hit /embed and
lookups of 64 ids; in the same run raw onnxruntime throughput at the batch size the batcher formed and
decode-only throughput, the pipeline limit 1/(1/decode + 1/model), and whether the DESIGN §7 targets hold.

    .venv/bin/python benchmarks/serve.py --model models --name courier-demo --images 2048
    .venv/bin/python benchmarks/serve.py --images 64 --lookups 50   # quick check with the test fixture model

The load generator (benchmarks/loadgen.py) sends pre-built request bytes over keep-alive connections, so
that it takes little of the CPU it shares with the service. Loopback only; every phase is bounded in count
and time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.loadgen import build_request, run_phase  # noqa: E402
from courier_core.images import decode_image  # noqa: E402
from courier_core.model_repo import load_model_dir  # noqa: E402
from tests.fixtures.redis import RedisServer, free_port  # noqa: E402

LOOKUP_IDS = 64


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--model", type=Path, help="model repository (or version dir); default: build the tiny test model"
    )
    p.add_argument("--name", help="model name inside the repository")
    p.add_argument("--images", type=int, default=1024, help="distinct JPEGs for the cache-miss phase")
    p.add_argument("--image-px", type=int, default=320, help="JPEG width (height is 3/4 of it)")
    p.add_argument("--items-per-request", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=8, help="concurrent /embed requests")
    p.add_argument("--lookups", type=int, default=2000, help="lookup requests of 64 ids")
    p.add_argument("--lookup-concurrency", type=int, default=8)
    p.add_argument("--phase-timeout-s", type=float, default=120.0, help="upper bound on each phase")
    p.add_argument(
        "--model-seconds", type=float, default=3.0, help="time spent on raw model and decode rates"
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args()


def make_jpegs(count: int, width: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    height = width * 3 // 4
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(count):
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack([127 + 100 * np.sin(gx / (20 + i % 17) + phase[c] + gy / 37) for c in range(3)], -1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def model_rate(onnx_path: Path, size: int, batch: int, seconds: float) -> float:
    session = ort.InferenceSession(str(onnx_path), providers=ort.get_available_providers())
    images = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
    session.run(None, {"images": images})
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {"images": images})
        done += batch
    return done / (time.perf_counter() - started)


def decode_rate(jpegs: list[bytes], size: int, threads: int, seconds: float) -> float:
    done, started = 0, time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        while time.perf_counter() - started < seconds:
            done += sum(1 for _ in pool.map(lambda b: decode_image(b, size), jpegs[:256]))
    return done / (time.perf_counter() - started)


def scrape(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    values = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = sample.value
    return values


def start_service(
    model: Path, name: str | None, redis_url: str, log_path: Path
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {"COURIER_MODEL_REPOSITORY": str(model), "COURIER_HOST": "127.0.0.1", "COURIER_PORT": str(port)}
    env |= {"REDIS_URL": redis_url, "COURIER_LOG_LEVEL": "warning"}
    if name:
        env["COURIER_MODEL_NAME"] = name
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"service exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"service not ready in 120 s:\n{log_path.read_text()}")


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="courier-bench-"))
    model, name = args.model, args.name
    if model is None:
        from tests.fixtures.models import write_model_repo

        built = write_model_repo(workdir / "repo")
        model, name = built.root, built.name
    checked = load_model_dir(model, name)
    size = checked.manifest.input_size
    print(f"model {checked.manifest.name}/{checked.manifest.version} dim {checked.manifest.dim} input {size}")
    jpegs = make_jpegs(args.images, args.image_px)
    print(
        f"{len(jpegs)} JPEGs of {args.image_px}x{args.image_px * 3 // 4}, mean {np.mean([len(j) for j in jpegs]) / 1024:.0f} KiB"
    )

    redis = RedisServer(free_port())
    redis.start()
    process, url = start_service(model, name, redis.url, workdir / "service.log")
    assert url.startswith("http://127.0.0.1:"), "the load generator only talks to loopback"
    authority = url.removeprefix("http://")
    host, port = "127.0.0.1", int(authority.rsplit(":", 1)[1])
    try:
        per = args.items_per_request
        ids = [f"bench-{i}" for i in range(len(jpegs))]
        embed_bodies = [
            build_request(
                authority,
                "/embed",
                {
                    "items": [
                        {"item_id": ids[j], "image_b64": base64.b64encode(jpegs[j]).decode()}
                        for j in range(i, min(i + per, len(jpegs)))
                    ],
                    "encoding": "base64",
                },
                min(per, len(jpegs) - i),
            )
            for i in range(0, len(jpegs), per)
        ]
        before = scrape(url)
        miss = asyncio.run(run_phase(host, port, embed_bodies, args.concurrency, args.phase_timeout_s))
        after = scrape(url)
        batches = after["courier_batch_size_count"] - before["courier_batch_size_count"]
        batch = (after["courier_batch_size_sum"] - before["courier_batch_size_sum"]) / max(batches, 1)
        hit = asyncio.run(run_phase(host, port, embed_bodies, args.concurrency, args.phase_timeout_s))
        rng = np.random.default_rng(1)
        per_lookup = min(LOOKUP_IDS, len(ids))
        lookup_bodies = [
            build_request(
                authority,
                "/embeddings:lookup",
                {"item_ids": [str(i) for i in rng.choice(ids, per_lookup, replace=False)]},
                per_lookup,
            )
            for _ in range(args.lookups)
        ]
        lookup = asyncio.run(
            run_phase(host, port, lookup_bodies, args.lookup_concurrency, args.phase_timeout_s)
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        redis.kill()

    formed = max(1, round(batch))
    model_ips = model_rate(checked.onnx_path, size, formed, args.model_seconds)
    threads = min(8, os.cpu_count() or 1)
    decode_ips = decode_rate(jpegs, size, threads, args.model_seconds)
    limit = 1 / (1 / decode_ips + 1 / model_ips)
    figures = {
        "cache_miss": miss,
        "cache_hit": hit,
        "lookup_64": lookup,
        "batch_size_formed": batch,
        "model_items_per_s": model_ips,
        "decode_items_per_s": decode_ips,
        "decode_threads": threads,
        "pipeline_limit_items_per_s": limit,
        "miss_ratio_to_limit": miss["items_per_s"] / limit,
    }
    targets = {
        "cache-miss >= 0.8x pipeline limit": figures["miss_ratio_to_limit"] >= 0.8,
        "lookups >= 20000 items/s": lookup["items_per_s"] >= 20_000,
        "lookup p99 < 10 ms": lookup["p99_ms"] < 10,
    }
    for label, phase in (
        ("cache-miss /embed", miss),
        ("cache-hit /embed", hit),
        ("lookup of 64 ids", lookup),
    ):
        print(
            f"{label:18s} {phase['items_per_s']:10.0f} items/s  p50 {phase['p50_ms']:7.2f} ms  "
            f"p95 {phase['p95_ms']:7.2f} ms  p99 {phase['p99_ms']:7.2f} ms  status {phase['status']}"
            f"  item errors {phase['item_errors']}"
        )
    print(f"batch size formed  {batch:.1f} (model measured at {formed})")
    print(f"raw onnxruntime    {model_ips:10.0f} items/s at batch {formed}")
    print(f"decode only        {decode_ips:10.0f} items/s ({threads} threads)")
    print(
        f"pipeline limit     {limit:10.0f} items/s; cache-miss is {figures['miss_ratio_to_limit']:.2f}x of it"
    )
    for label, met in targets.items():
        print(f"target {label}: {'MET' if met else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(figures | {"targets": targets}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
