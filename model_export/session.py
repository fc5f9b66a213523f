"""Open an exported graph with onnxruntime and check its inputs/outputs against the manifest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from courier_core.manifest import Manifest
from courier_core.model_repo import ModelError, check_io

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def open_session(onnx_path: str | Path, providers: Sequence[str] = (CPU,)) -> ort.InferenceSession:
    """An InferenceSession on the first usable of `providers`; a graph ORT cannot load is a ModelError."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ModelError(f"onnxruntime cannot load {onnx_path}: {exc}") from exc


def open_checked_session(
    onnx_path: str | Path, manifest: Manifest, providers: Sequence[str] = (CPU,)
) -> ort.InferenceSession:
    """open_session, then courier_core.model_repo.check_io against the manifest (names, shapes, dim)."""
    session = open_session(onnx_path, providers)
    check_io(manifest, session.get_inputs(), session.get_outputs())
    return session


def run_batches(session: ort.InferenceSession, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Embed uint8 NHWC images in batches of at most `batch_size`; returns float32 [N, D]."""
    input_name = session.get_inputs()[0].name
    parts = [
        session.run(None, {input_name: np.ascontiguousarray(images[start : start + batch_size])})[0]
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)
