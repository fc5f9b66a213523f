"""The image cache: decoded once, reused while nothing changes, rebuilt when an image or the size
changes, and refused (with the list) when an image is unreadable."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from courier_core.dataset import load_dataset
from courier_core.images import read_image_file
from training.image_cache import ImageCacheError, open_image_cache

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def world_copy(tiny_world: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_world, tmp_path / "world"))


def test_built_once_then_reused(world_copy, tmp_path):
    dataset = load_dataset(world_copy)
    cache = open_image_cache(dataset, 24, tmp_path / "cache")
    assert cache.built and cache.array.shape == (len(dataset.items), 24, 24, 3)
    item_id = dataset.items["item_id"].iloc[5]
    expected = read_image_file(dataset.image_source(item_id), 24)
    assert np.array_equal(cache.array[cache.index[item_id]], expected)
    assert cache.rows([item_id, cache.item_ids[0]]).tolist() == [cache.index[item_id], 0]
    with pytest.raises(KeyError, match="not in the image cache"):
        cache.rows(["no-such-item"])

    again = open_image_cache(load_dataset(world_copy), 24, tmp_path / "cache")
    assert not again.built and again.path == cache.path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [cache.path.name]  # no temp files left


def test_rebuilt_when_an_image_or_the_size_changes(world_copy, tmp_path):
    dataset = load_dataset(world_copy)
    first = open_image_cache(dataset, 24, tmp_path / "cache")
    item_id = dataset.items["item_id"].iloc[0]
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 255, 0)).save(buffer, format="JPEG", quality=95)
    Path(dataset.image_source(item_id)).write_bytes(buffer.getvalue())
    changed = open_image_cache(dataset, 24, tmp_path / "cache")
    assert changed.built and changed.path != first.path
    pixel = changed.array[changed.index[item_id]][12, 12].astype(int)
    assert pixel[1] > 240 and pixel[0] < 20
    resized = open_image_cache(dataset, 16, tmp_path / "cache")
    assert resized.built and resized.array.shape[1:] == (16, 16, 3)


def test_default_location_follows_the_environment(world_copy, tmp_path, monkeypatch):
    dataset = load_dataset(world_copy)
    monkeypatch.delenv("COURIER_CACHE_DIR", raising=False)
    assert open_image_cache(dataset, 16).path.parent == world_copy.resolve() / ".courier_cache"
    monkeypatch.setenv("COURIER_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert open_image_cache(dataset, 16).path.parent == tmp_path / "elsewhere"


def test_unreadable_images_are_listed_and_nothing_is_cached(world_copy, tmp_path):
    dataset = load_dataset(world_copy)
    broken = dataset.items["item_id"].iloc[[3, 7]].tolist()
    for item_id in broken:
        Path(dataset.image_source(item_id)).write_bytes(b"not an image")
    with pytest.raises(ImageCacheError) as caught:
        open_image_cache(dataset, 16, tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith(f"2 of {len(dataset.items)} item images")
    assert all(item_id in message for item_id in broken) and "image_decode_error" in message
    assert not list((tmp_path / "cache").iterdir())


def test_preview_writes_a_contact_sheet(tiny_world, tmp_path):
    out = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, "-m", "training", "preview", str(tiny_world), "--out", str(out), "--users", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.width > 800 and sheet.height > 400
