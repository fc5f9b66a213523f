"""docker-compose.yml against the compose-spec schema (check-jsonschema's vendored copy), and the wiring
compose only reveals at `up`: Redis private, healthy before the service starts, bounded and evicting only
what may go; every mounted path present; both profiles building the images of deploy/docker/."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.deploy.test_docker import tool

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # PyYAML resolves the `<<: *courier` merge


def test_compose_file_matches_the_compose_spec() -> None:
    command = [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    result = subprocess.run(command, capture_output=True, text=True)
    print(f"check-jsonschema docker-compose.yml: {(result.stdout + result.stderr).strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_redis_is_private_healthchecked_and_evicts_only_expiring_keys(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert "ports" not in redis, "Redis has no auth: reachable on the compose network only"
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    command = redis["command"]
    assert command[command.index("--maxmemory") + 1].endswith(("mb", "gb"))
    assert command[command.index("--maxmemory-policy") + 1].startswith("volatile-"), (
        "the version pointer has no TTL"
    )
    for name in ("courier", "courier-gpu"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_profiles_build_the_deploy_images_and_wait_out_the_drain(services: dict[str, Any]) -> None:
    profiles = {name: service.get("profiles") for name, service in services.items()}
    assert profiles["courier"] == ["cpu"] and profiles["courier-gpu"] == ["gpu"]
    assert services["courier"]["build"]["dockerfile"] == "deploy/docker/cpu.Dockerfile"
    assert services["courier-gpu"]["build"]["dockerfile"] == "deploy/docker/gpu.Dockerfile"
    assert "courier" in services["courier-gpu"]["networks"]["default"]["aliases"], "the scrape target"
    devices = services["courier-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    grace = float(services["courier"]["stop_grace_period"].removesuffix("s"))
    assert grace > Settings.model_fields["drain_timeout_s"].default


def test_mounted_paths_exist_and_ports_stay_on_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy"):
                assert (REPO_ROOT / source).is_dir(), f"{name}: {source}"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
