"""Validation on the held-out slice of train page views: the method's own loss, and the page AUC of
the intention score (within each page, s_b(clicked) > s_b(unclicked)): the taste signal of DESIGN §3.

`val_page_auc` uses the run's learned UIR (courier only); `val_page_auc_plain` uses parameter-free
attention over the history (identity projections), so it is comparable across all methods, random
included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from training.losses.gather import world
from training.train.config import TrainConfig
from training.train.model import TrainModel
from training.train.pages import TrainingData
from training.train.steps import MethodSteps

_VAL_SEED = 12345


def _chunks(count: int, global_batch: int) -> list[np.ndarray]:
    _, size = world()
    global_batch = min(global_batch, count - count % size)
    if global_batch < size:
        return []
    return [np.arange(s, s + global_batch) for s in range(0, count - global_batch + 1, global_batch)]


def _local(picks: np.ndarray) -> np.ndarray:
    rank, size = world()
    per_rank = len(picks) // size
    return picks[rank * per_rank : (rank + 1) * per_rank]


@torch.no_grad()
def validate(model: TrainModel, steps: MethodSteps, data: TrainingData, cfg: TrainConfig) -> dict[str, Any]:
    model.eval()
    try:
        totals: dict[str, float] = {}
        page_batches = 0
        for picks in _chunks(len(data.val), cfg.batch_size):
            result = steps.pages(model, data.val.take(_local(picks)), plain_auc=True)
            page_batches += 1
            for key, value in result.stats.items():
                totals[key] = totals.get(key, 0.0) + value
        out: dict[str, Any] = {}
        if totals.get("plain_auc_pairs"):
            out["val_page_auc_plain"] = totals["plain_auc_wins"] / totals["plain_auc_pairs"]
        if cfg.method == "courier" and page_batches:
            out["val_loss"] = totals["loss"] / page_batches
            anchors = max(totals["anchors"], 1.0)
            out["val_top1"] = totals["top1_hits"] / anchors
            out["val_chance"] = totals["chance"] / anchors
            if totals["auc_pairs"]:
                out["val_page_auc"] = totals["auc_wins"] / totals["auc_pairs"]
        elif cfg.method in ("clip", "simclr", "simsiam"):
            gen = torch.Generator().manual_seed(_VAL_SEED)
            losses = [
                steps.items(model, _local(data.val_item_rows[picks]), gen).stats["loss"]
                for picks in _chunks(len(data.val_item_rows), cfg.item_batch_size)
            ]
            if losses:
                out["val_loss"] = float(np.mean(losses))
        return out
    finally:
        model.train()
