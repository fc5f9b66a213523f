"""Export a tiny encoder: parity within bounds, one version per checkpoint, atomic failure."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from courier_core.manifest import MODEL_FILE, read_manifest
from courier_core.model_repo import load_model_dir, sha256_file
from model_export.errors import ExportError, ParityError
from model_export.export import ExportConfig, export_run
from model_export.parity import FP16_MIN_COSINE, FP32_MAX_ABS_DIFF
from model_export.run_info import evaluation_note
from model_export.session import open_checked_session, run_batches
from tests.export.helpers import perturb_graph, poison_graph, version_dirs


def test_export_writes_checked_model_and_latest(export_tiny, tiny_encoder, tmp_path: Path) -> None:
    result = export_tiny(tmp_path)
    model = load_model_dir(tmp_path / "courier")  # follows latest
    assert model.path == result.model_dir
    manifest = model.manifest
    _, info = tiny_encoder
    assert (manifest.dim, manifest.input_size, manifest.precision) == (info.dim, info.image_size, "fp32")
    assert manifest.sha256 == sha256_file(model.onnx_path)
    assert manifest.training.method == info.method
    assert manifest.training.config == json.loads(json.dumps(info.config))  # the resolved config, as JSON
    assert manifest.parity["checked"] and manifest.parity["max_abs_diff"] <= FP32_MAX_ABS_DIFF
    assert manifest.parity["batch_1_vs_7_max_abs_diff"] <= FP32_MAX_ABS_DIFF
    session = open_checked_session(model.onnx_path, manifest)
    vectors = run_batches(session, np.zeros((3, info.image_size, info.image_size, 3), np.uint8))
    assert vectors.dtype == np.float32 and vectors.shape == (3, info.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_same_checkpoint_twice_gives_one_version_and_identical_bytes(export_tiny, tmp_path: Path) -> None:
    first = export_tiny(tmp_path / "a")
    again = export_tiny(tmp_path / "a")
    elsewhere = export_tiny(tmp_path / "b")
    assert again.reused and again.model_dir == first.model_dir
    assert version_dirs(tmp_path / "a", "courier") == [first.manifest.version]
    assert elsewhere.manifest.version == first.manifest.version
    assert sha256_file(elsewhere.model_dir / MODEL_FILE) == sha256_file(first.model_dir / MODEL_FILE)


def test_different_weights_or_precision_give_a_different_version(export_tiny, tiny_encoder, tmp_path) -> None:
    encoder, _ = tiny_encoder
    changed = copy.deepcopy(encoder)
    with torch.no_grad():
        next(changed.parameters()).add_(1e-3)
    base = export_tiny(tmp_path).manifest.version
    assert export_tiny(tmp_path, encoder=changed).manifest.version != base
    assert export_tiny(tmp_path, precision="fp16").manifest.version != base


def test_fp16_export_is_fp16_inside_float32_outside(export_tiny, tmp_path: Path) -> None:
    fp32 = export_tiny(tmp_path, precision="fp32")
    fp16 = export_tiny(tmp_path, precision="fp16")
    assert fp16.manifest.precision == "fp16"
    parity = fp16.manifest.parity
    assert parity["checked"], parity  # onnxruntime's CPU provider runs this graph in fp16
    assert parity["min_cosine"] >= FP16_MIN_COSINE
    weights = [
        t for t in onnx.load(str(fp16.model_dir / MODEL_FILE)).graph.initializer if np.prod(t.dims) >= 16
    ]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert fp16.manifest.sha256 != fp32.manifest.sha256
    session = open_checked_session(fp16.model_dir / MODEL_FILE, fp16.manifest)
    assert session.get_outputs()[0].type == "tensor(float)"
    assert read_manifest(tmp_path / "courier" / fp16.manifest.version).version == fp16.manifest.version


@pytest.mark.parametrize(
    ("precision", "damage"), [("fp32", perturb_graph), ("fp16", perturb_graph), ("fp32", poison_graph)]
)
def test_failed_parity_publishes_nothing_and_leaves_latest(
    export_tiny, tmp_path: Path, precision, damage
) -> None:
    good = export_tiny(tmp_path)
    latest_before = (tmp_path / "courier" / "latest").read_text()
    with pytest.raises(ParityError, match=rf"parity check failed \({precision}, "):
        export_tiny(tmp_path, precision=precision, graph_hook=damage)
    assert (tmp_path / "courier" / "latest").read_text() == latest_before
    assert version_dirs(tmp_path / "courier", "") == [good.manifest.version]  # no half model, no staging left


def test_interrupted_export_publishes_nothing(export_tiny, tmp_path: Path) -> None:
    def interrupt(_onnx_path: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_tiny(tmp_path, graph_hook=interrupt)
    assert list((tmp_path / "courier").iterdir()) == []


def test_cli_export_of_the_tiny_run(tiny_run: Path, tmp_path: Path) -> None:
    figures = tmp_path / "elsewhere" / "metrics.json"  # `training eval --out` outside the run
    figures.parent.mkdir()
    figures.write_text(json.dumps({"auc": 0.71}))
    done = _cli("--run", str(tiny_run), "--out", str(tmp_path), "--name", "tiny", "--eval", str(figures))
    assert done.returncode == 0, done.stderr
    version_dir = Path(done.stdout.strip().splitlines()[-1])
    assert "parity on CPUExecutionProvider" in done.stdout
    assert f"evaluation figures: {figures}" in done.stdout
    assert (tmp_path / "tiny" / "latest").read_text().strip() == version_dir.name
    manifest = load_model_dir(version_dir).manifest
    assert manifest.evaluation and "summary.json" in manifest.evaluation  # the run's figures travel along
    assert manifest.evaluation["eval/metrics.json"] == {"auc": 0.71}
    assert manifest.training.checkpoint == "last"


def test_export_says_where_evaluation_figures_belong_when_there_are_none(tiny_run: Path) -> None:
    note = evaluation_note(tiny_run, None)
    assert note.startswith("evaluation figures: none")
    assert f"--out {tiny_run / 'eval'}" in note and "--eval" in note


def test_cli_export_failure_says_why_and_publishes_nothing(tmp_path: Path) -> None:
    missing = _cli("--run", str(tmp_path / "no-run"), "--out", str(tmp_path / "repo"))
    assert missing.returncode == 1
    assert "nothing published" in missing.stderr and "no-run does not exist" in missing.stderr
    assert not (tmp_path / "repo" / "courier" / "latest").exists()


def test_export_without_the_runs_dataset_says_how_to_fix(tiny_run: Path, tmp_path: Path) -> None:
    config = ExportConfig(repo=tmp_path / "repo", data_dir=tmp_path / "gone")
    with pytest.raises(ExportError, match="gone.*does not exist; pass --data DIR"):
        export_run(tiny_run, config)
    assert not (tmp_path / "repo" / "courier" / "latest").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "model_export", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_reexport_repairs_a_damaged_version_and_clears_dead_staging(export_tiny, tmp_path: Path) -> None:
    first = export_tiny(tmp_path)
    (first.model_dir / MODEL_FILE).write_bytes(b"truncated")
    leftover = tmp_path / "courier" / ".staging-0123456789ab-999999999"  # from a killed export
    leftover.mkdir()
    repaired = export_tiny(tmp_path)
    assert not repaired.reused and repaired.model_dir == first.model_dir
    assert load_model_dir(tmp_path / "courier").manifest.sha256 == sha256_file(first.model_dir / MODEL_FILE)
    assert not leftover.exists()
