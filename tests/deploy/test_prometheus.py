"""deploy/prometheus.yml scrapes a real service: a real `prometheus` process, the shipped scrape config
with only the target rewritten to the test's port, and the service's own series read back by PromQL."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.redis import free_port
from harness.service import ServiceProcess, start_service

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "deploy" / "prometheus.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_shipped_config_is_valid_for_promtool() -> None:
    result = subprocess.run([PROMTOOL, "check", "config", str(SHIPPED)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def demo_service(
    onnx_model_repo: ModelRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    settings = {
        "COURIER_MODEL_REPOSITORY": str(onnx_model_repo.root),
        "COURIER_MODEL_NAME": onnx_model_repo.name,
    }
    server = start_service(settings, tmp_path_factory.mktemp("prom-svc") / "service.log")
    yield server
    server.stop()


def _query(client: httpx.Client, promql: str) -> list[dict]:
    body = client.get("/api/v1/query", params={"query": promql}).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_service_with_the_shipped_config(
    demo_service: ServiceProcess, tmp_path: Path
) -> None:
    config = SHIPPED.read_text()
    assert '"courier:8000"' in config, "the shipped target changed; update this test's rewrite"
    config = config.replace('"courier:8000"', f'"127.0.0.1:{demo_service.port}"')
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(config)
    response = demo_service.http.post(
        "/embed", json={"items": [item("prom-1", image_bytes()), {"item_id": "prom-2", "image_b64": "AAAA"}]}
    )
    assert response.status_code == 200

    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as prom:
            deadline = time.monotonic() + 60
            up: list[dict] = []
            while time.monotonic() < deadline:
                try:  # the port opens before Prometheus is ready; until then it answers 503, not JSON
                    ready = prom.get("/-/ready").status_code == 200
                    up = _query(prom, 'up{job="courier"}') if ready else []
                except httpx.TransportError:
                    up = []
                if up and up[0]["value"][1] == "1":
                    break
                time.sleep(0.5)
            assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-2000:]
            # A series the service defines, with the per-item outcome labels a dashboard would use.
            items = _query(prom, "courier_items_total")
            outcomes = {r["metric"].get("outcome") for r in items}
            assert items, "courier_items_total was not scraped"
            assert len(outcomes) >= 2, outcomes
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
