"""Run-directory checkpoints and the export interface.

`RUN_DIR/checkpoints/{last,best}.pt` hold the whole training state (model, optimiser, scheduler, AMP
scaler, RNG states, data position, config), written atomically (temporary file + rename) so a crash
never leaves a truncated checkpoint. `load_encoder` is what model export and `embed` use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from courier_core.normalization import IMAGENET_MEAN, IMAGENET_STD
from training.models.encoder import ImageEncoder, build_encoder

CHECKPOINTS = ("last", "best")


class CheckpointError(FileNotFoundError):
    """A run directory or checkpoint that cannot be used; the message says what to do."""


@dataclass
class EncoderInfo:
    method: str
    image_size: int
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone: str
    config: dict[str, Any] = field(default_factory=dict)


def checkpoint_path(run_dir: str | Path, which: str = "last") -> Path:
    if which not in CHECKPOINTS:
        raise CheckpointError(f"checkpoint must be one of {CHECKPOINTS}, got {which!r}")
    return Path(run_dir) / "checkpoints" / f"{which}.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(run_dir: str | Path, which: str = "last") -> dict[str, Any]:
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        present = sorted(p.name for p in path.parent.glob("*.pt")) if path.parent.is_dir() else []
        raise CheckpointError(
            f"no {which} checkpoint at {path} (present: {present or 'none'}); "
            "train first with `python -m training train --out RUN_DIR`"
        )
    return torch.load(path, map_location="cpu", weights_only=False)


def encoder_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's tensors out of a full training-model state dict."""
    return {k.removeprefix("encoder."): v for k, v in model_state.items() if k.startswith("encoder.")}


def load_encoder(run_dir: str | Path, which: str = "last") -> tuple[nn.Module, EncoderInfo]:
    """The trained image encoder in eval mode (float32 NCHW normalised input → L2-normalised [N, D]).

    Input normalisation: x = (pixels / 255 − mean) / std with `info.mean`, `info.std` (on the [0, 1] scale).
    """
    state = load_checkpoint(run_dir, which)
    config = state["config"]
    encoder: ImageEncoder = build_encoder(
        config["backbone"], int(config["dim"]), image_size=int(config["image_size"])
    )
    encoder.load_state_dict(encoder_state(state["model"]))
    encoder.eval()
    info = EncoderInfo(
        method=config["method"],
        image_size=int(config["image_size"]),
        dim=int(config["dim"]),
        mean=tuple(config.get("mean", IMAGENET_MEAN)),
        std=tuple(config.get("std", IMAGENET_STD)),
        backbone=config["backbone"],
        config=dict(config),
    )
    return encoder, info
