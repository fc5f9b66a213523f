"""Admission control: what is admitted is bounded in items, in decode pixels and in request-body bytes, and
work that does not fit is refused at once.

Refusing early (429 + Retry-After) keeps latency bounded for admitted work and tells clients to back off,
instead of letting a backlog grow until every request times out. Items alone are not enough: a 170 KB PNG
can hold 40 megapixels, seconds of a decode worker, so a few such images would hold every small request
back. Each item is therefore also charged its decode cost in pixels, read from the image header.
"""

from __future__ import annotations

import binascii
import io

import imagesize

from service import metrics

# Base64 characters read to find an image's size: PNG, GIF, BMP and WebP give it in the first 30 bytes; a
# JPEG's frame header follows its APP segments (EXIF, ICC), so a longer prefix is read when it is missing.
_HEADER_B64_CHARS = 1024
_JPEG_HEADER_B64_CHARS = 96 * 1024
# JPEGs decode at 1/2, 1/4 or 1/8 scale when that still covers the model input (courier_core.images).
_JPEG_SCALES = (8, 4, 2, 1)


class QueueFull(Exception):
    """The request does not fit in the queue now; `retry_after_s` is when the backlog should be gone."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyPixels(Exception):
    """The request's images cost more pixels than the whole queue holds: it can never be admitted."""


class Admission:
    """Counts admitted, unanswered items (decode + queue + inference) and their decode pixels. Event-loop
    only, so no lock.

    `drain_items_per_s` is the rate at which the backlog is expected to clear; a refused request is told
    to retry once the items now in flight would be done at that rate (at least one second).
    """

    def __init__(self, max_items: int, drain_items_per_s: float, max_pixels: int | None = None) -> None:
        if drain_items_per_s <= 0:
            raise ValueError(f"drain_items_per_s must be > 0, got {drain_items_per_s}")
        self.max_items = max_items
        self.max_pixels = max_pixels
        self._drain_items_per_s = drain_items_per_s
        self._in_flight = 0
        self._pixels = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def pixels(self) -> int:
        return self._pixels

    def admit(self, count: int, pixels: int = 0) -> None:
        """Reserve `count` items costing `pixels`, or raise `QueueFull` / `TooManyPixels` (nothing is
        reserved then)."""
        if count <= 0:
            return
        if self.max_pixels is not None and pixels > self.max_pixels:
            metrics.QUEUE_REJECTIONS.labels("too_many_pixels").inc()
            raise TooManyPixels(
                f"the request's images decode to {pixels:,} pixels; the limit is {self.max_pixels:,} "
                "(COURIER_MAX_QUEUE_PIXELS): send them in smaller requests"
            )
        retry_after_s = max(1.0, self._in_flight / self._drain_items_per_s)
        if self._in_flight + count > self.max_items:
            metrics.QUEUE_REJECTIONS.labels("queue_full").inc()
            message = (
                f"queue full: {self._in_flight} of {self.max_items} items in flight, request needs {count}"
            )
            raise QueueFull(message, retry_after_s)
        if self.max_pixels is not None and self._pixels + pixels > self.max_pixels:
            metrics.QUEUE_REJECTIONS.labels("queue_pixels").inc()
            message = (
                f"queue full: images of {self._pixels:,} of {self.max_pixels:,} pixels in flight, "
                f"request needs {pixels:,}"
            )
            raise QueueFull(message, retry_after_s)
        self._in_flight += count
        self._pixels += pixels
        self._publish()

    def charge(self, pixels: int) -> None:
        """Add pixels learnt after admission (an image_url's downloaded header); never refuses."""
        self._pixels += pixels
        self._publish()

    def release(self, count: int = 1, pixels: int = 0) -> None:
        self._in_flight = max(0, self._in_flight - count)
        self._pixels = max(0, self._pixels - pixels)
        self._publish()

    def _publish(self) -> None:
        metrics.QUEUE_ITEMS.set(self._in_flight)
        metrics.QUEUE_PIXELS.set(self._pixels)


def base64_decode_cost(text: str, size: int) -> int:
    """The decode cost of a base64 image in pixels, from its header; `size * size` when the header gives
    no size (a broken image fails fast, an unusual format is charged like a small image)."""
    cost = _cost_of(_b64_prefix(text, _HEADER_B64_CHARS), size)
    if cost is None and text.startswith("/9j/"):  # a JPEG whose frame header lies past the first read
        cost = _cost_of(_b64_prefix(text, _JPEG_HEADER_B64_CHARS), size)
    return cost if cost is not None else size * size


def bytes_decode_cost(data: bytes, size: int) -> int:
    """The decode cost of encoded image bytes in pixels (see `base64_decode_cost`)."""
    cost = _cost_of(data[: _JPEG_HEADER_B64_CHARS * 3 // 4], size)
    return cost if cost is not None else size * size


def _b64_prefix(text: str, chars: int) -> bytes:
    prefix = text[: chars - chars % 4]
    try:
        return binascii.a2b_base64(prefix)
    except (binascii.Error, ValueError):
        return b""


def _cost_of(header: bytes, size: int) -> int | None:
    try:
        width, height = imagesize.get(io.BytesIO(header))
    except Exception:  # imagesize on a truncated or hostile header: size unknown
        return None
    if width <= 0 or height <= 0:
        return None
    if header.startswith(b"\xff\xd8"):
        scale = next(s for s in _JPEG_SCALES if min(width, height) // s >= size or s == 1)
        return -(-width // scale) * -(-height // scale)
    return width * height


class BodyBudget:
    """Bytes of request bodies being read or served, bounded: a body is charged before it is read (its
    Content-Length, or chunk by chunk when it has none) and released when its response is sent."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def reserve(self, size: int) -> bool:
        """Charge `size` bytes, or return False (nothing charged) when they do not fit now."""
        if self._in_flight + size > self.max_bytes:
            metrics.QUEUE_REJECTIONS.labels("body_bytes").inc()
            return False
        self._in_flight += size
        metrics.BODY_BYTES_IN_FLIGHT.set(self._in_flight)
        return True

    def release(self, size: int) -> None:
        self._in_flight = max(0, self._in_flight - size)
        metrics.BODY_BYTES_IN_FLIGHT.set(self._in_flight)
