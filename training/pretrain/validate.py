"""Validation on the held-out slice of train page views: the method's own loss, and the page AUC of
the intention score (within each page, s_b(clicked) > s_b(unclicked)): the taste signal of the method
(docs/design.md, "The COURIER method").

`val_page_auc` uses the run's learned UIR (courier only); `val_page_auc_plain` uses parameter-free
attention over the history (identity projections), so it is comparable across all methods, random
included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from training.distributed import DistContext
from training.losses.courier import AnchorCounts
from training.pretrain.config import TrainConfig
from training.pretrain.model import TrainModel
from training.pretrain.pages import TrainingData
from training.pretrain.steps import MethodSteps

_VAL_SEED = 12345


def _chunks(count: int, global_batch: int, dist_ctx: DistContext) -> list[np.ndarray]:
    global_batch = min(global_batch, count - count % dist_ctx.world_size)
    if global_batch < dist_ctx.world_size:
        return []
    return [np.arange(s, s + global_batch) for s in range(0, count - global_batch + 1, global_batch)]


def _total(counts: list[AnchorCounts | None]) -> AnchorCounts | None:
    present = [c for c in counts if c is not None]
    return sum(present[1:], present[0]) if present else None


@torch.no_grad()
def validate(model: TrainModel, steps: MethodSteps, data: TrainingData, cfg: TrainConfig) -> dict[str, Any]:
    """The metrics.jsonl fields of one validation ("val_loss", "val_page_auc_plain", ...)."""
    ctx = steps.dist_ctx
    model.eval()
    try:
        page_stats = [
            steps.pages(model, data.val.take(ctx.local_part(picks)), plain_auc=True).stats
            for picks in _chunks(len(data.val), cfg.batch_size, ctx)
        ]
        out: dict[str, Any] = {}
        plain = _total([s.plain_auc for s in page_stats])
        if plain is not None and plain.page_auc is not None:
            out["val_page_auc_plain"] = plain.page_auc
        anchors = _total([s.anchors for s in page_stats])
        if cfg.method == "courier" and anchors is not None:
            out["val_loss"] = sum(s.loss for s in page_stats) / len(page_stats)
            out["val_top1"] = anchors.top1_hits / max(anchors.anchors, 1.0)
            out["val_chance"] = anchors.chance / max(anchors.anchors, 1.0)
            if anchors.page_auc is not None:
                out["val_page_auc"] = anchors.page_auc
        elif cfg.method in ("clip", "simclr", "simsiam"):
            gen = torch.Generator().manual_seed(_VAL_SEED)
            losses = [
                steps.items(model, ctx.local_part(data.val_item_rows[picks]), gen).stats.loss
                for picks in _chunks(len(data.val_item_rows), cfg.item_batch_size, ctx)
            ]
            if losses:
                out["val_loss"] = float(np.mean(losses))
        return out
    finally:
        model.train()
