"""Decoding runs in worker processes: the service outlives a killed worker and keeps answering."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import model_settings
from tests.service.helpers import ServiceProcess, image_bytes, item, start_service


@pytest.fixture
def two_workers(onnx_model_repo, tmp_path) -> Iterator[ServiceProcess]:
    settings = model_settings(onnx_model_repo) | {"COURIER_DECODE_WORKERS": 2}
    server = start_service(settings, tmp_path / "service.log")
    yield server
    server.stop()


def decode_workers(parent: int) -> list[int]:
    """Live spawned pool workers of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def embedded(server: ServiceProcess, prefix: str) -> int:
    body = {"items": [item(f"{prefix}-{i}", image_bytes(seed=i)) for i in range(4)]}
    response = server.http.post("/embed", json=body)
    assert response.status_code == 200, response.text
    return sum("embedding" in d for d in response.json()["data"])


def test_killed_decode_workers_are_replaced(two_workers: ServiceProcess) -> None:
    workers = decode_workers(two_workers.process.pid)
    assert len(workers) == 2  # started before ready, not on the first request
    assert embedded(two_workers, "before") == 4

    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)  # the pool notices dead workers in the background and marks itself broken

    assert embedded(two_workers, "after") == 4
    assert two_workers.http.get("/readyz").status_code == 200
    replaced = decode_workers(two_workers.process.pid)
    assert len(replaced) >= 1 and not set(replaced) & set(workers)
    assert "replacing the pool" in two_workers.log()


def test_decode_workers_exit_when_the_service_is_killed(two_workers: ServiceProcess) -> None:
    workers = decode_workers(two_workers.process.pid)
    assert workers
    two_workers.process.kill()  # SIGKILL: no shutdown code runs in the service
    two_workers.process.wait()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in workers)
