"""`make serve`'s demo model: reused when present, built end to end (world → train → export) when not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from courier_core.model_repo import load_model_dir
from model_export.demo import DemoConfig, ensure_demo_model


def test_existing_demo_model_is_reused_quickly(exported_model, capsys) -> None:
    started = time.perf_counter()
    assert ensure_demo_model(DemoConfig(repo=exported_model.repo, name=exported_model.name)) == 0
    assert time.perf_counter() - started < 10
    assert f"demo model ready: {exported_model.version_dir}" in capsys.readouterr().out


@pytest.mark.slow
def test_missing_demo_model_is_built_and_loads(tmp_path: Path, capsys) -> None:
    config = DemoConfig(repo=tmp_path / "models", name="demo", image_size=32, dim=16, epochs=1)
    assert ensure_demo_model(config) == 0
    out = capsys.readouterr().out
    assert "[1/3] tiny synthetic world" in out and "[3/3] ONNX export" in out
    model = load_model_dir(tmp_path / "models" / "demo")
    assert (model.manifest.dim, model.manifest.input_size, model.manifest.training.method) == (
        16,
        32,
        "courier",
    )
