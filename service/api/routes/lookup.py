"""Cached vectors by item id, without model work: POST /embeddings:lookup and GET /embeddings/{item_id}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from service.api.auth import require_api_key
from service.api.json_route import ORJSONRoute
from service.api.responses import ORJSONResponse, encode_vector, error_response
from service.api.schemas import Encoding, ErrorResponse, LookupEmbedding, LookupRequest, LookupResponse

router = APIRouter(tags=["lookup"], dependencies=[Depends(require_api_key)], route_class=ORJSONRoute)


async def _read(request: Request, ids: list[str]) -> tuple[dict, dict]:
    state = request.app.state.courier
    version = await state.reader_version()
    dim = state.engine.dim if version == state.engine.version else None
    found = await state.cache.get_many(version, ids, dim=dim)
    if dim is None and found:
        dim = len(next(iter(found.values())))
    return state.model_info(version, dim), found


@router.post(
    "/embeddings:lookup",
    response_model=LookupResponse,
    responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    response_class=ORJSONResponse,
)
async def lookup(body: LookupRequest, request: Request) -> Response:
    """Vectors of `courier:model:{name}:current` (else the served version) for the cached ids, plus `missing`."""
    limit = request.app.state.courier.settings.max_lookup_ids
    if len(body.item_ids) > limit:
        message = f"lookup has {len(body.item_ids)} ids; the limit is {limit} (COURIER_MAX_LOOKUP_IDS)"
        return error_response(422, "too_many_items", message)
    ids = list(dict.fromkeys(body.item_ids))
    model, found = await _read(request, ids)
    data = [
        {"item_id": i, "embedding": encode_vector(found[i], body.encoding)}
        for i in body.item_ids
        if i in found
    ]
    missing = [i for i in ids if i not in found]
    return ORJSONResponse({"model": model, "data": data, "missing": missing})


@router.get(
    "/embeddings/{item_id}",
    response_model=LookupEmbedding,
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    response_class=ORJSONResponse,
)
async def get_embedding(
    request: Request, item_id: str = Path(min_length=1, max_length=512), encoding: Encoding = "float"
) -> Response:
    """One cached vector; 404 when it is not cached."""
    model, found = await _read(request, [item_id])
    if item_id not in found:
        return error_response(
            404, "not_found", f"no cached embedding for {item_id!r} in version {model['version']}"
        )
    return ORJSONResponse(
        {"item_id": item_id, "embedding": encode_vector(found[item_id], encoding), "model": model}
    )
