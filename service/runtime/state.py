"""What the routes and the server share: settings, the pipeline, readiness and the drain lifecycle.

One per process. Draining is one transition (`begin_drain`) and one wait (`wait_idle`), used by both the
SIGTERM handler and the shutdown of the app; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from service.runtime.pipeline import EmbedPipeline
from service.settings import Settings


class ServiceState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline: EmbedPipeline | None = None  # set while the app runs (between start-up and shutdown)
        self._draining = False
        self._active_requests = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def draining(self) -> bool:
        return self._draining

    def checks(self) -> dict[str, bool]:
        """Every readiness condition by name (the /readyz body shows them)."""
        pipeline = self.pipeline
        parts = pipeline.checks() if pipeline is not None else {}
        return {
            "model_loaded": pipeline is not None,
            "warmed_up": parts.get("warmed_up", False),
            "batch_worker_alive": parts.get("batch_worker_alive", False),
            "batches_ok": parts.get("batches_ok", False),
            "not_draining": not self._draining,
        }

    def ready(self) -> bool:
        return all(self.checks().values())

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
        """Refuse new work from now on (readiness and data routes answer 503); in-flight work goes on."""
        self._draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight, at most `timeout_s`; False when the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
