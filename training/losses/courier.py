"""The COURIER contrastive loss on intention scores (docs/design.md, "The COURIER method").

For every clicked item p of page view b (an *anchor*):
- per-page term: −log softmax of s_b(·) over page b's items, p against the page's UNCLICKED items
  (the hard negatives that differ from p by taste only);
- items direction: −log softmax of s_b(x) over every page item x of the (global) batch; another page's
  copy of p and the page's other clicks are not negatives; same-page negatives can be re-weighted and
  the other pages' items restricted to p's category or dropped;
- users direction: −log softmax of s_b'(p) over page views b'; other page views of b's user are masked.
loss = page_weight · per-page + (1 − page_weight) · (items + users) / 2, averaged over anchors.
Every score is s_b(x) = <r_b(x), e_x> / τ: each candidate is scored by its OWN reconstruction.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import torch

from training.distributed import DistContext, gather, global_sum
from training.models.uir import IntentionReconstruction

INBATCH_CHOICES = ("all", "same-category", "none")


@dataclass(frozen=True)
class CourierLossConfig:
    page_weight: float = 1.0
    same_page_weight: float = 1.0
    inbatch_negatives: str = "all"

    def __post_init__(self) -> None:
        if not 0.0 <= self.page_weight <= 1.0:
            raise ValueError(f"page_weight must be in [0, 1], got {self.page_weight}")
        if self.same_page_weight < 0:
            raise ValueError(f"same_page_weight must be >= 0, got {self.same_page_weight}")
        if self.inbatch_negatives not in INBATCH_CHOICES:
            raise ValueError(
                f"inbatch_negatives must be one of {INBATCH_CHOICES}, got {self.inbatch_negatives!r}"
            )


@dataclass
class PageTensors:
    """One rank's page views, embeddings already indexed back from the distinct-image encode."""

    history: torch.Tensor  # [B, L, d] L2-normalised
    history_mask: torch.Tensor  # [B, L] bool, True = real history image
    page: torch.Tensor  # [B, M, d]
    page_mask: torch.Tensor  # [B, M] bool, True = real page item
    clicked: torch.Tensor  # [B, M] bool
    items: torch.Tensor  # [B, M] int64 item key (-1 padding)
    categories: torch.Tensor  # [B, M] int64
    users: torch.Tensor  # [B] int64


@dataclass(frozen=True)
class AnchorCounts:
    """Sums over anchors (clicked items) for logging; divide by `anchors` for per-anchor means."""

    anchors: float
    page_loss: float
    items_loss: float
    users_loss: float
    top1_hits: float  # the anchor scores highest among its valid candidates
    chance: float  # sum of 1 / number of valid candidates: the top-1 rate of a random score
    auc_wins: float  # page AUC: (clicked, unclicked) pairs of one page ordered right, ties ½
    auc_pairs: float

    @property
    def page_auc(self) -> float | None:
        """None when no page had both a clicked and an unclicked item."""
        return self.auc_wins / self.auc_pairs if self.auc_pairs else None

    @classmethod
    def from_tensor(cls, counts: torch.Tensor) -> AnchorCounts:
        return cls(*counts.tolist())

    def __add__(self, other: AnchorCounts) -> AnchorCounts:
        return AnchorCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass
class CourierLossOutput:
    loss: torch.Tensor  # this rank's share; summed over ranks = loss on the global batch
    counts: torch.Tensor  # [8] THIS rank's anchor sums in `AnchorCounts` field order (the caller reduces)


