"""Micro-batcher: one worker thread forms batches (size or delay bound) and runs the engine.

The worker is a thread, not an event-loop task, so it starts the next batch as soon as the last one
returns instead of waiting for the loop, which on a small CPU host is busy parsing requests; only the
results go back to the loop, once per batch.
Items whose deadline passed while queued are dropped before inference, so a backlog sheds stale work
instead of spending the model on answers nobody waits for. A failing batch fails only its own items.
Every future is resolved with an `Outcome` (a vector, `deadline` or `inference_error`), never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from courier_core.errors import ItemCode
from service import metrics
from service.runtime.outcome import Outcome

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    image: np.ndarray
    deadline: float
    future: asyncio.Future[Outcome]
    enqueued_at: float


class Batcher:
    """`submit(image, future, deadline)` from any thread; the future is resolved on the event loop."""

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
        self._changed = threading.Condition()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: threading.Thread | None = None
        self.consecutive_failures = 0

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    @property
    def healthy(self) -> bool:
        """Worker running and the recent batches not all failing."""
        return self.alive and self.consecutive_failures < self._unready_after_failures

    def start(self) -> None:
        """Start the worker; futures are resolved on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._worker = threading.Thread(target=self._run, name="courier-batcher", daemon=True)
        self._worker.start()

    async def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._worker is not None:
            await asyncio.to_thread(self._worker.join)
        self._fail(self._take_all(), ItemCode.INFERENCE_ERROR, "the service is shutting down")

    def submit(self, image: np.ndarray, future: asyncio.Future[Outcome], deadline: float) -> None:
        """Queue one image (thread-safe). The worker is woken only when it waits for a first item or a
        batch is full, not for every item."""
        if not self.alive or self._stopping:
            failed = Outcome.failed(ItemCode.INFERENCE_ERROR, "the batch worker is not running")
            self._call_on_loop(_resolve, [future], [failed])
            return
        with self._changed:
            self._pending.append(_Pending(image, deadline, future, time.monotonic()))
            if len(self._pending) == 1 or len(self._pending) >= self._max_batch_size:
                self._changed.notify()

    def _next_batch(self) -> list[_Pending]:
        """Block until a batch closes (full, or the first item's delay passed); [] when stopping."""
        with self._changed:
            while not self._pending and not self._stopping:
                self._changed.wait()
            if self._stopping:
                return []
            close_at = self._pending[0].enqueued_at + self._max_delay_s
            while len(self._pending) < self._max_batch_size and not self._stopping:
                remaining = close_at - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            count = min(self._max_batch_size, len(self._pending))
            return [self._pending.popleft() for _ in range(count)]

    def _run(self) -> None:
        try:
            while batch := self._next_batch():
                self._process(batch)
        except Exception:
            log.exception("the batch worker died")
        finally:
            self._fail(self._take_all(), ItemCode.INFERENCE_ERROR, "the batch worker stopped")

    def _process(self, batch: list[_Pending]) -> None:
        now = time.monotonic()
        live: list[_Pending] = []
        expired: list[_Pending] = []
        for item in batch:
            metrics.QUEUE_WAIT.observe(now - item.enqueued_at)
            (expired if now > item.deadline else live).append(item)
        self._fail(expired, ItemCode.DEADLINE, "waited in the queue past the deadline")
        if not live:
            return
        metrics.BATCH_SIZE.observe(len(live))
        started = time.perf_counter()
        try:
            vectors = self._embed(np.stack([item.image for item in live]))
        except Exception as exc:  # the batch fails, the worker lives on
            self.consecutive_failures += 1
            metrics.BATCH_FAILURES.inc()
            log.exception("inference batch of %d items failed", len(live))
            self._fail(live, ItemCode.INFERENCE_ERROR, f"inference failed: {exc}")
            return
        metrics.INFERENCE.observe(time.perf_counter() - started)
        self.consecutive_failures = 0
        outcomes = [Outcome(vector=vector) for vector in vectors]
        self._call_on_loop(_resolve, [item.future for item in live], outcomes)

    def _take_all(self) -> list[_Pending]:
        with self._changed:
            items = list(self._pending)
            self._pending.clear()
        return items

    def _fail(self, items: list[_Pending], code: ItemCode, message: str) -> None:
        if items:
            failed = Outcome.failed(code, message)
            self._call_on_loop(_resolve, [item.future for item in items], [failed] * len(items))

    def _call_on_loop(self, callback: Callable[..., None], *args: object) -> None:
        """Run `callback` on the event loop (futures are not thread-safe); a closed loop means nobody
        waits any more."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(callback, *args)


def _resolve(futures: list[asyncio.Future[Outcome]], outcomes: list[Outcome]) -> None:
    for future, outcome in zip(futures, outcomes, strict=True):
        if not future.done():  # a cancelled request
            future.set_result(outcome)
