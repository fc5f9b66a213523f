"""/healthz (process liveness, cheap) and /readyz (model warmed, worker alive, batches ok, not draining)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.responses import ORJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=ORJSONResponse)
async def healthz() -> Response:
    return ORJSONResponse({"status": "ok"})


@router.get("/readyz", response_class=ORJSONResponse)
async def readyz(request: Request) -> Response:
    """200 ready (or degraded: Redis down, serving uncached), 503 otherwise; the body says why."""
    state = request.app.state.courier
    checks = state.checks()
    ready = state.ready
    cache = state.cache
    cache_ok = cache is not None and cache.available and await cache.ping()
    body = {
        "status": ("degraded" if not cache_ok else "ready")
        if ready
        else ("draining" if state.draining else "not_ready"),
        "checks": checks,
        "cache": {"kind": cache.kind if cache is not None else None, "available": cache_ok},
        "provider": state.engine.provider if state.engine else None,
        "model": state.model_info() if state.engine else None,
        "queue_items": state.admission.in_flight if state.admission else 0,
    }
    if not cache_ok and ready:
        body["detail"] = "cache unreachable: serving uncached (degraded but ready)"
    headers = None if ready else {"Retry-After": "1"}
    return ORJSONResponse(body, status_code=200 if ready else 503, headers=headers)
