"""GPU training benchmark: one epoch of COURIER with a ResNet-50-sized backbone under bf16 autocast,
without and with gradient checkpointing, through the real training loop (`training.pretrain.loop.train`).
Prints page views/s, distinct images/s and torch.cuda.max_memory_allocated for each. Under 3 minutes
on one H100/H200 (a synthetic dataset is written first unless --data is given).

    python benchmarks/train_gpu.py                      # synthetic dataset, resnet50 at 128 px
    python benchmarks/train_gpu.py --data /tmp/worlds/default --image-size 160 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image


def synthetic_dataset(
    root: Path, items: int, users: int, requests_per_user: int, page: int, seed: int = 0
) -> Path:
    """Items with coloured-block images, page views with popularity-skewed items and ~15% clicks."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(items):
        blocks = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
        Image.fromarray(np.kron(blocks, np.ones((24, 24, 1), dtype=np.uint8))).save(
            root / "images" / f"{i}.png"
        )
    item_ids = [f"i{i}" for i in range(items)]
    pd.DataFrame(
        {"item_id": item_ids, "image": [f"images/{i}.png" for i in range(items)],
         "title": [f"item {i % 97} style {i % 13}" for i in range(items)], "category": [f"c{i % 8}" for i in range(items)]}
    ).to_parquet(root / "items.parquet")  # fmt: skip
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    weights /= weights.sum()
    n = users * requests_per_user
    gumbel = np.log(weights)[None, :] - np.log(-np.log(rng.random((n, items))))
    shown = np.argpartition(-gumbel, page, axis=1)[:, :page]  # popularity-weighted, no repeats in a page
    clicked = rng.random((n, page)) < 0.15
    user = np.repeat(np.arange(users), requests_per_user)
    ts = np.repeat(rng.permutation(n) * 1000, page)
    pd.DataFrame(
        {"user_id": [f"u{u}" for u in np.repeat(user, page)], "request_id": [f"r{r}" for r in np.repeat(np.arange(n), page)],
         "item_id": [item_ids[i] for i in shown.ravel()], "clicked": clicked.ravel().astype(np.int64), "ts": ts.astype(np.int64)}
    ).to_parquet(root / "events.parquet")  # fmt: skip
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="dataset directory (default: a synthetic one in a temp dir)")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="page views per step")
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="cap the epoch (default: the whole epoch)"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA device")
    from training.pretrain.config import TrainConfig
    from training.pretrain.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        start = time.time()
        data = Path(args.data) if args.data else synthetic_dataset(tmp_path / "data", 3000, 300, 12, 10)
        print(
            f"dataset ready in {time.time() - start:.1f}s; torch {torch.__version__}, {torch.cuda.get_device_name()}"
        )
        for checkpointing in (False, True):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            cfg = TrainConfig(
                data=str(data), method="courier", out=str(tmp_path / f"run-gc{int(checkpointing)}"), backbone=args.backbone,
                image_size=args.image_size, history=args.history, batch_size=args.batch_size, epochs=1,
                max_steps=args.max_steps, device="cuda", amp=True, grad_checkpointing=checkpointing, checkpoint_every=10_000,
            )  # fmt: skip
            result = train(cfg, progress=False)
            rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
            steps = [r for r in rows if r["kind"] == "step"][2:]  # skip warm-up steps
            page_views_s = float(np.mean([r["samples_per_s"] for r in steps]))
            images_s = page_views_s / args.batch_size * float(np.mean([r["distinct_images"] for r in steps]))
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(
                f"{args.backbone} {args.image_size}px bf16, grad checkpointing {'on ' if checkpointing else 'off'}: "
                f"{result.summary['steps']} steps, {page_views_s:.1f} page views/s ({images_s:.0f} distinct images/s), wall {result.summary['wall_s']:.1f}s, "
                f"max_memory_allocated {peak:.2f} GiB, final loss {result.summary['final_train_loss']:.3f}"
            )


if __name__ == "__main__":
    main()
