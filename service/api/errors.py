"""Whole-request errors: what routes raise, how each becomes the one error shape, and how OpenAPI shows it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from courier_core.errors import RequestCode
from service.api.responses import error_response
from service.api.schemas import ErrorResponse
from service.runtime.admission import QueueFull, TooManyPixels
from service.runtime.lookup import CacheUnavailable

_HTTP_CODES = {
    401: RequestCode.UNAUTHORIZED,
    404: RequestCode.NOT_FOUND,
    405: RequestCode.METHOD_NOT_ALLOWED,
    413: RequestCode.BODY_TOO_LARGE,
    429: RequestCode.QUEUE_FULL,
}
_DESCRIPTIONS = {
    401: "missing or wrong API key",
    404: "not cached",
    413: "body over COURIER_MAX_BODY_BYTES, or images over COURIER_MAX_QUEUE_PIXELS",
    422: "malformed body, or more items than the limit (the message names it)",
    429: "queue (items, pixels or body bytes) full; retry after Retry-After seconds",
    503: "not ready, draining, or (look-ups) the cache is unreachable; retry after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


class ApiError(Exception):
    """A refused request: HTTP status, request code, message and, for 429/503, when to retry."""

    def __init__(
        self, status: int, code: RequestCode, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of these error statuses, all with the error shape."""
    return {
        status: {
            "model": ErrorResponse,
            "description": _DESCRIPTIONS[status],
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in statuses
    }


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal, FastAPI's own included, answers `{"error": {"code", "message"}}`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, retry_after=exc.retry_after)

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return error_response(429, RequestCode.QUEUE_FULL, str(exc), retry_after=exc.retry_after_s)

    @app.exception_handler(TooManyPixels)
    async def _too_many_pixels(request: Request, exc: TooManyPixels) -> JSONResponse:
        return error_response(413, RequestCode.TOO_MANY_PIXELS, str(exc))

    @app.exception_handler(CacheUnavailable)
    async def _cache_unavailable(request: Request, exc: CacheUnavailable) -> JSONResponse:
        retry_after = request.app.state.courier.settings.cache_retry_interval_s
        message = f"{exc}: cached vectors cannot be read now (not a miss); /embed still computes them"
        return error_response(503, RequestCode.CACHE_UNAVAILABLE, message, retry_after=retry_after)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, RequestCode.HTTP_ERROR)
        response = error_response(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5]]
        return error_response(422, RequestCode.INVALID_REQUEST, "; ".join(parts) or "invalid request body")
