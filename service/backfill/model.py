"""The service's OnnxEngine, opened for throughput rather than latency.

Same checks (manifest, sha256, graph I/O), same graph optimisation and the same `embed` (bucket padding,
L2-normalised output) as the service, so vectors are identical. One session option differs: onnxruntime's
intra-op threads normally spin between runs, which suits a latency-bound server but burns the cores the
backfill's decode threads need (measured ~25% more CPU per item with spinning on 2 cores).
"""

from __future__ import annotations

import onnxruntime as ort

from courier_core.model_repo import ModelError, check_io, load_model_dir
from service.backfill.config import BackfillConfig
from service.engine import OnnxEngine, choose_providers


def load_engine(config: BackfillConfig) -> OnnxEngine:
    """Open the model `config` names and warm up every batch shape the pipeline forms.

    Raises `ModelError` (naming the file) when the model is missing, corrupt or not what its manifest says.
    """
    checked = load_model_dir(config.model, config.name)
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            str(checked.onnx_path), sess_options=options, providers=choose_providers(config.providers)
        )
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        raise ModelError(f"onnxruntime cannot load {checked.onnx_path}: {exc}") from None
    check_io(checked.manifest, session.get_inputs(), session.get_outputs())
    engine = OnnxEngine(session, checked)
    engine.warmup(batch_buckets(config.batch_size))
    return engine


def batch_buckets(batch_size: int) -> list[int]:
    """Powers of two below the batch size, and the batch size: a chunk's tail pads to less than 2x."""
    sizes = {batch_size}
    size = 1
    while size < batch_size:
        sizes.add(size)
        size *= 2
    return sorted(sizes)
