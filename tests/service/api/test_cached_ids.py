"""A cached id is answered from the cache without looking at the image sent (README, "The service"):
a broken image for a known id still gets the cached vector, marked `cached`; `refresh` re-embeds it."""

from __future__ import annotations

import base64

import pytest

from harness.images import image_bytes, item
from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio

GARBAGE = {"item_id": "sku-1", "image_b64": base64.b64encode(b"not an image").decode()}


async def test_a_cached_id_ignores_the_image_sent_unless_refreshed() -> None:
    async with fake_app() as service:
        first = (
            await service.http.post("/embed", json={"items": [item("sku-1", image_bytes(seed=1))]})
        ).json()
        again = (await service.http.post("/embed", json={"items": [GARBAGE]})).json()
        refreshed = (await service.http.post("/embed", json={"items": [GARBAGE], "refresh": True})).json()

    assert again["data"][0] == {**first["data"][0], "cached": True}
    assert refreshed["data"][0]["error"]["code"] == "image_decode_error"
