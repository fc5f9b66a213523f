"""The ranker client: retries (429, 503, connection errors) with backoff that honours Retry-After,
request splitting over the item limit, injected httpx clients, errors as `httpx.HTTPStatusError`; and
the real API in-process on the fake engine."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI

from courier_client import (
    AsyncCourierClient,
    CourierClient,
    CourierHTTPError,
    ImageInput,
    ItemCode,
    RequestCode,
    RetryPolicy,
)
from harness.images import image_bytes
from harness.redis import free_port
from service.app import create_app
from tests.fixtures.fake_engine import FakeEngine
from tests.fixtures.service_app import app_settings, fake_app

FAST = RetryPolicy(max_retries=3, base_delay_s=0.001, max_delay_s=0.01)
VECTOR = np.arange(4, dtype=np.float32)
MODEL = {"name": "m", "version": "v1", "dim": 4}


def embedded(item_ids: list[str]) -> dict:
    encoded = base64.b64encode(VECTOR.astype("<f4").tobytes()).decode()
    return {"model": MODEL, "data": [{"item_id": i, "embedding": encoded, "cached": False} for i in item_ids]}


def service_mock(script: list[Callable[[httpx.Request], httpx.Response]]) -> tuple[httpx.MockTransport, list]:
    """A transport answering requests with `script` in turn (the last answer repeats); records them."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return script[min(len(seen), len(script)) - 1](request)

    return httpx.MockTransport(handle), seen


def ok(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    return httpx.Response(200, json=embedded([i["item_id"] for i in items]))


def refused(
    status: int, code: str, retry_after: str | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"retry-after": retry_after} if retry_after else {}
    return lambda _: httpx.Response(
        status, json={"error": {"code": code, "message": "busy"}}, headers=headers
    )


def broken_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_429_503_and_connection_errors_are_retried_until_success() -> None:
    transport, seen = service_mock(
        [refused(429, "queue_full", "0"), broken_connection, refused(503, "not_ready", "0"), ok]
    )
    with CourierClient("http://courier", transport=transport, retry=FAST) as client:
        result = client.embed([ImageInput("a", image=b"x")])
    assert len(seen) == 4
    np.testing.assert_array_equal(result.vectors["a"], VECTOR)


def test_giving_up_raises_an_httpx_status_error_with_the_request_code() -> None:
    transport, seen = service_mock([refused(429, "queue_full", "0")])
    with (
        CourierClient("http://courier", transport=transport, retry=FAST) as client,
        pytest.raises(httpx.HTTPStatusError) as raised,
    ):
        client.embed([ImageInput("a", image=b"x")])
    error = raised.value
    assert isinstance(error, CourierHTTPError) and error.code == RequestCode.QUEUE_FULL
    assert error.response.status_code == 429 and len(seen) == 1 + FAST.max_retries

    transport, seen = service_mock([refused(422, "too_many_items")])
    with (
        CourierClient("http://courier", transport=transport, retry=FAST) as client,
        pytest.raises(CourierHTTPError) as raised,
    ):
        client.lookup(["a"])
    assert raised.value.code == RequestCode.TOO_MANY_ITEMS and len(seen) == 1  # not retried

    transport, seen = service_mock([broken_connection])
    with (
        CourierClient("http://courier", transport=transport, retry=FAST) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.embed([ImageInput("a", image=b"x")])
    assert len(seen) == 1 + FAST.max_retries


def test_retry_waits_at_least_retry_after_and_at_most_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=10.0, rng=random.Random(0))
    with_header = httpx.Response(429, headers={"retry-after": "3"})
    assert all(3.0 <= policy.delay_s(0, with_header) <= 3.1 for _ in range(50))
    in_two_s = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    assert 0.5 < policy.delay_s(0, httpx.Response(503, headers={"retry-after": in_two_s})) <= 2.1
    backoffs = [policy.delay_s(3, None) for _ in range(200)]
    assert min(backoffs) >= 0 and max(backoffs) <= 0.8 and len(set(backoffs)) > 100  # jittered
    assert RetryPolicy(max_delay_s=1.0).delay_s(0, httpx.Response(429, headers={"retry-after": "60"})) == 1.0


def test_calls_over_the_item_limit_are_split_and_merged() -> None:
    transport, seen = service_mock([ok])
    items = [ImageInput(f"sku-{i}", image=b"x") for i in range(5)]
    with CourierClient("http://courier", transport=transport, max_items_per_request=2) as client:
        result = client.embed(items)
    assert [len(json.loads(r.content)["items"]) for r in seen] == [2, 2, 1]
    assert list(result.vectors) == [f"sku-{i}" for i in range(5)] and result.model == MODEL


def test_an_injected_http_client_is_used_and_left_open() -> None:
    transport, seen = service_mock([ok])
    http = httpx.Client(base_url="http://courier", transport=transport, headers={"x-trace": "t1"})
    with CourierClient(http=http, api_key="k") as client:
        client.embed([ImageInput("a", image=b"x")])
    assert not http.is_closed
    assert seen[0].headers["x-trace"] == "t1" and seen[0].headers["authorization"] == "Bearer k"
    http.close()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_client_against_the_api(anyio_backend) -> None:
    engine = FakeEngine()
    async with fake_app(engine, max_items_per_request=2, api_keys=["k"]) as service:
        transport = httpx.ASGITransport(app=service.app)
        items = [ImageInput(f"a-{i}", image=image_bytes(seed=i)) for i in range(3)] + [
            ImageInput("bad", image=b"not an image")
        ]
        async with AsyncCourierClient(
            "http://courier.test", transport=transport, api_key="k", max_items_per_request=2
        ) as client:
            result = await client.embed(items)
            looked_up = await client.lookup(["a-0", "absent"])
        async with AsyncCourierClient("http://courier.test", transport=transport) as anonymous:
            with pytest.raises(CourierHTTPError) as raised:
                await anonymous.lookup(["a-0"])

    assert sorted(result.vectors) == ["a-0", "a-1", "a-2"] and engine.items_embedded == 3
    assert result.vectors["a-0"].dtype == np.float32 and result.vectors["a-0"].shape == (engine.dim,)
    assert result.errors["bad"].code == ItemCode.IMAGE_DECODE_ERROR
    assert looked_up.missing == ["absent"]
    np.testing.assert_array_equal(looked_up.vectors["a-0"], result.vectors["a-0"])
    assert raised.value.status == 401 and raised.value.code == RequestCode.UNAUTHORIZED


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` behind uvicorn on a free port, in a thread of this process; yields its URL once ready."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_sync_client_against_the_api_over_http() -> None:
    with served(create_app(app_settings(), lambda _: FakeEngine())) as url, CourierClient(url) as client:
        result = client.embed([ImageInput("s-1", image=image_bytes(seed=1))])
        again = client.embed([ImageInput("s-1", image=image_bytes(seed=1))])
    np.testing.assert_array_equal(again.vectors["s-1"], result.vectors["s-1"])
    assert result.cached == {"s-1": False} and again.cached == {"s-1": True}


def test_the_client_imports_none_of_the_service_stack() -> None:
    heavy = [
        "fastapi",
        "starlette",
        "onnxruntime",
        "pandas",
        "pyarrow",
        "pydantic",
        "PIL",
        "redis",
        "service",
    ]
    code = f"import sys, courier_client; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
