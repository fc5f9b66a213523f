"""Resolve the images' dependency sets with pip and write them as constraint files (the images' lock).

    python deploy/docker/lock.py            # rewrites deploy/docker/constraints-{cpu,gpu}.txt

Each image installs `.[serve,<runtime>]` under `-c constraints-<runtime>.txt`, so a rebuild gets exactly
the versions resolved here. The resolution is `pip install --dry-run --report` for the image's Python and
platform, with `--use-feature=fast-deps`: pip (25.3 or later) then reads each wheel's metadata with HTTP
range requests instead of downloading it (the GPU set's wheels are gigabytes; an index that serves PEP 658
metadata files makes it cheaper still). tests/deploy/test_dependencies.py uses the same `resolve`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# Distributions that install the `onnxruntime` import package (as service/providers.py counts them).
RUNTIME_NAME = re.compile(r"onnxruntime(-(gpu|directml|openvino|qnn|rocm|migraphx|cann|training))?")


@dataclass(frozen=True)
class Target:
    """An image's dependency set and the interpreter it runs on."""

    extras: str
    python: str  # "3.11"
    glibc: tuple[int, int]  # of the base image, for the manylinux tags
    constraints: Path


IMAGES = {
    # python:3.11-slim-bookworm (glibc 2.36). The GPU lock serves nvidia/cuda:*-ubuntu24.04 with Ubuntu's
    # Python 3.12 (glibc 2.39) and ray.Dockerfile's Ray image (Ubuntu 22.04, glibc 2.35): resolved for 2.35.
    "cpu": Target("serve,cpu", "3.11", (2, 36), HERE / "constraints-cpu.txt"),
    "gpu": Target("serve,gpu", "3.12", (2, 35), HERE / "constraints-gpu.txt"),
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtimes(resolved: dict[str, str]) -> list[str]:
    """The onnxruntime builds in a resolved set."""
    return sorted(name for name in resolved if RUNTIME_NAME.fullmatch(name))


def platform_args(python: str, glibc: tuple[int, int]) -> list[str]:
    """pip options that resolve for CPython `python` on x86-64 Linux with this glibc (binary wheels only)."""
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(5, glibc[1] + 1)]
    tags += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
    abi = "cp" + python.replace(".", "")
    args = ["--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3"]
    args += ["--abi", "none", "--only-binary", ":all:"]
    for tag in tags:
        args += ["--platform", tag]
    return args


def resolve(
    extras: str,
    *,
    target: Target | None = None,
    constraints: Path | None = None,
    also: Sequence[str] = (),
    pip: str = sys.executable,
) -> dict[str, str]:
    """{canonical name: version} that `pip install '.[extras]'` would install, the project itself excluded.

    The project is resolved from a copy of pyproject.toml (its dependencies are all there), so nothing
    is written into the work tree. `target` resolves for an image's interpreter instead of this one;
    `also` adds requirements installed beside the project (the Ray image's `ray`).
    """
    with tempfile.TemporaryDirectory(prefix="courier-resolve-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO_ROOT / name, project / name)
        report = Path(tmp) / "report.json"
        command = [pip, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        command += ["--use-feature=fast-deps", "--report", str(report)]
        if target is not None:
            command += platform_args(target.python, target.glibc)
        if constraints is not None:
            command += ["--constraint", str(constraints)]
        command += [*also, f"{project}[{extras}]"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        installs = json.loads(report.read_text())["install"]
    return {
        canonical(entry["metadata"]["name"]): entry["metadata"]["version"]
        for entry in installs
        if canonical(entry["metadata"]["name"]) != "courier"
    }


def read_constraints(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def write_constraints(path: Path, target: Target, resolved: dict[str, str]) -> None:
    header = (
        f"# The {path.stem.split('-')[-1].upper()} image's lock: `.[{target.extras}]` resolved for CPython "
        f"{target.python}, x86-64 Linux (glibc 2.{target.glibc[1]}).\n"
        "# Generated by `python deploy/docker/lock.py`; do not edit. tests/deploy checks it is current.\n"
    )
    path.write_text(header + "".join(f"{name}=={resolved[name]}\n" for name in sorted(resolved)))


def main() -> int:
    for name, target in IMAGES.items():
        resolved = resolve(target.extras, target=target)
        write_constraints(target.constraints, target, resolved)
        print(f"{name}: {len(resolved)} distributions, runtime {runtimes(resolved)} -> {target.constraints}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
