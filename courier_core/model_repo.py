"""Model repository layout `<repo>/<name>/<version>/{model.onnx,manifest.json}` and `<repo>/<name>/latest`.

Loading checks the manifest against the file (sha256, names, shapes, dim) so that a missing, corrupt or
mismatched model fails at start-up with a clear message instead of serving wrong vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from courier_core.manifest import MANIFEST_FILE, MODEL_FILE, Manifest

LATEST_FILE = "latest"


class ModelError(RuntimeError):
    """The model directory is missing, corrupt or does not match its manifest."""


@dataclass(frozen=True)
class ModelDir:
    path: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.path / MODEL_FILE


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_dir(path: str | Path, name: str | None = None, version: str | None = None) -> Path:
    """Accept a version directory, `<repo>/<name>` (follows `latest`), or a repository plus a name."""
    path = Path(path)
    if name is not None:
        path = path / name
    if version is not None:
        path = path / version
    if (path / MANIFEST_FILE).exists():
        return path
    latest = path / LATEST_FILE
    if latest.is_file():
        target = path / latest.read_text().strip()
        if not (target / MANIFEST_FILE).exists():
            raise ModelError(f"{latest} names version {target.name!r}, but {target} holds no {MANIFEST_FILE}")
        return target
    if not path.exists():
        if name is not None and path.parent.is_dir() and version is None:  # a mistyped name, most likely
            names = sorted(p.name for p in path.parent.iterdir() if (p / LATEST_FILE).is_file())
            raise ModelError(f"no model {name!r} in {path.parent} (it holds: {', '.join(names) or 'none'})")
        raise ModelError(f"model directory {path} does not exist")
    if (path / MODEL_FILE).exists():
        raise ModelError(f"{path} holds {MODEL_FILE} but no {MANIFEST_FILE}")
    raise ModelError(
        f"{path} is neither a model version directory (no {MANIFEST_FILE}) nor a model name directory (no {LATEST_FILE})"
    )


def load_model_dir(path: str | Path, name: str | None = None, version: str | None = None) -> ModelDir:
    """Resolve, parse the manifest and check model.onnx against its sha256."""
    model_dir = resolve_model_dir(path, name, version)
    manifest_path = model_dir / MANIFEST_FILE
    try:
        manifest = Manifest.model_validate(json.loads(manifest_path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise ModelError(f"invalid manifest {manifest_path}: {exc}") from None
    onnx_path = model_dir / MODEL_FILE
    if not onnx_path.is_file():
        raise ModelError(f"missing {onnx_path}")
    actual = sha256_file(onnx_path)
    if actual != manifest.sha256:
        raise ModelError(
            f"{onnx_path} is corrupt or was replaced: sha256 {actual[:12]}… does not match the manifest's "
            f"{manifest.sha256[:12]}…"
        )
    if manifest.version != model_dir.name:
        raise ModelError(
            f"manifest version {manifest.version!r} does not match directory name {model_dir.name!r}"
        )
    return ModelDir(model_dir, manifest)


def check_io(manifest: Manifest, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
    """Check a session's inputs/outputs (objects with .name, .shape, .type, e.g. onnxruntime NodeArg)."""
    if len(inputs) != 1 or inputs[0].name != manifest.input_name:
        raise ModelError(f"model inputs {[i.name for i in inputs]} != manifest's [{manifest.input_name!r}]")
    if len(outputs) != 1 or outputs[0].name != manifest.output_name:
        raise ModelError(
            f"model outputs {[o.name for o in outputs]} != manifest's [{manifest.output_name!r}]"
        )
    in_shape, in_type = list(inputs[0].shape), inputs[0].type
    size = manifest.input_size
    if len(in_shape) != 4 or in_shape[1:] != [size, size, 3] or "uint8" not in in_type:
        raise ModelError(f"model input is {in_type}{in_shape}, manifest expects uint8[N, {size}, {size}, 3]")
    out_shape, out_type = list(outputs[0].shape), outputs[0].type
    if len(out_shape) != 2 or out_shape[1] != manifest.dim or "float" not in out_type or "16" in out_type:
        raise ModelError(
            f"model output is {out_type}{out_shape}, manifest expects float32[N, {manifest.dim}]"
        )


def write_latest(repo: str | Path, name: str, version: str) -> None:
    """Atomically point `<repo>/<name>/latest` at a version."""
    latest = Path(repo) / name / LATEST_FILE
    tmp = latest.with_name(f".{LATEST_FILE}.tmp.{os.getpid()}")
    tmp.write_text(version + "\n")
    os.replace(tmp, latest)
