"""Symmetric image–title InfoNCE (CLIP), on the global batch; duplicate items are not negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.distributed import DistContext, gather, global_sum


def clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    keys: torch.Tensor,
    scale: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    dist_ctx: DistContext,
) -> torch.Tensor:
    """image, text [n, d] L2-normalised pairs; keys [n] item ids (another row with the same key is not a
    negative); valid [n] bool marks real rows (padding rows are neither anchors nor negatives; equal n on
    every rank keeps the gather simple). Returns this rank's share of the mean over valid rows."""
    n_local = image.shape[0]
    if valid is None:
        valid = torch.ones(n_local, dtype=torch.bool, device=image.device)
    own = dist_ctx.own_rows(n_local)
    all_image, all_text = gather(image, dist_ctx), gather(text, dist_ctx)
    all_keys, all_valid = gather(keys, dist_ctx), gather(valid, dist_ctx)
    n = all_image.shape[0]
    logits = (all_image.float() @ all_text.float().T) * scale
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    negative = ~((all_keys[:, None] == all_keys[None, :]) & ~eye) & all_valid[None, :] & all_valid[:, None]
    logits = logits.masked_fill(~(negative | eye), float("-inf"))
    targets = torch.arange(n, device=logits.device)[own]
    rows = valid
    i2t = F.cross_entropy(logits[own][rows], targets[rows], reduction="sum")
    t2i = F.cross_entropy(logits.T[own][rows], targets[rows], reduction="sum")
    count = global_sum(valid.sum().float(), dist_ctx)
    return (i2t + t2i) / (2 * count.clamp(min=1.0))
