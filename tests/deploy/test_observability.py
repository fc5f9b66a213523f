"""The observability pack checked by Prometheus' own promtool (config, rules, the alerts' unit tests in
deploy/prometheus/tests/) and against the series service/metrics.py defines, so that no rule or panel
queries a name the service never exposes. tests/deploy/test_prometheus.py runs the same files live."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.observability import (
    DASHBOARD,
    PROMETHEUS_DIR,
    REPO_ROOT,
    RULE_FILES,
    dashboard_exprs,
    defined_series,
    recorded_names,
    recorded_read,
    rules,
    series_read,
    shipped_exprs,
)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str) -> str:
    if not Path(PROMTOOL).exists():
        pytest.skip("promtool is not installed (Debian's prometheus package: make system-deps)")
    result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=REPO_ROOT)
    output = (result.stdout + result.stderr).strip()
    print(f"promtool {' '.join(args)}: exit {result.returncode}\n{output}")
    assert result.returncode == 0, output
    return output


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    output = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in output
    output = promtool("check", "rules", *map(str, RULE_FILES))
    assert output.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    tests = PROMETHEUS_DIR / "tests" / "alerts_test.yml"
    output = promtool("test", "rules", str(tests))
    assert "SUCCESS" in output
    tested = {
        case["alertname"]
        for test in yaml.safe_load(tests.read_text())["tests"]
        for case in test["alert_rule_test"]
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert tested == alerts, f"alerts without a unit test: {sorted(alerts - tested)}"


def test_every_query_reads_series_the_service_defines_or_rules_record() -> None:
    defined = set(defined_series()) | {"up"}
    recorded = recorded_names()
    for expr in shipped_exprs():
        assert series_read(expr) <= defined, (
            f"{expr}: {series_read(expr) - defined} is not in service/metrics.py"
        )
        assert recorded_read(expr) <= recorded, (
            f"{expr}: {recorded_read(expr) - recorded} is recorded by no rule"
        )
    used = set().union(*map(series_read, shipped_exprs()))
    assert {
        "courier_ready",
        "courier_model_info",
        "courier_queue_items",
        "courier_cache_errors_total",
    } <= used


def test_dashboard_is_provisioned_against_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load(
        (REPO_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (uid,) = [source["uid"] for source in datasources["datasources"]]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(panel["datasource"]["uid"] == uid and panel["targets"] for panel in panels)
    provider = yaml.safe_load((REPO_ROOT / "deploy/grafana/provisioning/dashboards/courier.yml").read_text())
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts
    # Every recorded ratio and quantile the alerts use is on a panel.
    assert recorded_names() <= set().union(*map(recorded_read, dashboard_exprs())) | {
        "job:courier_requests:rate5m"
    }
