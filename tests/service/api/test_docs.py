"""/docs and /redoc work offline: their pages load Swagger UI and ReDoc from the service itself."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.service_app import fake_app

pytestmark = pytest.mark.anyio

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_no_external_host(page: str) -> None:
    async with fake_app() as service:
        html = await service.http.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assets = ASSET.findall(html.text)
        assert assets, html.text
        external = [url for url in assets + re.findall(r"https?://[^\s\"'<>]+", html.text) if "//" in url]
        assert external == [], external
        for url in assets:  # and each one is served, with real content
            asset = await service.http.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
