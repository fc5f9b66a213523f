"""`python -m service`: read COURIER_* settings, serve with uvicorn, drain on SIGTERM.

On SIGTERM the process first turns /readyz and new requests to 503, lets queued and in-flight work
finish (at most COURIER_DRAIN_TIMEOUT_S), then exits 0. A second signal exits at once.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from types import FrameType

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.runtime.state import ServiceState
from service.settings import Settings

log = logging.getLogger("service")


class DrainingServer(uvicorn.Server):
    """uvicorn that drains on the first SIGTERM instead of closing its socket at once."""

    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self._state = state
        self._drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_started is None:
            self._drain_started = time.monotonic()
            self._state.draining = True
            log.info("SIGTERM: draining (readiness 503, new requests 503, finishing in-flight work)")
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_started is not None and not self.should_exit:
            elapsed = time.monotonic() - self._drain_started
            if self._state.active_requests == 0 or elapsed > self._state.settings.drain_timeout_s:
                self.should_exit = True
        return await super().on_tick(counter)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid COURIER_* settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        lifespan="on",
    )
    server = DrainingServer(config, app.state.courier)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
