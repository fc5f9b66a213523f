"""orjson responses (numpy arrays serialise directly) and the one whole-request error shape."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
from fastapi.responses import JSONResponse

from courier_core.cache_keys import vector_to_bytes


class ORJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> ORJSONResponse:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def encode_vector(vector: np.ndarray, encoding: str) -> np.ndarray | str:
    """float: the array (orjson writes a list); base64: little-endian float32 bytes, the cache layout."""
    if encoding == "base64":
        return base64.b64encode(vector_to_bytes(vector)).decode("ascii")
    return vector
