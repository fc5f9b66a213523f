"""Small helpers shared by the export tests: copying a version directory, editing its manifest or graph."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from courier_core.manifest import MANIFEST_FILE, MODEL_FILE
from courier_core.model_repo import sha256_file


def copy_version(version_dir: Path, repo: Path, name: str = "copy") -> Path:
    """A private copy `<repo>/<name>/<version>` of an exported version, safe to damage."""
    target = repo / name / version_dir.name
    shutil.copytree(version_dir, target)
    return target


def edit_manifest(version_dir: Path, **changes: Any) -> None:
    path = version_dir / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def perturb_graph(onnx_path: Path) -> None:
    """Add noise to the largest float initializer: the graph still loads and runs, but embeds differently."""
    _edit_largest_weight(onnx_path, lambda w: w * 1.5 + np.random.default_rng(0).normal(0, w.std(), w.shape))


def poison_graph(onnx_path: Path) -> None:
    """Make the largest float initializer NaN: every output becomes NaN."""
    _edit_largest_weight(onnx_path, lambda w: np.full_like(w, np.nan))


def _edit_largest_weight(onnx_path: Path, edit: Callable[[np.ndarray], np.ndarray]) -> None:
    model = onnx.load(str(onnx_path))
    kinds = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    target = max(
        (t for t in model.graph.initializer if t.data_type in kinds), key=lambda t: int(np.prod(t.dims))
    )
    array = numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array(edit(array).astype(array.dtype), target.name))
    onnx.save(model, str(onnx_path))


def refresh_sha(version_dir: Path) -> None:
    """Make the manifest's sha256 match the current model.onnx (to get past the hash check)."""
    edit_manifest(version_dir, sha256=sha256_file(version_dir / MODEL_FILE))


def version_dirs(repo: Path, name: str) -> list[str]:
    return sorted(p.name for p in (repo / name).iterdir() if p.is_dir())
