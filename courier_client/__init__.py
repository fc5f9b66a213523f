"""Courier's Python client for rankers: `CourierClient` / `AsyncCourierClient` (embed, lookup).

Light on purpose: it needs httpx and numpy only (`pip install 'courier[client]'`), not the service's
stack. Errors use the shared vocabulary of `courier_core.errors`.
"""

from courier_client.http import AsyncCourierClient, CourierClient, CourierHTTPError
from courier_client.results import EmbedResult, ImageInput, LookupResult
from courier_client.retry import RetryPolicy
from courier_core.errors import ItemCode, ItemError, RequestCode

__all__ = [
    "AsyncCourierClient",
    "CourierClient",
    "CourierHTTPError",
    "EmbedResult",
    "ImageInput",
    "ItemCode",
    "ItemError",
    "LookupResult",
    "RequestCode",
    "RetryPolicy",
]
