"""Bounded memory on a real service process: an unauthenticated body is refused before it is read,
concurrent large bodies are bounded by the bytes in flight (peak RSS measured), and a request of huge
images cannot hold a small request back (soak: it decodes 40-megapixel PNGs)."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.service import ServiceProcess, start_service
from tests.reliability.load import fault_line

KEY = "reliability-key"
MIB = 1024 * 1024


def model_env(repo: ModelRepo, **extra: object) -> dict[str, object]:
    return {
        "COURIER_MODEL_REPOSITORY": repo.root,
        "COURIER_MODEL_NAME": repo.name,
        "COURIER_DECODE_WORKERS": 1,
        **extra,
    }


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def test_an_unauthenticated_30_mib_body_gets_401_before_it_is_sent(
    onnx_model_repo: ModelRepo, tmp_path: Path
) -> None:
    """Only the headers and the first 64 KiB go out; the 401 comes back without the rest (before, the
    whole body was read and parsed first)."""
    server = start_service(model_env(onnx_model_repo, COURIER_API_KEYS=KEY), tmp_path / "service.log")
    try:
        declared = 30 * MIB
        head = (
            f"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head + b'{"items": [' + b" " * (64 * 1024))
            answer = read_response(sock)
        keyed = server.http.post(
            "/embed", json={"items": [item("k", image_bytes())]}, headers={"x-api-key": KEY}
        )
        rss = memory_kib(server.process.pid)
    finally:
        server.stop()
    assert answer.startswith("HTTP/1.1 401"), answer[:200]
    assert '"unauthorized"' in answer
    assert keyed.status_code == 200
    print(
        "\n" + fault_line("unauthenticated_30mib_body", status=401, sent_bytes=len(head) + 64 * 1024, **rss)
    )


def read_response(sock: socket.socket) -> str:
    """One HTTP/1.1 response with a Content-Length body, as text."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def large_body(size: int, seed: int) -> bytes:
    """A valid /embed body of about `size` bytes: 10 items of random bytes (each fails to decode, fast;
    16 such bodies fit in the item queue, so only the byte bound can hold them back)."""
    rng = np.random.default_rng(seed)
    per_item = size * 3 // 4 // 10
    items = [
        {"item_id": f"big-{seed}-{k}", "image_b64": base64.b64encode(rng.bytes(per_item)).decode()}
        for k in range(10)
    ]
    return json.dumps({"items": items}).encode()


def concurrent_large_bodies(server: ServiceProcess, concurrency: int) -> dict[str, object]:
    bodies = [large_body(29 * MIB, seed) for seed in range(concurrency)]
    before = memory_kib(server.process.pid)
    statuses: list[int | str] = []
    lock = threading.Lock()

    def send(body: bytes) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            try:
                status: int | str = client.post(
                    "/embed", content=body, headers={"content-type": "application/json"}
                ).status_code
            except httpx.TransportError as exc:
                status = type(exc).__name__
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = memory_kib(server.process.pid)
    return {
        "concurrency": concurrency,
        "statuses": dict(sorted((str(s), statuses.count(s)) for s in set(statuses))),
        "rss_before_mb": before["VmRSS"] // 1024,
        "peak_rss_mb": after["VmHWM"] // 1024,
        "wall_s": round(time.monotonic() - started, 2),
    }


@pytest.fixture(scope="module")
def large_body_service(
    onnx_model_repo: ModelRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    server = start_service(model_env(onnx_model_repo), tmp_path_factory.mktemp("bodies") / "service.log")
    yield server
    server.stop()


@pytest.mark.parametrize("concurrency", [pytest.param(8), pytest.param(16, marks=pytest.mark.soak)])
def test_concurrent_large_bodies_are_bounded_in_memory(
    large_body_service: ServiceProcess, concurrency: int
) -> None:
    """29 MiB bodies at once: those over the 128 MiB in flight get 429 before being read; peak RSS of the
    service stays bounded (docs/reliability.md has the figures before and after)."""
    figures = concurrent_large_bodies(large_body_service, concurrency)
    print("\n" + fault_line("large_bodies", **figures))
    statuses = figures["statuses"]
    assert set(statuses) <= {"200", "429"}, statuses
    assert statuses.get("200", 0) >= 1 and statuses.get("429", 0) >= 1
    assert figures["peak_rss_mb"] < 550  # 4 bodies of 29 MiB in flight at most (128 MiB)


def huge_png(seed: int) -> bytes:
    """6300×6300 RGBA (39.7 megapixels) in ~170 KB: a flat picture with a little noise."""
    rng = np.random.default_rng(seed)
    pixels = np.full((6300, 6300, 4), (40, 120, 200, 255), np.uint8)
    pixels[rng.integers(0, 6300, 200), rng.integers(0, 6300, 200)] = (255, 0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def timed_post(server: ServiceProcess, body: dict, into: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=server.url, timeout=180) as client:
        begun = time.monotonic()
        status = client.post("/embed", json=body).status_code
        into.append((status, time.monotonic() - begun))


@pytest.mark.soak
def test_a_request_of_huge_images_cannot_hold_a_small_one_back(
    onnx_model_repo: ModelRepo, tmp_path: Path
) -> None:
    """16 PNGs of 39.7 megapixels (~170 KB each) in one request, and a 1-item request 0.5 s later. Before,
    the small one waited for most of the big one's decoding. Now the big request is refused at once (413
    too_many_pixels: it could never fit), and the same images sent 4 per request are admitted while pixels
    are free (429 otherwise), the small request waiting behind at most the pixels admitted before it."""
    huge = huge_png(0)
    server = start_service(
        model_env(onnx_model_repo, COURIER_DECODE_WORKERS=2, COURIER_REQUEST_TIMEOUT_S=120),
        tmp_path / "service.log",
    )
    images = [item(f"huge-{k}", huge) for k in range(16)]
    try:
        whole: list[tuple[int, float]] = []
        small: list[tuple[int, float]] = []
        sender = threading.Thread(target=timed_post, args=(server, {"items": images}, whole))
        sender.start()
        time.sleep(0.5)
        timed_post(server, {"items": [item("small", image_bytes())]}, small)
        sender.join()
        quarters: list[tuple[int, float]] = []

        def send_quarters() -> None:
            for part in range(4):
                timed_post(server, {"items": images[part * 4 : part * 4 + 4]}, quarters)
                while quarters[-1][0] == 429:
                    time.sleep(0.2)
                    timed_post(server, {"items": images[part * 4 : part * 4 + 4]}, quarters)

        sender = threading.Thread(target=send_quarters)
        sender.start()
        time.sleep(0.5)
        small_beside_quarters: list[tuple[int, float]] = []
        timed_post(server, {"items": [item("small-2", image_bytes(seed=1))]}, small_beside_quarters)
        sender.join()
    finally:
        server.stop()
    print(
        "\n"
        + fault_line(
            "huge_pixels",
            png_bytes=len(huge),
            whole=[(s, round(t, 2)) for s, t in whole],
            small_alongside=[(s, round(t, 2)) for s, t in small],
            quarters=[(s, round(t, 1)) for s, t in quarters],
            small_beside_quarters=[(s, round(t, 2)) for s, t in small_beside_quarters],
        )
    )
    assert whole[0][0] == 413 and whole[0][1] < 1
    assert small[0][0] == 200 and small[0][1] < 5
    assert [s for s, _ in quarters if s != 429] == [200] * 4
    assert small_beside_quarters[0][0] == 200
