"""From the uint8 image cache to encoder input: gather rows, move to the device, scale and normalise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class ImageFeeder:
    """`unit(rows)` → float [n, 3, S, S] in [0, 1]; `normalise(x)`; `__call__(rows)` = both."""

    def __init__(
        self, array: np.ndarray, mean: Sequence[float], std: Sequence[float], device: torch.device | str
    ) -> None:
        self.array = array
        self.device = torch.device(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def unit(self, rows: np.ndarray) -> torch.Tensor:
        batch = torch.from_numpy(np.ascontiguousarray(self.array[np.asarray(rows)]))
        batch = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        return batch.float().div_(255.0).contiguous()

    def normalise(self, unit: torch.Tensor) -> torch.Tensor:
        return (unit - self.mean) / self.std

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        return self.normalise(self.unit(rows))
