"""deploy/prometheus/ against a real service: a real `prometheus` process with the shipped config (only the
target and intervals rewritten) and rule files, the service's own series read back by PromQL, every rule
evaluating without error, no alert pending on a healthy service, and every dashboard query answering."""

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
from tests.deploy.observability import RULE_FILES, dashboard_exprs, defined_series, series_read, shipped_exprs

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


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


def test_prometheus_scrapes_the_service_and_evaluates_the_shipped_rules(
    demo_service: ServiceProcess, tmp_path: Path
) -> None:
    config = SHIPPED.read_text()
    assert '"courier:8000"' in config, "the shipped target changed; update this test's rewrite"
    config = config.replace('"courier:8000"', f'"127.0.0.1:{demo_service.port}"')
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    config = config.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(config)
    for rule_file in RULE_FILES:  # rule_files are relative to the config file
        shutil.copy(rule_file, tmp_path / rule_file.name)
    response = demo_service.http.post(
        "/embed", json={"items": [item("prom-1", image_bytes()), {"item_id": "prom-2", "image_b64": "AAAA"}]}
    )
    assert response.status_code == 200
    exposed = demo_service.http.get("/metrics").text

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
            up = _wait_for_scrape(prom, tmp_path)
            assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-2000:]
            # A series the service defines, with the per-item outcome labels a dashboard would use.
            items = _query(prom, "courier_items_total")
            outcomes = {r["metric"].get("outcome") for r in items}
            assert items, "courier_items_total was not scraped"
            assert len(outcomes) >= 2, outcomes

            groups = _wait_for_rule_evaluation(prom)
            loaded = sorted(Path(group["file"]).name for group in groups)
            assert loaded == sorted(path.name for path in RULE_FILES)
            for group in groups:
                for rule in group["rules"]:
                    assert rule["health"] == "ok", rule
            alerts = prom.get("/api/v1/alerts").json()["data"]["alerts"]
            assert alerts == [], f"a healthy service raised alerts: {alerts}"

            # Every series the rules and panels read is exposed by the running service (as a family at
            # least: the failure-only series have no sample until something fails) ...
            families = defined_series()
            for name in set().union(*map(series_read, shipped_exprs())) - {"up"}:
                assert f"# TYPE {families[name]} " in exposed, f"{name} is not on the service's /metrics"
            # ... and every dashboard query is valid PromQL that Prometheus answers.
            answered = 0
            for expr in dashboard_exprs():
                answered += bool(_query(prom, expr))
            assert answered >= len(dashboard_exprs()) // 2, "most panels show data after one /embed"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_for_scrape(prom: httpx.Client, tmp_path: Path) -> list[dict]:
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
    return up


def _wait_for_rule_evaluation(prom: httpx.Client) -> list[dict]:
    """The rule groups once every rule has been evaluated after the first scrape."""
    deadline = time.monotonic() + 30
    while True:
        groups = prom.get("/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = [rule for rule in rules if not rule.get("lastEvaluation", "").startswith("0001")]
        if rules and len(evaluated) == len(rules) or time.monotonic() > deadline:
            time.sleep(2)  # one more evaluation round, now with samples behind every rate()
            return prom.get("/api/v1/rules").json()["data"]["groups"]
        time.sleep(0.5)
