"""User intention reconstruction (DESIGN §3): reconstruct item x from page view b's history by
cross-attention, and score x by its OWN reconstruction, s_b(x) = <r_b(x), e_x> (divide by τ outside)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class IntentionReconstruction(nn.Module):
    def __init__(self, dim: int, projections: bool = True) -> None:
        super().__init__()
        self.dim = dim
        if projections:
            self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
            for layer in (self.q, self.k, self.v):
                nn.init.eye_(layer.weight)  # start as plain attention over the history, then learn
        else:
            self.q = self.k = self.v = nn.Identity()

    def scores(
        self, history: torch.Tensor, history_mask: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        """history [B, L, d], history_mask [B, L] (True = real), candidates [N, d] → cosines [B, N].

        Entry (b, n) is <r_b(x_n), e_{x_n}>: every candidate queries the history with itself and is
        compared with its own reconstruction (never another item's — that is the appearance shortcut).
        """
        q, k, v = self.q(candidates), self.k(history), self.v(history)
        logits = torch.einsum("nd,bld->bnl", q, k) / math.sqrt(self.dim)
        logits = logits.masked_fill(~history_mask[:, None, :], torch.finfo(logits.dtype).min)
        recon = F.normalize(torch.einsum("bnl,bld->bnd", logits.softmax(dim=-1), v), dim=-1)
        return torch.einsum("bnd,nd->bn", recon, candidates)
