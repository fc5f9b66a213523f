"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`; no keys configured means no auth."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


async def require_api_key(request: Request) -> None:
    """async, so that FastAPI runs it on the event loop instead of a thread-pool hop per request."""
    keys = request.app.state.courier.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    given = (
        header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    )
    if not given or not any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
        raise HTTPException(
            status_code=401, detail="missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
        )
