"""The CTR model of DESIGN §4: strong id/category/title features with DIN-style target attention over
the click history, plus (for image methods) frozen image embeddings used three ways."""

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
        if image_table is not None:
            self.register_buffer("image_table", image_table.float(), persistent=False)
            self.image_proj = nn.Linear(image_table.shape[1], d)
            width += 3 * d + 2
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
    ) -> torch.Tensor:
        mask = hist_row > 0
        cat = self.category(row_category[row])
        tokens = row_tokens[row]
        token_mask = (tokens > 0).unsqueeze(-1).float()
        title = (self.token(tokens) * token_mask).sum(1) / token_mask.sum(1).clamp(min=1.0)
        item_vec = self.item(item)
        query = torch.cat([item_vec, cat], dim=-1)
        keys = torch.cat([self.item(hist_item), self.category(row_category[hist_row])], dim=-1)
        interest = self.din(query, keys, mask)
        user_vec = self.user(user)
        # Explicit products beside the DIN concatenation: the MLP need not learn multiplication itself.
        parts = [user_vec, item_vec, cat, title, interest, user_vec * item_vec, interest * query]
        if self.has_images:
            parts.append(self._image_features(row, hist_row, mask))
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)

    def _image_features(self, row: torch.Tensor, hist_row: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Projected target, target attention over history images (target as query), their product,
        and the max/mean cosine between the target and the history images."""
        target = self.image_table[row]  # [B, D], unit norm
        history = self.image_table[hist_row]  # [B, L, D], zeros where empty
        projected = self.image_proj(self.image_table)  # the catalogue once: cheaper than B * L rows
        target_p, history_p = projected[row], projected[hist_row]
        scores = torch.einsum("bd,bld->bl", target_p, history_p) * self.scale
        pooled = torch.einsum("bl,bld->bd", _masked_softmax(scores, mask), history_p)
        cosine = torch.einsum("bd,bld->bl", target, history)
        count = mask.sum(1).clamp(min=1)
        cos_max = cosine.masked_fill(~mask, -1.0).max(1).values * mask.any(1)
        cos_mean = (cosine * mask).sum(1) / count
        return torch.cat([target_p, pooled, target_p * pooled, cos_max[:, None], cos_mean[:, None]], dim=-1)
