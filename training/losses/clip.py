"""Symmetric image–title InfoNCE (CLIP), on the global batch; duplicate items are not negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.losses.gather import gather, global_sum, local_slice


def clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    keys: torch.Tensor,
    scale: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """image, text [n, d] L2-normalised pairs; keys [n] item ids (another row with the same key is not a
    negative); valid [n] bool marks real rows (padding rows are neither anchors nor negatives; equal n on
    every rank keeps the gather simple). Returns this rank's share of the mean over valid rows."""
    n_local = image.shape[0]
    if valid is None:
        valid = torch.ones(n_local, dtype=torch.bool, device=image.device)
    own = local_slice(n_local)
    all_image, all_text, all_keys, all_valid = gather(image), gather(text), gather(keys), gather(valid)
    n = all_image.shape[0]
    logits = (all_image.float() @ all_text.float().T) * scale
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    negative = ~((all_keys[:, None] == all_keys[None, :]) & ~eye) & all_valid[None, :] & all_valid[:, None]
    logits = logits.masked_fill(~(negative | eye), float("-inf"))
    targets = torch.arange(n, device=logits.device)[own]
    rows = valid
    i2t = F.cross_entropy(logits[own][rows], targets[rows], reduction="sum")
    t2i = F.cross_entropy(logits.T[own][rows], targets[rows], reduction="sum")
    count = global_sum(valid.sum().float())
    return (i2t + t2i) / (2 * count.clamp(min=1.0))
