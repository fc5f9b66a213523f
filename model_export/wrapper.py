"""The graph the service runs: uint8 NHWC RGB in, L2-normalised float32 embeddings out.

Putting cast, scaling, mean/std normalisation and NHWC→NCHW inside the graph means a caller only has to
decode and resize (courier_core.images.decode_image) and can never get the normalisation subtly wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

Precision = Literal["fp32", "fp16"]


class ExportWrapper(nn.Module):
    """Wrap any encoder taking normalised float NCHW images and returning [N, D] vectors.

    For fp16 the encoder's weights and compute are half precision; normalisation happens in float32 before
    the cast, and the output is cast back to float32 and re-normalised so callers always get unit float32.
    """

    def __init__(
        self, encoder: nn.Module, mean: Sequence[float], std: Sequence[float], precision: Precision = "fp32"
    ) -> None:
        super().__init__()
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, not {precision!r}")
        encoder = copy.deepcopy(encoder).eval()
        self.encoder = encoder.half() if precision == "fp16" else encoder.float()
        self.precision = precision
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        if self.precision == "fp16":
            x = x.to(torch.float16)
        embedding = self.encoder(x).to(torch.float32)
        return nn.functional.normalize(embedding, dim=-1)
