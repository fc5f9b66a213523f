"""image_url fetching in-process against a local HTTP server: SSRF checks per hop, redirect and size caps."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from courier_core.addresses import refusal_reason
from service.runtime.fetch import Fetcher, FetchError, FetchPolicy

BODY = b"x" * 5000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        if self.path.startswith("/hops/"):
            remaining = int(self.path.rsplit("/", 1)[1])
            target = f"http://localhost:{port}/hops/{remaining - 1}" if remaining > 1 else "/data"
            self._redirect(target)
        elif self.path == "/to-ip":
            self._redirect(f"http://127.0.0.1:{port}/data")
        elif self.path == "/data":
            self.send_response(200)
            self.send_header("content-length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        else:
            self.send_error(404)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("location", location)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def local_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def fetch(url: str, **policy: object) -> bytes:
    async def run() -> bytes:
        fetcher = Fetcher(FetchPolicy(**policy))
        try:
            return await fetcher.fetch(url)
        finally:
            await fetcher.close()

    return asyncio.run(run())


def code_of(url: str, **policy: object) -> str:
    with pytest.raises(FetchError) as info:
        fetch(url, **policy)
    return info.value.code


def test_forbidden_ranges() -> None:
    import ipaddress

    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fd00:ec2::254",
        "0.0.0.0",
        "::ffff:127.0.0.1",
    ):
        assert refusal_reason(ipaddress.ip_address(address)), address
    assert not refusal_reason(ipaddress.ip_address("93.184.216.34"))


def test_loopback_refused_unless_allow_listed(local_server) -> None:
    url = f"http://localhost:{local_server}/data"
    assert code_of(url) == "fetch_refused"  # plain http
    assert code_of(url, allow_http=["localhost"]) == "fetch_refused"  # loopback address
    assert fetch(url, allow_http=["localhost"], allow_hosts=["localhost"]) == BODY


def test_every_redirect_is_checked_again(local_server) -> None:
    allowed = {"allow_http": ["localhost", "127.0.0.1"], "allow_hosts": ["localhost"]}
    assert code_of(f"http://localhost:{local_server}/to-ip", **allowed) == "fetch_refused"
    assert fetch(f"http://localhost:{local_server}/hops/3", **allowed) == BODY
    assert code_of(f"http://localhost:{local_server}/hops/4", **allowed) == "fetch_error"


def test_size_and_status_limits(local_server) -> None:
    allowed = {"allow_http": ["127.0.0.1"], "allow_hosts": ["127.0.0.0/8"]}
    assert code_of(f"http://127.0.0.1:{local_server}/data", max_bytes=1000, **allowed) == "image_too_large"
    assert code_of(f"http://127.0.0.1:{local_server}/nothing", **allowed) == "fetch_error"
    assert code_of("ftp://example.com/x.jpg") == "fetch_refused"
