"""A lean HTTP/1.1 load generator (wrk-style) for benchmarks/serve.py.

The service and the load generator share the same 2 cores, so every core-millisecond the client spends is
taken from the service and shows up as a lower ratio to the pipeline limit (which counts only decode and
model time). httpx cost ~1 core-ms per cache-miss item (~0.6 core at 600 items/s); this client sends
request bytes built before the clock starts over keep-alive asyncio connections and reads only the status
line, the headers and Content-Length bytes of body. It still checks every status code and counts per-item
errors in 200 bodies, so a fast failure is never counted as throughput.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import orjson

# A per-item failure in a 200 /embed body is `{"item_id": ..., "error": {"code": ...}}` (docs/design.md, "Service API").
ITEM_ERROR = b'"error":{'


@dataclass(frozen=True)
class Request:
    """One prepared request: the raw HTTP/1.1 bytes and the items it carries."""

    raw: bytes
    items: int


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    items_done: int = 0
    item_errors: int = 0


def build_request(host: str, path: str, body: object, items: int) -> Request:
    """Serialise the body and the request head once, before any timing."""
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode("ascii")
    return Request(head + payload, items)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one response; only Content-Length bodies (what uvicorn sends here)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep_alive = None, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(length), keep_alive


async def _worker(host: str, port: int, queue: list[Request], deadline: float, tally: _Tally) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue and time.monotonic() < deadline:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request.raw)
            status, body, keep_alive = await _read_response(reader)
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if status == 200:
                errors = body.count(ITEM_ERROR)
                tally.item_errors += errors
                tally.items_done += request.items - errors
            if not keep_alive:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    arr = np.array(latencies) * 1000
    return {f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)}


async def run_phase(
    host: str, port: int, requests: list[Request], concurrency: int, timeout_s: float
) -> dict:
    """Send the requests over `concurrency` keep-alive connections; items/s, latency percentiles, statuses."""
    tally = _Tally()
    queue = list(reversed(requests))  # pop() from the end keeps the given order
    deadline = time.monotonic() + timeout_s
    started = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, queue, deadline, tally) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "items": tally.items_done,
        "item_errors": tally.item_errors,
        "seconds": wall,
        "items_per_s": tally.items_done / wall,
        "status": tally.statuses,
        "latencies_s": tally.latencies,
    } | percentiles(tally.latencies)


def merge_phases(phases: list[dict]) -> dict:
    """One phase's figures from several rounds: items/s over the summed time, percentiles over all."""
    statuses: dict[int, int] = {}
    for phase in phases:
        for status, count in phase["status"].items():
            statuses[status] = statuses.get(status, 0) + count
    items = sum(phase["items"] for phase in phases)
    seconds = sum(phase["seconds"] for phase in phases)
    latencies = [latency for phase in phases for latency in phase["latencies_s"]]
    return {
        "items": items,
        "item_errors": sum(phase["item_errors"] for phase in phases),
        "seconds": seconds,
        "items_per_s": items / seconds,
        "status": statuses,
        "latencies_s": latencies,
    } | percentiles(latencies)
