"""Fetch item images named by URL into the dataset directory: bounded, resumable, and SSRF-safe.

The URLs come from a data file, so they are treated like the service treats `image_url`: http(s) only,
plain http only for allow-listed hosts, the host resolved and every address checked with
`courier_core.addresses` (unless allow-listed), the connection made to the checked address (Host header
and TLS name kept, so DNS cannot change the answer in between), each redirect (at most `max_redirects`)
checked again, size and time capped. Transient failures (timeouts, connection errors, 429, 5xx) are
retried with exponential backoff. Every image lands under `images/<hash of its URL>` by way of a
temporary name, so a rerun after a kill fetches only what is missing. The bytes must decode as an image.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from courier_core.addresses import AllowList, IPAddress, refusal_reason
from courier_core.images import ImageError, decode_image
from training.importers.progress import Progress

FETCH_ERROR = "fetch_error"
FETCH_TIMEOUT = "fetch_timeout"
FETCH_REFUSED = "fetch_refused"
IMAGE_TOO_LARGE = "image_too_large"
IMAGE_DECODE_ERROR = "image_decode_error"
_REDIRECTS = {301, 302, 303, 307, 308}
_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}
IMAGES_DIR = "images"


@dataclass(frozen=True)
class DownloadConfig:
    allow_hosts: tuple[str, ...] = ()  # hosts, addresses or networks exempt from the public-address rule
    allow_http: tuple[str, ...] = ()  # hosts (same syntax) that may be fetched over plain http
    workers: int = 8
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 20.0  # per attempt, connect to last byte
    max_bytes: int = 10 << 20
    max_redirects: int = 3
    retries: int = 3  # further attempts after a transient failure
    backoff_s: float = 1.0  # first wait; doubles each retry


class DownloadError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass
class DownloadReport:
    paths: dict[str, str] = field(default_factory=dict)  # URL → image path relative to the dataset
    fetched: int = 0
    reused: int = 0  # already on disk from an earlier run
    failed: dict[str, DownloadError] = field(default_factory=dict)  # URL → why

    def summary(self) -> str:
        by_code: dict[str, int] = {}
        for error in self.failed.values():
            by_code[error.code] = by_code.get(error.code, 0) + 1
        codes = ", ".join(f"{code} {n:,}" for code, n in sorted(by_code.items())) or "none"
        lines = [
            f"images: {self.fetched:,} fetched, {self.reused:,} already present, {len(self.failed):,} failed ({codes})"
        ]
        lines += [f"  e.g. {url}: {error}" for url, error in list(self.failed.items())[:5]]
        return "\n".join(lines)


def relative_image_path(url: str) -> str:
    """Where `url`'s image lives inside the dataset: images/<2 hex>/<sha1 of the URL><suffix>."""
    digest = hashlib.sha1(url.encode()).hexdigest()
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return f"{IMAGES_DIR}/{digest[:2]}/{digest}{suffix if suffix in _SUFFIXES else '.img'}"


def download_images(urls: list[str], out: Path, config: DownloadConfig) -> DownloadReport:
    """Fetch each distinct URL not yet under `out/images`; failures are collected, never raised."""
    report = DownloadReport()
    for stale in (out / IMAGES_DIR).glob("*/.*.partial-*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    todo = []
    for url in dict.fromkeys(urls):
        relative = relative_image_path(url)
        report.paths[url] = relative
        if (out / relative).is_file():
            report.reused += 1
        else:
            todo.append(url)
    fetcher = Fetcher(config)
    try:
        with Progress("downloading images", total=len(todo), unit="img") as progress:
            for url, error in _run_bounded(fetcher, todo, out, config.workers):
                if error is None:
                    report.fetched += 1
                else:
                    report.failed[url] = error
                progress.update(1)
    finally:
        fetcher.close()
    return report


def _run_bounded(
    fetcher: Fetcher, urls: list[str], out: Path, workers: int
) -> Iterator[tuple[str, DownloadError | None]]:
    """At most 2 × workers downloads queued at once, so a million URLs do not become a million futures."""
    pending: dict[Future, str] = {}
    queue = iter(urls)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="download") as pool:
        while True:
            while len(pending) < 2 * max(1, workers) and (url := next(queue, None)) is not None:
                pending[pool.submit(fetcher.save, url, out / relative_image_path(url))] = url
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()


