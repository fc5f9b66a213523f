"""`python -m service` as a real process, where a process matters: SIGTERM drains in-flight work and
exits 0; a bad model stops start-up; decode worker processes are replaced when killed and exit with the
service even when it is SIGKILLed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.service import ServiceProcess, start_service
from service.__main__ import main


def model_settings(repo: ModelRepo) -> dict[str, str]:
    return {"COURIER_MODEL_REPOSITORY": str(repo.root), "COURIER_MODEL_NAME": repo.name}


def test_sigterm_drains_in_flight_requests(onnx_model_repo, tmp_path) -> None:
    settings = model_settings(onnx_model_repo) | {
        "COURIER_MAX_BATCH_DELAY_MS": 800,  # the in-flight request waits in the batcher while SIGTERM lands
        "COURIER_DRAIN_TIMEOUT_S": 10,
        "COURIER_DECODE_WORKERS": 1,
    }
    server = start_service(settings, tmp_path / "service.log")
    try:
        in_flight: dict[str, httpx.Response] = {}
        body = {"items": [item("draining", image_bytes(seed=1))]}
        worker = threading.Thread(target=lambda: in_flight.update(r=server.http.post("/embed", json=body)))
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        server.terminate()
        time.sleep(0.1)
        with httpx.Client(base_url=server.url) as client:
            ready = client.get("/readyz")
            refused = client.post("/embed", json={"items": [item("new", image_bytes(seed=2))]})
        worker.join(timeout=10)
        exit_code = server.process.wait(timeout=10)
    finally:
        server.stop()

    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining"
    assert "retry-after" in refused.headers
    assert in_flight["r"].status_code == 200
    assert len(in_flight["r"].json()["data"][0]["embedding"]) == onnx_model_repo.dim
    assert exit_code == 0
    assert time.monotonic() - started < 5
    assert "shut down cleanly" in server.log()


def test_bad_model_directory_stops_start_up(tmp_path, monkeypatch, capsys) -> None:
    """`main()` in this process (start-up fails before any socket or worker exists)."""
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", str(tmp_path / "nowhere"))
    monkeypatch.setenv("COURIER_PORT", "0")
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0
    assert "does not exist" in capsys.readouterr().err


def test_bad_settings_stop_start_up_naming_the_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("COURIER_MAX_BATCH_SIZE", "64")
    assert main() == 2
    assert "COURIER_MAX_BATCH_SIZE=64" in capsys.readouterr().err


@pytest.fixture(scope="module")
def two_workers(onnx_model_repo, tmp_path_factory) -> Iterator[ServiceProcess]:
    settings = model_settings(onnx_model_repo) | {"COURIER_DECODE_WORKERS": 2}
    server = start_service(settings, tmp_path_factory.mktemp("workers") / "service.log")
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
    """Runs last in this module: it kills the module's service."""
    workers = decode_workers(two_workers.process.pid)
    assert workers
    two_workers.process.kill()  # SIGKILL: no shutdown code runs in the service
    two_workers.process.wait()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in workers)
