"""The Kubernetes manifests: overlays rendered by a real kustomize (`kubectl kustomize` of the dev extra's
kubectl), every object validated by `kubernetes-validate --strict` for Kubernetes 1.29 and the newest
version it knows, and the wiring a cluster would only reveal at run time checked on the rendered objects."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.deploy.test_docker import IMAGES, instructions, tool

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu")
CRD_KINDS = {"ServiceMonitor", "RayJob"}  # no schema in kubernetes-validate; see the RayJob test below


def kubernetes_versions() -> list[str]:
    try:
        from kubernetes_validate.utils import latest_version
    except ImportError:
        pytest.skip("kubernetes-validate is not installed (it comes with the dev extra: make install)")
    return ["1.29.0", latest_version()]


def render(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(path: Path) -> tuple[int, list[str]]:
    """Run kubernetes-validate --strict for each version; (failures, output lines)."""
    failures, lines = 0, []
    for version in kubernetes_versions():
        result = subprocess.run(
            [tool("kubernetes-validate"), "--strict", "-k", version, str(path)],
            capture_output=True,
            text=True,
        )
        failures += result.returncode != 0
        lines += (result.stdout + result.stderr).strip().splitlines()
    return failures, lines


def assert_valid(path: Path, objects: list[dict[str, Any]]) -> None:
    failures, lines = validate(path)
    print("\n".join(lines))
    assert failures == 0, "\n".join(lines)
    passed = [line for line in lines if line.startswith("INFO") and " passed for resource " in line]
    core = [doc for doc in objects if doc["kind"] not in CRD_KINDS]
    assert len(passed) == 2 * len(core), "every core object is validated against both versions"
    others = [line for line in lines if not line.startswith("INFO")]
    assert all("Couldn't find schema for kind" in line for line in others), others
    assert all(any(kind in line for kind in CRD_KINDS) for line in others), others


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in objects if doc["kind"] == kind]
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    overlay = request.param
    path = tmp_path_factory.mktemp("k8s") / f"{overlay}.yaml"
    path.write_text(yaml.safe_dump_all(render(overlay), sort_keys=False))
    return overlay, path


def test_rendered_overlay_passes_strict_validation(rendered: tuple[str, Path]) -> None:
    _, path = rendered
    objects = list(yaml.safe_load_all(path.read_text()))
    kinds = {doc["kind"] for doc in objects}
    assert kinds == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"} | {
        "PodDisruptionBudget",
        "ServiceMonitor",
    }
    assert_valid(path, objects)


def test_strict_validation_rejects_an_unknown_field(rendered: tuple[str, Path], tmp_path: Path) -> None:
    """The check above can fail: a misspelt field (a typo Kubernetes would drop silently) is an error."""
    _, path = rendered
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text().replace("readinessProbe:", "readinesProbe:", 1))
    failures, lines = validate(broken)
    assert failures == 2 and any("readinesProbe" in line for line in lines), lines


def test_deployment_probes_drain_and_security_match_the_service_and_image(rendered: tuple[str, Path]) -> None:
    overlay, path = rendered
    objects = list(yaml.safe_load_all(path.read_text()))
    deployment, config = by_kind(objects, "Deployment"), by_kind(objects, "ConfigMap")["data"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert (
        startup["httpGet"]["path"] == "/readyz"
        and startup["periodSeconds"] * startup["failureThreshold"] >= 300
    )
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain_s = float(config["COURIER_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > drain_s + float(pre_stop[1])

    image_user = [args for kind, args in instructions(IMAGES[overlay]) if kind == "USER"][-1]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == image_user
    assert container["image"].endswith(f":{overlay}")
    assert {ref["configMapRef"]["name"] for ref in container["envFrom"]} == {
        by_kind(objects, "ConfigMap")["metadata"]["name"]
    }
    assert container["ports"][0]["containerPort"] == int(config["COURIER_PORT"])

    providers = {"cpu": "cpu", "gpu": "cuda"}[overlay]
    assert config["COURIER_PROVIDERS"] == providers
    gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
    assert (gpus == 1) == (overlay == "gpu"), container["resources"]


def test_configmap_holds_only_settings_the_service_knows(rendered: tuple[str, Path]) -> None:
    """Settings ignores unknown COURIER_* variables, so a misspelt key would be dropped without a word."""
    _, path = rendered
    data = by_kind(list(yaml.safe_load_all(path.read_text())), "ConfigMap")["data"]
    fields = {key.removeprefix("COURIER_").lower(): value for key, value in data.items()}
    assert set(fields) <= set(Settings.model_fields), set(fields) - set(Settings.model_fields)
    Settings(**fields)  # the values parse and pass the service's own checks


def test_service_monitor_pdb_and_hpa_point_at_the_deployment(rendered: tuple[str, Path]) -> None:
    _, path = rendered
    objects = list(yaml.safe_load_all(path.read_text()))
    deployment, service = by_kind(objects, "Deployment"), by_kind(objects, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        service["spec"]["selector"],
        by_kind(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    monitor = by_kind(objects, "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    rules = (REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert f'job="{service["metadata"]["name"]}"' in rules, (
        "the ServiceMonitor's job label is what rules select"
    )
    target = by_kind(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_backfill_indexed_job_passes_strict_validation() -> None:
    path = K8S / "backfill-job.yaml"
    assert_valid(path, list(yaml.safe_load_all(path.read_text())))


def test_rayjob_pod_templates_pass_strict_validation_and_match_the_ray_image(tmp_path: Path) -> None:
    """kubernetes-validate has no RayJob schema (a CRD), so each pod template it carries is validated as a
    core PodTemplate; the Ray version must be the one the image is built with."""
    (rayjob,) = yaml.safe_load_all((K8S / "backfill-rayjob.yaml").read_text())
    cluster = rayjob["spec"]["rayClusterSpec"]
    groups = [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster["workerGroupSpecs"]]
    templates = [
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": group["template"]}
        for name, group in groups
    ]
    path = tmp_path / "rayjob-pods.yaml"
    path.write_text(yaml.safe_dump_all(templates))
    assert_valid(path, templates)
    ray_dockerfile = REPO_ROOT / "deploy" / "docker" / "ray.Dockerfile"
    ray_version = [a for k, a in instructions(ray_dockerfile) if k == "ARG" and a.startswith("RAY_VERSION=")][
        0
    ]
    assert cluster["rayVersion"] == ray_version.split("=", 1)[1]
    assert re.search(r"python -m service\.backfill --engine=ray", rayjob["spec"]["entrypoint"])
    for _, group in groups:
        assert group["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
