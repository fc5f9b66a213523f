"""Provider choice: CUDA when offered, a loud `gpu_unused` when a visible GPU would be skipped, and a start-up
failure when `cuda` is demanded without it. The last two run a real `python -m service` on this CPU-only
onnxruntime with a GPU made "visible" through CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import subprocess
from pathlib import Path

import onnxruntime as ort
import pytest

from courier_core.model_repo import ModelError
from harness.models import ModelRepo
from harness.service import ServiceProcess, start_service
from service.runtime.providers import (
    CPU,
    CUDA,
    check_session,
    installed_runtimes,
    nvidia_device_visible,
    plan_providers,
)

GPU_BUILD = [CUDA, CPU]
CPU_BUILD = ["AzureExecutionProvider", CPU]


def test_cuda_is_used_when_offered_and_not_refused() -> None:
    assert plan_providers("auto", GPU_BUILD, gpu_visible=True).providers == (CUDA, CPU)
    assert plan_providers("cuda", GPU_BUILD, gpu_visible=False).providers == (CUDA, CPU)
    assert plan_providers("cpu", GPU_BUILD, gpu_visible=True).providers == (CPU,)


def test_auto_on_a_cpu_build_next_to_a_visible_gpu_is_flagged() -> None:
    plan = plan_providers("auto", CPU_BUILD, gpu_visible=True, runtimes=["onnxruntime"])
    assert plan.providers == (CPU,) and plan.gpu_unused
    assert "SERVING ON CPU" in plan.warnings[0] and "[serve,gpu]" in plan.warnings[0]
    quiet = plan_providers("auto", CPU_BUILD, gpu_visible=False, runtimes=["onnxruntime"])
    assert quiet.providers == (CPU,) and not quiet.gpu_unused and not quiet.warnings


def test_cuda_without_a_cuda_provider_fails_naming_the_installed_build() -> None:
    with pytest.raises(ModelError, match=r"'cuda' requested .*onnxruntime-gpu, onnxruntime"):
        plan_providers("cuda", CPU_BUILD, gpu_visible=True, runtimes=["onnxruntime-gpu", "onnxruntime"])


def test_two_onnxruntime_builds_installed_are_warned_about_even_on_cpu() -> None:
    plan = plan_providers("cpu", CPU_BUILD, gpu_visible=False, runtimes=["onnxruntime", "onnxruntime-gpu"])
    assert plan.providers == (CPU,)
    assert "several onnxruntime builds" in plan.warnings[0]


def test_a_session_that_dropped_cuda_fails_cuda_and_flags_auto() -> None:
    plan = plan_providers("auto", GPU_BUILD, gpu_visible=True)
    assert check_session(plan, "auto", [CUDA, CPU]) is plan
    fell_back = check_session(plan, "auto", [CPU])
    assert fell_back.gpu_unused and fell_back.providers == (CPU,) and "cuDNN" in fell_back.warnings[-1]
    with pytest.raises(ModelError, match="session runs on"):
        check_session(plan_providers("cuda", GPU_BUILD, gpu_visible=True), "cuda", [CPU])


def test_gpu_visibility_follows_cuda_visible_devices_then_dev_nodes(tmp_path: Path) -> None:
    assert not nvidia_device_visible({}, tmp_path)
    (tmp_path / "nvidiactl").touch()  # the control node alone is not a device
    assert not nvidia_device_visible({}, tmp_path)
    (tmp_path / "nvidia0").touch()
    assert nvidia_device_visible({}, tmp_path)
    assert not nvidia_device_visible({"CUDA_VISIBLE_DEVICES": ""}, tmp_path)
    assert not nvidia_device_visible({"CUDA_VISIBLE_DEVICES": "-1"}, tmp_path)
    assert nvidia_device_visible({"CUDA_VISIBLE_DEVICES": "GPU-5f2a,1"}, tmp_path / "absent")


def test_installed_runtimes_recognises_every_build_of_the_import_package() -> None:
    names = ["onnxruntime_gpu", "onnx", "onnxscript", "onnxruntime", "onnxruntime-extensions", "numpy"]
    assert installed_runtimes(names) == ["onnxruntime", "onnxruntime-gpu"]
    assert installed_runtimes() == ["onnxruntime"]  # this environment: the `cpu` extra only


needs_cpu_only_onnxruntime = pytest.mark.skipif(
    CUDA in ort.get_available_providers(), reason="onnxruntime offers CUDA here: nothing falls back"
)


@needs_cpu_only_onnxruntime
def test_service_next_to_a_visible_gpu_serves_but_says_so_in_log_and_metrics(
    onnx_model_repo: ModelRepo, tmp_path: Path
) -> None:
    settings = {
        "COURIER_MODEL_REPOSITORY": str(onnx_model_repo.root),
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "COURIER_DECODE_WORKERS": "1",
        "CUDA_VISIBLE_DEVICES": "0",
    }
    server = start_service(settings, tmp_path / "service.log")
    try:
        info = [dict(labels) for (name, labels) in server.metrics() if name == "courier_model_info"]
        assert info == [info[0]] and info[0]["gpu_unused"] == "true", info
        assert info[0]["provider"] == CPU
        assert "WARNING" in server.log() and "SERVING ON CPU" in server.log()
    finally:
        server.stop()


@needs_cpu_only_onnxruntime
def test_service_demanding_cuda_without_it_does_not_start(onnx_model_repo: ModelRepo, tmp_path: Path) -> None:
    settings = {
        "COURIER_MODEL_REPOSITORY": str(onnx_model_repo.root),
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "COURIER_PROVIDERS": "cuda",
    }
    server = ServiceProcess(settings, tmp_path / "service.log")
    try:
        returncode = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.stop()
        pytest.fail(f"the service kept running without CUDA:\n{server.log()}")
    server.stop()
    assert returncode != 0
    assert "provider 'cuda' requested but onnxruntime offers only" in server.log()
