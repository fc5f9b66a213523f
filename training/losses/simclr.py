"""NT-Xent (SimCLR): each view's positive is the other view of the same image, negatives are all other
views of the global batch."""

from __future__ import annotations

import torch

from training.distributed import DistContext, gather


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, *, dist_ctx: DistContext
) -> torch.Tensor:
    """z1, z2 [n, d] L2-normalised views of the same n images. Returns this rank's share."""
    own = dist_ctx.own_rows(z1.shape[0])
    a, b = gather(z1, dist_ctx), gather(z2, dist_ctx)
    n = a.shape[0]
    z = torch.cat([a, b]).float()
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    idx = torch.arange(n, device=z.device)
    targets = torch.cat([idx + n, idx])
    rows = torch.cat([idx[own], idx[own] + n])
    return torch.nn.functional.cross_entropy(sim[rows], targets[rows], reduction="sum") / (2 * n)
