"""What the routes and the server share: settings, the pipeline, readiness and the drain lifecycle.

One per process. Draining is one transition (`begin_drain`) and one wait (`wait_idle`), used by both the
SIGTERM handler and the shutdown of the app; nothing polls. After SIGTERM the process first keeps serving
for `drain_min_s` with readiness off (`finish_drain`), so a load balancer has time to stop routing here;
only then are new requests refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from service.runtime.admission import BodyBudget
from service.runtime.pipeline import EmbedPipeline
from service.settings import Settings


class ServiceState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline: EmbedPipeline | None = None  # set while the app runs (between start-up and shutdown)
        self.bodies = BodyBudget(settings.max_body_bytes_in_flight)
        self._drain_started: float | None = None
        self._active_requests = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def draining(self) -> bool:
        return self._drain_started is not None

    @property
    def refusing_new_work(self) -> bool:
        """Draining for at least `drain_min_s`: data routes answer 503 from now on."""
        started = self._drain_started
        return started is not None and time.monotonic() - started >= self.settings.drain_min_s

    def checks(self) -> dict[str, bool]:
        """Every readiness condition by name (the /readyz body shows them)."""
        pipeline = self.pipeline
        parts = pipeline.checks() if pipeline is not None else {}
        return {
            "model_loaded": pipeline is not None,
            "warmed_up": parts.get("warmed_up", False),
            "batch_worker_alive": parts.get("batch_worker_alive", False),
            "batches_ok": parts.get("batches_ok", False),
            "not_draining": not self.draining,
        }

    def ready(self) -> bool:
        return all(self.checks().values())

    def can_serve(self) -> bool:
        """Ready, or draining but otherwise ready: requests are still served during the drain."""
        return all(ok for name, ok in self.checks().items() if name != "not_draining")

    @contextlib.contextmanager
    def track_request(self) -> Iterator[None]:
        """Count a request as in flight for as long as the block runs."""
        self._active_requests += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active_requests -= 1
            if self._active_requests == 0:
                self._idle.set()

    def begin_drain(self) -> None:
        """Readiness answers 503 from now on, and new work is refused once `drain_min_s` has passed;
        in-flight work goes on. A second call changes nothing."""
        if self._drain_started is None:
            self._drain_started = time.monotonic()

    async def finish_drain(self) -> bool:
        """After `begin_drain`: keep serving for `drain_min_s`, then wait until no request is in flight,
        all within `drain_timeout_s` of the drain's start; False when that time ran out."""
        started = self._drain_started if self._drain_started is not None else time.monotonic()
        settings = self.settings
        await asyncio.sleep(max(0.0, started + settings.drain_min_s - time.monotonic()))
        return await self.wait_idle(max(0.0, started + settings.drain_timeout_s - time.monotonic()))

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight, at most `timeout_s`; False when the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
