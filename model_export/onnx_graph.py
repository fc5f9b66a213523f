"""Write the wrapper as an ONNX file with a dynamic batch axis, byte-for-byte reproducibly.

The legacy TorchScript exporter (`dynamo=False`) is used: it handles a dynamic batch without guards and
gives identical bytes for identical weights, so the file's sha256 is stable across re-exports.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch

from courier_core.manifest import INPUT_NAME, OUTPUT_NAME
from model_export.defaults import DEFAULT_OPSET
from model_export.errors import ExportError
from model_export.wrapper import ExportWrapper

BATCH_AXIS = "N"


def write_onnx(wrapper: ExportWrapper, path: str | Path, image_size: int, opset: int = DEFAULT_OPSET) -> None:
    """Trace `wrapper` on a uint8 [2, S, S, 3] example and save a single-file ONNX model at `path`."""
    example = torch.zeros((2, image_size, image_size, 3), dtype=torch.uint8)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter announces its own deprecation on every call
        try:
            torch.onnx.export(
                wrapper.eval(),
                (example,),
                buffer,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as exc:  # the exporter raises many types; all mean "this encoder does not export"
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {exc}") from exc
    Path(path).write_bytes(buffer.getvalue())


def check_graph(path: str | Path) -> None:
    """onnx.checker with full shape inference; raise ExportError with the checker's message."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"onnx.checker rejected {path}: {exc}") from exc
