"""POST /embed: per-item results in request order; one bad image fails only its own item."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends

from courier_core.errors import ItemCode, RequestCode
from service.api.auth import require_api_key
from service.api.deps import PipelineDep, StateDep
from service.api.errors import ApiError, error_responses
from service.api.json_route import ORJSONRoute
from service.api.responses import encode_vector
from service.api.schemas import (
    EmbeddedItem,
    EmbedItem,
    EmbedRequest,
    EmbedResponse,
    FailedItem,
    ItemErrorDetail,
    ModelInfo,
)

router = APIRouter(tags=["embed"], dependencies=[Depends(require_api_key)], route_class=ORJSONRoute)


@router.post(
    "/embed",
    operation_id="embed",
    response_model=EmbedResponse,
    responses=error_responses(401, 413, 422, 429, 503),
)
async def embed(body: EmbedRequest, state: StateDep, pipeline: PipelineDep) -> EmbedResponse:
    """Embed items (cache first). HTTP 200 even when some items failed: each failure carries its code. An
    id repeated with the same image is embedded once; repeated with different images, it fails with
    `duplicate_item_id` (which image is meant is unknowable) and the other items go on."""
    limit = state.settings.max_items_per_request
    if len(body.items) > limit:
        message = f"request has {len(body.items)} items; the limit is {limit} (COURIER_MAX_ITEMS_PER_REQUEST)"
        raise ApiError(422, RequestCode.TOO_MANY_ITEMS, message)
    if not state.can_serve():
        message = "the model is loading or the service is unhealthy"
        raise ApiError(503, RequestCode.NOT_READY, message, retry_after=1)
    conflicts = _conflicting_ids(body.items)
    items = [item for item in body.items if item.item_id not in conflicts] if conflicts else body.items
    outcomes = await pipeline.embed(items, refresh=body.refresh)  # QueueFull: 429 (api.errors)
    data: list[EmbeddedItem | FailedItem] = []
    for item in body.items:
        if item.item_id in conflicts:
            message = f"item_id {item.item_id!r} appears more than once with different images; send it once"
            data.append(
                FailedItem(
                    item_id=item.item_id,
                    error=ItemErrorDetail(code=ItemCode.DUPLICATE_ITEM_ID, message=message),
                )
            )
            continue
        outcome = outcomes[item.item_id]
        if outcome.vector is not None:
            embedding = encode_vector(outcome.vector, body.encoding)
            data.append(EmbeddedItem(item_id=item.item_id, embedding=embedding, cached=outcome.cached))
        else:
            assert outcome.error is not None
            error = ItemErrorDetail(code=outcome.error.code, message=outcome.error.message)
            data.append(FailedItem(item_id=item.item_id, error=error))
    return EmbedResponse(model=ModelInfo.model_validate(pipeline.model), data=data)


def _conflicting_ids(items: Sequence[EmbedItem]) -> set[str]:
    """Ids given more than once with different image_b64 / image_url values."""
    first: dict[str, EmbedItem] = {}
    conflicts: set[str] = set()
    for item in items:
        seen = first.setdefault(item.item_id, item)
        if seen is not item and (seen.image_b64, seen.image_url) != (item.image_b64, item.image_url):
            conflicts.add(item.item_id)
    return conflicts
