"""`python -m service`: read COURIER_* settings, serve with uvicorn, drain on SIGTERM.

Start-up checks the cheap things first and stops at the first failure with one line naming the variable
or file (the traceback only with COURIER_LOG_LEVEL=debug): the settings, then the port (bound before the
model loads, so a port in use costs no wait), then the model. On SIGTERM the process turns /readyz to 503
and keeps serving for COURIER_DRAIN_MIN_S (so a load balancer stops routing here first; every response
then says `Connection: close`), then answers new requests 503, lets queued and in-flight work finish (all
within COURIER_DRAIN_TIMEOUT_S) and exits 0. A second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import time
from types import FrameType

import uvicorn
from pydantic import ValidationError

from courier_core.model_repo import ModelError
from service.app import create_app, load_onnx_engine
from service.runtime.state import ServiceState
from service.settings import Settings, problems, settings_table

log = logging.getLogger("service")

# After the drain: how long connections still open may take to send their last request and get its answer.
CLOSE_GRACE_S = 1.0


class DrainingServer(uvicorn.Server):
    """uvicorn that drains on the first SIGTERM instead of closing its socket at once."""

    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self._state = state
        self._drain: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:  # uvicorn names no address for sockets it was handed
            host, port = sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            log.info("listening on http://%s:%d (API docs at /docs; ready once warmed up)", shown, port)

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


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Only --help: every setting is an environment variable, listed there with its default."""
    width = max(len(name) for name, _, _ in settings_table())
    rows = [
        f"  {name:<{width}}  {default:<13} {meaning}".rstrip() for name, default, meaning in settings_table()
    ]
    parser = argparse.ArgumentParser(
        prog="python -m service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve one model of a model repository over HTTP: POST /embed, POST /embeddings:lookup, "
        "GET /embeddings/{id}, /healthz, /readyz, /metrics, /docs.",
        epilog="settings (environment variables; lists are comma-separated):\n"
        + f"  {'variable':<{width}}  {'default':<13} meaning\n"
        + "\n".join(rows)
        + "\n\nexample: COURIER_MODEL_REPOSITORY=models COURIER_MODEL_NAME=courier-demo COURIER_PORT=8080 "
        "python -m service",
    )
    return parser.parse_args(argv)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, not yet listening (connections are refused until the model is ready)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restarts reuse the port
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def fail(message: str) -> int:
    """A start-up failure: one line on stderr, the traceback (if any) at debug level only."""
    log.debug("start-up failed", exc_info=sys.exc_info()[0] is not None)
    print(f"courier: cannot start: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in problems(exc):
            print(f"courier: bad setting: {line}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        return fail(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); "
            "choose another port with COURIER_PORT (or address with COURIER_HOST)"
        )
    try:
        engine = load_onnx_engine(settings)
    except ModelError as exc:
        sock.close()
        return fail(f"{_model_choice(settings)}: {exc}")
    app = create_app(settings, engine_factory=lambda _: engine)
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
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _model_choice(settings: Settings) -> str:
    """The variables that chose the model, as set."""
    chosen = [f"COURIER_MODEL_REPOSITORY={settings.model_repository}"]
    chosen += [f"COURIER_MODEL_NAME={settings.model_name}"] if settings.model_name else []
    chosen += [f"COURIER_MODEL_VERSION={settings.model_version}"] if settings.model_version else []
    return ", ".join(chosen)


if __name__ == "__main__":
    sys.exit(main())
