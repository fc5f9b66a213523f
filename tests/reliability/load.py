"""Closed-loop load on a real service process, for fault injection: client threads send requests back to
back and record what became of each one, so a test can say how many were sent, answered, failed or lost.

"Lost" means sent but never answered: the connection broke after the request went out (a reset, an early
close, a read that failed). A refused connection is counted apart: the request never left the client.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# What a thread sends: (method, path, JSON body), given the thread's index and its request number.
RequestFactory = Callable[[int, int], tuple[str, str, dict | None]]


@dataclass
class Result:
    path: str
    started: float  # time.monotonic() when sent
    latency_s: float
    status: int | None  # None: no HTTP answer
    error: str | None = None  # the transport error's class name
    code: str | None = None  # the error code of a refusal
    retry_after: str | None = None
    connection_close: bool = False


@dataclass
class Load:
    """Threads that each send requests one after the other until `stop()`."""

    base_url: str
    make_request: RequestFactory
    threads: int = 4
    timeout_s: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)
    # Cleared: the threads stop sending, as clients behind a load balancer that stopped routing here.
    routed: threading.Event = field(default_factory=threading.Event)
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.routed.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.threads)
        ]

    def start(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> list[Result]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout_s + 5)
        return self.results

    def _run(self, index: int) -> None:
        client = httpx.Client(base_url=self.base_url, timeout=self.timeout_s, headers=self.headers)
        number = 0
        try:
            while not self._stop.is_set() and self.routed.is_set():
                method, path, body = self.make_request(index, number)
                number += 1
                result = self._send(client, method, path, body)
                with self._lock:
                    self.results.append(result)
                if result.error == "ConnectError":
                    time.sleep(0.05)  # nothing listens: do not spin
        finally:
            client.close()

    @staticmethod
    def _send(client: httpx.Client, method: str, path: str, body: dict | None) -> Result:
        started = time.monotonic()
        try:
            response = client.request(method, path, json=body)
        except httpx.TransportError as exc:
            return Result(path, started, time.monotonic() - started, None, type(exc).__name__)
        code = None
        if response.status_code >= 400:
            try:
                code = response.json().get("error", {}).get("code")
            except ValueError:
                code = None
        return Result(
            path,
            started,
            time.monotonic() - started,
            response.status_code,
            code=code,
            retry_after=response.headers.get("retry-after"),
            connection_close=response.headers.get("connection", "").lower() == "close",
        )


def tally(results: list[Result]) -> dict[str, int]:
    """sent (left the client), answered by status, lost (sent, no answer), refused (connection refused)."""
    statuses = Counter(str(r.status) for r in results if r.status is not None)
    refused = sum(r.error == "ConnectError" for r in results)
    lost = sum(r.status is None and r.error != "ConnectError" for r in results)
    return {"sent": len(results) - refused, "lost": lost, "refused_connections": refused, **statuses}


def between(results: list[Result], start: float, end: float) -> list[Result]:
    return [r for r in results if start <= r.started < end]


def fault_line(name: str, **figures: object) -> str:
    """One greppable line of a fault run's figures (docs/reliability.md quotes them)."""
    return "FAULT " + name + " " + " ".join(f"{k}={v}" for k, v in figures.items())
