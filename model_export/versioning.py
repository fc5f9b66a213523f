"""Model versions are content hashes: the same weights and export settings always give the same version.

Hashing the weights (not the ONNX bytes) keeps the version independent of exporter quirks, and mixing in
the settings that change the graph (precision, opset, input size, normalisation, resize policy) means an
fp16 and an fp32 export of one checkpoint never share a directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch

VERSION_LENGTH = 12
_FORMAT = "courier-export-v1"  # bump when the graph layout changes for identical weights and settings


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_version(weights_sha256: str, settings: Mapping[str, Any]) -> str:
    """Short hex version from the weights' digest plus the export settings (JSON, sorted keys)."""
    payload = json.dumps({"format": _FORMAT, "weights": weights_sha256, "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:VERSION_LENGTH]
