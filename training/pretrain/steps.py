"""One loss evaluation per method on one batch, shared by the training loop and validation.

Each returns this rank's share of the loss (for backward) and the step's `StepStats` over the global
batch, summed over ranks in one all-reduce. Embeddings come out of the encoder (under bf16 autocast
when asked) and every loss runs in float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from training.distributed import DistContext, sum_to_host
from training.losses.clip import clip_loss
from training.losses.courier import AnchorCounts, CourierLossConfig, courier_loss
from training.losses.simclr import nt_xent_loss
from training.losses.simsiam import simsiam_loss
from training.models.text import TitleTokens
from training.models.uir import IntentionReconstruction
from training.pretrain.augment import random_view
from training.pretrain.batching import encode_pages, make_page_batch
from training.pretrain.config import TrainConfig
from training.pretrain.images import ImageFeeder
from training.pretrain.model import TrainModel
from training.pretrain.pages import PageViews
from training.pretrain.stats import StepStats


@dataclass
class StepResult:
    loss: torch.Tensor  # this rank's share of the global-batch loss
    stats: StepStats


class MethodSteps:
    def __init__(
        self,
        cfg: TrainConfig,
        categories: np.ndarray,
        feeder: ImageFeeder,
        titles: TitleTokens | None,
        dist_ctx: DistContext,
    ) -> None:
        self.cfg = cfg
        self.categories = categories
        self.feeder = feeder
        self.titles = titles
        self.dist_ctx = dist_ctx
        self.device = feeder.device
        self.loss_cfg = cfg.courier_loss()
        self.plain_uir = IntentionReconstruction(cfg.dim, projections=False)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.cfg.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _encode(self, model: TrainModel, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return model.encoder(images).float()

    def pages(self, model: TrainModel, pages: PageViews, *, plain_auc: bool = False) -> StepResult:
        """COURIER on a page-view batch (dedup encode). With plain_auc, also the page AUC of the
        parameter-free intention score (identity projections), comparable across methods."""
        batch = make_page_batch(pages, self.categories, self.device)
        history_grad = self.cfg.history_grad or not torch.is_grad_enabled()
        with self.autocast():
            hist, page, _ = encode_pages(model.encoder, batch, self.feeder, history_grad)
        tensors = batch.page_tensors(hist.float(), page.float())
        ctx = self.dist_ctx
        loss = torch.zeros((), device=self.device)
        counts = clip = plain = None
        tau = None
        if model.uir is not None:
            out = courier_loss(tensors, model.uir, model.scale(), self.loss_cfg, dist_ctx=ctx)
            loss, counts = out.loss, out.counts
            tau = float(1.0 / model.scale().detach())
            if model.text is not None and self.cfg.clip_weight > 0:
                flat = batch.items.reshape(-1)
                text = self._text(model, np.maximum(flat.cpu().numpy(), 0))
                clip = clip_loss(
                    tensors.page.reshape(flat.numel(), -1),
                    text,
                    flat,
                    model.clip_scale(),
                    batch.page_mask.reshape(-1),
                    dist_ctx=ctx,
                )
                loss = loss + self.cfg.clip_weight * clip
        if plain_auc:
            ones = torch.ones((), device=self.device)
            plain = courier_loss(tensors, self.plain_uir, ones, CourierLossConfig(), dist_ctx=ctx).counts
        loss_sum, counts_sum, clip_sum, plain_sum = sum_to_host([loss, counts, clip, plain], ctx)
        assert loss_sum is not None
        stats = StepStats(
            loss=float(loss_sum),
            positions=batch.positions,
            distinct=len(batch.rows),
            anchors=None if counts_sum is None else AnchorCounts.from_tensor(counts_sum),
            tau=tau,
            clip_loss=None if clip_sum is None else float(clip_sum),
            plain_auc=None if plain_sum is None else AnchorCounts.from_tensor(plain_sum),
        )
        return StepResult(loss, stats)

    def items(self, model: TrainModel, rows: np.ndarray, gen: torch.Generator) -> StepResult:
        """clip / simclr / simsiam on a batch of distinct item images."""
        method = self.cfg.method
        if method == "clip":
            image = self._encode(model, self.feeder(rows))
            keys = torch.from_numpy(rows).to(self.device)
            loss = clip_loss(image, self._text(model, rows), keys, model.clip_scale(), dist_ctx=self.dist_ctx)
        else:
            unit = self.feeder.unit(rows)
            v1, v2 = random_view(unit, gen), random_view(unit, gen)
            z1 = self._encode(model, self.feeder.normalise(v1))
            z2 = self._encode(model, self.feeder.normalise(v2))
            if method == "simclr":
                loss = nt_xent_loss(z1, z2, self.cfg.temperature, dist_ctx=self.dist_ctx)
            else:
                assert model.predictor is not None
                p1, p2 = model.predictor(z1), model.predictor(z2)
                loss = simsiam_loss(p1, p2, z1, z2, dist_ctx=self.dist_ctx)
        (loss_sum,) = sum_to_host([loss], self.dist_ctx)
        assert loss_sum is not None
        return StepResult(loss, StepStats(loss=float(loss_sum)))

    def _text(self, model: TrainModel, rows: np.ndarray) -> torch.Tensor:
        assert model.text is not None and self.titles is not None
        ids, offsets = self.titles.batch(rows)
        return model.text(ids.to(self.device), offsets.to(self.device)).float()
