"""The image encoder every method trains and export consumes: backbone → projection head → L2 norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.models.backbones import build_backbone


class ImageEncoder(nn.Module):
    """float32 NCHW normalised images → L2-normalised [N, dim]; no data-dependent control flow (ONNX)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        hidden = max(dim, min(feature_dim, 512))
        self.head = nn.Sequential(nn.Linear(feature_dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.dim = dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.backbone(images)), dim=-1)


def build_encoder(
    backbone: str, dim: int, pretrained: str | None = None, image_size: int | None = None
) -> ImageEncoder:
    module, features = build_backbone(backbone, pretrained, image_size)
    return ImageEncoder(module, features, dim)
