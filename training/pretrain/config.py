"""The typed training config. CLI flags and `--config FILE` are turned into this; the loop and the losses
never see argparse.

Defaults are sized for the `default` world on a 2-core CPU: 64 px input (the cache resizes once),
`resnet-small` (4 stages, widths 16–128, GroupNorm), 64-d embeddings, 32 page views per step with
history 20, one epoch. The COURIER loss defaults to the per-page softmax of the intention score
(page_weight=1.0), the term that carries the taste while in-batch negatives teach category. More epochs
keep helping, so on a GPU use `--device cuda` with more epochs. The measurements behind each choice,
with time per step and per epoch, are in docs/experiments.md.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from courier_core.normalization import IMAGENET_MEAN, IMAGENET_STD
from training.losses.courier import INBATCH_CHOICES, CourierLossConfig

METHODS = ("courier", "clip", "simclr", "simsiam", "random")


class ConfigError(ValueError):
    """A config value a user must fix; the message names the field."""


@dataclass
class TrainConfig:
    data: str
    method: str
    out: str
    backbone: str = "resnet-small"
    pretrained: str | None = None
    image_size: int = 64
    dim: int = 64
    history: int = 20
    train_fraction: float = 0.8
    val_fraction: float = 0.1  # the last share of train page views, held out for validation / best.pt
    batch_size: int = 32  # page views per optimiser step (global, over all ranks)
    item_batch_size: int = 128  # images per step for clip / simclr / simsiam (global)
    epochs: int = 1
    max_steps: int | None = None  # stop early (tests, time-boxed experiments)
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0  # max global gradient norm
    temperature: float = 0.1
    learn_temperature: bool = True
    clip_weight: float = 0.1  # λ of the image–title loss for courier (0 = off)
    projections: bool = True  # learned W_q/W_k/W_v; False = identity (ablation)
    page_weight: float = (
        1.0  # share of the per-page softmax term; the rest is the in-batch two-direction loss
    )
    same_page_weight: float = 1.0  # weight of same-page negatives in the in-batch items direction
    inbatch_negatives: str = "all"  # "all" | "same-category" | "none"
    history_grad: bool = True
    init_from: str | None = None
    text_buckets: int = 16384
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    grad_checkpointing: bool = False
    checkpoint_every: int = 50  # steps
    val_max_pages: int = 512
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resume: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.inbatch_negatives not in INBATCH_CHOICES:
            raise ConfigError(
                f"inbatch_negatives must be one of {INBATCH_CHOICES}, got {self.inbatch_negatives!r}"
            )
        for name in ("image_size", "dim", "history", "batch_size", "item_batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        if not 0 < self.temperature <= 10:
            raise ConfigError(f"temperature must be in (0, 10], got {self.temperature}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be cpu or cuda, got {self.device!r}")
        self.mean, self.std = tuple(self.mean), tuple(self.std)
        self.courier_loss()

    def courier_loss(self) -> CourierLossConfig:
        try:
            return CourierLossConfig(self.page_weight, self.same_page_weight, self.inbatch_negatives)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return values
