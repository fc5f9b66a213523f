"""Admission control: the queue is bounded in items, and a request that does not fit is refused at once.

Refusing early (429 + Retry-After) keeps latency bounded for admitted work and tells clients to back off,
instead of letting a backlog grow until every request times out.
"""

from __future__ import annotations

from service import metrics


class QueueFull(Exception):
    """The request's items do not fit in the queue now."""

    def __init__(self, requested: int, in_flight: int, limit: int) -> None:
        super().__init__(f"queue full: {in_flight} of {limit} items in flight, request needs {requested}")


class Admission:
    """Counts admitted, unanswered items (decode + queue + inference). Event-loop only, so no lock."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
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
            raise QueueFull(count, self._in_flight, self.max_items)
        self._in_flight += count
        metrics.QUEUE_ITEMS.set(self._in_flight)

    def release(self, count: int = 1) -> None:
        self._in_flight = max(0, self._in_flight - count)
        metrics.QUEUE_ITEMS.set(self._in_flight)
