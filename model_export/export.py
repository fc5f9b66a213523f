"""Export a trained encoder to `<repo>/<name>/<version>/` (ONNX + manifest), parity-checked, atomically.

Order matters: stage the files in a hidden directory, run onnx.checker and the parity gate there, and only
then rename the directory into place and move `latest`. Any failure removes the staging directory.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import onnx
import onnxruntime
from torch import nn

from courier_core.images import RESIZE_POLICY
from courier_core.manifest import (
    MODEL_FILE,
    Manifest,
    ResizePolicy,
    TrainingInfo,
    read_manifest,
    write_manifest,
)
from courier_core.model_repo import sha256_file
from model_export.defaults import DEFAULT_DATASET_IMAGES, DEFAULT_NAME, DEFAULT_OPSET
from model_export.errors import ExportError
from model_export.onnx_graph import check_graph, write_onnx
from model_export.parity import check_parity, reference_embeddings
from model_export.parity_images import parity_images
from model_export.publish import publish, staging_dir
from model_export.run_info import data_dir_from_config, evaluation_figures, evaluation_note
from model_export.session import CPU
from model_export.versioning import model_version, weights_digest
from model_export.wrapper import ExportWrapper, Precision

GraphHook = Callable[[Path], None]
Log = Callable[[str], None]


class EncoderInfoLike(Protocol):
    """What export needs to know about an encoder (training.checkpoint.EncoderInfo satisfies it)."""

    method: str
    image_size: int
    dim: int
    mean: Sequence[float]
    std: Sequence[float]
    backbone: str
    config: dict[str, Any]


@dataclass(frozen=True)
class ExportConfig:
    repo: Path
    name: str = DEFAULT_NAME
    precision: Precision = "fp32"
    opset: int = DEFAULT_OPSET
    checkpoint: Literal["last", "best"] = "last"
    data_dir: Path | None = None  # overrides the run's recorded data dir for the parity images
    eval_file: Path | None = None  # a `training eval` metrics.json instead of RUN_DIR/eval/metrics.json
    parity_dataset_images: int = DEFAULT_DATASET_IMAGES
    providers: tuple[str, ...] = field(default=(CPU,))


@dataclass(frozen=True)
class ExportResult:
    model_dir: Path
    manifest: Manifest
    reused: bool  # True when an identical version already existed and was kept


def export_settings(info: EncoderInfoLike, config: ExportConfig) -> dict[str, Any]:
    """Everything besides the weights that changes the graph; part of the version hash."""
    return {
        "precision": config.precision,
        "opset": config.opset,
        "input_size": int(info.image_size),
        "mean": [float(v) for v in info.mean],
        "std": [float(v) for v in info.std],
        "resize": {"kind": RESIZE_POLICY, "size": int(info.image_size)},
        "backbone": info.backbone,
        "dim": int(info.dim),
    }


def export_encoder(
    encoder: nn.Module,
    info: EncoderInfoLike,
    parity_images: np.ndarray,
    config: ExportConfig,
    *,
    evaluation: dict[str, Any] | None = None,
    graph_hook: GraphHook | None = None,
    log: Log = lambda _message: None,
) -> ExportResult:
    """Export, check and publish one encoder. `graph_hook(onnx_path)` runs right after the ONNX file is
    written and before the checks (tests use it to perturb the graph); it is not exposed on the CLI."""
    encoder = encoder.eval()
    settings = export_settings(info, config)
    version = model_version(weights_digest(encoder.state_dict()), settings)
    staged = staging_dir(config.repo, config.name, version)
    try:
        onnx_path = staged / MODEL_FILE
        started = time.perf_counter()
        wrapper = ExportWrapper(encoder, info.mean, info.std, config.precision)
        write_onnx(wrapper, onnx_path, int(info.image_size), config.opset)
        log(
            f"exported {config.precision} opset {config.opset} graph ({onnx_path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        if graph_hook is not None:
            graph_hook(onnx_path)
        check_graph(onnx_path)
        log("onnx.checker: ok")
        manifest = _manifest(config, info, version, sha256_file(onnx_path), settings, evaluation)
        reference = reference_embeddings(encoder, parity_images, info.mean, info.std)
        report = check_parity(onnx_path, manifest, reference, parity_images, config.providers)
        if report.checked:
            log(
                f"parity on {report.provider}, {report.images} images: max |Δ| {report.max_abs_diff:.2e}, "
                f"min cosine {report.min_cosine:.6f}, batch 1 vs 7 max |Δ| {report.batch_1_vs_7_max_abs_diff:.2e} "
                f"({report.bound}): ok"
            )
        else:
            log(f"parity NOT checked: {report.note}")
        manifest = manifest.model_copy(update={"parity": report.to_dict()})
        write_manifest(staged, manifest)
        model_dir, reused = publish(staged, config.repo, config.name, version)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if reused:
        log(f"version {version} already exported with identical weights and settings; kept it")
        manifest = read_manifest(model_dir)
    log(f"published {model_dir} and pointed {Path(config.repo) / config.name / 'latest'} at {version}")
    return ExportResult(model_dir, manifest, reused)


def _manifest(
    config: ExportConfig,
    info: EncoderInfoLike,
    version: str,
    sha256: str,
    settings: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> Manifest:
    return Manifest(
        name=config.name,
        version=version,
        dim=int(info.dim),
        input_size=int(info.image_size),
        resize=ResizePolicy(**settings["resize"]),
        mean=tuple(settings["mean"]),
        std=tuple(settings["std"]),
        precision=config.precision,
        opset=config.opset,
        onnx_version=onnx.__version__,
        onnxruntime_version=onnxruntime.__version__,
        sha256=sha256,
        training=TrainingInfo(
            method=info.method, config=info.config, backbone=info.backbone, checkpoint=config.checkpoint
        ),
        evaluation=evaluation,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def export_run(
    run_dir: str | Path,
    config: ExportConfig,
    *,
    graph_hook: GraphHook | None = None,
    log: Log = lambda _m: None,
) -> ExportResult:
    """Load the run's checkpoint, gather parity images from its dataset, export and publish."""
    from training.checkpoint import load_encoder

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"run directory {run_dir} does not exist")
    try:
        encoder, info = load_encoder(run_dir, which=config.checkpoint)
    except FileNotFoundError as exc:
        raise ExportError(f"cannot load the {config.checkpoint} checkpoint of {run_dir}: {exc}") from exc
    log(f"loaded {info.method} encoder ({info.backbone}, {info.image_size}px → {info.dim}-d) from {run_dir}")
    data_dir = config.data_dir or data_dir_from_config(info.config, run_dir)
    images = parity_images(data_dir, int(info.image_size), config.parity_dataset_images)
    evaluation = evaluation_figures(run_dir, config.eval_file)
    log(evaluation_note(run_dir, config.eval_file))
    return export_encoder(
        encoder, info, images, config, evaluation=evaluation, graph_hook=graph_hook, log=log
    )