class Fetcher:
    """One pooled httpx client shared by the download threads."""

    def __init__(self, config: DownloadConfig) -> None:
        self.config = config
        self.allow = AllowList.parse(config.allow_hosts)
        self.allow_http = AllowList.parse(config.allow_http)
        self._client = httpx.Client(follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def save(self, url: str, path: Path) -> DownloadError | None:
        """Fetch with retries, check that it decodes, write atomically; the last error or None."""
        for attempt in range(self.config.retries + 1):
            try:
                data = self.fetch(url)
                decode_image(data, 8, max_bytes=self.config.max_bytes)
            except DownloadError as error:
                if not error.retryable or attempt == self.config.retries:
                    return error
                time.sleep(self.config.backoff_s * 2**attempt)
                continue
            except ImageError as error:
                code = IMAGE_TOO_LARGE if error.code == IMAGE_TOO_LARGE else IMAGE_DECODE_ERROR
                return DownloadError(code, f"{url}: {error.message}")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial-{threading.get_ident()}")
            partial.write_bytes(data)
            os.replace(partial, path)
            return None
        return None  # pragma: no cover - the loop always returns

    def fetch(self, url: str) -> bytes:
        """The body of `url` after at most `max_redirects` checked redirects."""
        deadline = time.monotonic() + self.config.total_timeout_s
        for _ in range(self.config.max_redirects + 1):
            target, headers, extensions = self._checked_target(url)
            remaining = max(0.001, deadline - time.monotonic())
            timeout = httpx.Timeout(remaining, connect=min(self.config.connect_timeout_s, remaining))
            try:
                with self._client.stream(
                    "GET", target, headers=headers, extensions=extensions, timeout=timeout
                ) as response:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        transient = response.status_code in (408, 429) or response.status_code >= 500
                        raise DownloadError(
                            FETCH_ERROR, f"{url} answered HTTP {response.status_code}", retryable=transient
                        )
                    return self._read_capped(response, url, deadline)
            except httpx.TimeoutException:
                raise DownloadError(FETCH_TIMEOUT, f"{url} timed out", retryable=True) from None
            except httpx.HTTPError as exc:
                raise DownloadError(FETCH_ERROR, f"cannot fetch {url}: {exc}", retryable=True) from None
        raise DownloadError(FETCH_ERROR, f"{url}: more than {self.config.max_redirects} redirects")

    def _read_capped(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        limit = self.config.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise DownloadError(IMAGE_TOO_LARGE, f"{url} is {declared} bytes, limit {limit}")
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise DownloadError(IMAGE_TOO_LARGE, f"{url} is over the {limit}-byte limit")
            if time.monotonic() > deadline:
                raise DownloadError(
                    FETCH_TIMEOUT, f"{url} took over {self.config.total_timeout_s}s", retryable=True
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _checked_target(self, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """Check scheme and every resolved address; a URL pinned to the checked address plus Host/SNI."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise DownloadError(FETCH_REFUSED, f"only http(s) URLs with a host are fetched, got {url!r}")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if parts.scheme == "http" and not self.allow_http.allows(host, literal):
            raise DownloadError(FETCH_REFUSED, f"plain http is not allowed for {host} (https only)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [literal] if literal is not None else self._resolve(host, port)
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None and not self.allow.allows(host, address):
                raise DownloadError(FETCH_REFUSED, f"{host} resolves to a non-public address: {reason}")
        address = addresses[0]
        ip_host = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if parts.scheme == "https" and literal is None else {}
        return pinned, {"host": parts.netloc.rsplit("@", 1)[-1]}, extensions

    @staticmethod
    def _resolve(host: str, port: int) -> list[IPAddress]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise DownloadError(FETCH_ERROR, f"cannot resolve {host}: {exc}", retryable=True) from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise DownloadError(FETCH_ERROR, f"{host} has no address")
        return addresses
