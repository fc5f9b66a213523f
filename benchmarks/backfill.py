"""Backfill benchmark: `service.backfill` over real JPEG files into a real redis-server, measured against the
pipeline limit of the same machine in the same run (target: backfill >= 0.9x the limit).

Measured, in order, on one catalogue of distinct JPEGs:
  decode rate  images/s of the shared decode function (read file + decode + resize) on the same pool the
               backfill uses (--decode-workers threads);
  model rate   images/s of a raw onnxruntime session (all cores) on full batches of --batch-size;
  limit        1 / (1/decode + 1/model): what one machine can do when decode and inference share its cores;
  backfill     items embedded per second of the backfill pipeline (cache checks, decode, inference, Redis
               writes; model load excluded) and of the whole command.

    .venv/bin/python -m benchmarks.backfill --model models --name courier-demo --images 5000
    .venv/bin/python -m benchmarks.backfill --images 300            # quick check, tiny test model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

from benchmarks.workload import make_jpegs, model_rate
from courier_core.model_repo import load_model_dir
from harness.redis import RedisServer, free_port
from service.backfill.config import BackfillConfig
from service.backfill.run import run_backfill
from service.runtime.decoding import DecodeLimits, DecodePool, default_decode_workers

TARGET_RATIO = 0.9


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--model", type=Path, help="model repository (or version dir); default: the tiny test model"
    )
    p.add_argument("--name", help="model name inside the repository")
    p.add_argument("--images", type=int, default=5000, help="distinct JPEG files in the catalogue")
    p.add_argument("--image-px", type=int, default=320, help="JPEG width (height is 3/4 of it)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--decode-workers", type=int, default=default_decode_workers())
    p.add_argument("--parquet", action="store_true", help="also write the parquet output during the backfill")
    p.add_argument("--model-seconds", type=float, default=5.0, help="time spent measuring the raw model")
    p.add_argument("--workdir", type=Path, help="keep the catalogue here (reused when it has enough images)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args()


def make_catalogue(root: Path, count: int, width: int) -> None:
    """`count` distinct photo-like JPEGs (smooth waves plus noise) and an items.parquet naming them."""
    items = root / "items.parquet"
    if items.is_file() and len(pd.read_parquet(items, columns=["item_id"])) >= count:
        return
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids, paths = [], []
    for i, jpeg in enumerate(make_jpegs(count, width)):
        rel = f"images/{i:07d}.jpg"
        (root / rel).write_bytes(jpeg)
        ids.append(f"sku-{i:07d}")
        paths.append(rel)
    n = len(ids)
    pd.DataFrame({"item_id": ids, "image": paths, "title": [""] * n, "category": [""] * n}).to_parquet(
        items, index=False
    )


def decode_rate(root: Path, size: int, workers: int, batch_size: int) -> tuple[float, float]:
    """Images/s of read + decode + resize over the whole catalogue, on the backfill's own decode pool,
    and CPU ms per image."""
    items = pd.read_parquet(root / "items.parquet")
    sources = [root / p for p in items["image"]]

    async def decode_all() -> int:
        pool = DecodePool(workers, DecodeLimits(size), kind="thread")
        try:
            batches = [sources[i : i + batch_size] for i in range(0, len(sources), batch_size)]
            decoded = await asyncio.gather(*(pool.decode(batch) for batch in batches))
        finally:
            pool.close()
        return sum(isinstance(image, np.ndarray) for batch in decoded for image in batch)

    started, cpu = time.perf_counter(), time.process_time()
    done = asyncio.run(decode_all())
    return done / (time.perf_counter() - started), 1000 * (time.process_time() - cpu) / done


def resolve_model(args: argparse.Namespace, scratch: Path) -> tuple[Path, str | None]:
    if args.model is not None:
        return args.model, args.name
    from harness.models import write_model_repo

    repo = write_model_repo(scratch / "models")
    return repo.root, repo.name


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="courier-backfill-bench-") as tmp:
        scratch = Path(tmp)
        data = args.workdir or scratch / "catalogue"
        print(f"catalogue: {args.images} JPEGs of {args.image_px}px in {data}", flush=True)
        make_catalogue(data, args.images, args.image_px)
        model_path, name = resolve_model(args, scratch)
        model = load_model_dir(model_path, name)
        size = model.manifest.input_size
        print(
            f"model: {model.manifest.name} {model.manifest.version} ({size}px, {model.manifest.dim}-d)",
            flush=True,
        )

        decode, decode_cpu = decode_rate(data, size, args.decode_workers, args.batch_size)
        print(
            f"decode only: {decode:,.0f} images/s ({args.decode_workers} threads, {decode_cpu:.2f} CPU ms each)"
        )
        session = ort.InferenceSession(str(model.onnx_path), providers=ort.get_available_providers())
        raw, raw_cpu = model_rate(session, size, args.batch_size, args.model_seconds)
        print(f"raw onnxruntime: {raw:,.0f} images/s (batch {args.batch_size}, {raw_cpu:.2f} CPU ms each)")
        limit = 1.0 / (1.0 / decode + 1.0 / raw)

        redis_server = RedisServer(free_port())
        redis_server.start()
        try:
            config = BackfillConfig(
                data_dir=data,
                model=model_path,
                name=name,
                redis_url=redis_server.url,
                parquet_out=scratch / "out.parquet" if args.parquet else None,
                batch_size=args.batch_size,
                chunk_size=args.chunk_size,
                decode_workers=args.decode_workers,
                progress="off",
            )
            cpu = time.process_time()
            summary = asyncio.run(run_backfill(config))
            backfill_cpu = 1000 * (time.process_time() - cpu) / max(summary.embedded, 1)
        finally:
            redis_server.kill()

    pipeline_rate = summary.embedded / summary.pipeline_s
    figures = {
        "images": args.images,
        "image_px": args.image_px,
        "model": f"{model.manifest.name}/{model.manifest.version}",
        "input_size": size,
        "batch_size": args.batch_size,
        "decode_workers": args.decode_workers,
        "decode_images_per_s": round(decode, 1),
        "model_images_per_s": round(raw, 1),
        "pipeline_limit_items_per_s": round(limit, 1),
        "backfill_items_per_s": round(pipeline_rate, 1),
        "backfill_end_to_end_items_per_s": round(summary.items_per_s, 1),
        "embedded": summary.embedded,
        "failed": summary.failed_count,
        "ratio": round(pipeline_rate / limit, 3),
        "cpu_ms_per_item": {
            "decode": round(decode_cpu, 3),
            "model": round(raw_cpu, 3),
            "backfill": round(backfill_cpu, 3),
        },
        "target_ratio": TARGET_RATIO,
        "target_met": pipeline_rate >= TARGET_RATIO * limit and summary.embedded == args.images,
    }
    print(
        f"pipeline limit 1/(1/decode + 1/model): {limit:,.0f} items/s\n"
        f"backfill: {summary.embedded} items in {summary.pipeline_s:.2f} s = {pipeline_rate:,.0f} items/s "
        f"({summary.items_per_s:,.0f} items/s including model load and start-up, {summary.wall_s:.2f} s)\n"
        f"CPU per item: backfill {backfill_cpu:.2f} ms vs decode + model {decode_cpu + raw_cpu:.2f} ms "
        f"(overhead of the pipeline itself, independent of other load on the machine)\n"
        f"ratio {figures['ratio']:.2f} (target >= {TARGET_RATIO}): {'MET' if figures['target_met'] else 'NOT MET'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
