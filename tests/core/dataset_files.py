"""Real dataset files for the core tests: JPEG bytes and a writer for the three parquet files."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from PIL import Image


def jpeg_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_dataset(
    root: Path, items: pd.DataFrame, events: pd.DataFrame, oracle: pd.DataFrame | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    items.to_parquet(root / "items.parquet", index=False)
    events.to_parquet(root / "events.parquet", index=False)
    if oracle is not None:
        oracle.to_parquet(root / "oracle.parquet", index=False)
    return root
