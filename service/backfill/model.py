"""Open the service's OnnxEngine for the backfill and warm up the batch shapes its pipeline forms.

Same loader, checks (manifest, sha256, graph I/O), session options and `embed` as the service, so the
vectors are identical.
"""

from __future__ import annotations

from service.backfill.config import BackfillConfig
from service.runtime.engine import OnnxEngine


def load_engine(config: BackfillConfig) -> OnnxEngine:
    """Open the model `config` names and warm up every batch shape the pipeline forms.

    Raises `ModelError` (naming the file) when the model is missing, corrupt or not what its manifest says.
    """
    engine = OnnxEngine.load(
        config.model, name=config.name, providers=config.providers, intra_op_threads=config.intra_op_threads
    )
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
