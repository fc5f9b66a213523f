"""The parity gate: the ONNX graph must embed exactly what the torch encoder embeds.

The reference path is independent of the exported wrapper: numpy does the shared normalisation and the
original float32 torch encoder does the rest. fp32 must agree to max |Δ| ≤ 1e-4, fp16 to cosine ≥ 0.999;
batch sizes 1 and 7 must agree with each other to the same bound, and every output must have unit norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from courier_core.manifest import Manifest
from courier_core.model_repo import ModelError
from model_export.errors import ExportError, ParityError
from model_export.session import CPU, open_checked_session, run_batches

FP32_MAX_ABS_DIFF = 1e-4
FP16_MIN_COSINE = 0.999
NORM_TOLERANCE = 1e-3
CONSISTENCY_BATCH = 7


@dataclass(frozen=True)
class ParityReport:
    checked: bool
    provider: str
    images: int
    max_abs_diff: float | None = None
    min_cosine: float | None = None
    batch_1_vs_7_max_abs_diff: float | None = None
    batch_1_vs_7_min_cosine: float | None = None
    max_norm_error: float | None = None
    bound: str = ""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def reference_embeddings(
    encoder: nn.Module, images: np.ndarray, mean: Sequence[float], std: Sequence[float], batch_size: int = 32
) -> np.ndarray:
    """The torch encoder's float32 vectors for uint8 NHWC images, normalised as (x/255 − mean)/std."""
    mean_arr = np.asarray(mean, dtype=np.float32)
    std_arr = np.asarray(std, dtype=np.float32)
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = (images[start : start + batch_size].astype(np.float32) / 255.0 - mean_arr) / std_arr
            x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            parts.append(encoder(x).to(torch.float32).numpy())
    return np.concatenate(parts, axis=0)


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a − b|, min row cosine)."""
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(np.max(np.abs(a - b))), float(np.min(cosine))


def check_parity(
    onnx_path: str | Path,
    manifest: Manifest,
    reference: np.ndarray,
    images: np.ndarray,
    providers: Sequence[str] = (CPU,),
) -> ParityReport:
    """Run `images` through the graph and compare with `reference`; raise ParityError when out of bounds.

    An fp16 graph that the CPU provider cannot run is reported as unchecked (the GPU check covers it).
    """
    try:
        session = open_checked_session(onnx_path, manifest, providers)
    except ModelError as exc:
        if manifest.precision == "fp16" and "NOT_IMPLEMENTED" in str(exc):
            note = f"onnxruntime {providers[0]} has no fp16 kernel for this graph; check it on a GPU"
            return ParityReport(checked=False, provider=providers[0], images=0, note=note)
        raise ExportError(str(exc)) from exc
    provider = session.get_providers()[0]
    output = run_batches(session, images)
    single = run_batches(session, images[:CONSISTENCY_BATCH], batch_size=1)
    max_diff, min_cos = compare(output, reference)
    batch_diff, batch_cos = compare(single, output[:CONSISTENCY_BATCH])
    norm_error = float(np.max(np.abs(np.linalg.norm(output, axis=1) - 1.0)))
    fp16 = manifest.precision == "fp16"
    bound = f"min cosine >= {FP16_MIN_COSINE}" if fp16 else f"max abs diff <= {FP32_MAX_ABS_DIFF:g}"
    report = ParityReport(
        checked=True,
        provider=provider,
        images=len(images),
        max_abs_diff=max_diff,
        min_cosine=min_cos,
        batch_1_vs_7_max_abs_diff=batch_diff,
        batch_1_vs_7_min_cosine=batch_cos,
        max_norm_error=norm_error,
        bound=bound,
    )
    # written as "not within" so that NaN outputs fail too
    failures = []
    if fp16 and not min_cos >= FP16_MIN_COSINE:
        failures.append(f"ONNX vs torch min cosine {min_cos:.6f} < {FP16_MIN_COSINE}")
    if not fp16 and not max_diff <= FP32_MAX_ABS_DIFF:
        failures.append(f"ONNX vs torch max |Δ| {max_diff:.3g} > {FP32_MAX_ABS_DIFF:g}")
    if fp16 and not batch_cos >= FP16_MIN_COSINE:
        failures.append(f"batch 1 vs {CONSISTENCY_BATCH} min cosine {batch_cos:.6f} < {FP16_MIN_COSINE}")
    if not fp16 and not batch_diff <= FP32_MAX_ABS_DIFF:
        failures.append(f"batch 1 vs {CONSISTENCY_BATCH} max |Δ| {batch_diff:.3g} > {FP32_MAX_ABS_DIFF:g}")
    if not norm_error <= NORM_TOLERANCE:
        failures.append(f"outputs are not unit vectors (max |‖v‖ − 1| = {norm_error:.3g})")
    if failures:
        raise ParityError(
            f"parity check failed ({manifest.precision}, {provider}, {len(images)} images): "
            + "; ".join(failures)
        )
    return report
