"""Micro-batcher: one event-driven worker forms batches (size or delay bound) and runs the engine off-loop.

Items whose deadline passed while queued are dropped before inference, so a backlog sheds stale work
instead of spending the model on answers nobody waits for. A failing batch fails only its own items.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service import metrics

log = logging.getLogger(__name__)


class DeadlineExceeded(Exception):
    """The item waited in the queue past its deadline and was dropped before inference."""


class InferenceFailed(Exception):
    """The batch holding the item raised in the engine."""


@dataclass
class _Pending:
    image: np.ndarray
    deadline: float
    future: asyncio.Future[np.ndarray]
    enqueued_at: float = field(default_factory=time.monotonic)


class Batcher:
    """`submit(image, deadline)` returns a future resolved with the item's vector (or an exception)."""

    def __init__(
        self,
        embed: Callable[[np.ndarray], np.ndarray],
        *,
        max_batch_size: int,
        max_delay_s: float,
        unready_after_failures: int = 3,
    ) -> None:
        self._embed = embed
        self._max_batch_size = max_batch_size
        self._max_delay_s = max_delay_s
        self._unready_after_failures = unready_after_failures
        self._pending: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="courier-infer")
        self._worker: asyncio.Task[None] | None = None
        self.consecutive_failures = 0
        self.batches = 0

    @property
    def alive(self) -> bool:
        return self._worker is not None and not self._worker.done()

    @property
    def healthy(self) -> bool:
        """Worker running and the recent batches not all failing."""
        return self.alive and self.consecutive_failures < self._unready_after_failures

    @property
    def queued(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="courier-batcher")
        self._worker.add_done_callback(self._on_worker_exit)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._fail_pending(RuntimeError("service is shutting down"))
        self._executor.shutdown(wait=True)

    def submit(self, image: np.ndarray, deadline: float) -> asyncio.Future[np.ndarray]:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_exception(InferenceFailed("the batch worker is not running"))
            return future
        self._pending.append(_Pending(image, deadline, future))
        self._wakeup.set()
        return future

    async def _next_batch(self) -> list[_Pending]:
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        close_at = self._pending[0].enqueued_at + self._max_delay_s
        while len(self._pending) < self._max_batch_size:
            remaining = close_at - time.monotonic()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
        count = min(self._max_batch_size, len(self._pending))
        return [self._pending.popleft() for _ in range(count)]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            now = time.monotonic()
            live = []
            for item in batch:
                if item.future.done():  # cancelled by its request
                    continue
                metrics.QUEUE_WAIT.observe(now - item.enqueued_at)
                if now > item.deadline:
                    item.future.set_exception(DeadlineExceeded("waited in the queue past the deadline"))
                else:
                    live.append(item)
            if not live:
                continue
            metrics.BATCH_SIZE.observe(len(live))
            started = time.perf_counter()
            try:
                images = np.stack([item.image for item in live])
                vectors = await loop.run_in_executor(self._executor, self._embed, images)
            except Exception as exc:  # the batch fails, the worker lives on
                self.consecutive_failures += 1
                metrics.BATCH_FAILURES.inc()
                log.exception("inference batch of %d items failed", len(live))
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(InferenceFailed(f"inference failed: {exc}"))
                continue
            metrics.INFERENCE.observe(time.perf_counter() - started)
            self.consecutive_failures = 0
            self.batches += 1
            for item, vector in zip(live, vectors, strict=True):
                if not item.future.done():
                    item.future.set_result(vector)

    def _on_worker_exit(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the batch worker died: %r", task.exception())
        self._fail_pending(InferenceFailed("the batch worker stopped"))

    def _fail_pending(self, exc: Exception) -> None:
        while self._pending:
            item = self._pending.popleft()
            if not item.future.done():
                item.future.set_exception(exc)
