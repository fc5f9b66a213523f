"""Admission control: the queue is bounded in items, and a request that does not fit is refused at once.

Refusing early (429 + Retry-After) keeps latency bounded for admitted work and tells clients to back off,
instead of letting a backlog grow until every request times out.
"""

from __future__ import annotations

from service import metrics


class QueueFull(Exception):
    """The request's items do not fit in the queue now; `retry_after_s` is when the backlog should be gone."""

    def __init__(self, requested: int, in_flight: int, limit: int, retry_after_s: float) -> None:
        super().__init__(f"queue full: {in_flight} of {limit} items in flight, request needs {requested}")
        self.retry_after_s = retry_after_s


class Admission:
    """Counts admitted, unanswered items (decode + queue + inference). Event-loop only, so no lock.

    `drain_items_per_s` is the rate at which the backlog is expected to clear; a refused request is told
    to retry once the items now in flight would be done at that rate (at least one second).
    """

    def __init__(self, max_items: int, drain_items_per_s: float) -> None:
        if drain_items_per_s <= 0:
            raise ValueError(f"drain_items_per_s must be > 0, got {drain_items_per_s}")
        self.max_items = max_items
        self._drain_items_per_s = drain_items_per_s
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def admit(self, count: int) -> None:
        """Reserve `count` slots or raise `QueueFull` (nothing is reserved then)."""
        if count <= 0:
            return
        if self._in_flight + count > self.max_items:
            metrics.QUEUE_REJECTIONS.labels("queue_full").inc()
            retry_after_s = max(1.0, self._in_flight / self._drain_items_per_s)
            raise QueueFull(count, self._in_flight, self.max_items, retry_after_s)
        self._in_flight += count
        metrics.QUEUE_ITEMS.set(self._in_flight)

    def release(self, count: int = 1) -> None:
        self._in_flight = max(0, self._in_flight - count)
        metrics.QUEUE_ITEMS.set(self._in_flight)
