"""Small helpers shared by the export tests: copying a version directory, editing its manifest or graph."""

from __future__ import annotations

import json
import shutil
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


def perturb_graph(onnx_path: Path, scale: float = 1.5) -> None:
    """Scale the largest float initializer: the graph still loads and runs, but embeds differently."""
    model = onnx.load(str(onnx_path))
    floats = [
        t
        for t in model.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    ]
    target = max(floats, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(target)
    noise = np.random.default_rng(0).normal(0, 1, array.shape).astype(array.dtype)
    target.CopyFrom(numpy_helper.from_array(array * scale + noise * array.std(), target.name))
    onnx.save(model, str(onnx_path))


def refresh_sha(version_dir: Path) -> None:
    """Make the manifest's sha256 match the current model.onnx (to get past the hash check)."""
    edit_manifest(version_dir, sha256=sha256_file(version_dir / MODEL_FILE))


def version_dirs(repo: Path, name: str) -> list[str]:
    return sorted(p.name for p in (repo / name).iterdir() if p.is_dir())
