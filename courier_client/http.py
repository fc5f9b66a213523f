"""HTTP clients for rankers (sync and asyncio): embed and lookup, with retries and request splitting.

Both retry 429, 503 and connection errors with jittered exponential backoff that honours Retry-After
(`RetryPolicy`), split a call over the service's per-request limits into several requests, and raise
`CourierHTTPError` (an `httpx.HTTPStatusError`) for any other refusal. Pass `http=` (an httpx client of
your own: pools, proxies, TLS, event hooks) or `transport=` to control the connection.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import httpx

from courier_client.results import EmbedResult, ImageInput, LookupResult
from courier_client.retry import RetryPolicy
from courier_core.errors import RequestCode

T = TypeVar("T")
MAX_ITEMS_PER_REQUEST = 128  # the service's default COURIER_MAX_ITEMS_PER_REQUEST
MAX_LOOKUP_IDS = 1024  # the service's default COURIER_MAX_LOOKUP_IDS


class CourierHTTPError(httpx.HTTPStatusError):
    """The service refused a request; `code` is its `RequestCode` (or the raw string from a newer one)."""

    def __init__(self, response: httpx.Response) -> None:
        code, message = _error_of(response)
        super().__init__(
            f"HTTP {response.status_code} {code}: {message}", request=response.request, response=response
        )
        self.status = response.status_code
        self.code = code
        self.detail = message


class _Client:
    """What the two clients share: settings, request bodies and how a call is split."""

    def __init__(
        self,
        *,
        api_key: str | None,
        retry: RetryPolicy | None,
        max_items_per_request: int,
        max_lookup_ids: int,
    ) -> None:
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._retry = retry or RetryPolicy()
        self._max_items = max_items_per_request
        self._max_ids = max_lookup_ids

    def _embed_bodies(self, items: Sequence[ImageInput], refresh: bool) -> Iterator[dict[str, Any]]:
        for part in _parts(items, self._max_items):
            yield {"items": [i.to_json() for i in part], "refresh": refresh, "encoding": "base64"}

    def _lookup_bodies(self, item_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        for part in _parts(list(dict.fromkeys(item_ids)), self._max_ids):
            yield {"item_ids": part, "encoding": "base64"}

    def _settle(
        self, attempt: int, response: httpx.Response | None, error: httpx.TransportError | None
    ) -> dict[str, Any] | float:
        """After try `attempt`: the body when it settles the call (or the error raised), else the seconds
        to wait before the next try."""
        if self._retry.should_retry(attempt, response):
            return self._retry.delay_s(attempt, response)
        if response is None:
            assert error is not None
            raise error
        return _payload(response)


class CourierClient(_Client):
    """Synchronous client. Give `base_url`, or an `http` client that has one."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_items_per_request: int = MAX_ITEMS_PER_REQUEST,
        max_lookup_ids: int = MAX_LOOKUP_IDS,
    ) -> None:
        super().__init__(
            api_key=api_key,
            retry=retry,
            max_items_per_request=max_items_per_request,
            max_lookup_ids=max_lookup_ids,
        )
        self._owned = http is None
        self._http = http or httpx.Client(base_url=base_url or "", transport=transport, timeout=timeout_s)

    def __enter__(self) -> CourierClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (not an `http` client passed in: its owner closes it)."""
        if self._owned:
            self._http.close()

    def embed(self, items: Sequence[ImageInput], *, refresh: bool = False) -> EmbedResult:
        result = EmbedResult()
        for body in self._embed_bodies(items, refresh):
            result.add(self._post("/embed", body))
        return result

    def lookup(self, item_ids: Sequence[str]) -> LookupResult:
        result = LookupResult()
        for body in self._lookup_bodies(item_ids):
            result.add(self._post("/embeddings:lookup", body))
        return result

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in itertools.count():
            response, error = None, None
            try:
                response = self._http.post(path, json=body, headers=self._headers)
            except httpx.TransportError as exc:
                error = exc
            settled = self._settle(attempt, response, error)
            if isinstance(settled, dict):
                return settled
            time.sleep(settled)
        raise AssertionError("unreachable")


class AsyncCourierClient(_Client):
    """asyncio twin of `CourierClient`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_items_per_request: int = MAX_ITEMS_PER_REQUEST,
        max_lookup_ids: int = MAX_LOOKUP_IDS,
    ) -> None:
        super().__init__(
            api_key=api_key,
            retry=retry,
            max_items_per_request=max_items_per_request,
            max_lookup_ids=max_lookup_ids,
        )
        self._owned = http is None
        self._http = http or httpx.AsyncClient(
            base_url=base_url or "", transport=transport, timeout=timeout_s
        )

    async def __aenter__(self) -> AsyncCourierClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def embed(self, items: Sequence[ImageInput], *, refresh: bool = False) -> EmbedResult:
        result = EmbedResult()
        for body in self._embed_bodies(items, refresh):
            result.add(await self._post("/embed", body))
        return result

    async def lookup(self, item_ids: Sequence[str]) -> LookupResult:
        result = LookupResult()
        for body in self._lookup_bodies(item_ids):
            result.add(await self._post("/embeddings:lookup", body))
        return result

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self._http.post(
                    path, json=body, headers=self._headers
                )
            except httpx.TransportError:
                response = None
                if not self._retry.should_retry(attempt, None):
                    raise
            if response is not None and not self._retry.should_retry(attempt, response):
                return _payload(response)
            await asyncio.sleep(self._retry.delay_s(attempt, response))
            attempt += 1


def _payload(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise CourierHTTPError(response)
    return response.json()


def _error_of(response: httpx.Response) -> tuple[RequestCode | str, str]:
    """The service's `{"error": {"code", "message"}}`, or the status and body of anything else."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", response.text[:500]
    try:
        return RequestCode(code), message
    except ValueError:
        return code, message


def _parts(values: Sequence[T], size: int) -> list[list[T]]:
    return [list(values[start : start + size]) for start in range(0, len(values), size)]
