"""The image downloader against a real local server: SSRF rules, redirects, retries, caps, resumption."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.importers.layouts import jpeg
from tests.importers.server import ImageServer, endless, fail_then_serve, redirect, slow
from training.importers.downloads import DownloadConfig, download_images, relative_image_path

IMAGE = jpeg((200, 40, 40), 2)
LOCAL = DownloadConfig(allow_hosts=("127.0.0.1",), allow_http=("127.0.0.1",), retries=0, backoff_s=0.01)


def _one(server: ImageServer, path: str, out: Path, config: DownloadConfig = LOCAL) -> tuple[str | None, str]:
    """(error code or None, message) of downloading `path` from the server."""
    url = server.url(path)
    report = download_images([url], out, config)
    error = report.failed.get(url)
    return (None, "") if error is None else (error.code, error.message)


def test_images_land_under_the_dataset_and_a_rerun_reuses_them(
    image_server: ImageServer, tmp_path: Path
) -> None:
    image_server.files.update({"/a.jpg": IMAGE, "/b.png?v=1": IMAGE})
    urls = [image_server.url("/a.jpg"), image_server.url("/b.png?v=1"), image_server.url("/a.jpg")]
    report = download_images(urls, tmp_path, LOCAL)
    assert (report.fetched, report.reused, report.failed) == (2, 0, {})
    assert (tmp_path / report.paths[urls[0]]).read_bytes() == IMAGE
    assert report.paths[urls[0]] == relative_image_path(urls[0]) and report.paths[urls[0]].endswith(".jpg")
    assert len(image_server.requests) == 2  # the repeated URL is fetched once
    again = download_images(urls, tmp_path, LOCAL)
    assert (again.fetched, again.reused) == (0, 2) and len(image_server.requests) == 2
    assert not list(tmp_path.rglob(".*partial*"))


def test_redirects_are_followed_and_each_hop_is_checked(image_server: ImageServer, tmp_path: Path) -> None:
    image_server.files["/final.jpg"] = IMAGE
    image_server.routes["/hop1"] = redirect("/hop2")
    image_server.routes["/hop2"] = redirect(image_server.url("/final.jpg"))
    assert _one(image_server, "/hop1", tmp_path) == (None, "")
    # A hop to another loopback address: plain http is allowed there, the address is not.
    config = DownloadConfig(allow_hosts=("127.0.0.1",), allow_http=("127.0.0.0/8",), retries=0)
    image_server.routes["/sneaky"] = redirect(f"http://127.0.0.2:{image_server.port}/final.jpg")
    code, message = _one(image_server, "/sneaky", tmp_path, config)
    assert code == "fetch_refused" and "127.0.0.2 is loopback" in message
    for n in range(5):
        image_server.routes[f"/loop{n}"] = redirect(f"/loop{n + 1}")
    code, message = _one(image_server, "/loop0", tmp_path)
    assert code == "fetch_error" and "more than 3 redirects" in message


def test_non_public_hosts_and_plain_http_are_refused_without_a_connection(
    image_server: ImageServer, tmp_path: Path
) -> None:
    image_server.files["/a.jpg"] = IMAGE
    code, message = _one(image_server, "/a.jpg", tmp_path, DownloadConfig(allow_http=("127.0.0.1",)))
    assert code == "fetch_refused" and "127.0.0.1 is loopback" in message
    code, message = _one(image_server, "/a.jpg", tmp_path, DownloadConfig(allow_hosts=("127.0.0.1",)))
    assert code == "fetch_refused" and "plain http is not allowed for 127.0.0.1" in message
    url = f"http://localhost:{image_server.port}/a.jpg"  # a name that resolves to loopback
    report = download_images([url], tmp_path, DownloadConfig(allow_http=("localhost",)))
    assert report.failed[url].code == "fetch_refused"
    report = download_images(["file:///etc/passwd"], tmp_path, LOCAL)
    assert report.failed["file:///etc/passwd"].code == "fetch_refused"
    assert image_server.requests == []


def test_transient_failures_are_retried_with_backoff(image_server: ImageServer, tmp_path: Path) -> None:
    image_server.routes["/flaky.jpg"] = fail_then_serve(503, 2, IMAGE)
    config = DownloadConfig(allow_hosts=("127.0.0.1",), allow_http=("127.0.0.1",), retries=3, backoff_s=0.01)
    assert _one(image_server, "/flaky.jpg", tmp_path, config) == (None, "")
    assert image_server.requests.count("/flaky.jpg") == 3
    image_server.routes["/down.jpg"] = fail_then_serve(503, 99, IMAGE)
    code, message = _one(image_server, "/down.jpg", tmp_path, config)
    assert code == "fetch_error" and "HTTP 503" in message and image_server.requests.count("/down.jpg") == 4
    code, _ = _one(image_server, "/gone.jpg", tmp_path, config)  # 404: not transient, asked once
    assert code == "fetch_error" and image_server.requests.count("/gone.jpg") == 1


def test_size_time_and_content_are_capped(image_server: ImageServer, tmp_path: Path) -> None:
    small = DownloadConfig(allow_hosts=("127.0.0.1",), allow_http=("127.0.0.1",), retries=0, max_bytes=1000)
    image_server.files["/big.jpg"] = b"\xff" * 5000
    code, message = _one(image_server, "/big.jpg", tmp_path, small)
    assert code == "image_too_large" and "5000 bytes, limit 1000" in message
    image_server.routes["/endless.jpg"] = endless()
    code, message = _one(image_server, "/endless.jpg", tmp_path, small)
    assert code == "image_too_large" and "over the 1000-byte limit" in message
    image_server.routes["/slow.jpg"] = slow(2.0, IMAGE)
    quick = DownloadConfig(
        allow_hosts=("127.0.0.1",), allow_http=("127.0.0.1",), retries=0, total_timeout_s=0.3
    )
    code, _ = _one(image_server, "/slow.jpg", tmp_path, quick)
    assert code == "fetch_timeout"
    image_server.files["/page.jpg"] = b"<html>not an image</html>"
    code, _ = _one(image_server, "/page.jpg", tmp_path)
    assert code == "image_decode_error"
    assert not list(tmp_path.rglob("*.jpg"))  # nothing half-written or invalid was kept


@pytest.mark.parametrize("workers", [1, 4])
def test_many_urls_with_bounded_workers(image_server: ImageServer, tmp_path: Path, workers: int) -> None:
    for n in range(30):
        image_server.files[f"/{n}.jpg"] = IMAGE
    urls = [image_server.url(f"/{n}.jpg") for n in range(30)]
    config = DownloadConfig(allow_hosts=("127.0.0.1",), allow_http=("127.0.0.1",), workers=workers)
    report = download_images(urls, tmp_path, config)
    assert report.fetched == 30 and not report.failed
    assert "images: 30 fetched, 0 already present, 0 failed (none)" in report.summary()
