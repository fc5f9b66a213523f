"""Image URL fetching that cannot be turned against the service's own network (SSRF); the service's
`image_url` items and the backfill's URL catalogues both go through it.

The host is resolved first and every address checked with the core's rule (`courier_core.addresses`: only
globally routable unicast addresses, IPv6 forms that wrap an IPv4 address judged by that address too);
the connection then goes to the checked address (Host header and TLS name kept), so DNS cannot change
the answer between check and connect. Each redirect (at most `max_redirects`) is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from courier_core.addresses import AllowList, IPAddress, refusal_reason
from courier_core.errors import ItemCode, ItemError
from service import metrics

_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(ItemError):
    """A URL that gave no image: refused, unreachable, too slow, not 200 or too large."""


@dataclass(frozen=True)
class FetchPolicy:
    """`allow_hosts`: host names, IPs or CIDRs exempt from the non-public-address refusal; `allow_http`: the
    same, allowed over plain http. Entries are lower-cased; a malformed CIDR raises ValueError."""

    allow_hosts: Sequence[str] = ()
    allow_http: Sequence[str] = ()
    connect_timeout_s: float = 2.0
    total_timeout_s: float = 5.0
    max_redirects: int = 3
    max_bytes: int = 10 * 1024 * 1024
    private_ok: AllowList = field(init=False, repr=False)  # from allow_hosts
    http_ok: AllowList = field(init=False, repr=False)  # from allow_http

    def __post_init__(self) -> None:
        for name in ("allow_hosts", "allow_http"):
            object.__setattr__(self, name, tuple(entry.lower() for entry in getattr(self, name)))
        object.__setattr__(self, "private_ok", AllowList.parse(self.allow_hosts))
        object.__setattr__(self, "http_ok", AllowList.parse(self.allow_http))


class Fetcher:
    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(policy.total_timeout_s, connect=policy.connect_timeout_s),
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch_many(self, urls: Iterable[str]) -> list[bytes | FetchError]:
        """Every URL fetched concurrently: its body or its `FetchError`, in order."""
        results = await asyncio.gather(*(self.fetch(url) for url in urls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, FetchError):
                raise result
        return results  # type: ignore[return-value]

    async def fetch(self, url: str) -> bytes:
        """The body of `url`, or `FetchError` with code fetch_refused / fetch_timeout / fetch_error /
        image_too_large."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.policy.total_timeout_s):
                return await self._follow(url)
        except TimeoutError:
            raise FetchError(
                ItemCode.FETCH_TIMEOUT, f"{url} took longer than {self.policy.total_timeout_s}s"
            ) from None
        finally:
            metrics.FETCH.observe(time.perf_counter() - started)

    async def _follow(self, url: str) -> bytes:
        for _ in range(self.policy.max_redirects + 1):
            target, headers, extensions = await self._checked_target(url)
            try:
                async with self._client.stream("GET", target, headers=headers, extensions=extensions) as resp:
                    if resp.status_code in _REDIRECTS and "location" in resp.headers:
                        url = urljoin(url, resp.headers["location"])
                        continue
                    if resp.status_code != 200:
                        raise FetchError(ItemCode.FETCH_ERROR, f"{url} answered HTTP {resp.status_code}")
                    return await self._read_capped(resp, url)
            except httpx.TimeoutException:
                raise FetchError(ItemCode.FETCH_TIMEOUT, f"{url} timed out") from None
            except httpx.HTTPError as exc:
                raise FetchError(ItemCode.FETCH_ERROR, f"cannot fetch {url}: {exc}") from None
        raise FetchError(ItemCode.FETCH_ERROR, f"more than {self.policy.max_redirects} redirects")

    async def _read_capped(self, resp: httpx.Response, url: str) -> bytes:
        limit = self.policy.max_bytes
        declared = resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise FetchError(ItemCode.IMAGE_TOO_LARGE, f"{url} is {declared} bytes, limit {limit}")
        chunks, total = [], 0
        async for chunk in resp.aiter_bytes():
            total += len(chunk)
            if total > limit:
                raise FetchError(ItemCode.IMAGE_TOO_LARGE, f"{url} is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _checked_target(self, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """Check scheme and resolved address; return a URL pinned to that address plus Host/SNI."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise FetchError(
                ItemCode.FETCH_REFUSED, f"only http(s) URLs with a host are fetched, got {url!r}"
            )
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if parts.scheme == "http" and not self.policy.http_ok.allows(host, literal):
            raise FetchError(ItemCode.FETCH_REFUSED, f"plain http is not allowed for {host} (https only)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = literal or await self._resolve(host, port)
        self._check_address(host, address)
        ip_host = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": host} if parts.scheme == "https" and literal is None else {}
        return pinned, {"host": host_header}, extensions

    async def _resolve(self, host: str, port: int) -> IPAddress:
        """Resolve and check every address; refuse the host if any address is forbidden."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchError(ItemCode.FETCH_ERROR, f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise FetchError(ItemCode.FETCH_ERROR, f"{host} has no address")
        for address in addresses:
            self._check_address(host, address)
        return addresses[0]

    def _check_address(self, host: str, address: IPAddress) -> None:
        """Refuse an address that is not globally routable (courier_core.addresses), unless allow-listed."""
        reason = refusal_reason(address)
        if reason is not None and not self.policy.private_ok.allows(host, address):
            raise FetchError(ItemCode.FETCH_REFUSED, f"{host} is a non-public address: {reason}")
