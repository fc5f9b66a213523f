"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`; no keys configured means no auth.

The middleware checks the key from the headers before any body byte is read (`key_from_headers`,
`key_is_valid`), so an unauthenticated client cannot make the service buffer or parse anything. The route
dependency checks it again and declares both OpenAPI security schemes (either one is enough), so generated
clients know how to send a key.
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


def key_from_headers(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The key of an ASGI request's raw headers: the Bearer credentials, else X-API-Key (as the schemes)."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                bearer = credentials.strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    return bearer if bearer is not None else api_key


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
