"""The images, checked without a Docker daemon: hadolint on every Dockerfile, the properties Kubernetes and
operators rely on (numeric non-root user, exec-form CMD, /healthz HEALTHCHECK, the GPU image refusing to
fall back to CPU), and a build context (.dockerignore) that holds what the Dockerfiles copy."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(
    path
    for path in REPO_ROOT.rglob("*Dockerfile*")
    if path.is_file() and not {".venv", ".git", "node_modules"} & set(path.relative_to(REPO_ROOT).parts)
)
IMAGES = {
    "cpu": REPO_ROOT / "deploy/docker/cpu.Dockerfile",
    "gpu": REPO_ROOT / "deploy/docker/gpu.Dockerfile",
}


def tool(name: str) -> str:
    """A console script of the dev extra (beside this interpreter), else from PATH; skip when absent."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the dev extra: make install)")
    return found


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_images_are_the_dockerfiles_found() -> None:
    assert set(IMAGES.values()) <= set(DOCKERFILES), DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    print(
        f"hadolint {dockerfile.relative_to(REPO_ROOT)}: exit {result.returncode}, {result.stdout.strip() or 'no findings'}"
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("image", list(IMAGES))
def test_image_is_multi_stage_non_root_exec_form_with_a_healthz_check(image: str) -> None:
    steps = instructions(IMAGES[image])
    assert sum(kind == "FROM" for kind, _ in steps) >= 2, "multi-stage: the build stage's pip stays behind"
    user = [args for kind, args in steps if kind == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: runAsNonRoot needs a numeric, non-zero uid"
    cmd = [args for kind, args in steps if kind == "CMD"][-1]
    assert cmd.startswith("["), "CMD in exec form, so that SIGTERM reaches the service (it drains on it)"
    health = [args for kind, args in steps if kind == "HEALTHCHECK"][-1]
    assert "CMD [" in health and "/healthz" in health
    constraints = f"--constraint constraints-{image}.txt"
    assert any(kind == "RUN" and constraints in args for kind, args in steps), "pip install under the lock"


def test_gpu_image_is_cuda_based_and_refuses_to_serve_on_cpu() -> None:
    steps = instructions(IMAGES["gpu"])
    base = [args for kind, args in steps if kind == "ARG" and args.startswith("CUDA_IMAGE=")][0]
    assert re.fullmatch(r"CUDA_IMAGE=nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", base), base
    env = " ".join(args for kind, args in steps if kind == "ENV")
    assert "COURIER_PROVIDERS=cuda" in env
    cpu_env = " ".join(args for kind, args in instructions(IMAGES["cpu"]) if kind == "ENV")
    assert "COURIER_PROVIDERS=cpu" in cpu_env


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile COPYs (not --from a stage), ARG defaults substituted."""
    steps = instructions(dockerfile)
    defaults = dict(args.split("=", 1) for kind, args in steps if kind == "ARG" and "=" in args)
    copies = [args.split()[:-1] for kind, args in steps if kind == "COPY" and not args.startswith("--from")]
    return [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], src) for sources in copies for src in sources
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_images_that_install_the_project_carry_its_console_script(dockerfile: Path) -> None:
    """`courier serve | backfill ...` works in the image: the script's package is copied and run at build."""
    steps = instructions(dockerfile)
    if not any(kind == "RUN" and re.search(r"""pip install .*["']\.\[""", args) for kind, args in steps):
        pytest.skip("does not install the project")
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    copied = {Path(source).name for source in copied_sources(dockerfile)}
    runs = " ".join(args for kind, args in steps if kind == "RUN")
    for script, target in scripts.items():
        assert target.split(":")[0].split(".")[0] in copied, f"{dockerfile.name} does not copy {target}"
        assert re.search(rf"(^|[\s/]){script} \w+ --help", runs), f"{dockerfile.name} never runs `{script}`"


def test_build_context_holds_every_copied_path_and_leaves_the_rest_out() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for dockerfile in IMAGES.values():
        for source in copied_sources(dockerfile):
            path = REPO_ROOT / source
            assert path.exists(), f"{dockerfile.name}: COPY {source} does not exist"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            names = [str(f.relative_to(REPO_ROOT)) for f in files if "__pycache__" not in f.parts]
            kept = [name for name in names if not dockerignore_excludes(name, patterns)]
            assert kept == names, f"{dockerfile.name}: .dockerignore drops {sorted(set(names) - set(kept))}"
    for outside in (
        ".venv/bin/python",
        ".git/HEAD",
        "runs/x/model.pt",
        "worlds/w/items.parquet",
        "tests/x.py",
    ):
        assert dockerignore_excludes(outside, patterns), outside
    assert not dockerignore_excludes(
        "models/courier-demo/abc/model.onnx", patterns
    )  # --build-arg MODELS=models
    assert dockerignore_excludes("models/.demo/world/images/1.jpg", patterns)
    assert dockerignore_excludes("service/__pycache__/app.cpython-311.pyc", patterns)
