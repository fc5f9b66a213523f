"""Cached vectors by item id, without model work: POST /embeddings:lookup and GET /embeddings/{item_id}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from courier_core.errors import RequestCode
from service.api.auth import require_api_key
from service.api.deps import PipelineDep, StateDep
from service.api.errors import ApiError, error_responses
from service.api.json_route import ORJSONRoute
from service.api.responses import encode_vector
from service.api.schemas import (
    Encoding,
    ItemEmbeddingResponse,
    LookupEmbedding,
    LookupRequest,
    LookupResponse,
    ModelInfo,
)

router = APIRouter(tags=["lookup"], dependencies=[Depends(require_api_key)], route_class=ORJSONRoute)


@router.post(
    "/embeddings:lookup",
    operation_id="lookupEmbeddings",
    response_model=LookupResponse,
    responses=error_responses(401, 413, 422, 503),
)
async def lookup(body: LookupRequest, state: StateDep, pipeline: PipelineDep) -> LookupResponse:
    """Vectors of `courier:model:{name}:current` (else the served version) for the cached ids, plus `missing`;
    503 `cache_unavailable` while the cache cannot be reached (a miss is never made up)."""
    limit = state.settings.max_lookup_ids
    if len(body.item_ids) > limit:
        message = f"lookup has {len(body.item_ids)} ids; the limit is {limit} (COURIER_MAX_LOOKUP_IDS)"
        raise ApiError(422, RequestCode.TOO_MANY_ITEMS, message)
    ids = list(dict.fromkeys(body.item_ids))
    found = await pipeline.lookup(ids)
    vectors = found.vectors
    data = [
        LookupEmbedding(item_id=i, embedding=encode_vector(vectors[i], body.encoding))
        for i in body.item_ids
        if i in vectors
    ]
    missing = [i for i in ids if i not in vectors]
    return LookupResponse(model=ModelInfo.model_validate(found.model), data=data, missing=missing)


@router.get(
    "/embeddings/{item_id}",
    operation_id="getEmbedding",
    response_model=ItemEmbeddingResponse,
    responses=error_responses(401, 404, 422, 503),
)
async def get_embedding(
    pipeline: PipelineDep,
    item_id: str = Path(min_length=1, max_length=512),
    encoding: Encoding = "float",
) -> ItemEmbeddingResponse:
    """One cached vector; 404 when it is not cached, 503 `cache_unavailable` when the cache is unreachable."""
    found = await pipeline.lookup([item_id])
    if item_id not in found.vectors:
        message = f"no cached embedding for {item_id!r} in version {found.model.version}"
        raise ApiError(404, RequestCode.NOT_FOUND, message)
    embedding = encode_vector(found.vectors[item_id], encoding)
    return ItemEmbeddingResponse(
        item_id=item_id, embedding=embedding, model=ModelInfo.model_validate(found.model)
    )
