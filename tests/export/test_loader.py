"""The torch-free loader and `inspect` refuse a missing, corrupt or mismatched model with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from courier_core.manifest import MANIFEST_FILE, MODEL_FILE
from courier_core.model_repo import ModelError, load_model_dir, write_latest
from model_export.inspect_model import verify_model
from tests.export.helpers import copy_version, edit_manifest, refresh_sha


@pytest.fixture
def model_copy(exported_model, tmp_path: Path) -> Path:
    return copy_version(exported_model.version_dir, tmp_path / "repo")


def test_good_model_loads_by_version_dir_and_by_latest(exported_model) -> None:
    by_dir = verify_model(exported_model.version_dir)
    by_latest = verify_model(exported_model.repo / exported_model.name)
    assert by_dir.ok and by_latest.ok, (by_dir.message, by_latest.message)
    assert by_latest.model_dir == exported_model.version_dir


def test_corrupted_onnx_is_refused_by_hash(model_copy: Path) -> None:
    onnx_path = model_copy / MODEL_FILE
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or was replaced: sha256"):
        load_model_dir(model_copy)
    assert "corrupt or was replaced" in verify_model(model_copy).message


def test_truncated_onnx_with_matching_hash_is_refused_by_onnxruntime(model_copy: Path) -> None:
    onnx_path = model_copy / MODEL_FILE
    onnx_path.write_bytes(onnx_path.read_bytes()[:200])
    refresh_sha(model_copy)
    verdict = verify_model(model_copy)
    assert not verdict.ok and "onnxruntime cannot load" in verdict.message


def test_manifest_with_wrong_dim_is_refused(model_copy: Path, exported_model) -> None:
    dim = load_model_dir(exported_model.version_dir).manifest.dim
    edit_manifest(model_copy, dim=dim + 1)
    verdict = verify_model(model_copy)
    assert not verdict.ok
    assert f"manifest expects float32[N, {dim + 1}]" in verdict.message and str(dim) in verdict.message


def test_manifest_with_wrong_hash_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, sha256="0" * 64)
    with pytest.raises(ModelError, match="does not match the manifest's 000000000000"):
        load_model_dir(model_copy)


def test_missing_files_are_named(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelError, match=f"missing .*{MODEL_FILE}"):
        load_model_dir(model_copy)
    (model_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelError, match="neither a model version directory"):
        load_model_dir(model_copy)
    with pytest.raises(ModelError, match="does not exist"):
        load_model_dir(model_copy.parent / "no-such-version")


def test_latest_naming_a_missing_version_is_refused(model_copy: Path) -> None:
    write_latest(model_copy.parents[1], model_copy.parent.name, "deadbeef0000")
    with pytest.raises(ModelError, match="names version 'deadbeef0000'"):
        load_model_dir(model_copy.parent)


def test_unparseable_manifest_is_refused(model_copy: Path) -> None:
    (model_copy / MANIFEST_FILE).write_bytes(b"\xff\xfe not json")
    with pytest.raises(ModelError, match="invalid manifest"):
        load_model_dir(model_copy)


def test_inspect_cli_prints_manifest_and_verdict(exported_model, model_copy: Path) -> None:
    good = _inspect(exported_model.version_dir)
    assert good.returncode == 0, good.stderr
    assert '"sha256"' in good.stdout and good.stdout.strip().splitlines()[-1].startswith("OK: ")
    edit_manifest(model_copy, sha256="f" * 64)
    bad = _inspect(model_copy)
    assert bad.returncode == 1
    assert bad.stdout.strip().splitlines()[-1].startswith("REFUSED: ") and "sha256" in bad.stdout


def _inspect(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "model_export", "inspect", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)
