"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`; no keys configured means no auth.

Both are declared as OpenAPI security schemes (either one is enough), so generated clients know how to
send a key. `key_is_valid` is plain so that an earlier layer (middleware) can use the same check.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.api.deps import StateDep

bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth", description="an API key from COURIER_API_KEYS", auto_error=False
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    scheme_name="apiKeyAuth",
    description="an API key from COURIER_API_KEYS",
    auto_error=False,
)


def key_is_valid(given: str | None, keys: Sequence[str]) -> bool:
    """True when no keys are configured, or `given` is one of them (compared in constant time)."""
    if not keys:
        return True
    return bool(given) and any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)  # type: ignore[union-attr]


async def require_api_key(
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> None:
    """async, so that FastAPI runs it on the event loop instead of a thread-pool hop per request."""
    given = bearer.credentials if bearer is not None else api_key
    if not key_is_valid(given, state.settings.api_keys):
        raise HTTPException(
            status_code=401, detail="missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
        )
