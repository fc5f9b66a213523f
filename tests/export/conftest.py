"""Export-test fixtures built on the real tiny trained run (`tiny_run`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch import nn

from model_export.export import ExportConfig, ExportResult, export_encoder
from model_export.parity_images import parity_images
from model_export.run_info import data_dir_from_config
from training.checkpoint import EncoderInfo, load_encoder

ExportTiny = Callable[..., ExportResult]


@pytest.fixture(scope="session")
def tiny_encoder(tiny_run: Path) -> tuple[nn.Module, EncoderInfo]:
    return load_encoder(tiny_run)


@pytest.fixture(scope="session")
def tiny_parity_images(tiny_run: Path, tiny_encoder) -> np.ndarray:
    _, info = tiny_encoder
    return parity_images(data_dir_from_config(info.config, tiny_run), info.image_size, count=8)


@pytest.fixture(scope="session")
def export_tiny(tiny_encoder, tiny_parity_images: np.ndarray) -> ExportTiny:
    """export_tiny(repo, precision=..., graph_hook=..., encoder=...) exports the tiny run's encoder into repo."""
    default_encoder, info = tiny_encoder

    def run(
        repo: Path, *, encoder: nn.Module | None = None, graph_hook=None, **settings: Any
    ) -> ExportResult:
        config = ExportConfig(repo=repo, **settings)
        return export_encoder(
            encoder or default_encoder, info, tiny_parity_images, config, graph_hook=graph_hook
        )

    return run
