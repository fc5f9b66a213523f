"""Everything a method optimises, in one module so one optimiser and one checkpoint cover it: the image
encoder (the part that is exported), the UIR module and temperature (courier), the title tower and its
temperature (clip, courier with λ > 0) and the SimSiam predictor."""

from __future__ import annotations

import math

import torch
from torch import nn

from training.losses.simsiam import Predictor
from training.models.backbones import set_grad_checkpointing
from training.models.encoder import build_encoder
from training.models.text import TitleTower
from training.models.uir import IntentionReconstruction
from training.pretrain.config import TrainConfig

MAX_SCALE = 100.0  # CLIP's clamp: τ never below 0.01


class TrainModel(nn.Module):
    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.encoder = build_encoder(cfg.backbone, cfg.dim, cfg.pretrained, cfg.image_size)
        set_grad_checkpointing(self.encoder.backbone, cfg.grad_checkpointing)
        init_scale = torch.tensor(math.log(1.0 / cfg.temperature))
        self.uir: IntentionReconstruction | None = None
        self.text: TitleTower | None = None
        self.predictor: Predictor | None = None
        if cfg.method == "courier":
            self.uir = IntentionReconstruction(cfg.dim, cfg.projections)
            self._scale_param("log_scale", init_scale, cfg.learn_temperature)
        if cfg.method == "clip" or (cfg.method == "courier" and cfg.clip_weight > 0):
            self.text = TitleTower(cfg.text_buckets, cfg.dim)
            self._scale_param("clip_log_scale", init_scale, cfg.learn_temperature)
        if cfg.method == "simsiam":
            self.predictor = Predictor(cfg.dim)

    def _scale_param(self, name: str, value: torch.Tensor, learned: bool) -> None:
        if learned:
            self.register_parameter(name, nn.Parameter(value.clone()))
        else:
            self.register_buffer(name, value.clone())

    def scale(self) -> torch.Tensor:
        """1/τ of the intention scores."""
        return self.log_scale.exp().clamp(max=MAX_SCALE)

    def clip_scale(self) -> torch.Tensor:
        return self.clip_log_scale.exp().clamp(max=MAX_SCALE)


def build_optimizer(model: TrainModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on norms, biases and temperatures (the usual split)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or "log_scale" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine decay to 5% of the peak."""
    warmup = max(1, int(cfg.warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
