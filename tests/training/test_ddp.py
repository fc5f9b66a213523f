"""Two gloo processes on CPU, each holding half of a fixed global batch, give the same loss and the same
(summed) gradients as one process holding the whole batch: embeddings are all-gathered with gradients."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from training.distributed import current_context, sync_gradients
from training.models.text import TitleTokens
from training.pretrain.config import TrainConfig
from training.pretrain.images import ImageFeeder
from training.pretrain.model import TrainModel
from training.pretrain.pages import PageViews
from training.pretrain.steps import MethodSteps

GLOBAL_BATCH = 4


def _fixture() -> tuple[PageViews, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    history = rng.integers(-1, 10, size=(GLOBAL_BATCH, 5))
    history[:, 0] = rng.integers(0, 10, size=GLOBAL_BATCH)
    items = rng.integers(0, 10, size=(GLOBAL_BATCH, 4))
    clicked = rng.random((GLOBAL_BATCH, 4)) < 0.4
    clicked[:, 0] = True
    pages = PageViews(history, items, clicked, np.array([0, 1, 0, 2]))  # user 0 has a view on each rank
    titles = [f"red shoe {i}" if i % 2 else f"blue hat {i}" for i in range(10)]
    return pages, images, np.arange(10) % 3, titles


def _loss_and_grads(method: str, rank: int, size: int) -> tuple[float, torch.Tensor]:
    pages, images, categories, titles = _fixture()
    cfg = TrainConfig(
        data="-", method=method, out="-", backbone="resnet-tiny", dim=8, page_weight=0.5, text_buckets=64
    )
    torch.manual_seed(0)
    model = TrainModel(cfg)
    feeder = ImageFeeder(images, (0.5,) * 3, (0.25,) * 3, "cpu")
    dist_ctx = current_context()
    assert (dist_ctx.rank, dist_ctx.world_size) == (rank, size)
    steps = MethodSteps(cfg, categories, feeder, TitleTokens(titles, 64), dist_ctx)
    per_rank = GLOBAL_BATCH // size
    local = np.arange(rank * per_rank, (rank + 1) * per_rank)
    if method == "courier":
        result = steps.pages(model, pages.take(local))
    else:
        rows = np.arange(8)[rank * 8 // size : (rank + 1) * 8 // size]
        result = steps.items(model, rows, torch.Generator().manual_seed(5))
    result.loss.backward()
    sync_gradients(model, dist_ctx)
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
    return result.stats.loss, grads


def _worker(rank: int, size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=size)
    try:
        results = {m: _loss_and_grads(m, rank, size) for m in ("courier", "clip")}
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_one_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    distributed = torch.load(out)
    for method in ("courier", "clip"):
        single_loss, single_grads = _loss_and_grads(method, 0, 1)
        ddp_loss, ddp_grads = distributed[method]
        assert abs(ddp_loss - single_loss) <= 1e-5 * max(1.0, abs(single_loss)), method
        torch.testing.assert_close(ddp_grads, single_grads, rtol=1e-4, atol=1e-6)
