"""SimSiam: negative cosine between one view's prediction and the other view's stop-gradient embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.distributed import DistContext, global_sum


class Predictor(nn.Module):
    """The SimSiam prediction MLP (bottleneck with BatchNorm, as in the paper)."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(dim // 2, 16)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def simsiam_loss(
    p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, *, dist_ctx: DistContext
) -> torch.Tensor:
    """−(cos(p1, sg z2) + cos(p2, sg z1)) / 2, averaged over the global batch. Returns this rank's share."""
    terms = F.cosine_similarity(p1.float(), z2.detach().float(), dim=-1) + F.cosine_similarity(
        p2.float(), z1.detach().float(), dim=-1
    )
    count = global_sum(torch.tensor(float(p1.shape[0]), device=p1.device), dist_ctx)
    return -terms.sum() / (2 * count)
