"""The one ASGI middleware: request metrics, the API-key check before any body byte is read (401), refusal
while draining (503), the body byte limit (413) and the bound on body bytes in flight (429), in-flight
tracking for the drain, and `Connection: close` on every 503 and on every response while draining (so
clients reconnect, through the load balancer, to another instance instead of reusing this one)."""

from __future__ import annotations

import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courier_core.errors import RequestCode
from service import metrics
from service.api.auth import key_from_headers, key_is_valid
from service.api.responses import error_response
from service.runtime.state import ServiceState

PROBE_PATHS = frozenset({"/healthz", "/readyz"})  # always open: orchestrators probe without keys
OPS_PATHS = frozenset({"/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
EXEMPT_PATHS = PROBE_PATHS | OPS_PATHS  # never refused while draining
KNOWN_ROUTES = frozenset({"/embed", "/embeddings:lookup"}) | EXEMPT_PATHS


def route_label(path: str) -> str:
    """A bounded label set, whatever paths clients send."""
    if path in KNOWN_ROUTES:
        return path
    if path.startswith("/embeddings/"):
        return "/embeddings/{item_id}"
    return "other"


def is_ops_path(path: str) -> bool:
    """/metrics and the API docs (with their assets): open unless COURIER_AUTH_METRICS_AND_DOCS."""
    return path in OPS_PATHS or path.startswith("/docs/")


class CourierMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    def _needs_key(self, path: str) -> bool:
        settings = self.state.settings
        if not settings.api_keys or path in PROBE_PATHS:
            return False
        return settings.auth_metrics_and_docs or not is_ops_path(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = route_label(path)
        status = 500
        started = time.perf_counter()
        state = self.state

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 503 or state.draining:
                    message = _closing(message)
            await send(message)

        limit = state.settings.max_body_bytes
        reserved = 0
        try:
            if self._needs_key(path) and not key_is_valid(
                key_from_headers(scope["headers"]), state.settings.api_keys
            ):
                await _unauthorized()(scope, receive, send_tracking)
                return
            if path not in EXEMPT_PATHS and state.refusing_new_work:
                metrics.QUEUE_REJECTIONS.labels("draining").inc()
                refusal = error_response(
                    503, RequestCode.DRAINING, "the service is shutting down", retry_after=1
                )
                await refusal(scope, receive, send_tracking)
                return
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _too_large(declared, limit)(scope, receive, send_tracking)
                return
            if declared:
                if not state.bodies.reserve(declared):
                    await _bodies_full(declared, state)(scope, receive, send_tracking)
                    return
                reserved = declared
            received = 0

            async def receive_limited() -> Message:
                """The body as it arrives: over the byte limit is 413 at once, and a body without a
                Content-Length is charged to the bodies in flight chunk by chunk."""
                nonlocal received, reserved
                message = await receive()
                if message["type"] == "http.request":
                    size = len(message.get("body", b""))
                    received += size
                    if received > limit:
                        raise HTTPException(413, detail=_too_large_message(received, limit))
                    if declared is None and size:
                        if not state.bodies.reserve(size):
                            raise HTTPException(
                                429, detail=_bodies_full_message(size, state), headers={"Retry-After": "1"}
                            )
                        reserved += size
                return message

            with state.track_request():
                await self.app(scope, receive_limited, send_tracking)
        finally:
            state.bodies.release(reserved)
            metrics.REQUESTS.labels(route, str(status)).inc()
            metrics.REQUEST_DURATION.labels(route).observe(time.perf_counter() - started)


def _closing(start: Message) -> Message:
    """The response start with `Connection: close` (uvicorn then closes the connection after it)."""
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"connection"]
    return {**start, "headers": [*headers, (b"connection", b"close")]}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _unauthorized() -> JSONResponse:
    response = error_response(401, RequestCode.UNAUTHORIZED, "missing or wrong API key")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _too_large_message(size: int, limit: int) -> str:
    return f"request body is {'over ' if size <= limit else ''}{size} bytes; the limit is {limit} (COURIER_MAX_BODY_BYTES)"


def _too_large(size: int, limit: int) -> JSONResponse:
    return error_response(413, RequestCode.BODY_TOO_LARGE, _too_large_message(size, limit))


def _bodies_full_message(size: int, state: ServiceState) -> str:
    bodies = state.bodies
    return (
        f"too many request bytes in flight: {bodies.in_flight} of {bodies.max_bytes} "
        f"(COURIER_MAX_BODY_BYTES_IN_FLIGHT), this body needs {size} more"
    )


def _bodies_full(size: int, state: ServiceState) -> JSONResponse:
    return error_response(429, RequestCode.QUEUE_FULL, _bodies_full_message(size, state), retry_after=1)
