"""`python -m model_export inspect DIR`: re-verify a model directory exactly as the service would load it.

Checks the manifest schema, model.onnx's sha256, that onnxruntime loads the graph with the manifest's
input/output names, shapes and dim, and that one inference returns unit-norm float32 vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from courier_core.manifest import Manifest, read_manifest
from courier_core.model_repo import ModelError, load_model_dir, resolve_model_dir
from model_export.session import CPU, open_checked_session, run_batches

_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str
    manifest: Manifest | None = None
    model_dir: Path | None = None

    def line(self) -> str:
        return f"{'OK' if self.ok else 'REFUSED'}: {self.message}"


def verify_model(path: str | Path, providers: tuple[str, ...] = (CPU,)) -> Verdict:
    """Load a version directory or `<repo>/<name>` (via latest); never raises for a bad model."""
    try:
        model = load_model_dir(path)
        manifest = model.manifest
        session = open_checked_session(model.onnx_path, manifest, providers)
        size = manifest.input_size
        output = run_batches(session, np.zeros((2, size, size, 3), dtype=np.uint8))
        if output.shape != (2, manifest.dim) or output.dtype != np.float32:
            raise ModelError(
                f"inference returned {output.dtype}{list(output.shape)}, expected float32[2, {manifest.dim}]"
            )
        norm_error = float(np.max(np.abs(np.linalg.norm(output, axis=1) - 1.0)))
        if not norm_error <= _NORM_TOLERANCE:
            raise ModelError(
                f"inference returned vectors that are not L2-normalised (max |‖v‖ − 1| = {norm_error:.3g})"
            )
    except ModelError as exc:
        return Verdict(False, str(exc), _readable_manifest(path))
    message = (
        f"{manifest.name}/{manifest.version}: sha256 matches, onnxruntime {session.get_providers()[0]} loads "
        f"{manifest.input_name} uint8[N, {size}, {size}, 3] → {manifest.output_name} float32[N, {manifest.dim}], "
        f"unit-norm output ({manifest.precision}, opset {manifest.opset})"
    )
    return Verdict(True, message, manifest, model.path)


def _readable_manifest(path: str | Path) -> Manifest | None:
    """The manifest to show beside a refusal, when it can still be parsed."""
    try:
        return read_manifest(resolve_model_dir(path))
    except (ModelError, OSError, ValueError):
        return None
