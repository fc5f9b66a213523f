"""POST /embed: per-item results in request order; one bad image fails only its own item."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.api.auth import require_api_key
from service.api.json_route import ORJSONRoute
from service.api.responses import ORJSONResponse, encode_vector, error_response
from service.api.schemas import EmbedRequest, EmbedResponse, ErrorResponse
from service.runtime.admission import QueueFull

router = APIRouter(tags=["embed"], dependencies=[Depends(require_api_key)], route_class=ORJSONRoute)

_ERRORS = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    413: {"model": ErrorResponse, "description": "body over COURIER_MAX_BODY_BYTES"},
    422: {"model": ErrorResponse, "description": "malformed body or more items than the limit"},
    429: {"model": ErrorResponse, "description": "queue full; retry after Retry-After seconds"},
    503: {"model": ErrorResponse, "description": "not ready or draining; retry after Retry-After seconds"},
}


@router.post("/embed", response_model=EmbedResponse, responses=_ERRORS, response_class=ORJSONResponse)
async def embed(body: EmbedRequest, request: Request) -> Response:
    """Embed items (cache first). HTTP 200 even when some items failed: each failure carries its code."""
    state = request.app.state.courier
    settings = state.settings
    limit = settings.max_items_per_request
    if len(body.items) > limit:
        return error_response(
            422,
            "too_many_items",
            f"request has {len(body.items)} items; the limit is {limit} (COURIER_MAX_ITEMS_PER_REQUEST)",
        )
    if not state.ready:
        return error_response(
            503, "not_ready", "the model is loading or the service is unhealthy", retry_after=1
        )
    try:
        outcomes = await state.pipeline.embed(body.items, refresh=body.refresh)
    except QueueFull as exc:
        wait = max(settings.max_batch_delay_ms / 1000, 0.05) * (
            state.admission.in_flight / settings.max_batch_size
        )
        return error_response(429, "queue_full", str(exc), retry_after=max(1.0, wait))
    data = []
    for item in body.items:
        outcome = outcomes[item.item_id]
        if outcome.vector is not None:
            data.append(
                {
                    "item_id": item.item_id,
                    "embedding": encode_vector(outcome.vector, body.encoding),
                    "cached": outcome.cached,
                }
            )
        else:
            data.append(
                {"item_id": item.item_id, "error": {"code": outcome.code, "message": outcome.message}}
            )
    return ORJSONResponse({"model": state.model_info(), "data": data})
