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

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"
MAKE_INSTALL_EXTRAS = re.search(r"^EXTRAS \?= (\S+)$", MAKEFILE.read_text(), re.M).group(1)  # type: ignore[union-attr]

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
    with ThreadPoolExecutor(max_workers=len(INSTALLS) + len(lock.IMAGES)) as pool:
        futures = {extras: pool.submit(lock.resolve, extras) for extras in INSTALLS}
        for name, target in lock.IMAGES.items():
            futures[f"image:{name}"] = pool.submit(
                lock.resolve, target.extras, target=target, constraints=target.constraints
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


def test_gpu_image_brings_cuda_and_cudnn_as_wheels(resolutions: dict[str, Future[dict[str, str]]]) -> None:
    resolved = resolutions["image:gpu"].result()
    assert any(name.startswith("nvidia-cudnn-cu") for name in resolved), sorted(resolved)
    assert any(name.startswith("nvidia-cuda-runtime") for name in resolved), sorted(resolved)
