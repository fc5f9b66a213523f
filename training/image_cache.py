"""Decode and resize every item image once per (items, size) into a memory-mapped uint8 array.

Training reads pixels from this cache instead of decoding JPEGs every step. The file name carries a
content hash of the item ids, image files (path, size, mtime) and the output size, so a changed image,
item list or size builds a new cache and an unchanged one is reused. Files are written to a temporary
name and renamed, so a crash never leaves a cache that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from courier_core.dataset import Dataset, is_url
from courier_core.images import RESIZE_POLICY, ImageError, read_image_file

CACHE_ENV = "COURIER_CACHE_DIR"
_FORMAT_VERSION = 1
_SHOWN_ERRORS = 10


class ImageCacheError(RuntimeError):
    """Some item images could not be decoded; training data must be complete, so nothing is cached."""


@dataclass(frozen=True)
class ImageCache:
    path: Path
    array: np.ndarray  # uint8 [N, size, size, 3], read-only memmap, rows in `item_ids` order
    item_ids: list[str]
    index: dict[str, int]
    size: int
    built: bool  # True when this call decoded the images, False when an existing cache was reused

    def rows(self, item_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of these items in `array` (int64); KeyError naming the unknown ids."""
        ids = list(item_ids)
        try:
            return np.fromiter((self.index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError:
            unknown = [i for i in ids if i not in self.index]
            raise KeyError(f"{len(unknown)} item id(s) not in the image cache, e.g. {unknown[:5]}") from None


def default_cache_dir(dataset: Dataset) -> Path:
    return Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else dataset.root / ".courier_cache"


def open_image_cache(
    dataset: Dataset, size: int, cache_dir: str | Path | None = None, *, workers: int | None = None
) -> ImageCache:
    """The cache for these items at this size, built first when missing or stale."""
    item_ids = dataset.items["item_id"].tolist()
    sources = [dataset.image_source(item_id) for item_id in item_ids]
    remote = [item_id for item_id, source in zip(item_ids, sources, strict=True) if is_url(source)]
    if remote:
        raise ImageCacheError(
            f"the image cache needs local image files; {len(remote)} item(s) have URLs, e.g. {remote[:5]}"
        )
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir(dataset)
    path = directory / f"images-{size}px-{_content_key(item_ids, sources, size)}.npy"
    built = not path.exists()
    if built:
        directory.mkdir(parents=True, exist_ok=True)
        _build(path, item_ids, sources, size, workers or min(8, os.cpu_count() or 1))
    array = np.load(path, mmap_mode="r")
    if array.shape != (len(item_ids), size, size, 3) or array.dtype != np.uint8:
        raise ImageCacheError(f"{path} has shape {array.shape} {array.dtype}; delete it to rebuild")
    index = {item_id: row for row, item_id in enumerate(item_ids)}
    return ImageCache(path=path, array=array, item_ids=item_ids, index=index, size=size, built=built)


def _content_key(item_ids: list[str], sources: list[str], size: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([_FORMAT_VERSION, RESIZE_POLICY, size]).encode())
    for item_id, source in zip(item_ids, sources, strict=True):
        try:
            stat = os.stat(source)
            signature = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            signature = "missing"
        digest.update(f"\0{item_id}\0{source}\0{signature}".encode())
    return digest.hexdigest()[:20]


def _build(path: Path, item_ids: list[str], sources: list[str], size: int, workers: int) -> None:
    staging = path.with_name(f".{path.name}.partial-{os.getpid()}")
    failures: list[str] = []

    def decode(row: int) -> np.ndarray | str:
        try:
            return read_image_file(sources[row], size)
        except ImageError as exc:
            return f"{item_ids[row]} ({sources[row]}): {exc}"

    try:
        array = np.lib.format.open_memmap(
            staging, mode="w+", dtype=np.uint8, shape=(len(item_ids), size, size, 3)
        )
        with ThreadPoolExecutor(workers) as pool:
            decoded = pool.map(decode, range(len(item_ids)))
            progress = tqdm(
                decoded, total=len(item_ids), desc=f"caching images at {size}px", unit="img", disable=None
            )
            for row, image in enumerate(progress):
                if isinstance(image, str):
                    failures.append(image)
                else:
                    array[row] = image
        if failures:
            shown = "\n  ".join(failures[:_SHOWN_ERRORS])
            raise ImageCacheError(
                f"{len(failures)} of {len(item_ids)} item images could not be decoded; first ones:\n  {shown}"
            )
        array.flush()
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
