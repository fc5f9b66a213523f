"""/metrics in the Prometheus text format (this process's registry)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    _ = request.app.state.courier.ready  # refreshes courier_ready
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
