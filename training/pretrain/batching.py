"""Page-view batches with distinct-image dedup (docs/design.md, "The COURIER method").

A batch of B page views with L history and M page slots names B·(L+M) image positions but far fewer
distinct images. Each distinct image is encoded once and its embedding indexed back into the history
and page tensors; autograd carries the gradients of every position back through the index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.losses.courier import PageTensors
from training.pretrain.pages import PageViews

Images = Callable[[np.ndarray], torch.Tensor]  # cache rows → normalised float NCHW on the device


@dataclass
class PageBatch:
    rows: np.ndarray  # [U] distinct cache rows (sorted)
    on_page: torch.Tensor  # [U] bool: the image is a page item (history-only images may skip gradients)
    history_index: torch.Tensor  # [B, L] index into rows (0 where padded)
    history_mask: torch.Tensor  # [B, L] bool
    page_index: torch.Tensor  # [B, M]
    page_mask: torch.Tensor  # [B, M] bool
    clicked: torch.Tensor  # [B, M] bool
    items: torch.Tensor  # [B, M] cache rows, -1 padding
    categories: torch.Tensor  # [B, M]
    users: torch.Tensor  # [B]

    @property
    def positions(self) -> int:
        return int(self.history_mask.sum() + self.page_mask.sum())

    def page_tensors(self, history: torch.Tensor, page: torch.Tensor) -> PageTensors:
        """The loss input: encoded history [B, L, d] and page [B, M, d] beside this batch's masks and labels."""
        return PageTensors(
            history,
            self.history_mask,
            page,
            self.page_mask,
            self.clicked,
            self.items,
            self.categories,
            self.users,
        )


def make_page_batch(
    pages: PageViews, categories: np.ndarray, device: torch.device | str = "cpu"
) -> PageBatch:
    hist, items = pages.history, pages.items
    flat = np.concatenate([hist.ravel(), items.ravel()])
    valid = flat >= 0
    rows, inverse = np.unique(flat[valid], return_inverse=True)
    index = np.zeros(flat.shape, dtype=np.int64)
    index[valid] = inverse
    on_page = np.zeros(len(rows), dtype=bool)
    on_page[index[hist.size :][items.ravel() >= 0]] = True
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return PageBatch(
        rows=rows,
        on_page=t(on_page),
        history_index=t(index[: hist.size].reshape(hist.shape)),
        history_mask=t(hist >= 0),
        page_index=t(index[hist.size :].reshape(items.shape)),
        page_mask=t(items >= 0),
        clicked=t(pages.clicked),
        items=t(items),
        categories=t(np.where(items >= 0, categories[np.maximum(items, 0)], -1)),
        users=t(pages.users),
    )


CPU_ENCODE_CHUNK = 128


def encode(encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """`encoder(images)`, in chunks of 128 on CPU, where large conv batches are slower per image
    (docs/experiments.md, "CPU cost"). Per-image GroupNorm makes it exact."""
    if images.device.type != "cpu" or len(images) <= CPU_ENCODE_CHUNK:
        return encoder(images)
    return torch.cat([encoder(part) for part in images.split(CPU_ENCODE_CHUNK)])


def encode_distinct(
    encoder: nn.Module, batch: PageBatch, images: Images, history_grad: bool = True
) -> torch.Tensor:
    """Embeddings [U, d] of the batch's distinct images, each encoded once."""
    if history_grad or bool(batch.on_page.all()):
        return encode(encoder, images(batch.rows))
    on_page = batch.on_page.cpu().numpy()
    with_grad = encode(encoder, images(batch.rows[on_page]))
    with torch.no_grad():
        without = encode(encoder, images(batch.rows[~on_page]))
    out = with_grad.new_zeros(len(batch.rows), with_grad.shape[1])
    out = out.index_copy(0, torch.from_numpy(np.flatnonzero(on_page)).to(out.device), with_grad)
    return out.index_copy(0, torch.from_numpy(np.flatnonzero(~on_page)).to(out.device), without.to(out.dtype))


def encode_pages(
    encoder: nn.Module, batch: PageBatch, images: Images, history_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The dedup path: (history [B, L, d], page [B, M, d], distinct [U, d])."""
    distinct = encode_distinct(encoder, batch, images, history_grad)
    return distinct[batch.history_index], distinct[batch.page_index], distinct


def encode_pages_naive(
    encoder: nn.Module, batch: PageBatch, images: Images
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference path: encode every real history and page position (benchmarks and tests only)."""
    out = []
    for index, mask in ((batch.history_index, batch.history_mask), (batch.page_index, batch.page_mask)):
        flat_mask = mask.reshape(-1)
        positions = torch.nonzero(flat_mask).squeeze(1)
        rows = batch.rows[index.reshape(-1)[flat_mask].cpu().numpy()]
        emb = encode(encoder, images(rows))
        full = emb.new_zeros(flat_mask.numel(), emb.shape[1]).index_copy(0, positions, emb)
        out.append(full.reshape(*mask.shape, emb.shape[1]))
    return out[0], out[1]
