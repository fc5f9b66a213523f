"""`make serve` with a model repository given skips the demo model; `make install` names its phases.
Read from `make -n` (what make would run), so nothing is installed or built."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, tmp_path: Path, **env: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")} | env
    done = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_serve_builds_the_demo_model_only_without_a_repository(tmp_path: Path) -> None:
    default = planned("serve", tmp_path)
    assert "model_export.demo" in default and "COURIER_MODEL_NAME=" in default

    given = planned("serve", tmp_path, COURIER_MODEL_REPOSITORY="/srv/models")
    assert "model_export.demo" not in given
    assert "courier-demo" not in given  # neither the demo's repository nor its name is imposed
    assert given.strip().splitlines()[-1].endswith("-m service")


def test_install_announces_each_phase(tmp_path: Path) -> None:
    plan = planned("install", tmp_path)
    for phase in ("install 1/3: virtualenv", "install 2/3: torch", "install 3/3: the project"):
        assert phase in plan
    assert " -q " not in plan  # pip's own progress stays visible
