"""/healthz (process liveness, cheap) and /readyz (model warmed, worker alive, batches ok, not draining)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import StateDep
from service.api.schemas import CacheStatus, Liveness, ModelInfo, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", response_model=Liveness)
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "not ready (loading, unhealthy) or draining; the body says which check failed",
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        }
    },
)
async def readyz(state: StateDep, response: Response) -> Readiness:
    """200 ready (or degraded: Redis down, serving uncached), 503 otherwise; the body says why."""
    checks = state.checks()
    ready = all(checks.values())
    pipeline = state.pipeline
    cache_ok = pipeline is not None and await pipeline.cache_reachable()
    if ready:
        status = "ready" if cache_ok else "degraded"
    else:
        status = "draining" if state.draining else "not_ready"
        response.status_code = 503
        response.headers["Retry-After"] = "1"
    return Readiness(
        status=status,
        checks=checks,
        cache=CacheStatus(kind=pipeline.cache_kind if pipeline else None, available=cache_ok),
        provider=pipeline.provider if pipeline else None,
        model=ModelInfo.model_validate(pipeline.model) if pipeline else None,
        queue_items=pipeline.queue_items if pipeline else 0,
        detail="cache unreachable: serving uncached (degraded but ready)" if ready and not cache_ok else None,
    )
