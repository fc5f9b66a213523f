"""`python -m service` as a real process, where a process matters: SIGTERM drains in-flight work and
exits 0; a bad model, setting or port stops start-up with one line naming it (the port before the model
loads); --help lists every setting; decode worker processes are replaced when killed and exit with the
service even when it is SIGKILLed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.redis import free_port
from harness.service import REPO_ROOT, ServiceProcess, start_service
from service.__main__ import main
from service.settings import Settings


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


def run_service(env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m service` with only these COURIER_* settings, as a user starts it; its whole output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_") and k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=REPO_ROOT,
        env=clean | {"COURIER_PORT": str(free_port())} | env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def corrupt_copy(repo: ModelRepo, where: Path) -> Path:
    copy = Path(shutil.copytree(repo.root, where))
    onnx_path = copy / repo.onnx_path.relative_to(repo.root)
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("no repository set", "COURIER_MODEL_REPOSITORY is not set"),
        ("repository missing", "COURIER_MODEL_REPOSITORY="),
        ("mistyped model name", "COURIER_MODEL_NAME=fixture-typo"),
        ("corrupt model", "model.onnx is corrupt"),
        ("port not a number", "COURIER_PORT='eighty'"),
        ("batch size over the buckets", "COURIER_MAX_BATCH_SIZE=64"),
    ],
)
def test_start_up_errors_are_one_line_naming_the_variable_or_file(
    case: str, named: str, onnx_model_repo: ModelRepo, tmp_path: Path
) -> None:
    env = {
        "no repository set": {},
        "repository missing": {"COURIER_MODEL_REPOSITORY": str(tmp_path / "nowhere")},
        "mistyped model name": model_settings(onnx_model_repo) | {"COURIER_MODEL_NAME": "fixture-typo"},
        "corrupt model": {
            "COURIER_MODEL_REPOSITORY": str(corrupt_copy(onnx_model_repo, tmp_path / "bad")),
            "COURIER_MODEL_NAME": onnx_model_repo.name,
        },
        "port not a number": model_settings(onnx_model_repo) | {"COURIER_PORT": "eighty"},
        "batch size over the buckets": model_settings(onnx_model_repo) | {"COURIER_MAX_BATCH_SIZE": "64"},
    }[case]
    result = run_service(env)
    output = (result.stdout + result.stderr).strip()

    assert result.returncode in (1, 2)
    assert len(output.splitlines()) == 1, output
    assert named in output
    assert "Traceback" not in output
    if case == "mistyped model name":
        assert f"it holds: {onnx_model_repo.name}" in output


def test_debug_level_adds_the_traceback(tmp_path: Path) -> None:
    result = run_service(
        {"COURIER_MODEL_REPOSITORY": str(tmp_path / "nowhere"), "COURIER_LOG_LEVEL": "debug"}
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ModelError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("courier: cannot start:")


def test_a_port_in_use_fails_before_the_model_loads(onnx_model_repo: ModelRepo) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_service(model_settings(onnx_model_repo) | {"COURIER_PORT": str(port)})
    output = (result.stdout + result.stderr).strip()

    assert result.returncode == 1
    assert output.splitlines() == [output]
    assert f"127.0.0.1:{port}" in output and "COURIER_PORT" in output
    assert "loaded model" not in output  # the model was never opened


def test_help_lists_every_setting_with_its_variable_and_default(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for name, field in Settings.model_fields.items():
        variable = "REDIS_URL" if name == "redis_url" else f"COURIER_{name.upper()}"
        row = next((line.split() for line in lines if line.split()[:1] == [variable]), None)
        assert row is not None, f"{variable} missing from --help"
        if not field.is_required() and isinstance(field.default, int | float | str):
            assert row[1] == str(field.default), row
    assert "COURIER_MODEL_REPOSITORY" in "".join(lines) and "(required)" in "".join(lines)


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
