"""One loss evaluation per method on one batch, shared by the training loop and validation.

Each returns this rank's share of the loss (for backward) and global sums for logging. Embeddings come
out of the encoder (under bf16 autocast when asked) and every loss runs in float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from training.losses.clip import clip_loss
from training.losses.courier import CourierLossConfig, courier_loss
from training.losses.gather import global_sum
from training.losses.simclr import nt_xent_loss
from training.losses.simsiam import simsiam_loss
from training.models.text import TitleTokens
from training.models.uir import IntentionReconstruction
from training.train.augment import random_view
from training.train.batching import encode_pages, make_page_batch
from training.train.config import TrainConfig
from training.train.images import ImageFeeder
from training.train.model import TrainModel
from training.train.pages import PageViews


@dataclass
class StepResult:
    loss: torch.Tensor  # this rank's share of the global-batch loss
    stats: dict[str, float]  # global values: "loss" (the global-batch loss) and method extras


class MethodSteps:
    def __init__(
        self, cfg: TrainConfig, categories: np.ndarray, feeder: ImageFeeder, titles: TitleTokens | None
    ) -> None:
        self.cfg = cfg
        self.categories = categories
        self.feeder = feeder
        self.titles = titles
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
        stats: dict[str, float] = {}
        loss = torch.zeros((), device=self.device)
        if model.uir is not None:
            out = courier_loss(tensors, model.uir, model.scale(), self.loss_cfg)
            loss = out.loss
            stats.update(out.stats)
            stats["tau"] = float(1.0 / model.scale().detach())
            if model.text is not None and self.cfg.clip_weight > 0:
                flat = batch.items.reshape(-1)
                text = self._text(model, np.maximum(flat.cpu().numpy(), 0))
                clip = clip_loss(
                    tensors.page.reshape(flat.numel(), -1),
                    text,
                    flat,
                    model.clip_scale(),
                    batch.page_mask.reshape(-1),
                )
                stats["clip_loss"] = float(global_sum(clip.detach()))
                loss = loss + self.cfg.clip_weight * clip
        if plain_auc:
            plain = courier_loss(
                tensors, self.plain_uir, torch.ones((), device=self.device), CourierLossConfig()
            )
            stats["plain_auc_wins"] = plain.stats["auc_wins"]
            stats["plain_auc_pairs"] = plain.stats["auc_pairs"]
        stats["loss"] = float(global_sum(loss.detach()))
        stats["positions"] = float(batch.positions)
        stats["distinct"] = float(len(batch.rows))
        return StepResult(loss, stats)

    def items(self, model: TrainModel, rows: np.ndarray, gen: torch.Generator) -> StepResult:
        """clip / simclr / simsiam on a batch of distinct item images."""
        method = self.cfg.method
        if method == "clip":
            image = self._encode(model, self.feeder(rows))
            keys = torch.from_numpy(rows).to(self.device)
            loss = clip_loss(image, self._text(model, rows), keys, model.clip_scale())
        else:
            unit = self.feeder.unit(rows)
            v1, v2 = random_view(unit, gen), random_view(unit, gen)
            z1 = self._encode(model, self.feeder.normalise(v1))
            z2 = self._encode(model, self.feeder.normalise(v2))
            if method == "simclr":
                loss = nt_xent_loss(z1, z2, self.cfg.temperature)
            else:
                assert model.predictor is not None
                loss = simsiam_loss(model.predictor(z1), model.predictor(z2), z1, z2)
        return StepResult(loss, {"loss": float(global_sum(loss.detach()))})

    def _text(self, model: TrainModel, rows: np.ndarray) -> torch.Tensor:
        assert model.text is not None and self.titles is not None
        ids, offsets = self.titles.batch(rows)
        return model.text(ids.to(self.device), offsets.to(self.device)).float()
