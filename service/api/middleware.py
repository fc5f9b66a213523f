"""The one ASGI middleware: request metrics, in-flight tracking for the drain, refusal while draining
(503) and the body byte limit (413)."""

from __future__ import annotations

import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courier_core.errors import RequestCode
from service import metrics
from service.api.responses import error_response
from service.runtime.state import ServiceState

EXEMPT_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect"}
)
KNOWN_ROUTES = frozenset({"/embed", "/embeddings:lookup"}) | EXEMPT_PATHS


def route_label(path: str) -> str:
    """A bounded label set, whatever paths clients send."""
    if path in KNOWN_ROUTES:
        return path
    if path.startswith("/embeddings/"):
        return "/embeddings/{item_id}"
    return "other"


class CourierMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = route_label(path)
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        state = self.state
        limit = state.settings.max_body_bytes
        try:
            if path not in EXEMPT_PATHS and state.draining:
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
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise HTTPException(413, detail=_too_large_message(received, limit))
                return message

            with state.track_request():
                try:
                    await self.app(scope, receive_limited, send_tracking)
                except HTTPException as exc:
                    if response_started or exc.status_code != 413:
                        raise
                    await _too_large(received, limit)(scope, receive, send_tracking)
        finally:
            metrics.REQUESTS.labels(route, str(status)).inc()
            metrics.REQUEST_DURATION.labels(route).observe(time.perf_counter() - started)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_message(size: int, limit: int) -> str:
    return f"request body is {'over ' if size <= limit else ''}{size} bytes; the limit is {limit} (COURIER_MAX_BODY_BYTES)"


def _too_large(size: int, limit: int) -> JSONResponse:
    return error_response(413, RequestCode.BODY_TOO_LARGE, _too_large_message(size, limit))
