"""The title tower of the image–title (CLIP) loss: hashed word + char-trigram ids → EmbeddingBag → MLP.

Hashing uses crc32, not Python's salted `hash`, so token ids are the same in every process and run.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_WORD = re.compile(r"\w+")


def title_token_ids(title: str, buckets: int) -> list[int]:
    words = _WORD.findall(title.lower())
    grams = [f"w:{w}" for w in words]
    for w in words:
        padded = f"<{w}>"
        grams += [f"c:{padded[i : i + 3]}" for i in range(max(1, len(padded) - 2))]
    return [zlib.crc32(g.encode()) % buckets for g in grams] or [0]


class TitleTokens:
    """All titles tokenised once, CSR layout: `ids[offsets[i]:offsets[i+1]]` belong to title i."""

    def __init__(self, titles: Sequence[str], buckets: int) -> None:
        per_title = [title_token_ids(t, buckets) for t in titles]
        self.offsets = np.zeros(len(per_title) + 1, dtype=np.int64)
        self.offsets[1:] = np.cumsum([len(t) for t in per_title])
        self.ids = np.fromiter((i for t in per_title for i in t), dtype=np.int64, count=int(self.offsets[-1]))

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat ids, bag offsets) for EmbeddingBag, for the given title rows."""
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        flat = np.concatenate([self.ids[s:e] for s, e in zip(starts, ends, strict=True)])
        bag_offsets = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
        return torch.from_numpy(flat), torch.from_numpy(bag_offsets.astype(np.int64))


class TitleTower(nn.Module):
    def __init__(self, buckets: int, dim: int, width: int = 128) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(buckets, width, mode="mean")
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, dim))

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(self.bag(ids, offsets)), dim=-1)
