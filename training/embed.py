"""Embed every catalogue item (cold items included) with a trained run, into the embeddings parquet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from courier_core.dataset import load_dataset
from courier_core.embeddings_file import write_embeddings
from training.checkpoint import load_encoder
from training.image_cache import open_image_cache
from training.pretrain.images import ImageFeeder


@dataclass(frozen=True)
class EmbedConfig:
    run: str
    data: str
    out: str
    checkpoint: str = "last"
    batch_size: int = 256
    device: str = "cpu"


def embed_catalogue(cfg: EmbedConfig, *, progress: bool | None = None) -> tuple[int, int]:
    """Write cfg.out; return (items, dim). Images go through the same cache and normalisation as training."""
    encoder, info = load_encoder(cfg.run, cfg.checkpoint)
    device = torch.device(cfg.device)
    encoder.to(device)
    dataset = load_dataset(cfg.data, image_check="none")
    cache = open_image_cache(dataset, info.image_size)
    feeder = ImageFeeder(cache.array, info.mean, info.std, device)
    item_ids = dataset.items["item_id"].astype(str).tolist()
    rows = np.asarray([cache.index[i] for i in item_ids], dtype=np.int64)
    out = np.empty((len(rows), info.dim), dtype=np.float32)
    starts = range(0, len(rows), cfg.batch_size)
    with torch.no_grad():
        for start in tqdm(
            starts, disable=None if progress is None else not progress, unit="batch", desc="embed"
        ):
            chunk = rows[start : start + cfg.batch_size]
            out[start : start + len(chunk)] = encoder(feeder(chunk)).float().cpu().numpy()
    out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
    metadata = {
        "model": f"courier-{info.method}-{info.backbone}",
        "method": info.method,
        "backbone": info.backbone,
        "dim": info.dim,
        "image_size": info.image_size,
        "run": str(Path(cfg.run).resolve()),
        "checkpoint": cfg.checkpoint,
        "config": info.config,
        "embed": asdict(cfg),
    }
    write_embeddings(cfg.out, item_ids, out, metadata)
    return len(item_ids), info.dim
