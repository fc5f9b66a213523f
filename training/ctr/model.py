"""The CTR model of DESIGN §4: strong id/category/title features with DIN-style target attention over
the click history, plus (for image methods) frozen image embeddings used three ways.

With `skip_history`, the shown-but-not-clicked history gets the same treatment as the clicked one (its
own DIN attention; for image methods, its own image attention and cosine features), so the model can
learn what the user passes over as well as what they pick. With `user_taste`, image methods get a
per-user linear score of the target image as well (default on; docs/experiments.md measures both)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CTRModelConfig:
    dim: int = 16
    attention_hidden: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    skip_history: bool = False  # the skipped-history branch (set from FeatureConfig.skip_history > 0)
    # Image methods: a per-user weight vector dotted with the projected target image, added to the logit.
    # A "wide" term for the personal visual taste that history attention estimates poorly.
    user_taste: bool = True


@dataclass(frozen=True)
class Vocab:
    n_users: int
    n_items: int
    n_categories: int
    n_tokens: int


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over valid positions; an empty history gives all-zero weights."""
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.nan_to_num(weights, nan=0.0)


class DinAttention(nn.Module):
    """DIN activation unit: an MLP scores each history key against the target query.

    Its first layer on [q, k, q*k, q-k] is split into q, k and q*k parts (the q-k part folds into the
    first two): the same function, with the query's share computed once per row instead of once per key.
    """

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.query_part = nn.Linear(width, hidden)
        self.key_part = nn.Linear(width, hidden, bias=False)
        self.product_part = nn.Linear(width, hidden, bias=False)
        self.out = nn.Sequential(nn.PReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1)
        hidden = self.query_part(q) + self.key_part(keys) + self.product_part(q * keys)
        scores = self.out(hidden).squeeze(-1)
        return torch.einsum("bl,bld->bd", _masked_softmax(scores, mask), keys)


class CTRModel(nn.Module):
    """Inputs are index tensors from `CTRFeatures`; `image_table` ([N+1, D], row 0 zeros) is frozen."""

    def __init__(self, vocab: Vocab, config: CTRModelConfig, image_table: torch.Tensor | None = None) -> None:
        super().__init__()
        d = config.dim
        self.user = nn.Embedding(vocab.n_users, d)
        self.item = nn.Embedding(vocab.n_items, d, padding_idx=0)
        self.category = nn.Embedding(vocab.n_categories, d, padding_idx=0)
        self.token = nn.Embedding(vocab.n_tokens, d, padding_idx=0)
        self.din = DinAttention(2 * d, config.attention_hidden)
        width = 9 * d
        self.has_images = image_table is not None
        self.has_skips = config.skip_history
        if self.has_skips:
            self.skip_din = DinAttention(2 * d, config.attention_hidden)
            width += 4 * d
        if image_table is not None:
            self.register_buffer("image_table", image_table.float(), persistent=False)
            self.image_proj = nn.Linear(image_table.shape[1], d)
            width += 3 * d + 2 + (2 * d + 2 if self.has_skips else 0)
        self.user_taste: nn.Embedding | None = None
        if image_table is not None and config.user_taste:
            self.user_taste = nn.Embedding(vocab.n_users, d)
            nn.init.zeros_(self.user_taste.weight)  # starts as the model without the term
        layers: list[nn.Module] = []
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.PReLU(), nn.Dropout(config.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)
        self.scale = d**-0.5

    def forward(
        self,
        user: torch.Tensor,  # [B] user index
        item: torch.Tensor,  # [B] item-id index (1 = unknown)
        row: torch.Tensor,  # [B] catalogue row + 1
        hist_item: torch.Tensor,  # [B, L] item-id index (0 = empty)
        hist_row: torch.Tensor,  # [B, L] catalogue row + 1 (0 = empty)
        row_category: torch.Tensor,  # [N+1]
        row_tokens: torch.Tensor,  # [N+1, T]
        skip_item: torch.Tensor | None = None,  # [B, K] item-id index of skipped items (with skip_history)
        skip_row: torch.Tensor | None = None,  # [B, K] catalogue row + 1 (0 = empty)
    ) -> torch.Tensor:
        mask = hist_row > 0
        cat = self.category(row_category[row])
        tokens = row_tokens[row]
        token_mask = (tokens > 0).unsqueeze(-1).float()
        title = (self.token(tokens) * token_mask).sum(1) / token_mask.sum(1).clamp(min=1.0)
        item_vec = self.item(item)
        query = torch.cat([item_vec, cat], dim=-1)
        interest = self.din(query, self._keys(hist_item, hist_row, row_category), mask)
        user_vec = self.user(user)
        # Explicit products beside the DIN concatenation: the MLP need not learn multiplication itself.
        parts = [user_vec, item_vec, cat, title, interest, user_vec * item_vec, interest * query]
        histories = [hist_row]
        if self.has_skips:
            if skip_item is None or skip_row is None:
                raise ValueError("this model was built with skip_history: pass skip_item and skip_row")
            skipped = self.skip_din(query, self._keys(skip_item, skip_row, row_category), skip_row > 0)
            parts += [skipped, skipped * query]
            histories.append(skip_row)
        target_p = None
        if self.has_images:
            image_parts = self._image_features(row, histories)
            target_p = image_parts[0]
            parts += image_parts
        logit = self.head(torch.cat(parts, dim=-1)).squeeze(-1)
        if self.user_taste is not None and target_p is not None:
            logit = logit + (self.user_taste(user) * target_p).sum(-1)
        return logit

    def _keys(self, items: torch.Tensor, rows: torch.Tensor, row_category: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.item(items), self.category(row_category[rows])], dim=-1)

    def _image_features(self, row: torch.Tensor, histories: list[torch.Tensor]) -> list[torch.Tensor]:
        """Projected target, then per history (clicked, skipped): target attention over its images
        (target as query), the product with the target, and the max/mean cosine to the target."""
        target = self.image_table[row]  # [B, D], unit norm
        projected = self.image_proj(self.image_table)  # the catalogue once: cheaper than B * L rows
        target_p = projected[row]
        parts = [target_p]
        for hist_row in histories:
            mask = hist_row > 0
            history_p = projected[hist_row]
            scores = torch.einsum("bd,bld->bl", target_p, history_p) * self.scale
            pooled = torch.einsum("bl,bld->bd", _masked_softmax(scores, mask), history_p)
            cosine = torch.einsum("bd,bld->bl", target, self.image_table[hist_row])  # zeros where empty
            cos_max = cosine.masked_fill(~mask, -1.0).max(1).values * mask.any(1)
            cos_mean = (cosine * mask).sum(1) / mask.sum(1).clamp(min=1)
            parts += [pooled, target_p * pooled, cos_max[:, None], cos_mean[:, None]]
        return parts
