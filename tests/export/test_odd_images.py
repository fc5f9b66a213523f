"""The exported graph on real odd-sized image files equals `training embed`'s vectors for the same items."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from courier_core.embeddings_file import read_embeddings
from courier_core.images import read_image_file
from courier_core.model_repo import load_model_dir
from model_export.session import open_checked_session, run_batches

TOLERANCE = 1e-4


def _photo(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(xx / (7 + c * 5) + seed) * np.cos(yy / (11 + c * 3)) for c in range(3)], axis=-1)
    pixels = 128 + 90 * base + rng.normal(0, 10, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _write_images(images_dir: Path) -> dict[str, str]:
    """item_id → file name, one real file per awkward case."""
    images_dir.mkdir(parents=True)
    files = {
        "wide": ("wide.jpg", _photo(640, 120, 1), {"quality": 88}),
        "tall": ("tall.jpg", _photo(90, 333, 2), {"quality": 75}),
        "tiny": ("tiny.jpg", _photo(5, 3, 3), {}),
        "huge": ("huge.jpg", _photo(3000, 2200, 4), {"quality": 92}),
        "gray": ("gray.jpg", _photo(211, 157, 5).convert("L"), {}),
        "cmyk": ("cmyk.jpg", _photo(160, 100, 6).convert("CMYK"), {}),
        "alpha": ("alpha.png", _photo(150, 90, 7).convert("RGBA"), {}),
        "square": ("square.png", _photo(64, 64, 8), {}),
    }
    alpha = files["alpha"][1]
    alpha.putalpha(Image.linear_gradient("L").resize(alpha.size))
    for file_name, image, options in files.values():
        image.save(images_dir / file_name, **options)
    return {item_id: file_name for item_id, (file_name, _, _) in files.items()}


@pytest.fixture
def odd_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    names = _write_images(root / "images")
    items = pd.DataFrame(
        {
            "item_id": list(names),
            "image": [f"images/{name}" for name in names.values()],
            "title": [f"odd {item_id}" for item_id in names],
            "category": "odd",
        }
    )
    events = pd.DataFrame(
        {
            "user_id": "u0",
            "request_id": [f"r{i}" for i in range(len(items))],
            "item_id": items["item_id"],
            "clicked": [i % 2 for i in range(len(items))],
            "ts": np.arange(len(items), dtype=np.int64) * 1000,
        }
    )
    items.to_parquet(root / "items.parquet", index=False)
    events.to_parquet(root / "events.parquet", index=False)
    return root


def test_onnx_on_odd_real_files_matches_training_embed(
    tiny_run: Path, exported_model, odd_dataset, tmp_path
) -> None:
    out = tmp_path / "emb.parquet"
    command = [sys.executable, "-m", "training", "embed", "--run", str(tiny_run), "--data", str(odd_dataset)]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trained = read_embeddings(out)

    model = load_model_dir(exported_model.version_dir)
    session = open_checked_session(model.onnx_path, model.manifest)
    items = pd.read_parquet(odd_dataset / "items.parquet").set_index("item_id")
    size = model.manifest.input_size
    images = np.stack([read_image_file(odd_dataset / items.loc[i, "image"], size) for i in trained.item_ids])
    served = run_batches(session, images)

    assert served.shape == trained.matrix.shape
    worst = np.abs(served - trained.matrix).max(axis=1)
    assert worst.max() <= TOLERANCE, dict(zip(trained.item_ids, worst.tolist(), strict=True))
