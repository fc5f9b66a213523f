"""Decode a batch of catalogue images in a thread or process pool, with per-item error codes.

Decoding goes through `courier_core.images` (the one decode/resize function), so a backfilled vector is
the vector the service returns for the same image. Pillow releases the GIL while decoding and resizing,
so threads scale on CPUs without copying pixels between processes; a process pool is there for hosts
where Python overhead between calls dominates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import httpx
import numpy as np

from courier_core.dataset import is_url
from courier_core.errors import ItemCode
from courier_core.images import ImageError, decode_image, read_image_file

FETCH_ERROR = "fetch_error"
FETCH_TIMEOUT = "fetch_timeout"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT_S = 5.0

PoolKind = Literal["thread", "process"]


@dataclass(frozen=True)
class ItemFailure:
    item_id: str
    code: str
    message: str


@dataclass
class DecodedBatch:
    """The decoded images of a batch (`images[k]` belongs to `item_ids[k]`) and the items that failed."""

    item_ids: list[str]
    images: np.ndarray
    failures: list[ItemFailure] = field(default_factory=list)


def load_image(source: str, size: int) -> np.ndarray:
    """A local path or http(s) URL to a uint8 [size, size, 3] array; raises ImageError with a code."""
    if not is_url(source):
        return read_image_file(source, size)
    try:
        with httpx.stream("GET", source, timeout=FETCH_TIMEOUT_S, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ImageError(FETCH_ERROR, f"GET {source} returned HTTP {response.status_code}")
            data = bytearray()
            for block in response.iter_bytes():
                data += block
                if len(data) > MAX_IMAGE_BYTES:
                    raise ImageError(
                        ItemCode.IMAGE_TOO_LARGE, f"{source} is larger than {MAX_IMAGE_BYTES} bytes"
                    )
    except httpx.TimeoutException:
        raise ImageError(FETCH_TIMEOUT, f"GET {source} took longer than {FETCH_TIMEOUT_S} s") from None
    except httpx.HTTPError as exc:
        raise ImageError(FETCH_ERROR, f"GET {source} failed: {exc}") from None
    return decode_image(bytes(data), size)


def decode_batch(item_ids: Sequence[str], sources: Sequence[str], size: int) -> DecodedBatch:
    """Decode every source; failures are reported, never raised, so one bad image costs only itself."""
    ok_ids: list[str] = []
    images = np.empty((len(sources), size, size, 3), dtype=np.uint8)
    failures: list[ItemFailure] = []
    for item_id, source in zip(item_ids, sources, strict=True):
        try:
            images[len(ok_ids)] = load_image(source, size)
        except ImageError as exc:
            failures.append(ItemFailure(item_id, exc.code, exc.message))
            continue
        ok_ids.append(item_id)
    return DecodedBatch(ok_ids, images[: len(ok_ids)], failures)


class DecodePool:
    """A pool decoding whole batches; `submit` returns a future of DecodedBatch."""

    def __init__(self, workers: int, kind: PoolKind = "thread") -> None:
        if workers < 1:
            raise ValueError(f"decode workers must be >= 1, got {workers}")
        self.workers = workers
        self.kind = kind
        self._executor: Executor = (
            ThreadPoolExecutor(workers, thread_name_prefix="decode")
            if kind == "thread"
            else ProcessPoolExecutor(workers)
        )

    def submit(self, item_ids: Sequence[str], sources: Sequence[str], size: int) -> Future[DecodedBatch]:
        return self._executor.submit(decode_batch, list(item_ids), list(sources), size)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_decode_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))
