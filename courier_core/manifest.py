"""Schema of `manifest.json` in the model repository (docs/design.md, "Model repository"), validated without torch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
INPUT_NAME = "images"
OUTPUT_NAME = "embedding"


class ResizePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(
        description="e.g. center_square_crop_resize_bilinear (== shorter side to size, centre crop)"
    )
    size: int = Field(gt=0, description="output height and width in pixels")


class TrainingInfo(BaseModel):
    method: str
    config: dict[str, Any] = Field(default_factory=dict)
    backbone: str | None = None
    checkpoint: str | None = Field(default=None, description="which checkpoint of the run: last or best")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str
    version: str
    dim: int = Field(gt=0)
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    input_size: int = Field(gt=0, description="H == W of the graph input")
    resize: ResizePolicy
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    precision: Literal["fp32", "fp16"]
    opset: int
    onnx_version: str
    onnxruntime_version: str
    sha256: str = Field(min_length=64, max_length=64)
    training: TrainingInfo
    evaluation: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    created_at: str


def read_manifest(model_dir: str | Path) -> Manifest:
    path = Path(model_dir) / MANIFEST_FILE
    return Manifest.model_validate(json.loads(path.read_text()))


def write_manifest(model_dir: str | Path, manifest: Manifest) -> None:
    path = Path(model_dir) / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
