"""Typed HTTP clients for rankers (sync and async) for embed and lookup.

They retry 429 and 503 honouring Retry-After (bounded). Vectors travel as base64 float32 and come back as
numpy arrays. To read vectors straight from Redis without HTTP, see `service.reader`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class ImageInput:
    """One item to embed: raw image bytes or a URL the service fetches."""

    item_id: str
    image: bytes | None = None
    url: str | None = None

    def to_json(self) -> dict[str, str]:
        if (self.image is None) == (self.url is None):
            raise ValueError(f"{self.item_id}: give exactly one of image or url")
        if self.image is not None:
            return {"item_id": self.item_id, "image_b64": base64.b64encode(self.image).decode("ascii")}
        return {"item_id": self.item_id, "image_url": str(self.url)}


@dataclass(frozen=True)
class ItemError:
    code: str
    message: str


@dataclass
class EmbedResult:
    model: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, ItemError] = field(default_factory=dict)


@dataclass
class LookupResult:
    model: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class CourierHTTPError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


def _decode(value: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float32)


def _embed_body(items: Sequence[ImageInput], refresh: bool) -> dict[str, Any]:
    return {"items": [i.to_json() for i in items], "refresh": refresh, "encoding": "base64"}


def _parse_embed(payload: dict[str, Any]) -> EmbedResult:
    result = EmbedResult(model=payload["model"])
    for entry in payload["data"]:
        if "error" in entry:
            result.errors[entry["item_id"]] = ItemError(entry["error"]["code"], entry["error"]["message"])
        else:
            result.vectors[entry["item_id"]] = _decode(entry["embedding"])
            result.cached[entry["item_id"]] = entry["cached"]
    return result


def _parse_lookup(payload: dict[str, Any]) -> LookupResult:
    vectors = {e["item_id"]: _decode(e["embedding"]) for e in payload["data"]}
    return LookupResult(model=payload["model"], vectors=vectors, missing=list(payload["missing"]))


def _retry_delay(response: httpx.Response, attempt: int, max_delay: float) -> float:
    header = response.headers.get("retry-after", "")
    delay = float(header) if header.replace(".", "", 1).isdigit() else 0.1 * 2**attempt
    return min(delay, max_delay)


def _headers(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


class CourierClient:
    """Synchronous client. `max_retries` bounds the 429/503 retries (each waits Retry-After, ≤ max_delay)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_delay_s: float = 10.0,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout_s)
        self._max_retries = max_retries
        self._max_delay_s = max_delay_s

    def __enter__(self) -> CourierClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._max_retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code not in RETRY_STATUSES or attempt == self._max_retries:
                return response
            time.sleep(_retry_delay(response, attempt, self._max_delay_s))
        raise AssertionError("unreachable")

    def embed(self, items: Sequence[ImageInput], *, refresh: bool = False) -> EmbedResult:
        response = self._request("POST", "/embed", json=_embed_body(items, refresh))
        if response.status_code != 200:
            raise CourierHTTPError(response.status_code, response.text)
        return _parse_embed(response.json())

    def lookup(self, item_ids: Sequence[str]) -> LookupResult:
        response = self._request(
            "POST", "/embeddings:lookup", json={"item_ids": list(item_ids), "encoding": "base64"}
        )
        if response.status_code != 200:
            raise CourierHTTPError(response.status_code, response.text)
        return _parse_lookup(response.json())


class AsyncCourierClient:
    """asyncio twin of `CourierClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_delay_s: float = 10.0,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(api_key), timeout=timeout_s)
        self._max_retries = max_retries
        self._max_delay_s = max_delay_s

    async def __aenter__(self) -> AsyncCourierClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._max_retries + 1):
            response = await self._http.request(method, path, **kwargs)
            if response.status_code not in RETRY_STATUSES or attempt == self._max_retries:
                return response
            await asyncio.sleep(_retry_delay(response, attempt, self._max_delay_s))
        raise AssertionError("unreachable")

    async def embed(self, items: Sequence[ImageInput], *, refresh: bool = False) -> EmbedResult:
        response = await self._request("POST", "/embed", json=_embed_body(items, refresh))
        if response.status_code != 200:
            raise CourierHTTPError(response.status_code, response.text)
        return _parse_embed(response.json())

    async def lookup(self, item_ids: Sequence[str]) -> LookupResult:
        body = {"item_ids": list(item_ids), "encoding": "base64"}
        response = await self._request("POST", "/embeddings:lookup", json=body)
        if response.status_code != 200:
            raise CourierHTTPError(response.status_code, response.text)
        return _parse_lookup(response.json())
