"""SimCLR-style views, batched on tensors (one affine grid-sample per batch, no per-image Python loop):
random resized crop (area 0.2–1, ratio 3/4–4/3), horizontal flip, colour jitter (p 0.8) and grayscale
(p 0.2). Randomness comes from an explicit generator so a resumed run draws the same views.
Hand-written rather than kornia: kornia's equivalent pipeline was markedly slower per batch on CPU and
draws from the global RNG (compared when kornia was dropped from the dependencies)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_GRAY = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def random_view(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """images: float [n, 3, H, W] in [0, 1] → one augmented view, same shape. `gen` is a CPU generator."""
    n = images.shape[0]
    device = images.device
    area = _uniform(n, 0.2, 1.0, gen)
    log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), gen)
    ratio = log_ratio.exp()
    sx = (area * ratio).sqrt().clamp(max=1.0)
    sy = (area / ratio).sqrt().clamp(max=1.0)
    cx = (1 - sx) * (2 * torch.rand(n, generator=gen) - 1)
    cy = (1 - sy) * (2 * torch.rand(n, generator=gen) - 1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta.to(device), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    jitter = (torch.rand(n, generator=gen) < 0.8).to(device).view(n, 1, 1, 1)
    brightness = _uniform(n, 0.6, 1.4, gen).to(device).view(n, 1, 1, 1)
    contrast = _uniform(n, 0.6, 1.4, gen).to(device).view(n, 1, 1, 1)
    saturation = _uniform(n, 0.6, 1.4, gen).to(device).view(n, 1, 1, 1)
    jittered = out * brightness
    mean = jittered.mean(dim=(1, 2, 3), keepdim=True)
    jittered = (jittered - mean) * contrast + mean
    gray = _grayscale(jittered)
    jittered = (jittered - gray) * saturation + gray
    out = torch.where(jitter, jittered.clamp(0, 1), out)

    to_gray = (torch.rand(n, generator=gen) < 0.2).to(device).view(n, 1, 1, 1)
    return torch.where(to_gray, _grayscale(out).expand_as(out), out)


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GRAY, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)
