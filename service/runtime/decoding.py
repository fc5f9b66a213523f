"""Request images to model input, in worker processes: base64 → bytes → `courier_core.images.decode_image`.

Decoding runs in a process pool, not threads, because the service process's GIL is already busy with the
event loop: with decode threads the service used only 1.3-1.6 of 2 cores under full load, with processes
1.75 (benchmarks/RESULTS.md). Workers load numpy, Pillow and pydantic-core, not the web stack or
onnxruntime, and results cross the pipe as small uint8 arrays.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from courier_core.errors import ItemCode
from courier_core.images import ImageError, decode_image
from service import metrics

log = logging.getLogger(__name__)

# pydantic-core's Rust base64 decoder: ~30 µs for a 36 KB string against ~170 µs for base64.b64decode(
# validate=True). It also accepts unpadded and URL-safe input.
_BASE64 = TypeAdapter(bytes, config=ConfigDict(val_json_bytes="base64"))


@dataclass(frozen=True)
class DecodeLimits:
    size: int
    max_pixels: int
    max_bytes: int


@dataclass(frozen=True)
class DecodeFailure:
    """A picklable per-item failure (ImageError's constructor does not survive pickling)."""

    code: str
    message: str


def decode_sources(
    sources: list[bytes | str], limits: DecodeLimits
) -> tuple[list[np.ndarray | DecodeFailure], float]:
    """In a worker: each source decoded, or its failure (never raised: one bad image fails alone); and
    the seconds spent, for the preprocessing metric the parent process keeps."""
    started = time.perf_counter()
    results: list[np.ndarray | DecodeFailure] = []
    for data in sources:
        try:
            results.append(decode_source(data, limits))
        except ImageError as exc:
            results.append(DecodeFailure(exc.code, exc.message))
        except Exception as exc:  # a decoder bug on one image must not fail the others
            results.append(DecodeFailure(ItemCode.IMAGE_DECODE_ERROR, f"cannot decode the image: {exc}"))
    return results, time.perf_counter() - started


def decode_source(data: bytes | str, limits: DecodeLimits) -> np.ndarray:
    """base64 text (a str) or raw bytes to a uint8 (size, size, 3) array; raises ImageError."""
    if isinstance(data, str):
        if len(data) * 3 // 4 > limits.max_bytes + 3:
            raise ImageError(ItemCode.IMAGE_TOO_LARGE, f"image is over the {limits.max_bytes}-byte limit")
        try:
            data = _BASE64.validate_strings(data)
        except ValidationError:
            raise ImageError(ItemCode.IMAGE_DECODE_ERROR, "image_b64 is not valid base64") from None
    return decode_image(data, limits.size, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: exit when the service process is gone, even after a SIGKILL that gave it
    no chance to shut the pool down (an orphaned worker would otherwise live on)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="courier-parent-watch", daemon=True).start()


class DecodePool:
    """`decode_sources` in a pool of spawned worker processes that outlives a crashed worker.

    A worker killed by a decoder crash (or the OOM killer) breaks a ProcessPoolExecutor for good; the
    pool is then replaced. Items of the chunk that was in the dead worker fail with `image_decode_error`;
    a chunk refused at submission because an idle worker died is retried once on the new pool.
    """

    def __init__(self, workers: int, limits: DecodeLimits) -> None:
        self.workers = workers
        self._limits = limits
        self._executor = self._new_executor()
        self._in_flight = 0

    @property
    def idle(self) -> bool:
        """No chunk is being decoded or waits for a worker."""
        return self._in_flight == 0

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the service process runs threads (event loop, onnxruntime, batcher)
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    async def start(self) -> None:
        """Start every worker now (each imports numpy and Pillow, ~0.5 s) instead of on first requests."""
        await asyncio.gather(*(self.decode([]) for _ in range(self.workers)))

    async def decode(self, sources: list[bytes | str]) -> list[np.ndarray | DecodeFailure]:
        """Each source's image or failure, in order; never raises for a bad image."""
        self._in_flight += 1
        try:
            return await self._decode(sources)
        finally:
            self._in_flight -= 1

    async def _decode(self, sources: list[bytes | str]) -> list[np.ndarray | DecodeFailure]:
        executor = self._executor
        try:
            future = executor.submit(decode_sources, sources, self._limits)
        except BrokenProcessPool:
            executor = self._replace(executor)
            future = executor.submit(decode_sources, sources, self._limits)
        try:
            results, seconds = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("a decode worker died while decoding %d images", len(sources))
            self._replace(executor)
            message = "the decode worker crashed on this request's images"
            return [DecodeFailure(ItemCode.IMAGE_DECODE_ERROR, message) for _ in sources]
        if sources:
            metrics.PREPROCESS.observe(seconds / len(sources))
        return results

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A fresh pool in place of `broken`, once, however many requests saw it break."""
        if self._executor is broken:
            log.warning("the decode pool lost a worker; replacing the pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return self._executor
