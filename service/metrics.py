"""Every Prometheus series of the service (docs/design.md, "Metrics"), defined once. Durations are in seconds.

One process serves one model on one device, so the default per-process registry is the unit that
Prometheus scrapes; several uvicorn workers are not supported (each would hold its own model copy and
batch queue, defeating batching, and would need prometheus multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

REQUESTS = Counter("courier_requests", "HTTP requests by route and status code.", ["route", "code"])
REQUEST_DURATION = Histogram(
    "courier_request_duration_seconds", "HTTP request latency.", ["route"], buckets=_LATENCY_BUCKETS
)
ITEMS = Counter(
    "courier_items", "Items answered by /embed, by outcome (cached, computed or an error code).", ["outcome"]
)
QUEUE_ITEMS = Gauge("courier_queue_items", "Items admitted and not yet answered (decode, queue, inference).")
QUEUE_PIXELS = Gauge(
    "courier_queue_pixels", "Decode cost (pixels read from image headers) of the admitted, unanswered items."
)
BODY_BYTES_IN_FLIGHT = Gauge("courier_body_bytes_in_flight", "Bytes of request bodies being read or served.")
QUEUE_WAIT = Histogram(
    "courier_queue_wait_seconds", "Time an item waited in the batch queue.", buckets=_LATENCY_BUCKETS
)
QUEUE_REJECTIONS = Counter(
    "courier_queue_rejections", "Requests refused before queueing, by reason.", ["reason"]
)
BATCH_SIZE = Histogram(
    "courier_batch_size",
    "Items per inference batch (before bucket padding).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
PREPROCESS = Histogram(
    "courier_preprocess_seconds", "Decode and resize time per image.", buckets=_FAST_BUCKETS + (2.5, 5.0)
)
INFERENCE = Histogram("courier_inference_seconds", "onnxruntime time per batch.", buckets=_LATENCY_BUCKETS)
FETCH = Histogram("courier_fetch_seconds", "image_url download time.", buckets=_LATENCY_BUCKETS)
CACHE_REQUESTS = Counter(
    "courier_cache_requests",
    "Cache look-ups per item: hit, miss (absent or wrong length) or unavailable (backend down).",
    ["result"],
)
CACHE_OP = Histogram("courier_cache_op_seconds", "Cache backend round trips.", ["op"], buckets=_FAST_BUCKETS)
CACHE_ERRORS = Counter("courier_cache_errors", "Cache backend failures (served uncached).", ["op"])
MODEL_INFO = Gauge(
    "courier_model_info",
    'The served model (value 1); gpu_unused="true" when an NVIDIA GPU is visible but serving runs on CPU.',
    ["name", "version", "dim", "provider", "gpu_unused"],
)
READY = Gauge("courier_ready", "1 when /readyz answers 200.")
BATCH_FAILURES = Counter("courier_batch_failures", "Inference batches that raised.")
