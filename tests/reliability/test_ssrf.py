"""SSRF: the service's fetcher (also the backfill's) refuses every address that is not globally routable,
including the ranges that slipped through before (shared address space 100.64.0.0/10, IETF 192.0.0.0/24,
6to4 wrapping loopback), directly and behind a redirect, and connects to nothing it refused."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from harness.models import ModelRepo
from service.runtime.fetch import Fetcher, FetchError, FetchPolicy
from tests.backfill.conftest import CatalogueDir, run_backfill_cli

# Each was accepted as public before; none may be fetched. (Nothing listens there: a refusal must come
# from the rule, before any connection.)
NEWLY_REFUSED = [
    "https://100.64.0.1/x.jpg",  # shared address space (carrier-grade NAT)
    "https://100.100.100.200/latest/meta-data",  # Alibaba metadata, inside 100.64.0.0/10
    "https://192.0.0.8/x.jpg",  # IETF protocol assignments
    "https://[2002:7f00:1::]/x.jpg",  # 6to4 wrapping 127.0.0.1
    "https://[2002:a9fe:a9fe::]/x.jpg",  # 6to4 wrapping the metadata address 169.254.169.254
    "https://[::ffff:10.0.0.1]/x.jpg",  # IPv4-mapped private
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x.jpg",  # Teredo
    "https://198.51.100.7/x.jpg",  # documentation range
    "https://[64:ff9b::a9fe:a9fe]/x.jpg",  # NAT64 for 169.254.169.254
]


def fetch_error(url: str, policy: FetchPolicy | None = None) -> FetchError:
    async def run() -> FetchError:
        fetcher = Fetcher(policy or FetchPolicy(connect_timeout_s=0.5, total_timeout_s=1.0))
        try:
            await fetcher.fetch(url)
        except FetchError as exc:
            return exc
        finally:
            await fetcher.close()
        raise AssertionError(f"{url} was fetched")

    return asyncio.run(run())


@pytest.mark.parametrize("url", NEWLY_REFUSED)
def test_non_global_addresses_are_refused_before_connecting(url: str) -> None:
    error = fetch_error(url)
    assert error.code == "fetch_refused", error.message
    assert "non-public" in error.message


class _Redirector(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(302)
        self.send_header("location", self.path.removeprefix("/to/"))
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("target", NEWLY_REFUSED[:4])
def test_a_redirect_to_a_non_global_address_is_refused(redirector: str, target: str) -> None:
    """The first hop (a test server on loopback) is allow-listed; the redirect target is checked again."""
    policy = FetchPolicy(allow_hosts=["127.0.0.1"], allow_http=["127.0.0.1"], total_timeout_s=2.0)
    error = fetch_error(f"{redirector}/to/{target}", policy)
    assert error.code == "fetch_refused", error.message


def test_the_backfill_applies_the_same_rule(onnx_model_repo: ModelRepo, tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    ids = [f"u{k}" for k in range(len(NEWLY_REFUSED))]
    pd.DataFrame(
        {"item_id": ids, "image": NEWLY_REFUSED, "title": ["t"] * len(ids), "category": ["c"] * len(ids)}
    ).to_parquet(root / "items.parquet", index=False)
    catalogue = CatalogueDir(root, [], [], [])
    code, summary, stderr = run_backfill_cli(
        catalogue, onnx_model_repo, "--parquet-out", str(tmp_path / "e.pq")
    )
    assert code == 1, stderr
    assert summary["embedded"] == 0
    assert summary["failed"]["fetch_refused"]["count"] == len(ids)
