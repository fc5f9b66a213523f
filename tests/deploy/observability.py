"""The PromQL the observability pack ships (alert and recording rules, dashboard panels) and the series
names it reads, next to the names service/metrics.py defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import Counter, Gauge, Histogram

from service import metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULE_FILES = [PROMETHEUS_DIR / "rules.yml", PROMETHEUS_DIR / "alerts.yml"]
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "courier.json"
_RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_:]+")
_SERIES = re.compile(r"\b(courier_[a-z0-9_]+|up)\b")


def rules() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def shipped_exprs() -> list[str]:
    return [rule["expr"] for rule in rules()] + dashboard_exprs()


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def series_read(expr: str) -> set[str]:
    """Raw series names an expression selects (recording-rule names and label values left out)."""
    without_recorded = _RECORDED.sub(" ", re.sub(r'"[^"]*"', '""', expr))
    return set(_SERIES.findall(without_recorded))


def defined_series() -> dict[str, str]:
    """{sample name: the family's name on a /metrics page (its `# TYPE` line)} for every series
    service/metrics.py can expose."""
    names = {}
    for metric in vars(metrics).values():
        name = getattr(metric, "_name", "")  # prometheus_client keeps counters' names without `_total`
        if isinstance(metric, Counter):
            names.update({name + "_total": name + "_total", name + "_created": name + "_total"})
        elif isinstance(metric, Histogram):
            names.update({name + suffix: name for suffix in ("_bucket", "_sum", "_count", "_created")})
        elif isinstance(metric, Gauge):
            names[name] = name
    return names


def recorded_read(expr: str) -> set[str]:
    """Recording-rule names an expression reads."""
    return set(_RECORDED.findall(re.sub(r'"[^"]*"', '""', expr)))
