"""The distinct-image dedup path gives the same loss and the same gradients as encoding every position."""

from __future__ import annotations

import numpy as np
import torch

from training.distributed import DistContext
from training.losses.courier import CourierLossConfig, courier_loss
from training.models.encoder import build_encoder
from training.models.uir import IntentionReconstruction
from training.pretrain.batching import encode_pages, encode_pages_naive, make_page_batch
from training.pretrain.images import ImageFeeder
from training.pretrain.pages import PageViews


def _batch_with_repeats() -> tuple[PageViews, np.ndarray, ImageFeeder]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    history = np.array([[0, 1, 2, -1], [1, 1, 3, 4], [5, -1, -1, -1]])  # image 1 twice in one history
    items = np.array([[1, 6, 7], [6, 7, -1], [8, 0, 1]])  # images 1, 6, 7 on several pages and histories
    clicked = np.array([[True, False, False], [False, True, False], [True, False, True]])
    pages = PageViews(history, items, clicked, np.array([0, 1, 2]))
    feeder = ImageFeeder(images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "cpu")
    return pages, np.arange(12) % 3, feeder


def _loss_and_grads(dedup: bool) -> tuple[float, list[torch.Tensor], int, int]:
    pages, categories, feeder = _batch_with_repeats()
    torch.manual_seed(0)
    encoder = build_encoder("resnet-tiny", 16)
    uir = IntentionReconstruction(16)
    batch = make_page_batch(pages, categories)
    if dedup:
        hist, page, _ = encode_pages(encoder, batch, feeder)
    else:
        hist, page = encode_pages_naive(encoder, batch, feeder)
    tensors = batch.page_tensors(hist, page)
    loss = courier_loss(
        tensors, uir, torch.tensor(10.0), CourierLossConfig(page_weight=0.5), dist_ctx=DistContext()
    ).loss
    loss.backward()
    grads = [p.grad.clone() for p in [*encoder.parameters(), *uir.parameters()]]
    return float(loss.detach()), grads, batch.positions, len(batch.rows)


def test_dedup_matches_naive_loss_and_gradients() -> None:
    loss_dedup, grads_dedup, positions, distinct = _loss_and_grads(dedup=True)
    loss_naive, grads_naive, _, _ = _loss_and_grads(dedup=False)
    assert positions == 16 and distinct == 9  # 16 image positions, 9 distinct images
    assert abs(loss_dedup - loss_naive) <= 1e-5
    for a, b in zip(grads_dedup, grads_naive, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in grads_dedup)


def test_history_grad_off_keeps_loss_and_skips_history_only_images() -> None:
    pages, categories, feeder = _batch_with_repeats()
    batch = make_page_batch(pages, categories)
    torch.manual_seed(0)
    encoder = build_encoder("resnet-tiny", 16)
    on = encode_pages(encoder, batch, feeder, history_grad=True)[2]
    off = encode_pages(encoder, batch, feeder, history_grad=False)[2]
    torch.testing.assert_close(on, off)
    on_page = batch.on_page.numpy()
    assert off.requires_grad and sorted(batch.rows[~on_page].tolist()) == [2, 3, 4, 5]
