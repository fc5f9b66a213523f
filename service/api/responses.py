"""The one whole-request error shape and the two vector encodings of the API."""

from __future__ import annotations

import base64

import numpy as np
from fastapi.responses import JSONResponse

from courier_core.cache_keys import vector_to_bytes
from courier_core.errors import RequestCode
from service.api.schemas import Embedding, Encoding, ErrorResponse, RequestErrorDetail


def error_response(
    status: int, code: RequestCode, message: str, *, retry_after: float | None = None
) -> JSONResponse:
    """`{"error": {"code", "message"}}` with `status`, and `Retry-After` (whole seconds, at least 1)."""
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    body = ErrorResponse(error=RequestErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def encode_vector(vector: np.ndarray, encoding: Encoding) -> Embedding:
    """float: the numbers; base64: little-endian float32 bytes, the cache's layout."""
    if encoding == "base64":
        return base64.b64encode(vector_to_bytes(vector)).decode("ascii")
    return vector.tolist()
