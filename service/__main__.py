"""`python -m service`: read COURIER_* settings, serve with uvicorn, drain on SIGTERM.

On SIGTERM the process turns /readyz to 503 and keeps serving for COURIER_DRAIN_MIN_S (so a load balancer
stops routing here first; every response then says `Connection: close`), then answers new requests 503,
lets queued and in-flight work finish (all within COURIER_DRAIN_TIMEOUT_S) and exits 0. A second signal
exits at once.
"""

from __future__ import annotations

import asyncio
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

# After the drain: how long connections still open may take to send their last request and get its answer.
CLOSE_GRACE_S = 1.0


class DrainingServer(uvicorn.Server):
    """uvicorn that drains on the first SIGTERM instead of closing its socket at once."""

    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self._state = state
        self._drain: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._state.draining:
            self._state.begin_drain()
            log.info(
                "SIGTERM: draining (readiness 503; serving %.1fs more, then new requests 503 while in-flight "
                "work finishes)",
                self._state.settings.drain_min_s,
            )
            # a signal handler: hand the wait to the event loop rather than start it from here
            asyncio.get_running_loop().call_soon_threadsafe(self._exit_when_idle)
            return
        super().handle_exit(sig, frame)

    def _exit_when_idle(self) -> None:
        async def wait_then_exit() -> None:
            await self._state.finish_drain()
            # Stop accepting first, then give open connections a moment to be answered (503 + close):
            # a request already sent on a connection accepted just before would otherwise be cut off.
            for listener in self.servers:
                listener.close()
            deadline = time.monotonic() + CLOSE_GRACE_S
            while self.server_state.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            self.should_exit = True

        self._drain = asyncio.get_running_loop().create_task(wait_then_exit())


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
