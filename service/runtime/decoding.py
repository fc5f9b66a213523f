"""Images to model input in a worker pool: base64 text, encoded bytes or a local file →
`courier_core.images.decode_image`. The service and the backfill decode through this one pool.

The service decodes in processes, not threads: its own GIL is busy with the event loop, so decode threads
leave cores idle under load (benchmarks/RESULTS.md). Workers load numpy, Pillow and pydantic-core, not
the web stack or onnxruntime, and results cross the pipe as small uint8 arrays. The backfill, whose main
process is mostly idle, defaults to threads (Pillow releases the GIL while decoding and resizing).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from courier_core.errors import ItemCode, ItemError
from courier_core.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    base64_image_bytes,
    decode_image,
    read_image_file,
)
from service import metrics

log = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
PoolKind = Literal["process", "thread"]
# What can be decoded: base64 text (a request's image_b64), encoded bytes (a fetched URL) or a local file.
Source = str | bytes | Path
Decoded = np.ndarray | ItemError

# pydantic-core's Rust base64 decoder is several times faster than base64.b64decode(validate=True) and
# also accepts unpadded and URL-safe input.
_BASE64 = TypeAdapter(bytes, config=ConfigDict(val_json_bytes="base64"))


@dataclass(frozen=True)
class DecodeLimits:
    size: int
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES


def decode_source(source: Source, limits: DecodeLimits) -> np.ndarray:
    """One source to a uint8 (size, size, 3) array; raises ImageError."""
    if isinstance(source, Path):
        return read_image_file(source, limits.size, max_pixels=limits.max_pixels)
    if isinstance(source, str):
        if len(source) * 3 // 4 > limits.max_bytes + 3:
            raise ImageError(ItemCode.IMAGE_TOO_LARGE, f"image is over the {limits.max_bytes}-byte limit")
        try:
            source = _BASE64.validate_strings(source)
        except ValidationError:  # line breaks, a data: URI, or not base64 at all (a clear ImageError)
            source = base64_image_bytes(source)
    return decode_image(source, limits.size, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes)


def decode_sources(sources: Sequence[Source], limits: DecodeLimits) -> tuple[list[Decoded], float]:
    """In a worker: each source decoded, or its error (never raised: one bad image fails alone); and the
    seconds spent, for the preprocessing metric the parent process keeps."""
    started = time.perf_counter()
    results: list[Decoded] = []
    for source in sources:
        try:
            results.append(decode_source(source, limits))
        except ItemError as exc:
            results.append(exc.with_traceback(None))
        except Exception as exc:  # a decoder bug on one image must not fail the others
            results.append(ItemError(ItemCode.IMAGE_DECODE_ERROR, f"cannot decode the image: {exc}"))
    return results, time.perf_counter() - started


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: exit when the parent process is gone, even after a SIGKILL that gave it no
    chance to shut the pool down (an orphaned worker would otherwise live on)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="courier-parent-watch", daemon=True).start()


class DecodePool:
    """`decode_sources` in a pool of spawned worker processes (or threads) that outlives a crashed worker.

    A worker killed by a decoder crash (or the OOM killer) breaks a ProcessPoolExecutor for good; the
    pool is then replaced. Items of the chunk that was in the dead worker fail with `image_decode_error`;
    a chunk refused at submission because an idle worker died is retried once on the new pool.
    """

    def __init__(self, workers: int, limits: DecodeLimits, kind: PoolKind = "process") -> None:
        if workers < 1:
            raise ValueError(f"decode workers must be >= 1, got {workers}")
        self.workers = workers
        self.kind = kind
        self.limits = limits
        self._executor = self._new_executor()
        self._in_flight = 0

    @property
    def idle(self) -> bool:
        """No chunk is being decoded or waits for a worker."""
        return self._in_flight == 0

    def _new_executor(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(self.workers, thread_name_prefix="courier-decode")
        # spawn, not fork: the parent runs threads (event loop, onnxruntime, batcher)
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    async def start(self) -> None:
        """Start every worker now (a process imports numpy and Pillow first) instead of on first requests."""
        await asyncio.gather(*(self.decode([]) for _ in range(self.workers)))

    async def decode(self, sources: Sequence[Source]) -> list[Decoded]:
        """Each source's image or error, in order; never raises for a bad image."""
        self._in_flight += 1
        try:
            return await self._decode(list(sources))
        finally:
            self._in_flight -= 1

    async def _decode(self, sources: list[Source]) -> list[Decoded]:
        executor = self._executor
        try:
            future = executor.submit(decode_sources, sources, self.limits)
        except BrokenProcessPool:
            executor = self._replace(executor)
            future = executor.submit(decode_sources, sources, self.limits)
        try:
            results, seconds = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("a decode worker died while decoding %d images", len(sources))
            self._replace(executor)
            message = "the decode worker crashed on this request's images"
            return [ItemError(ItemCode.IMAGE_DECODE_ERROR, message) for _ in sources]
        if sources:
            metrics.PREPROCESS.observe(seconds / len(sources))
        return results

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _replace(self, broken: Executor) -> Executor:
        """A fresh pool in place of `broken`, once, however many requests saw it break."""
        if self._executor is broken:
            log.warning("the decode pool lost a worker; replacing the pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return self._executor


def default_decode_workers() -> int:
    """The CPUs this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))
