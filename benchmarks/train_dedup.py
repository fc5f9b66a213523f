"""Distinct-image dedup vs the naive path (docs/design.md, "Targets"): samples/s of one training step (encode, COURIER
loss, backward) on the same batches at history 20 and page size 10, and the largest loss difference.

    python benchmarks/train_dedup.py                         # synthetic page views, popularity-skewed
    python benchmarks/train_dedup.py --data /tmp/worlds/default --batch-size 32 --batches 5

Target: speed-up >= 0.8 x the duplication factor (image positions / distinct images), loss diff <= 1e-5.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from training.distributed import DistContext
from training.losses.courier import CourierLossConfig, courier_loss
from training.models.encoder import build_encoder
from training.models.uir import IntentionReconstruction
from training.pretrain.batching import PageBatch, encode_pages, encode_pages_naive, make_page_batch
from training.pretrain.images import ImageFeeder
from training.pretrain.pages import PageViews, epoch_order

HISTORY, PAGE = 20, 10


def synthetic_pages(n_pages: int, catalogue: int, users: int, seed: int) -> PageViews:
    """Page views whose items follow a Zipf-like popularity, histories drawn from the same skew."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, catalogue + 1) ** 0.8
    weights /= weights.sum()
    gumbel = np.log(weights)[None, :] - np.log(-np.log(rng.random((n_pages, catalogue))))
    items = np.argpartition(-gumbel, PAGE, axis=1)[:, :PAGE]  # no item twice on a page
    history = rng.choice(catalogue, size=(n_pages, HISTORY), p=weights)
    clicked = rng.random((n_pages, PAGE)) < 0.15
    clicked[:, 0] = True
    return PageViews(history, items, clicked, rng.integers(0, users, n_pages))


def world_pages(data: str, image_size: int) -> tuple[PageViews, np.ndarray, np.ndarray]:
    from courier_core.dataset import load_dataset
    from training.image_cache import open_image_cache
    from training.pretrain.pages import build_training_data

    dataset = load_dataset(data, image_check="none")
    cache = open_image_cache(dataset, image_size)
    td = build_training_data(
        dataset.items,
        dataset.events,
        cache.index,
        history=HISTORY,
        train_fraction=0.8,
        val_fraction=0.0,
        val_max_pages=1,
    )
    return td.train, np.asarray(cache.array), td.categories


def step(encoder, uir, batch: PageBatch, feeder, dedup: bool) -> float:
    if dedup:
        hist, page, _ = encode_pages(encoder, batch, feeder)
    else:
        hist, page = encode_pages_naive(encoder, batch, feeder)
    tensors = batch.page_tensors(hist, page)
    loss = courier_loss(
        tensors, uir, torch.tensor(10.0), CourierLossConfig(page_weight=0.5), dist_ctx=DistContext()
    ).loss
    encoder.zero_grad()
    uir.zero_grad()
    loss.backward()
    return float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="a world/dataset directory (default: synthetic page views)")
    parser.add_argument("--backbone", default="resnet-small")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--catalogue", type=int, default=3000, help="synthetic catalogue size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.data:
        pages, images, categories = world_pages(args.data, args.image_size)
    else:
        rng = np.random.default_rng(args.seed)
        pages = synthetic_pages(args.batch_size * args.batches, args.catalogue, 500, args.seed)
        images = rng.integers(
            0, 256, size=(args.catalogue, args.image_size, args.image_size, 3), dtype=np.uint8
        )
        categories = np.arange(args.catalogue) % 8
    feeder = ImageFeeder(images, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "cpu")
    torch.manual_seed(args.seed)
    encoder = build_encoder(args.backbone, 64)
    uir = IntentionReconstruction(64)
    order = epoch_order(args.seed, 0, len(pages))
    batches = [
        make_page_batch(pages.take(order[i * args.batch_size : (i + 1) * args.batch_size]), categories)
        for i in range(args.batches)
    ]
    step(encoder, uir, batches[0], feeder, True)  # warm-up
    times = {True: 0.0, False: 0.0}
    max_diff = 0.0
    for batch in batches:
        losses = {}
        for dedup in (False, True):
            start = time.perf_counter()
            losses[dedup] = step(encoder, uir, batch, feeder, dedup)
            times[dedup] += time.perf_counter() - start
        max_diff = max(max_diff, abs(losses[True] - losses[False]))
    samples = args.batch_size * args.batches
    factor = sum(b.positions for b in batches) / sum(len(b.rows) for b in batches)
    naive, dedup = samples / times[False], samples / times[True]
    speedup = dedup / naive
    print(
        f"history {HISTORY}, page {PAGE}, batch {args.batch_size} page views x {args.batches} batches, {args.backbone} at {args.image_size}px"
    )
    print(f"naive: {naive:.1f} page views/s   dedup: {dedup:.1f} page views/s   speed-up {speedup:.2f}x")
    print(f"duplication factor (image positions / distinct images): {factor:.2f}")
    print(f"max |loss_dedup - loss_naive|: {max_diff:.2e}")
    print(
        f"speed-up >= 0.8 x factor ({0.8 * factor:.2f}): {'yes' if speedup >= 0.8 * factor else 'NO'}; loss diff <= 1e-5: {'yes' if max_diff <= 1e-5 else 'NO'}"
    )


if __name__ == "__main__":
    main()
