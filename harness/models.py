"""A small real ONNX model repository built with onnx.helper (no torch), standing in for an exported model.

Graph: images uint8[N,32,32,3] → cast → /255 → (x-mean)/std → NCHW → conv 3×3 + relu → global average
pool → matmul to D=16 → L2-normalise → embedding float32[N,16]: the exported models' contract
(uint8 NHWC in, L2-normalised float32 out, normalisation inside the graph).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from courier_core.images import RESIZE_POLICY
from courier_core.manifest import MODEL_FILE, Manifest, ResizePolicy, TrainingInfo, write_manifest
from courier_core.model_repo import sha256_file, write_latest
from courier_core.normalization import IMAGENET_MEAN, IMAGENET_STD

FIXTURE_MODEL_NAME = "courier-fixture"
FIXTURE_SIZE = 32
FIXTURE_DIM = 16
OPSET = 17


@dataclass(frozen=True)
class ModelRepo:
    root: Path
    name: str
    version: str
    dim: int
    size: int

    @property
    def version_dir(self) -> Path:
        return self.root / self.name / self.version

    @property
    def onnx_path(self) -> Path:
        return self.version_dir / MODEL_FILE


def build_fixture_model(size: int = FIXTURE_SIZE, dim: int = FIXTURE_DIM, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    channels = 24
    mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 1, 1, 3)
    std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 1, 1, 3)
    inits = [
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "c255"),
        numpy_helper.from_array(mean, "mean"),
        numpy_helper.from_array(std, "std"),
        numpy_helper.from_array(rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (channels,)).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.normal(0, 0.5, (channels, dim)).astype(np.float32), "proj"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "eps"),
    ]
    nodes = [
        helper.make_node("Cast", ["images"], ["x_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x_f", "c255"], ["x_01"]),
        helper.make_node("Sub", ["x_01", "mean"], ["x_c"]),
        helper.make_node("Div", ["x_c", "std"], ["x_n"]),
        helper.make_node("Transpose", ["x_n"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["conv"], ["act"]),
        helper.make_node("GlobalAveragePool", ["act"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["raw"]),
        helper.make_node("ReduceL2", ["raw"], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Max", ["norm", "eps"], ["safe_norm"]),
        helper.make_node("Div", ["raw", "safe_norm"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "courier_fixture",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", size, size, 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dim])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="courier-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model_repo(
    root: Path,
    name: str = FIXTURE_MODEL_NAME,
    size: int = FIXTURE_SIZE,
    dim: int = FIXTURE_DIM,
    seed: int = 0,
) -> ModelRepo:
    """Write `<root>/<name>/<version>/{model.onnx,manifest.json}` and `<root>/<name>/latest`."""
    data = build_fixture_model(size, dim, seed).SerializeToString()
    version = hashlib.sha256(data).hexdigest()[:12]
    version_dir = root / name / version
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / MODEL_FILE).write_bytes(data)
    manifest = Manifest(
        name=name,
        version=version,
        dim=dim,
        input_size=size,
        resize=ResizePolicy(kind=RESIZE_POLICY, size=size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        precision="fp32",
        opset=OPSET,
        onnx_version=onnx.__version__,
        onnxruntime_version=onnxruntime.__version__,
        sha256=sha256_file(version_dir / MODEL_FILE),
        training=TrainingInfo(method="fixture", config={"seed": seed}),
        created_at=datetime.now(UTC).isoformat(),
    )
    write_manifest(version_dir, manifest)
    write_latest(root, name, version)
    return ModelRepo(root, name, version, dim, size)