def courier_loss(
    pages: PageTensors,
    uir: IntentionReconstruction,
    scale: torch.Tensor,
    cfg: CourierLossConfig,
    *,
    dist_ctx: DistContext,
) -> CourierLossOutput:
    """Every rank scores its anchors against the gathered global batch."""
    local_b = pages.history.shape[0]
    hist, hmask = gather(pages.history, dist_ctx), gather(pages.history_mask, dist_ctx)
    page, pmask = gather(pages.page, dist_ctx), gather(pages.page_mask, dist_ctx)
    clicked, items = gather(pages.clicked, dist_ctx), gather(pages.items, dist_ctx)
    cats, users = gather(pages.categories, dist_ctx), gather(pages.users, dist_ctx)
    B, M, d = page.shape
    N = B * M
    device = page.device

    cos = uir.scores(hist, hmask, page.reshape(N, d)).float()  # [B, N]
    logits = cos * scale
    is_local = torch.zeros(B, dtype=torch.bool, device=device)
    is_local[dist_ctx.own_rows(local_b)] = True
    anchor_b, anchor_j = (clicked & pmask & is_local[:, None]).nonzero(as_tuple=True)
    anchor_n = anchor_b * M + anchor_j
    k = anchor_n.numel()
    total = global_sum(torch.tensor(float(k), device=device), dist_ctx).clamp(min=1.0)

    cand_item, cand_cat = items.reshape(N), cats.reshape(N)
    cand_valid, cand_clicked = pmask.reshape(N), clicked.reshape(N)
    cand_page = torch.arange(B, device=device).repeat_interleave(M)
    is_pos = torch.arange(N, device=device)[None, :] == anchor_n[:, None]  # [K, N]
    same_page = cand_page[None, :] == anchor_b[:, None]
    copy = (cand_item[None, :] == cand_item[anchor_n][:, None]) & ~is_pos
    base_valid = cand_valid[None, :] & ~copy
    top1_valid = base_valid.clone()
    valid = base_valid & ~(same_page & cand_clicked[None, :] & ~is_pos)
    if cfg.inbatch_negatives == "same-category":
        valid &= same_page | (cand_cat[None, :] == cand_cat[anchor_n][:, None])
    elif cfg.inbatch_negatives == "none":
        valid &= same_page
    row_logits = logits[anchor_b]  # [K, N]
    if cfg.same_page_weight == 0:
        valid &= ~(same_page & ~is_pos)
    elif cfg.same_page_weight != 1:
        row_logits = row_logits + (same_page & ~is_pos) * math.log(cfg.same_page_weight)
    items_loss = -row_logits.masked_fill(~valid, float("-inf")).log_softmax(-1)[is_pos]

    user_logits = logits[:, anchor_n].T  # [K, B]: s_b'(p) for every page view b'
    own_view = torch.arange(B, device=device)[None, :] == anchor_b[:, None]
    user_valid = own_view | (users[None, :] != users[anchor_b][:, None])
    users_loss = -user_logits.masked_fill(~user_valid, float("-inf")).log_softmax(-1)[own_view]

    own = logits.view(B, B, M)[torch.arange(B), torch.arange(B)]  # [B, M]: s_b(x) for b's own items
    own_pos = torch.arange(M, device=device)[None, :] == anchor_j[:, None]
    own_valid = pmask[anchor_b] & (~clicked[anchor_b] | own_pos)
    page_loss = -own[anchor_b].masked_fill(~own_valid, float("-inf")).log_softmax(-1)[own_pos]

    per_anchor = cfg.page_weight * page_loss + (1 - cfg.page_weight) * (items_loss + users_loss) / 2
    loss = per_anchor.sum() / total

    with torch.no_grad():
        hits = (logits[anchor_b].masked_fill(~top1_valid, float("-inf")).argmax(-1) == anchor_n).sum()
        chance = (1.0 / top1_valid.sum(-1).float()).sum()
        auc_wins, auc_pairs = page_auc_counts(
            own.detach(), clicked & pmask & is_local[:, None], ~clicked & pmask
        )
        counts = torch.stack(
            [
                torch.tensor(float(k), device=device),
                page_loss.sum().detach(),
                items_loss.sum().detach(),
                users_loss.sum().detach(),
                hits.float(),
                chance,
                auc_wins,
                auc_pairs,
            ]
        )
    return CourierLossOutput(loss, counts)


def page_auc_counts(
    scores: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Within each row (page): how many (clicked, unclicked) pairs the score orders right (ties count ½)."""
    diff = scores[:, :, None] - scores[:, None, :]  # [B, i, j] = s(i) - s(j)
    pairs = positive[:, :, None] & negative[:, None, :]
    wins = ((diff > 0).float() + 0.5 * (diff == 0).float()) * pairs
    return wins.sum(), pairs.sum().float()
