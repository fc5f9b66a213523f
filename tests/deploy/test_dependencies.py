"""Every install users are told to run gets exactly one onnxruntime build, and the images' locks are current.

Real `pip install --dry-run --report` resolutions against the package index. They read wheel metadata with
HTTP range requests (deploy/docker/lock.py says why: a plain dry run of the GPU set downloads its gigabytes
of CUDA wheels) and run concurrently, since each mostly waits on the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version

from tests.deploy.lockfile import lock

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO_ROOT / "Makefile").read_text()
MAKE_INSTALL_EXTRAS = re.search(r"^EXTRAS \?= (\S+)$", MAKEFILE, re.M).group(1)  # type: ignore[union-attr]
# `make install` puts this torch (the CPU wheel) in first, so the project's `torch>=` is already met.
TORCH = "torch==" + re.search(r"^TORCH_VERSION \?= (\S+)$", MAKEFILE, re.M).group(1)  # type: ignore[union-attr]
RAY_DOCKERFILE = (REPO_ROOT / "deploy" / "docker" / "ray.Dockerfile").read_text()
RAY = "ray[default,data]==" + re.search(r"^ARG RAY_VERSION=(\S+)$", RAY_DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]

# extras → the onnxruntime builds that install must contain. With the two image sets (`serve,cpu` and
# `serve,gpu`) these prove that no extra but `cpu` brings the CPU build and none but `gpu` the GPU build.
INSTALLS = {
    MAKE_INSTALL_EXTRAS: ["onnxruntime"],  # `make install`
    MAKE_INSTALL_EXTRAS.replace("cpu", "gpu"): ["onnxruntime-gpu"],  # also covers `export,gpu`
}
IMAGE_RUNTIMES = {"cpu": ["onnxruntime"], "gpu": ["onnxruntime-gpu"]}


@pytest.fixture(scope="module")
def resolutions() -> Iterator[dict[str, Future[dict[str, str]]]]:
    if Version(metadata.version("pip")) < Version("25.3"):
        pytest.fail("pip >= 25.3 (the dev extra) is needed to dry-run without downloading every wheel")
    with ThreadPoolExecutor(max_workers=len(INSTALLS) + len(lock.IMAGES) + 1) as pool:
        futures = {extras: pool.submit(lock.resolve, extras, also=[TORCH]) for extras in INSTALLS}
        for name, target in lock.IMAGES.items():
            futures[f"image:{name}"] = pool.submit(
                lock.resolve, target.extras, target=target, constraints=target.constraints
            )
        gpu = lock.IMAGES["gpu"]  # ray.Dockerfile: the GPU lock plus the Ray its base image holds
        futures["image:ray"] = pool.submit(
            lock.resolve, gpu.extras, target=gpu, constraints=gpu.constraints, also=[RAY]
        )
        yield futures


@pytest.mark.parametrize("extras", list(INSTALLS))
def test_each_documented_install_gets_exactly_one_onnxruntime_build(
    resolutions: dict[str, Future[dict[str, str]]], extras: str
) -> None:
    resolved = resolutions[extras].result()
    assert "numpy" in resolved, "the resolution came back empty"
    assert lock.runtimes(resolved) == INSTALLS[extras], f".[{extras}] resolves to {lock.runtimes(resolved)}"


@pytest.mark.parametrize("image", list(lock.IMAGES))
def test_image_lock_pins_exactly_what_its_set_resolves_to(
    resolutions: dict[str, Future[dict[str, str]]], image: str
) -> None:
    target = lock.IMAGES[image]
    resolved = resolutions[f"image:{image}"].result()
    assert lock.runtimes(resolved) == IMAGE_RUNTIMES[image]
    pinned = lock.read_constraints(target.constraints)
    unpinned = sorted(set(resolved) - set(pinned))
    stale = sorted(set(pinned) - set(resolved))
    assert not unpinned and not stale, (
        f"{target.constraints.name} is out of date (unpinned: {unpinned}, no longer needed: {stale}); "
        "run `python deploy/docker/lock.py`"
    )
    assert resolved == pinned


def test_ray_image_set_resolves_with_the_gpu_lock_and_the_images_ray(
    resolutions: dict[str, Future[dict[str, str]]],
) -> None:
    resolved = resolutions["image:ray"].result()
    assert lock.runtimes(resolved) == ["onnxruntime-gpu"]
    assert resolved["ray"] == RAY.split("==")[1]
    pinned = lock.read_constraints(lock.IMAGES["gpu"].constraints)
    assert all(resolved[name] == version for name, version in pinned.items())


def test_gpu_image_brings_cuda_and_cudnn_as_wheels(resolutions: dict[str, Future[dict[str, str]]]) -> None:
    resolved = resolutions["image:gpu"].result()
    assert any(name.startswith("nvidia-cudnn-cu") for name in resolved), sorted(resolved)
    assert any(name.startswith("nvidia-cuda-runtime") for name in resolved), sorted(resolved)
